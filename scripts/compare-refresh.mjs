#!/usr/bin/env node
/**
 * How many times processes sharing one token ask Zoho's accounts server for a new one,
 * with the SDK's own FileStore and with this package (leases on, and off), through the
 * real SDKs against the loopback server. Two scenarios, each with N processes started
 * together:
 *
 * - one stored token whose access token has expired: each process needs a live one;
 * - one new grant code given to every process: each needs the token it yields.
 *
 * Token requests answer after `--latency` ms (a real accounts server takes a few
 * hundred), so the processes' renewals overlap as they do in production.
 *
 *   npm run build && node scripts/compare-refresh.mjs [--processes 8] [--sdk ts|nodejs] [--latency 1500] [--json]
 *
 * A measurement, not a test. Only counts are printed, never a token or secret.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startZohoServer } from "./zoho-loopback-server.mjs";
import { ROOT, runSdkClient, serverConfig } from "./sdk-scenario.mjs";

const { values: args } = parseArgs({
  options: {
    processes: { type: "string", default: "8" },
    sdk: { type: "string", default: "ts" },
    latency: { type: "string", default: "1500" },
    json: { type: "boolean", default: false },
  },
});
const PROCESSES = Number(args.processes);
const SDK = args.sdk;

const { EncryptedFileStore, generateKey } = await import(join(ROOT, "dist", "index.js")).catch(() => {
  throw new Error("dist/ is missing: run `npm run build` first");
});
const key = generateKey();
const env = { ZOHO_TOKEN_STORE_KEY: key };

const STORES = [
  { label: "SDK FileStore (CSV)", store: "sdk-file", storeOptions: undefined },
  { label: "zoho-encrypted-filestore", store: "ours", storeOptions: undefined },
  { label: "zoho-encrypted-filestore, leases off", store: "ours", storeOptions: { refreshLeaseMs: 0 } },
];

/** Marks the one stored token's access token as expired, in either store's file. */
async function expire(store, path, userName) {
  const past = String(Date.now() - 1000);
  if (store === "ours") {
    await (await EncryptedFileStore.open({ path, key })).saveToken({ userName, expiryTime: past });
    return;
  }
  // The SDK's CSV: id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,...
  const lines = readFileSync(path, "utf8").split("\n");
  writeFileSync(
    path,
    lines
      .map((line, i) =>
        i === 0 || !line
          ? line
          : line
              .split(",")
              .map((v, c) => (c === 7 ? past : v))
              .join(","),
      )
      .join("\n"),
  );
}

async function scenario(kind, { label, store, storeOptions }) {
  const server = await startZohoServer();
  const dir = mkdtempSync(join(tmpdir(), "zefs-compare-refresh-"));
  const path = join(dir, store === "ours" ? "tokens.enc" : "tokens.csv");
  const userName = "shared@example.com";
  const grantCode = server.issueGrantCode({ user: userName });
  const base = { ...serverConfig(server), sdk: SDK, store, storeOptions, path, userName, grantCode, calls: 2 };
  try {
    if (kind === "expired") {
      await runSdkClient({ ...base, calls: 1 }, env);
      await expire(store, path, userName);
    }
    const before = { ...server.stats };
    server.setLatency(Number(args.latency));
    const runs = await Promise.all(Array.from({ length: PROCESSES }, () => runSdkClient(base, env, 120_000)));
    const results = runs.map((run) => run.result);
    return {
      scenario: kind,
      store: label,
      processes: PROCESSES,
      refreshes: server.stats.refreshes - before.refreshes,
      refused: server.stats.refreshRefusals - before.refreshRefusals,
      grantsExchanged: server.stats.grantsExchanged - before.grantsExchanged,
      grantFailures: server.stats.grantFailures - before.grantFailures,
      processesFailed: results.filter((r) => !r?.initialized).length,
      callsFailed: results.reduce((sum, r) => sum + (r?.initialized ? r.failed : base.calls), 0),
      calls: PROCESSES * base.calls,
    };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows = [];
for (const kind of ["expired", "grant"]) {
  for (const store of STORES) rows.push(await scenario(kind, store));
}

if (args.json) {
  process.stdout.write(`${JSON.stringify({ sdk: SDK, latencyMs: Number(args.latency), rows }, null, 2)}\n`);
} else {
  console.log(`${PROCESSES} processes through @zohocrm/${SDK === "ts" ? "typescript" : "nodejs"}-sdk-8.0, token requests answered after ${args.latency} ms\n`);
  console.log("| scenario | store | refreshes | refused | grant exchanges | grant failures | processes failed | calls failed |");
  console.log("|---|---|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    const scenarioLabel = r.scenario === "expired" ? "one expired token" : "one new grant code";
    console.log(
      `| ${scenarioLabel} | ${r.store} | ${r.refreshes} | ${r.refused} | ${r.grantsExchanged} | ${r.grantFailures} | ${r.processesFailed} of ${r.processes} | ${r.callsFailed} of ${r.calls} |`,
    );
  }
}
