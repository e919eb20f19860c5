/**
 * The real-SDK case both SQL stores run (test/postgres/zoho-e2e.test.ts and
 * test/mysql/zoho-e2e.test.ts): both real Zoho CRM SDKs, several processes (hosts) sharing
 * one user through the store, against the loopback accounts server
 * (scripts/zoho-loopback-server.mjs): one grant exchange for one grant code, one refresh per
 * expiry, no failed call, and no token, secret or user name in what the dialect shows of its
 * database and server log, or in the processes' output.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSdkClient, serverConfig } from "../../scripts/sdk-scenario.mjs";
import { startZohoServer } from "../../scripts/zoho-loopback-server.mjs";
import { type EncryptedTokenStore, generateKey } from "../../src/index.js";

const CHILD_TIMEOUT_MS = 180_000;

export interface ZohoE2eServer {
  readonly password: string;
  createDatabase(prefix?: string): Promise<{ name: string; url: string }>;
  stop(): Promise<void>;
}

export interface ZohoE2eDialect<S extends ZohoE2eServer> {
  /** The store option the SDK scenario is given the connection string in. */
  option: "postgres" | "mysql";
  /** The describe block's name (with %s for the SDK). */
  title: string;
  /** The case's name. */
  caseTitle: string;
  /** True when the suite is not run (its NOT RUN notice already printed); default false. */
  skip?: boolean;
  /** Processes per round: [npm test, STRESS=1]. */
  processes: [number, number];
  start(): Promise<S>;
  open(url: string, namespace: string, key: string): Promise<EncryptedTokenStore>;
  /**
   * The texts to scan for secrets (the database's contents and the server's log), after
   * checking the log holds the store's statements; undefined when they cannot be read.
   */
  scanned(server: S, database: string): Promise<string[] | undefined>;
}

export function zohoE2eSuite<S extends ZohoE2eServer>(d: ZohoE2eDialect<S>): void {
  const PROCESSES = process.env.STRESS === "1" ? d.processes[1] : d.processes[0];
  let server: S;
  beforeAll(async () => {
    if (!d.skip) server = await d.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describe.skipIf(d.skip === true).each(["ts", "nodejs"] as const)(d.title, (sdk) => {
    it(d.caseTitle, async () => {
      const zoho = await startZohoServer();
      const { url, name } = await server.createDatabase(`e2e_${sdk}`);
      const key = generateKey();
      const env = { ZOHO_TOKEN_STORE_KEY: key };
      const userName = `shared-${sdk}@example.com`;
      const outputs: string[] = [];
      try {
        const base = { ...serverConfig(zoho), sdk, store: "ours" as const, [d.option]: url, namespace: "e2e", userName, calls: 2 };
        // Token requests answered slowly: every process reaches the accounts server's door at once.
        zoho.setLatency(300);
        const grantCode = zoho.issueGrantCode({ user: userName });
        const first = await Promise.all(Array.from({ length: PROCESSES }, () => runSdkClient({ ...base, grantCode }, env, CHILD_TIMEOUT_MS)));
        for (const run of first) outputs.push(run.stdout, run.stderr);
        for (const run of first) expect(run.result, run.stderr).toMatchObject({ initialized: true, failed: 0, errors: [] });
        expect(zoho.stats).toMatchObject({ grantsExchanged: 1, grantFailures: 0, refreshes: 0 });

        // The stored access token expires: the next processes renew it once between them.
        const store = await d.open(url, "e2e", key);
        const stored = (await store.findToken({ userName }))!;
        expect(stored.refreshToken).toBe(zoho.refreshTokensOf(userName)[0]);
        await store.saveToken({ userName, expiryTime: String(Date.now() - 60_000) });
        await store.close();
        const second = await Promise.all(Array.from({ length: PROCESSES }, () => runSdkClient({ ...base }, env, CHILD_TIMEOUT_MS)));
        for (const run of second) outputs.push(run.stdout, run.stderr);
        for (const run of second) expect(run.result, run.stderr).toMatchObject({ initialized: true, failed: 0, errors: [] });
        expect(zoho.stats).toMatchObject({ grantsExchanged: 1, refreshes: 1, refreshRefusals: 0, refreshFailures: 0, apiCallsFailed: 0 });
        expect(zoho.stats.apiCallsOk).toBe(4 * PROCESSES);

        // The database's contents and the server's log: no token, secret, client id or user name.
        const scanned = await d.scanned(server, name);
        if (scanned === undefined) return;
        const secrets = [...zoho.secrets(), zoho.clientId, zoho.clientSecret, userName, key, server.password];
        const texts = [...scanned, ...outputs];
        for (const secret of secrets) for (const text of texts) expect(text.includes(secret), `a secret (${secret.length} chars) was found`).toBe(false);
      } finally {
        await zoho.close();
      }
    }, 600_000);
  });
}
