#!/usr/bin/env node
/**
 * Prints the example session of docs/cli.md: the command-line tool (the built dist/cli.js)
 * run for real in a fresh directory, on a CSV file of made-up tokens, each command and its
 * output. `npm run build && node scripts/cli-session.mjs > session.md` makes it again.
 *
 * Every output is scanned for the made-up tokens and keys before it is printed.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "crm-app-"));
const bin = join(dir, "bin");
mkdirSync(bin);
// The tool as a user has it on their PATH: a symbolic link to the executable, as npm makes it.
symlinkSync(join(ROOT, "dist", "cli.js"), join(bin, "zoho-encrypted-filestore"));

const hour = 3_600_000;
const now = Date.now();
const secrets = ["1000.secret-made-up-7f3a", "1000.refresh-ops-made-up", "1000.access-ops-made-up", "1000.refresh-sales-made-up", "1000.access-sales-made-up"];
writeFileSync(
  join(dir, "zcrm_oauthtokens.csv"),
  `${[
    "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain",
    `1,ops@example.com,1000.K3X9MADEUPCLIENT,${secrets[0]},${secrets[1]},${secrets[2]},,${now + 40 * 60_000},https://example.com/cb,https://www.zohoapis.com`,
    `2,sales@example.com,1000.K3X9MADEUPCLIENT,${secrets[0]},${secrets[3]},${secrets[4]},,${now - 1.5 * hour},https://example.com/cb,https://www.zohoapis.com`,
  ].join("\n")}\n`,
  { mode: 0o600 },
);

const env = { PATH: `${bin}:${process.env.PATH}`, HOME: dir, LANG: "C.UTF-8", NO_COLOR: "1" };
const keys = [];
const blocks = [];
let block = [];

/** Runs one shell line in the session's shell state (exports carry over through a file). */
function run(line) {
  // stderr joins stdout, so the lines come in the order a terminal shows them.
  const script = `cd ${JSON.stringify(dir)}; [ -f .state ] && . ./.state; { ${line}; } 2>&1; status=$?; export -p | grep ZOHO_ > .state; exit $status`;
  const result = spawnSync("bash", ["-c", script], { env, encoding: "utf8" });
  const output = (result.stdout + result.stderr).replaceAll(dir, "/tmp/crm-app");
  for (const file of ["zoho.key", "zoho-2027.key"]) {
    try {
      keys.push(readFileSync(join(dir, file), "utf8").trim());
    } catch {
      // Not made yet.
    }
  }
  for (const secret of [...secrets, ...keys]) {
    if (output.includes(secret)) throw new Error(`the output of "${line}" holds a secret value`);
  }
  block.push(
    `$ ${line}`,
    ...output
      .trimEnd()
      .split("\n")
      .filter((l, i, all) => l !== "" || i < all.length - 1),
  );
  if (result.status !== 0) block.push(`[exit ${result.status}]`);
  block.push("");
}

function section(text) {
  if (block.length > 0) blocks.push(["```console", ...block.slice(0, -1), "```"].join("\n"));
  block = [];
  blocks.push(text);
}

section("A key, an empty store, and the tokens of an SDK `FileStore` CSV file:");
run("zoho-encrypted-filestore keygen --out zoho.key");
run("export ZOHO_TOKEN_STORE_FILE=./zoho-tokens.enc");
run("zoho-encrypted-filestore init --key-file zoho.key");
run("zoho-encrypted-filestore import --key-file zoho.key --from-csv zcrm_oauthtokens.csv");
run("shred -u zcrm_oauthtokens.csv");
section("Looking inside, without seeing a secret:");
run('export ZOHO_TOKEN_STORE_KEY="$(cat zoho.key)"');
run("zoho-encrypted-filestore list");
run("zoho-encrypted-filestore show 2");
run("zoho-encrypted-filestore verify");
run('ZOHO_TOKEN_STORE_KEY="$(zoho-encrypted-filestore keygen)" zoho-encrypted-filestore verify');
run("zoho-encrypted-filestore list --key-file - < zoho.key --json");
section("A key rotation, then moving the tokens out:");
run("zoho-encrypted-filestore keygen --out zoho-2027.key");
run("zoho-encrypted-filestore rekey --new-key-file zoho-2027.key");
run('export ZOHO_TOKEN_STORE_KEY="$(cat zoho-2027.key)"');
run("zoho-encrypted-filestore verify --json");
run("zoho-encrypted-filestore export --out zoho-tokens.enc.prev");
run("zoho-encrypted-filestore export --out moved.csv");
run("rm moved.csv");
section("Health checks and repairs: a store file others can read, a lock left by a dead writer, a temp file left by a killed one:");
run('chmod 644 zoho-tokens.enc; mkdir zoho-tokens.enc.lock; touch -d "3 minutes ago" zoho-tokens.enc.lock; echo > zoho-tokens.enc.4242-0123456789ab.tmp');
run("zoho-encrypted-filestore doctor");
run("zoho-encrypted-filestore doctor --fix");
section("A damaged file, and its previous generation restored:");
run('printf "\\x00" | dd of=zoho-tokens.enc bs=1 seek=150 conv=notrunc status=none');
run("zoho-encrypted-filestore list");
run("zoho-encrypted-filestore recover --previous-key-file zoho.key");
run("zoho-encrypted-filestore list");
section("");

process.stdout.write(`${blocks.filter(Boolean).join("\n\n")}\n`);
rmSync(dir, { recursive: true, force: true });
