/** Types of scripts/zoho-loopback-server.mjs, for the TypeScript tests. */
export interface ZohoServerOptions {
  port?: number;
  accessTokenLifetimeMs?: number;
  grantCodeLifetimeMs?: number;
  maxTokensPerWindow?: number;
  windowMs?: number;
  maxActiveTokens?: number;
  clientId?: string;
  clientSecret?: string;
  latencyMs?: number;
  controlEndpoint?: boolean;
  refreshTokenSuffix?: string;
  accessTokenSuffix?: string;
}

export interface ZohoServerStats {
  grantsExchanged: number;
  grantFailures: number;
  refreshes: number;
  refreshRefusals: number;
  refreshFailures: number;
  accessTokensIssued: number;
  accessTokensEvicted: number;
  apiCallsOk: number;
  apiCallsFailed: number;
  tokenRequests: number;
  tokenRequestsReceived: number;
}

export interface ZohoServer {
  url: string;
  apiUrl: string;
  accountsUrl: string;
  clientId: string;
  clientSecret: string;
  accessTokenLifetimeMs: number;
  stats: ZohoServerStats;
  issueGrantCode(grant?: { user?: string }): string;
  failNextTokenRequests(count: number): void;
  setLatency(ms: number): void;
  secrets(): string[];
  refreshTokenCount(): number;
  refreshTokensOf(user: string): string[];
  isLive(token: string): boolean;
  close(): Promise<void>;
}

export function startZohoServer(options?: ZohoServerOptions): Promise<ZohoServer>;
