/**
 * Both real Zoho CRM SDKs, several processes (hosts) sharing one user through a MariaDB
 * store, against the loopback accounts server (scripts/zoho-loopback-server.mjs): one grant
 * exchange for one grant code, one refresh per expiry, no failed call, and no token, secret
 * or user name in a mariadb-dump, the server's general log (every statement it received) or
 * the processes' output.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openMysqlStore } from "../../src/backend/mysql/index.js";
import { generateKey } from "../../src/index.js";
import { startZohoServer } from "../../scripts/zoho-loopback-server.mjs";
import { runSdkClient, serverConfig } from "../../scripts/sdk-scenario.mjs";
import { notRun, skipWithoutMariadb, startMariadb, type MysqlServer } from "../servers/mariadb.js";

const STRESS = process.env.STRESS === "1";
/** Each process loads a whole SDK (1.5 to 2.5 s of CPU): 8 of them on 2 cores take a while. */
const PROCESSES = STRESS ? 12 : 8;
const CHILD_TIMEOUT_MS = 180_000;

const skip = skipWithoutMariadb("the real SDKs through MariaDB (test/mysql/zoho-e2e.test.ts)");
let server: MysqlServer;
beforeAll(async () => {
  if (skip) return;
  server = await startMariadb({ generalLog: true });
  if (!server.managed) notRun("the dump and log scans of test/mysql/zoho-e2e.test.ts", "the server is an existing one (ZOHO_TEST_MYSQL_URL)");
});
afterAll(async () => {
  await server?.stop();
});

describe.skipIf(skip).each(["ts", "nodejs"] as const)("the real %s SDK, processes sharing one user through MariaDB", (sdk) => {
  it("one grant exchange for one grant code, then one refresh per expiry; no failed call; nothing readable in a dump or the log", async () => {
    const zoho = await startZohoServer();
    const { url, name } = await server.createDatabase(`e2e_${sdk}`);
    const key = generateKey();
    const env = { ZOHO_TOKEN_STORE_KEY: key };
    const userName = `shared-${sdk}@example.com`;
    const outputs: string[] = [];
    try {
      const base = { ...serverConfig(zoho), sdk, store: "ours" as const, mysql: url, namespace: "e2e", userName, calls: 2 };
      // Token requests answered slowly: every process reaches the accounts server's door at once.
      zoho.setLatency(300);
      const grantCode = zoho.issueGrantCode({ user: userName });
      const first = await Promise.all(Array.from({ length: PROCESSES }, () => runSdkClient({ ...base, grantCode }, env, CHILD_TIMEOUT_MS)));
      for (const run of first) outputs.push(run.stdout, run.stderr);
      for (const run of first) expect(run.result, run.stderr).toMatchObject({ initialized: true, failed: 0, errors: [] });
      expect(zoho.stats).toMatchObject({ grantsExchanged: 1, grantFailures: 0, refreshes: 0 });

      // The stored access token expires: the next processes renew it once between them.
      const store = await openMysqlStore({ mysql: url, namespace: "e2e", key });
      const stored = (await store.findToken({ userName }))!;
      expect(stored.refreshToken).toBe(zoho.refreshTokensOf(userName)[0]);
      await store.saveToken({ userName, expiryTime: String(Date.now() - 60_000) });
      await store.close();
      const second = await Promise.all(Array.from({ length: PROCESSES }, () => runSdkClient({ ...base }, env, CHILD_TIMEOUT_MS)));
      for (const run of second) outputs.push(run.stdout, run.stderr);
      for (const run of second) expect(run.result, run.stderr).toMatchObject({ initialized: true, failed: 0, errors: [] });
      expect(zoho.stats).toMatchObject({ grantsExchanged: 1, refreshes: 1, refreshRefusals: 0, refreshFailures: 0, apiCallsFailed: 0 });
      expect(zoho.stats.apiCallsOk).toBe(4 * PROCESSES);

      if (!server.managed) return;
      const secrets = [...zoho.secrets(), zoho.clientId, zoho.clientSecret, userName, key, server.password];
      const log = server.log();
      const texts = [server.dump(name), log, ...outputs];
      expect(log).toContain("zoho_tokens_leases");
      expect(log).toContain("'e2e'");
      for (const secret of secrets) for (const text of texts) expect(text.includes(secret), `a secret (${secret.length} chars) was found`).toBe(false);
    } finally {
      await zoho.close();
    }
  }, 600_000);
});
