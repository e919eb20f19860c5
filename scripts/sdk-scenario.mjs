/**
 * Runs real Zoho CRM SDK clients as child processes against the loopback Zoho
 * server, and inspects what they leave on disk. Shared by the end-to-end tests,
 * `scripts/compare-filestore.mjs` and `scripts/demo.mjs`.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const SDK_CLIENT = join(ROOT, "test", "fixtures", "sdk-client.mjs");

/**
 * Runs one SDK client process (see test/fixtures/sdk-client.mjs for `config`).
 * Resolves with its parsed JSON result and its raw output, for leak scans.
 */
export function runSdkClient(config, env = {}, timeoutMs = 60_000) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [SDK_CLIENT], {
      env: { ...process.env, ...env, SDK_CLIENT_CONFIG: JSON.stringify(config) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let result = null;
      try {
        result = JSON.parse(stdout.trim().split("\n").pop() ?? "");
      } catch {
        result = null;
      }
      resolvePromise({ code, signal, stdout, stderr, result });
    });
  });
}

/** The connection and client part of a client's config, for a loopback server. */
export function serverConfig(server) {
  return { apiUrl: server.apiUrl, accountsUrl: server.accountsUrl, clientId: server.clientId, clientSecret: server.clientSecret };
}

/**
 * `processes` SDK clients at once, one distinct user each with its own grant code,
 * all through the store file at `path`.
 * @returns {{ runs, users, callsOk, callsFailed, initFailures, errors }}
 */
export async function runConcurrentClients({
  server,
  sdk,
  store,
  path,
  processes = 8,
  calls = 5,
  delayMs = 0,
  env = {},
  userPrefix = "user",
  timeoutMs = 90_000,
}) {
  const users = Array.from({ length: processes }, (_, i) => `${userPrefix}${i + 1}@example.com`);
  const runs = await Promise.all(
    users.map((userName) =>
      runSdkClient(
        { ...serverConfig(server), sdk, store, path, userName, grantCode: server.issueGrantCode({ user: userName }), calls, delayMs },
        env,
        timeoutMs,
      ),
    ),
  );
  const summary = { runs, users, callsOk: 0, callsFailed: 0, initFailures: 0, errors: [] };
  for (const run of runs) {
    const result = run.result;
    if (!result) {
      summary.initFailures += 1;
      summary.callsFailed += calls;
      summary.errors.push(`exit:${run.code ?? run.signal}`);
      continue;
    }
    summary.callsOk += result.ok;
    // A client that could not even initialise made none of its calls.
    summary.callsFailed += result.initialized ? result.failed : calls;
    if (!result.initialized) summary.initFailures += 1;
    summary.errors.push(...result.errors);
  }
  return summary;
}

/** Every file in the store's directory whose name starts with the store file's name (the file, `.prev`, temp files). */
export function storeFiles(path) {
  const dir = dirname(path);
  const base = path.slice(dir.length + 1);
  return readdirSync(dir)
    .filter((name) => name.startsWith(base))
    .map((name) => join(dir, name))
    .filter((file) => statSync(file).isFile());
}

/** Which of `secrets` appear in the bytes of `files` (as UTF-8 text). */
export function secretsInFiles(files, secrets) {
  const found = new Set();
  for (const file of files) {
    const text = readFileSync(file).toString("latin1");
    const utf8 = readFileSync(file).toString("utf8");
    for (const secret of secrets) if (text.includes(secret) || utf8.includes(secret)) found.add(secret);
  }
  return [...found];
}

/** Which of `secrets` appear in any of `texts`. */
export function secretsInText(texts, secrets) {
  return secrets.filter((secret) => texts.some((text) => text.includes(secret)));
}

/** A classic hex dump of the first `length` bytes of `bytes`. */
export function hexDump(bytes, length = 128) {
  const lines = [];
  for (let offset = 0; offset < Math.min(length, bytes.length); offset += 16) {
    const slice = bytes.subarray(offset, Math.min(offset + 16, length, bytes.length));
    const hex = [...slice].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...slice].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  |${ascii}|`);
  }
  return lines.join("\n");
}
