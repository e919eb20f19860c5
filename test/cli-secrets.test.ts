/**
 * No output of the command line tool, in any mode, holds a secret value, except the two
 * commands whose purpose is to print them: `show --reveal` and `export` (and `keygen`,
 * whose output is a new key that protects nothing yet).
 */
import { describe, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../src/index.js";
import { assertNoSecrets, sampleToken, secretsOf, tempDir } from "./helpers.js";
import { cli, jsonOutput, sdkCsv } from "./cli-helpers.js";

const COMMAND_NAMES = ["keygen", "init", "list", "show", "delete", "clear", "import", "export", "rekey", "verify", "recover", "doctor"];

describe("secret values never appear in output", () => {
  it("in every command, human and --json, on and off a terminal, in success and failure", async () => {
    const dir = tempDir();
    const file = join(dir, "tokens.enc");
    const key = generateKey();
    const keyFile = join(dir, "store.key");
    writeFileSync(keyFile, key, { mode: 0o600 });
    const newKey = generateKey();
    const newKeyFile = join(dir, "new.key");
    writeFileSync(newKeyFile, newKey, { mode: 0o600 });
    const passphrase = "tr0ub4dor&3-passphrase";

    const stored = [sampleToken("a"), { ...sampleToken("b"), grantToken: "1000.grant-b-gt" }, { ...sampleToken("c"), userName: null }];
    const imported = [sampleToken("d"), { ...sampleToken("e"), accessToken: null, grantToken: "1000.grant-e-gt" }];
    const store = await EncryptedFileStore.open({ path: file, key });
    for (const token of stored) await store.saveToken(token);

    const csv = join(dir, "sdk.csv");
    writeFileSync(csv, sdkCsv(imported));
    const badCsv = join(dir, "bad.csv");
    writeFileSync(badCsv, `${sdkCsv([sampleToken("f")])}\n7,user-g,1000.CLIENTIDGXYZ,secret-g-s3cr3t,1000.refresh-g-rt,a,b,c,d,e,f\n`);
    const notCsv = join(dir, "not.csv");
    writeFileSync(notCsv, "1,user-h,1000.CLIENTIDHXYZ,secret-h-s3cr3t,1000.refresh-h-rt,,,,,\n");

    const secrets = [
      ...[...stored, ...imported, sampleToken("f"), sampleToken("g"), sampleToken("h")].flatMap((token) => secretsOf(token)),
      key,
      newKey,
      passphrase,
    ];
    const env = { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_KEY: key };

    // The two that do print secrets, only where asked.
    const revealed = await cli(["show", "2", "--reveal"], env);
    expect(revealed.stdout).toContain(stored[1]!.refreshToken);
    expect(() => assertNoSecrets(revealed.stdout, secrets)).toThrow(); // the scan does see secrets
    assertNoSecrets(revealed.stderr, secrets);
    const exported = await cli(["export", "--out", join(dir, "f.json"), "--format", "json"], env);
    assertNoSecrets(exported.stdout + exported.stderr, secrets);
    expect(readFileSync(join(dir, "f.json"), "utf8")).toContain(stored[1]!.refreshToken);
    const wrongEnv = { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_KEY: generateKey() };
    const missingEnv = { ZOHO_TOKEN_STORE_FILE: join(dir, "nope.enc"), ZOHO_TOKEN_STORE_KEY: key };

    const runs: Array<[string[], Record<string, string>]> = [
      [["--help"], {}],
      [["list", "--help"], {}],
      [["list"], env],
      [["show", "1"], env],
      [["show", "2"], env],
      [["show", "3"], env],
      [["show", "99"], env],
      [["list", "--key-file", keyFile], { ZOHO_TOKEN_STORE_FILE: file }],
      [["import", "--from-csv", csv], env],
      [["import", "--from-csv", csv], env],
      [["import", "--from-csv", badCsv], env],
      [["import", "--from-csv", badCsv, "--skip-bad"], env],
      [["import", "--from-csv", notCsv], env],
      [["list"], env],
      [["verify"], env],
      [["verify"], wrongEnv],
      [["list"], wrongEnv],
      [["verify"], missingEnv],
      [["list"], missingEnv],
      [["list", "--key", key], env],
      [["list", `--passphrase=${passphrase}`], env],
      [[key], env],
      [["show", "1", key], env],
      [["show", key], env],
      [["delete", stored[0]!.refreshToken], env],
      [["keygen", "--out", join(dir, "k2")], {}],
      [["keygen", "--out", keyFile], {}],
      [["init"], env],
      [["export", "--out", join(dir, "e.csv")], env],
      [["export", "--out", join(dir, "e.csv")], env],
      [["export", "--out", "-"], env],
      [["doctor", "--key-file", keyFile], { ZOHO_TOKEN_STORE_FILE: file }],
      [["doctor", "--fix"], env],
      [["delete", "1"], env],
      [["recover", "--force"], env],
      [["rekey", "--new-key-file", newKeyFile], env],
      [["list"], env],
      [["rekey"], { ...env, ZOHO_TOKEN_STORE_KEY: newKey, ZOHO_TOKEN_STORE_NEW_KEY: key }],
      [["init", "--file", join(dir, "p.enc")], { ZOHO_TOKEN_STORE_PASSPHRASE: passphrase }],
      [["verify", "--file", join(dir, "p.enc")], { ZOHO_TOKEN_STORE_PASSPHRASE: `${passphrase}x` }],
      [["import", "--file", join(dir, "p.enc"), "--from-csv", csv], { ZOHO_TOKEN_STORE_PASSPHRASE: passphrase }],
      [["list", "--file", join(dir, "p.enc")], { ZOHO_TOKEN_STORE_PASSPHRASE: passphrase }],
      [["clear"], env],
      [["clear", "--yes"], env],
    ];
    let checked = 0;
    let jsonRuns = 0;
    for (const [argv, runEnv] of runs) {
      for (const extra of [[], ["--json"]]) {
        // Passphrase runs derive a key each time (scrypt, ~0.3 s): once per mode is enough.
        for (const tty of runEnv.ZOHO_TOKEN_STORE_PASSPHRASE ? [false] : [false, true]) {
          const result = await cli([...argv, ...extra], runEnv, { tty });
          const output = result.stdout + result.stderr;
          expect(() => assertNoSecrets(output, secrets), `${argv.join(" ")} ${extra.join(" ")}`).not.toThrow();
          if (extra.length > 0 && !argv.includes("--help")) {
            // Every command, in success and failure, prints the one --json shape.
            const parsed = jsonOutput(result.stdout);
            expect(parsed.ok, `${argv.join(" ")} --json`).toBe(result.code === 0);
            expect(parsed.command).toBe(COMMAND_NAMES.includes(argv[0]!) ? argv[0] : null);
            // doctor's report already names its problems; every other failure also has its line on stderr.
            if (!parsed.ok && argv[0] !== "doctor") expect(result.stderr).toContain(`error ${parsed.error!.code}`);
            jsonRuns += 1;
          }
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThan(runs.length * 3);
    expect(jsonRuns).toBeGreaterThan(runs.length);
  });
});
