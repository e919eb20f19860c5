/**
 * Both real Zoho CRM SDKs, several processes (hosts) sharing one user through a
 * PostgreSQL store, against the loopback accounts server (scripts/zoho-loopback-server.mjs):
 * one grant exchange for one grant code, one refresh per expiry, no failed call, and no
 * token, secret or user name in the tables, the server's log (every statement with its
 * parameters) or the processes' output.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore } from "../../src/backend/postgres/index.js";
import { generateKey } from "../../src/index.js";
import { startZohoServer } from "../../scripts/zoho-loopback-server.mjs";
import { runSdkClient, serverConfig } from "../../scripts/sdk-scenario.mjs";
import { startPostgres, type PostgresServer } from "../servers/postgres.js";

const STRESS = process.env.STRESS === "1";
/** Each process loads a whole SDK (1.5 to 2.5 s of CPU): as the other SDK suites, 4 in npm test, 8 under STRESS=1. */
const PROCESSES = STRESS ? 8 : 4;
const CHILD_TIMEOUT_MS = 180_000;

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres({ logStatements: true });
});
afterAll(async () => {
  await server?.stop();
});

describe.each(["ts", "nodejs"] as const)("the real %s SDK, processes sharing one user through PostgreSQL", (sdk) => {
  it("one grant exchange for one grant code, then one refresh per expiry; no failed call; nothing readable in tables or log", async () => {
    const zoho = await startZohoServer();
    const { url, name } = await server.createDatabase(`e2e_${sdk}`);
    const key = generateKey();
    const env = { ZOHO_TOKEN_STORE_KEY: key };
    const userName = `shared-${sdk}@example.com`;
    const outputs: string[] = [];
    try {
      const base = { ...serverConfig(zoho), sdk, store: "ours" as const, postgres: url, namespace: "e2e", userName, calls: 2 };
      // Token requests answered slowly: every process reaches the accounts server's door at once.
      zoho.setLatency(300);
      const grantCode = zoho.issueGrantCode({ user: userName });
      const first = await Promise.all(Array.from({ length: PROCESSES }, () => runSdkClient({ ...base, grantCode }, env, CHILD_TIMEOUT_MS)));
      for (const run of first) outputs.push(run.stdout, run.stderr);
      for (const run of first) expect(run.result, run.stderr).toMatchObject({ initialized: true, failed: 0, errors: [] });
      expect(zoho.stats).toMatchObject({ grantsExchanged: 1, grantFailures: 0, refreshes: 0 });

      // The stored access token expires: the next processes renew it once between them.
      const store = await openPostgresStore({ postgres: url, namespace: "e2e", key });
      const stored = (await store.findToken({ userName }))!;
      expect(stored.refreshToken).toBe(zoho.refreshTokensOf(userName)[0]);
      await store.saveToken({ userName, expiryTime: String(Date.now() - 60_000) });
      await store.close();
      const second = await Promise.all(Array.from({ length: PROCESSES }, () => runSdkClient({ ...base }, env, CHILD_TIMEOUT_MS)));
      for (const run of second) outputs.push(run.stdout, run.stderr);
      for (const run of second) expect(run.result, run.stderr).toMatchObject({ initialized: true, failed: 0, errors: [] });
      expect(zoho.stats).toMatchObject({ grantsExchanged: 1, refreshes: 1, refreshRefusals: 0, refreshFailures: 0, apiCallsFailed: 0 });
      expect(zoho.stats.apiCallsOk).toBe(4 * PROCESSES);

      // A dump of the database and the server's log: no token, secret, client id or user name.
      const secrets = [...zoho.secrets(), zoho.clientId, zoho.clientSecret, userName, key, server.password];
      const dump = await server.query(
        "SELECT string_agg(t::text, E'\\n') AS all FROM (SELECT namespace, id, written::text, encode(sealed, 'escape') AS s FROM zoho_tokens UNION ALL SELECT namespace, name, owner, expires_at::text FROM zoho_tokens_leases) t",
        [],
        name,
      );
      const texts = [String(dump.rows[0]!.all), server.log(), ...outputs];
      expect(server.log()).toContain("zoho_tokens_heads");
      expect(server.log()).toMatch(/parameters: \$1 = 'e2e'/i);
      for (const secret of secrets) for (const text of texts) expect(text.includes(secret), `a secret (${secret.length} chars) was found`).toBe(false);
    } finally {
      await zoho.close();
    }
  }, 600_000);
});
