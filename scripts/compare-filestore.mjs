#!/usr/bin/env node
/**
 * The Zoho SDK's own FileStore against this package, in the same scenario, through
 * the real SDKs: several processes at once, each a real SDK client with its own
 * user and grant code, all using one store file, against the loopback Zoho server.
 * Prints a table (calls failed, tokens lost, secrets readable in the file, and
 * whether a user name with a comma, quotes and a newline survives a restart), and a
 * second one for processes that share one user (one refresh token) while its access
 * tokens expire: how often each store makes the SDKs ask for a new access token, and
 * how often Zoho's limit (10 per refresh token per 10 minutes) refuses them.
 *
 *   npm run build && node scripts/compare-filestore.mjs [--rounds 2] [--processes 8] [--calls 5] [--sdk ts|nodejs] [--json]
 *
 * A measurement, not a test: the FileStore's numbers vary from run to run.
 * Nothing secret is printed: only counts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startZohoServer } from "./zoho-loopback-server.mjs";
import { ROOT, runConcurrentClients, runSdkClient, secretsInFiles, serverConfig, storeFiles } from "./sdk-scenario.mjs";

const require = createRequire(import.meta.url);
const SDK_LABELS = { ts: "typescript-sdk-8.0", nodejs: "nodejs-sdk-8.0" };
const STORE_LABELS = { "sdk-file": "SDK FileStore (CSV)", ours: "zoho-encrypted-filestore" };
const ODD_USER = 'O\'Brien, "ops"\nsecond line@example.com';

async function loadSdk(sdk) {
  return sdk === "ts" ? require("@zohocrm/typescript-sdk-8.0") : import("@zohocrm/nodejs-sdk-8.0");
}

async function loadPackage() {
  try {
    return await import(join(ROOT, "dist", "index.js"));
  } catch {
    throw new Error("dist/ is missing: run `npm run build` first");
  }
}

/** The user names the store file holds, read the store's own way. */
async function storedUsers(pkg, sdk, store, path, key) {
  try {
    if (store === "ours") {
      const opened = await pkg.EncryptedFileStore.open({ path, key });
      return (await opened.getTokens()).map((t) => t.userName);
    }
    const ZOHOCRMSDK = await loadSdk(sdk);
    const tokens = await new ZOHOCRMSDK.FileStore(path).getTokens();
    return tokens.map((t) => t.getUserSignature()?.getName() ?? null);
  } catch {
    return [];
  }
}

/** One round: `processes` clients at once through one fresh store file. */
async function concurrentRound(pkg, { sdk, store, processes, calls, key }) {
  const server = await startZohoServer({});
  const dir = mkdtempSync(join(tmpdir(), "zefs-compare-"));
  try {
    const path = join(dir, store === "ours" ? "tokens.enc" : "tokens.csv");
    const env = { ZOHO_TOKEN_STORE_KEY: key };
    const summary = await runConcurrentClients({ server, sdk, store, path, processes, calls, env });
    const users = await storedUsers(pkg, sdk, store, path, key);
    const lost = summary.users.filter((u) => !users.includes(u)).length;
    const secrets = server.secrets().filter((s) => s !== server.clientId);
    const found = secretsInFiles(storeFiles(path), secrets);
    const clientIdFound = secretsInFiles(storeFiles(path), [server.clientId]).length > 0;
    return {
      callsFailed: summary.callsFailed,
      calls: processes * calls,
      tokensLost: lost,
      tokens: processes,
      secretsInPlaintext: found.length,
      clientIdInPlaintext: clientIdFound,
      clientSecretInPlaintext: found.includes(server.clientSecret),
      errorKinds: [...new Set(summary.errors.map((e) => `${e.split(":")[0]}:${(e.split(":")[1] ?? "").split("<").pop()}`))],
    };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A user name with a comma, quotes and a newline: first run, then a restart that must reuse the token. */
async function oddUserRound({ sdk, store, key }) {
  const server = await startZohoServer({});
  const dir = mkdtempSync(join(tmpdir(), "zefs-compare-"));
  try {
    const path = join(dir, store === "ours" ? "tokens.enc" : "tokens.csv");
    const config = { ...serverConfig(server), sdk, store, path, userName: ODD_USER, grantCode: server.issueGrantCode({ user: ODD_USER }), calls: 1 };
    const env = { ZOHO_TOKEN_STORE_KEY: key };
    const first = (await runSdkClient(config, env)).result;
    const second = (await runSdkClient(config, env)).result;
    return Boolean(first?.ok === 1 && second?.initialized && second.ok === 1 && server.stats.grantsExchanged === 1);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `processes` clients at once for one user: one refresh token shared by all, access
 * tokens living 9 s (renewed by the SDKs with 5 s left), calls spread over ~10 s.
 */
async function sharedUserRound({ sdk, store, processes, key }) {
  const server = await startZohoServer({ accessTokenLifetimeMs: 9_000 });
  const dir = mkdtempSync(join(tmpdir(), "zefs-compare-"));
  try {
    const path = join(dir, store === "ours" ? "tokens.enc" : "tokens.csv");
    const env = { ZOHO_TOKEN_STORE_KEY: key };
    const userName = "shared@example.com";
    const config = { ...serverConfig(server), sdk, store, path, userName, grantCode: server.issueGrantCode({ user: userName }) };
    const first = await runSdkClient({ ...config, calls: 1 }, env);
    const before = { ...server.stats };
    const calls = 10;
    const runs = await Promise.all(Array.from({ length: processes }, () => runSdkClient({ ...config, calls, delayMs: 1_000 }, env, 180_000)));
    const failed = runs.reduce((n, run) => n + (run.result ? (run.result.initialized ? run.result.failed : calls) : calls), 0);
    return {
      setupOk: first.result?.ok === 1,
      calls: processes * calls,
      callsFailed: failed,
      refreshesAsked: server.stats.tokenRequests - before.tokenRequests,
      refreshesRefused: server.stats.refreshRefusals - before.refreshRefusals,
    };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function range(values) {
  const min = Math.min(...values);
  const max = Math.max(...values);
  return min === max ? String(min) : `${min}-${max}`;
}

async function main() {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "2" },
      processes: { type: "string", default: "8" },
      calls: { type: "string", default: "5" },
      sdk: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const rounds = Math.max(1, Number(values.rounds));
  const processes = Math.max(2, Number(values.processes));
  const calls = Math.max(1, Number(values.calls));
  const sdks = values.sdk ? [values.sdk] : ["ts", "nodejs"];
  const pkg = await loadPackage();
  const key = pkg.generateKey();

  const rows = [];
  for (const sdk of sdks) {
    for (const store of ["sdk-file", "ours"]) {
      const results = [];
      for (let round = 0; round < rounds; round += 1) {
        results.push(await concurrentRound(pkg, { sdk, store, processes, calls, key }));
        if (!values.json) process.stderr.write(".");
      }
      const oddUser = await oddUserRound({ sdk, store, key });
      const shared = [];
      for (let round = 0; round < rounds; round += 1) {
        shared.push(await sharedUserRound({ sdk, store, processes, key }));
        if (!values.json) process.stderr.write(".");
      }
      rows.push({
        sdk: SDK_LABELS[sdk],
        store: STORE_LABELS[store],
        rounds,
        callsFailed: range(results.map((r) => r.callsFailed)),
        calls: results[0].calls,
        tokensLost: range(results.map((r) => r.tokensLost)),
        tokens: results[0].tokens,
        secretsInPlaintext: range(results.map((r) => r.secretsInPlaintext)),
        clientSecretInPlaintext: results.some((r) => r.clientSecretInPlaintext),
        clientIdInPlaintext: results.some((r) => r.clientIdInPlaintext),
        oddUserNameSurvivesRestart: oddUser,
        sharedUser: {
          calls: shared[0].calls,
          callsFailed: range(shared.map((r) => r.callsFailed)),
          refreshesAsked: range(shared.map((r) => r.refreshesAsked)),
          refreshesRefused: range(shared.map((r) => r.refreshesRefused)),
        },
        errorKinds: [...new Set(results.flatMap((r) => r.errorKinds))],
      });
    }
  }
  if (!values.json) process.stderr.write("\n");

  if (values.json) {
    process.stdout.write(`${JSON.stringify({ processes, calls, rounds, rows }, null, 2)}\n`);
    return;
  }
  const header = ["SDK", "store", "calls failed", "tokens lost", "secrets readable in file", "odd user name after restart"];
  const table = rows.map((r) => [
    r.sdk,
    r.store,
    `${r.callsFailed} of ${r.calls}`,
    `${r.tokensLost} of ${r.tokens}`,
    r.secretsInPlaintext === "0" && !r.clientIdInPlaintext
      ? "none"
      : `${r.secretsInPlaintext} tokens${r.clientSecretInPlaintext ? " + client secret" : ""}${r.clientIdInPlaintext ? " + client id" : ""}`,
    r.oddUserNameSurvivesRestart ? "reused" : "lost (new grant needed)",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(`${processes} processes at once, one store file, one user and grant code each, ${calls} API calls each;`);
  console.log(`real Zoho SDKs against a loopback Zoho server; ${rounds} round(s) per row (ranges are min-max per round).`);
  console.log("");
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of table) console.log(line(row));
  console.log("");
  console.log(`${processes} processes at once sharing one user (one refresh token), 10 calls each over ~10 s,`);
  console.log("access tokens living 9 s (the SDKs renew with 5 s left), so each process meets ~2 renewals:");
  console.log("");
  const header2 = ["SDK", "store", "calls failed", "renewals asked of Zoho", "refused (Access Denied)"];
  const table2 = rows.map((r) => [
    r.sdk,
    r.store,
    `${r.sharedUser.callsFailed} of ${r.sharedUser.calls}`,
    r.sharedUser.refreshesAsked,
    r.sharedUser.refreshesRefused,
  ]);
  const widths2 = header2.map((h, i) => Math.max(h.length, ...table2.map((row) => String(row[i]).length)));
  const line2 = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths2[i])).join(" | ")} |`;
  console.log(line2(header2));
  console.log(`|${widths2.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of table2) console.log(line2(row));
  const kinds = rows.filter((r) => r.errorKinds.length > 0).map((r) => `${r.sdk} / ${r.store}: ${r.errorKinds.join(", ")}`);
  if (kinds.length > 0) {
    console.log("");
    console.log("Failure kinds (SDK error codes): ");
    for (const k of kinds) console.log(`  ${k}`);
  }
}

main().catch((error) => {
  process.stderr.write(`compare-filestore: ${error?.message ?? error}\n`);
  process.exitCode = 1;
});
