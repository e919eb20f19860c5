#!/usr/bin/env node
/**
 * `npm run demo`: the package's job on one machine, with no Zoho account and no network.
 *
 * Real: both Zoho CRM Node SDKs (unmodified, from node_modules), this package's store
 * (from dist/), separate operating-system processes sharing one store file.
 * Simulated: Zoho's accounts server and CRM API, played by scripts/zoho-loopback-server.mjs
 * on 127.0.0.1 with Zoho's published token rules.
 *
 * Prints what happened and a hex dump of the store file. Never prints a token, a
 * secret or the key: every child's output is scanned for them before anything is shown.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startZohoServer } from "./zoho-loopback-server.mjs";
import { ROOT, hexDump, runSdkClient, secretsInFiles, secretsInText, serverConfig, storeFiles } from "./sdk-scenario.mjs";

const PROCESSES = 6;
const CALLS = 6;
const DELAY_MS = 700;
// The SDKs renew a token when fewer than 5 s are left: 9 s lifetimes make renewals happen during the demo.
const LIFETIME_MS = 9_000;
const SDK_NAMES = { ts: "@zohocrm/typescript-sdk-8.0", nodejs: "@zohocrm/nodejs-sdk-8.0" };

const out = (line = "") => process.stdout.write(`${line}\n`);

async function main() {
  let pkg;
  try {
    pkg = await import(join(ROOT, "dist", "index.js"));
  } catch {
    throw new Error("dist/ is missing: run `npm run demo` (it builds first) or `npm run build`");
  }

  out("zoho-encrypted-filestore demo");
  out("=============================");
  out(`Real:      the Zoho CRM SDKs ${Object.values(SDK_NAMES).join(" and ")} (unmodified),`);
  out("           this package's encrypted store, and separate OS processes sharing one store file.");
  out("Simulated: Zoho's accounts server and CRM API, played by a loopback server on 127.0.0.1");
  out("           (single-use grant codes, 10 access tokens per refresh token per 10 minutes,");
  out(`           15 live per refresh token; access tokens here live ${LIFETIME_MS / 1000} s instead of an hour).`);
  out("No Zoho account, no network. No token, secret or key is printed.");
  out("");

  const server = await startZohoServer({ accessTokenLifetimeMs: LIFETIME_MS });
  const dir = mkdtempSync(join(tmpdir(), "zoho-demo-"));
  const path = join(dir, "zoho-tokens.enc");
  const key = pkg.generateKey();
  const env = { ZOHO_TOKEN_STORE_KEY: key };
  const outputs = [];

  try {
    const clients = Array.from({ length: PROCESSES }, (_, i) => {
      const sdk = i % 2 === 0 ? "ts" : "nodejs";
      const userName = `user${i + 1}@example.com`;
      return { sdk, userName, grantCode: server.issueGrantCode({ user: userName }) };
    });
    // Every client process at once; `userOf` picks the user (and grant code) each one signs in as.
    const runPhase = async (userOf = (c) => c) => {
      const runs = await Promise.all(
        clients.map((c) =>
          runSdkClient(
            {
              ...serverConfig(server),
              sdk: c.sdk,
              store: "ours",
              path,
              userName: userOf(c).userName,
              grantCode: userOf(c).grantCode,
              calls: CALLS,
              delayMs: DELAY_MS,
            },
            env,
            180_000,
          ),
        ),
      );
      for (const run of runs) outputs.push(run.stdout, run.stderr);
      return runs;
    };
    const printRuns = (runs, userName) => {
      for (const [i, run] of runs.entries()) {
        const r = run.result;
        const c = clients[i];
        const label = `  pid ${String(r?.pid ?? "?").padEnd(7)} ${c.sdk === "ts" ? "typescript-sdk" : "nodejs-sdk    "}  ${(userName ?? c.userName).padEnd(19)}`;
        if (!r) out(`${label} exited without a result (code ${run.code ?? run.signal})`);
        else
          out(
            `${label} ${r.ok} calls ok, ${r.failed} failed${r.errors.length ? ` (${r.errors.join(", ")})` : ""}  token id ${r.tokenId ?? "-"}  ${(r.ms / 1000).toFixed(1)} s`,
          );
      }
    };
    const snapshot = () => ({ ...server.stats });
    const delta = (before, after, field) => after[field] - before[field];
    const summary = (before, after) =>
      `   -> grant codes exchanged: ${delta(before, after, "grantsExchanged")}, access tokens renewed: ${delta(before, after, "refreshes")}, ` +
      `renewals refused: ${delta(before, after, "refreshRefusals")}, API calls accepted: ${delta(before, after, "apiCallsOk")}, rejected: ${delta(before, after, "apiCallsFailed")}`;

    out(`1. ${PROCESSES} processes start at once (typescript and nodejs SDK alternating), each a user with a`);
    out(`   fresh grant code, each making ${CALLS} API calls ${DELAY_MS} ms apart, all through ${path}`);
    const s0 = snapshot();
    const first = await runPhase();
    printRuns(first);
    const s1 = snapshot();
    out(summary(s0, s1));
    out("");

    out("2. The same programs start again, with the same (now spent) grant codes: they find their");
    out("   tokens in the store, so no grant code is needed; expiring access tokens are renewed and saved.");
    const second = await runPhase();
    printRuns(second);
    const s2 = snapshot();
    out(summary(s1, s2));
    out("");

    out(`3. ${PROCESSES} processes share one user (${clients[0].userName}, one refresh token), each making ${CALLS} calls`);
    out(`   ${DELAY_MS} ms apart while its access token expires. Each SDK would renew the token on its own;`);
    out("   the store lets one process renew it and hands the renewed token to the others.");
    const shared = clients[0];
    const sharedStart = Date.now();
    const sharedRuns = await runPhase(() => shared);
    printRuns(sharedRuns, shared.userName);
    const s3 = snapshot();
    const span = (Date.now() - sharedStart) / 1000;
    const usable = (LIFETIME_MS - 5_000) / 1000;
    out(
      `   -> access tokens renewed: ${delta(s2, s3, "refreshes")} for ${PROCESSES} processes in ${span.toFixed(0)} s, a token being usable for ${usable} s ` +
        `(so about ${Math.ceil(span / usable)} renewals at most were needed), renewals refused: ${delta(s2, s3, "refreshRefusals")},`,
    );
    out(`      API calls accepted: ${delta(s2, s3, "apiCallsOk")}, rejected: ${delta(s2, s3, "apiCallsFailed")}`);
    out("");

    const store = await pkg.EncryptedFileStore.open({ path, key });
    const tokens = await store.getTokens();
    const all = [...first, ...second, ...sharedRuns].map((r) => r.result);
    const callsOk = all.reduce((n, r) => n + (r?.ok ?? 0), 0);
    const callsFailed = all.reduce((n, r) => n + (r ? (r.initialized ? r.failed : CALLS) : CALLS), 0);
    const secrets = [...server.secrets(), key];
    const filesWithStore = storeFiles(path);
    const inFile = secretsInFiles(filesWithStore, secrets);
    const inOutput = secretsInText(outputs, secrets);

    out("4. What is in the store now (read with the key; secret fields are never printed):");
    for (const t of tokens) {
      const left = t.expiryTime ? Math.round((Number(t.expiryTime) - Date.now()) / 1000) : null;
      const state = left === null ? "no expiry" : left > 0 ? `valid for ${left} s more` : `expired ${-left} s ago, renewed on next use`;
      out(`   id ${t.id.padEnd(3)} ${String(t.userName).padEnd(19)} client secret, refresh token and access token stored (${state})`);
    }
    out("");

    const bytes = readFileSync(path);
    const mode = (statSync(path).mode & 0o777).toString(8);
    out(`5. The file on disk: ${bytes.length} bytes, mode 0${mode}. Its first 128 bytes:`);
    out(hexDump(bytes, 128).replace(/^/gm, "   "));
    out(`   Scan of ${filesWithStore.length} store file(s) for the ${secrets.length} token, secret and key values handed out: ${inFile.length} found.`);
    out(`   Scan of every process's output for the same values: ${inOutput.length} found.`);
    out("");

    out("Summary");
    out(`  processes run:          ${all.length} (${PROCESSES} at once, three times)`);
    out(`  API calls made:         ${callsOk + callsFailed}, failed: ${callsFailed}`);
    out(`  tokens stored:          ${tokens.length} of ${PROCESSES} users`);
    out(`  grant codes used:       ${server.stats.grantsExchanged} (one per user, none on restart)`);
    out(
      `  access tokens renewed:  ${server.stats.refreshes} (${delta(s2, s3, "refreshes")} of them for the ${PROCESSES} processes sharing one user), refused: ${server.stats.refreshRefusals}`,
    );
    out(`  secrets in the file:    ${inFile.length}; in any output: ${inOutput.length}`);
    const ok = callsFailed === 0 && tokens.length === PROCESSES && inFile.length === 0 && inOutput.length === 0;
    out(ok ? "  result:                 OK" : "  result:                 PROBLEM (see above)");
    if (!ok) process.exitCode = 1;
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`demo: ${error?.message ?? error}\n`);
  process.exitCode = 1;
});
