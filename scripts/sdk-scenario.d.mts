/** Types of scripts/sdk-scenario.mjs, for the TypeScript tests. */
import type { ZohoServer } from "./zoho-loopback-server.mjs";

export interface SdkClientConfig {
  sdk: "ts" | "nodejs";
  store: "ours" | "sdk-file";
  /** The store file; or `postgres` or `mysql` (a connection string) and `namespace` instead. */
  path?: string;
  postgres?: string;
  mysql?: string;
  namespace?: string;
  apiUrl: string;
  accountsUrl: string;
  clientId?: string;
  clientSecret?: string;
  grantCode?: string;
  refreshToken?: string;
  tokenId?: string;
  userName?: string;
  calls?: number;
  delayMs?: number;
  remove?: boolean;
  getTokens?: boolean;
  findById?: string;
  importCjs?: boolean;
  storeOptions?: Record<string, unknown>;
}

export interface SdkClientResult {
  sdk: string;
  store: string;
  pid: number;
  initialized: boolean;
  ok: number;
  failed: number;
  errors: string[];
  tokenId: string | null;
  removed: boolean | null;
  tokens: number | null;
  tokenClasses?: string[];
  userNames?: Array<string | null>;
  findById: string | null;
  foundUserName?: string | null;
  ms: number;
}

export interface SdkClientRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  result: SdkClientResult | null;
}

export interface ConcurrentSummary {
  runs: SdkClientRun[];
  users: string[];
  callsOk: number;
  callsFailed: number;
  initFailures: number;
  errors: string[];
}

export const ROOT: string;
export const SDK_CLIENT: string;
export function runSdkClient(config: SdkClientConfig, env?: Record<string, string>, timeoutMs?: number): Promise<SdkClientRun>;
export function serverConfig(server: ZohoServer): Pick<SdkClientConfig, "apiUrl" | "accountsUrl" | "clientId" | "clientSecret">;
export function runConcurrentClients(options: {
  server: ZohoServer;
  sdk: "ts" | "nodejs";
  store: "ours" | "sdk-file";
  path: string;
  processes?: number;
  calls?: number;
  delayMs?: number;
  env?: Record<string, string>;
  userPrefix?: string;
  timeoutMs?: number;
}): Promise<ConcurrentSummary>;
export function storeFiles(path: string): string[];
export function secretsInFiles(files: string[], secrets: string[]): string[];
export function secretsInText(texts: string[], secrets: string[]): string[];
export function hexDump(bytes: Uint8Array, length?: number): string;
