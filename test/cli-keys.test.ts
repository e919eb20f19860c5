/**
 * Where the key comes from: the store's header decides whether a passphrase may be
 * asked for; `--key-file -` reads it from standard input; the source is named on
 * stderr, the key never.
 */
import { describe, expect, it } from "vitest";
import { Readable } from "node:stream";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../src/index.js";
import { assertNoSecrets, sampleToken, secretsOf, tempDir } from "./helpers.js";
import { cli, jsonOutput, jsonResult, ttyStdin } from "./cli-helpers.js";

const PASSPHRASE = "correct horse battery staple";

async function rawStore() {
  const dir = tempDir();
  const file = join(dir, "tokens.enc");
  const key = generateKey();
  const keyFile = join(dir, "store.key");
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  const store = await EncryptedFileStore.open({ path: file, key });
  await store.saveToken(sampleToken("a"));
  return { dir, file, key, keyFile, secrets: [key, ...secretsOf(sampleToken("a"))] };
}

async function passphraseStore() {
  const file = join(tempDir(), "tokens.enc");
  const store = await EncryptedFileStore.open({ path: file, passphrase: PASSPHRASE, scryptCost: 14 });
  await store.saveToken(sampleToken("p"));
  return { file, secrets: [PASSPHRASE, ...secretsOf(sampleToken("p"))] };
}

/** A stdin that is a pipe delivering `chunks` (Buffers, as a pipe does), then its end. */
function pipedStdin(chunks: string[]) {
  return Readable.from(chunks.map((chunk) => Buffer.from(chunk, "utf8")));
}

describe("the store's header decides whether a passphrase may be asked for", () => {
  it("a raw-key store without a key, on a terminal: NO_KEY (exit 2) naming the ways to give one, and no prompt", async () => {
    const { file, secrets } = await rawStore();
    for (const argv of [
      ["list"],
      ["show", "1"],
      ["verify"],
      ["export", "--out", join(tempDir(), "x.csv")],
      ["import", "--from-csv", "/nonexistent.csv"],
      ["rekey"],
    ]) {
      const { stdin, state } = ttyStdin(["typed passphrase"]);
      const result = await cli([...argv, "--file", file], {}, { stdin });
      const what = argv.join(" ");
      if (argv[0] === "import") {
        expect(result.code, what).toBe(1); // the CSV is read (and missing) before the key is needed
        continue;
      }
      expect(result.code, what).toBe(2);
      expect(result.stderr, what).toContain("error NO_KEY: ");
      expect(result.stderr, what).toContain(
        "is sealed with a raw key, and no key was given: pass --key-file K or --key-file - (the key on standard input), or set ZOHO_TOKEN_STORE_KEY_FILE or ZOHO_TOKEN_STORE_KEY",
      );
      expect(result.stderr, what).not.toContain("Passphrase");
      expect(state.prompts, what).toBe(0);
      expect(state.rawModes, what).toEqual([]);
      assertNoSecrets(result.stdout + result.stderr, secrets);
    }
    const { stdin } = ttyStdin([]);
    const machine = await cli(["list", "--file", file, "--json"], {}, { stdin });
    expect(jsonOutput(machine.stdout)).toMatchObject({ ok: false, command: "list", result: null, error: { code: "NO_KEY" } });
  });

  it("a passphrase store without a key, on a terminal: asks once, and says the key came from the prompt", async () => {
    const { file, secrets } = await passphraseStore();
    const { stdin, state } = ttyStdin([PASSPHRASE]);
    const result = await cli(["list", "--file", file], {}, { stdin, tty: true });
    expect(result.code, result.stderr).toBe(0);
    expect(state.prompts).toBe(1);
    expect(result.stderr).toContain("Passphrase: ");
    expect(result.stderr).toContain("key: passphrase (prompt)");
    expect(result.stdout).toContain("user-p@example.com");
    assertNoSecrets(result.stdout + result.stderr, secrets);
  });

  it("a key of the other kind than the file's is WRONG_KEY that says so", async () => {
    const { file, secrets } = await passphraseStore();
    const key = generateKey();
    const result = await cli(["verify", "--file", file], { ZOHO_TOKEN_STORE_KEY: key });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("the file is sealed with a passphrase, and a raw key was given: ZOHO_TOKEN_STORE_KEY");
    assertNoSecrets(result.stdout + result.stderr, [...secrets, key]);
    const raw = await rawStore();
    const other = await cli(["list", "--file", raw.file], { ZOHO_TOKEN_STORE_PASSPHRASE: PASSPHRASE });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("the file is sealed with a raw key, and a passphrase was given: ZOHO_TOKEN_STORE_PASSPHRASE");
    assertNoSecrets(other.stdout + other.stderr, [...raw.secrets, PASSPHRASE]);
  });
});

describe("which key source was used is said on stderr, in human mode only", () => {
  it("names --key-file as given, the variable, or the prompt; never the key", async () => {
    const { dir, file, key, keyFile, secrets } = await rawStore();
    const byFile = await cli(["list", "--file", "tokens.enc", "--key-file", "store.key"], {}, { cwd: dir });
    expect(byFile.code, byFile.stderr).toBe(0);
    expect(byFile.stderr).toBe("key: --key-file store.key\n");
    const absolute = await cli(["list", "--file", file, "--key-file", keyFile]);
    expect(absolute.code).toBe(0);
    expect(absolute.stderr).toBe(`key: --key-file ${keyFile}\n`);
    const byEnv = await cli(["show", "1", "--file", file], { ZOHO_TOKEN_STORE_KEY: key });
    expect(byEnv.stderr).toBe("key: ZOHO_TOKEN_STORE_KEY\n");
    const machine = await cli(["list", "--file", file, "--json"], { ZOHO_TOKEN_STORE_KEY: key });
    expect(machine.stderr).toBe("");
    expect(jsonResult(machine.stdout).tokens).toHaveLength(1);
    const doctor = await cli(["doctor", "--file", file, "--key-file", keyFile]);
    expect(doctor.stdout).toMatch(
      new RegExp(`ok\\s+decrypts: opens and authenticates with the key given \\(--key-file ${keyFile.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}; 1 token\\)`),
    );
    for (const result of [byFile, absolute, byEnv, machine, doctor]) assertNoSecrets(result.stdout + result.stderr, secrets);
  });

  it("a key given where the key file's name belongs is refused without repeating it", async () => {
    const { file, key, secrets } = await rawStore();
    for (const argv of [
      ["list", "--key-file", key],
      ["doctor", "--key-file", key],
      ["rekey", "--new-key-file", key],
    ]) {
      const result = await cli([...argv, "--file", file], { ZOHO_TOKEN_STORE_KEY: key });
      expect(result.code, argv[0]).toBe(2);
      expect(result.stderr, argv[0]).toMatch(/error USAGE: --(new-)?key-file takes the name of a file holding the (new )?key, not the (new )?key itself/);
      assertNoSecrets(result.stdout + result.stderr, secrets);
    }
  });
});

describe("--key-file - reads the key from standard input", () => {
  it("reads it whole, in however many chunks the pipe delivers it, and never echoes it", async () => {
    const { file, key, secrets } = await rawStore();
    const chunks = [key.slice(0, 5), key.slice(5, 20), key.slice(20), "\n"];
    const result = await cli(["list", "--file", file, "--key-file", "-"], {}, { stdin: pipedStdin(chunks) });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("user-a@example.com");
    expect(result.stderr).toBe("key: --key-file - (standard input)\n");
    assertNoSecrets(result.stdout + result.stderr, secrets);
    const machine = await cli(["verify", "--file", file, "--key-file", "-", "--json"], {}, { stdin: pipedStdin([key]) });
    expect(jsonResult(machine.stdout)).toMatchObject({ status: "ok", tokens: 1 });
    const doctor = await cli(["doctor", "--file", file, "--key-file", "-"], {}, { stdin: pipedStdin([key]) });
    expect(doctor.code).toBe(0);
    expect(doctor.stdout).toMatch(/ok\s+decrypts: opens and authenticates with the key given \(--key-file - \(standard input\); 1 token\)/);
    expect(doctor.stdout).not.toContain("key file:");
    assertNoSecrets(machine.stdout + machine.stderr + doctor.stdout + doctor.stderr, secrets);
  });

  it("refuses a terminal (the key would show as typed), and says so as a usage error", async () => {
    const { file, secrets } = await rawStore();
    const { stdin, state } = ttyStdin(["typed key"]);
    const result = await cli(["list", "--file", file, "--key-file", "-"], {}, { stdin });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("error USAGE: --key-file - reads the key from standard input, which is a terminal here");
    expect(state.prompts).toBe(0);
    assertNoSecrets(result.stdout + result.stderr, secrets);
  });

  it("an empty, oversized or malformed input is refused without being repeated", async () => {
    const { file, secrets } = await rawStore();
    const empty = await cli(["list", "--file", file, "--key-file", "-"], {}, { stdin: pipedStdin(["\n"]) });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("error NO_KEY: standard input was empty");
    const big = await cli(["list", "--file", file, "--key-file", "-"], {}, { stdin: pipedStdin(["A".repeat(800), "B".repeat(800)]) });
    expect(big.code).toBe(2);
    expect(big.stderr).toContain("error USAGE: standard input holds more than 1024 bytes");
    expect(big.stderr).not.toContain("AAAA");
    const garbage = await cli(["list", "--file", file, "--key-file", "-"], {}, { stdin: pipedStdin(["not-a-key-GARBAGEVALUE\n"]) });
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain("not valid base64");
    expect(garbage.stderr).not.toContain("GARBAGEVALUE");
    assertNoSecrets(empty.stderr + big.stderr + garbage.stderr, secrets);
  });

  it("rekey: the new key may come from standard input, but not both keys", async () => {
    const { file, key, keyFile, secrets } = await rawStore();
    const both = await cli(["rekey", "--file", file, "--key-file", "-", "--new-key-file", "-"], {}, { stdin: pipedStdin([key]) });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--key-file - and --new-key-file - cannot both read standard input");
    const next = generateKey();
    const result = await cli(["rekey", "--file", file, "--key-file", keyFile, "--new-key-file", "-"], {}, { stdin: pipedStdin([`${next}\n`]) });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`key: --key-file ${keyFile}\nnew key: --new-key-file - (standard input)\n`);
    assertNoSecrets(both.stdout + both.stderr + result.stdout + result.stderr, [...secrets, next]);
    expect((await cli(["verify", "--file", file], { ZOHO_TOKEN_STORE_KEY: next })).code).toBe(0);
  });
});

describe("a wrong passphrase typed at the prompt", () => {
  it("may be typed again, three tries in all", async () => {
    const { file, secrets } = await passphraseStore();
    const typed = ["wrong-one-TYPED", "wrong-two-TYPED"];
    const { stdin, state } = ttyStdin([...typed, PASSPHRASE]);
    const result = await cli(["list", "--file", file], {}, { stdin });
    expect(result.code, result.stderr).toBe(0);
    expect(state.prompts).toBe(3);
    expect(state.rawModes).toEqual([true, false, true, false, true, false]);
    expect(result.stderr).toContain("wrong passphrase; try again (attempt 2 of 3)");
    expect(result.stderr).toContain("wrong passphrase; try again (attempt 3 of 3)");
    expect(result.stdout).toContain("user-p@example.com");
    assertNoSecrets(result.stdout + result.stderr, [...secrets, ...typed]);

    const three = ttyStdin(["w1-TYPED", "w2-TYPED", "w3-TYPED", PASSPHRASE]);
    const failed = await cli(["verify", "--file", file], {}, { stdin: three.stdin });
    expect(failed.code).toBe(1);
    expect(three.state.prompts).toBe(3);
    expect(failed.stderr).toContain("error WRONG_KEY: ");
    assertNoSecrets(failed.stdout + failed.stderr, [...secrets, "w1-TYPED", "w2-TYPED", "w3-TYPED"]);
  });

  it("a wrong passphrase from the environment is not asked for again", async () => {
    const { file, secrets } = await passphraseStore();
    const { stdin, state } = ttyStdin([PASSPHRASE]);
    const result = await cli(["list", "--file", file], { ZOHO_TOKEN_STORE_PASSPHRASE: "wrong-ENV-value" }, { stdin });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("error WRONG_KEY");
    expect(result.stderr).not.toContain("try again");
    expect(state.prompts).toBe(0);
    assertNoSecrets(result.stdout + result.stderr, [...secrets, "wrong-ENV-value"]);
  });

  it("Ctrl-C at the prompt exits 130 and restores the terminal", async () => {
    const { file, secrets } = await passphraseStore();
    const { stdin, state } = ttyStdin(["\u0003"]);
    const result = await cli(["list", "--file", file], {}, { stdin });
    expect(result.code).toBe(130);
    expect(result.stderr).toContain("error CANCELLED: interrupted at the passphrase prompt; nothing was done");
    expect(state.rawModes).toEqual([true, false]);
    const machine = await cli(["list", "--file", file, "--json"], {}, { stdin: ttyStdin(["\u0003"]).stdin });
    expect(machine.code).toBe(130);
    expect(jsonOutput(machine.stdout)).toMatchObject({ ok: false, command: "list", error: { code: "CANCELLED" } });
    assertNoSecrets(result.stdout + result.stderr + machine.stdout + machine.stderr, secrets);
  });
});
