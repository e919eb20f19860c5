import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { EncryptedFileStore, generateKey } from "../src/index.js";
import { assertNoSecrets, sampleToken, secretsOf, tempDir } from "./helpers.js";
import { cli, jsonOutput, jsonResult } from "./cli-helpers.js";

const modeOf = (path: string) => statSync(path).mode & 0o777;

/** A store written twice (so a previous generation is kept), with its key in a 0600 key file. */
async function setup() {
  const dir = tempDir();
  const file = join(dir, "tokens.enc");
  const keyFile = join(dir, "store.key");
  const key = generateKey();
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  const store = await EncryptedFileStore.open({ path: file, key });
  await store.saveToken(sampleToken("a"));
  await store.saveToken(sampleToken("b"));
  return { dir, file, key, keyFile, env: { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_KEY: key } };
}

function flipByte(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset]! ^ 0x01;
  writeFileSync(path, bytes);
}

/** Rewrites the header's version field and its header check, as a newer release would write it. */
function setVersion(path: string, version: number): void {
  const bytes = readFileSync(path);
  bytes.writeUInt16BE(version, 8);
  createHash("sha256").update(bytes.subarray(0, 88)).digest().copy(bytes, 88, 0, 8);
  writeFileSync(path, bytes);
}

describe("verify", () => {
  it("exit 0 and what it found when the file opens and authenticates", async () => {
    const { env } = await setup();
    const result = await cli(["verify"], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ok: .*tokens\.enc opens and authenticates: generation 2, 2 tokens, raw key from ZOHO_TOKEN_STORE_KEY\n$/);
    expect(jsonResult((await cli(["verify", "--json"], env)).stdout)).toEqual({
      status: "ok",
      path: env.ZOHO_TOKEN_STORE_FILE,
      generation: 2,
      tokens: 2,
      keySource: "raw",
      keyFrom: "ZOHO_TOKEN_STORE_KEY",
      previousGeneration: true,
    });
  });

  it("says which: wrong key, damaged, unsupported version, missing", async () => {
    const cases: Array<[string, (s: Awaited<ReturnType<typeof setup>>) => Record<string, string>, string, string]> = [
      ["wrong-key", (s) => ({ ...s.env, ZOHO_TOKEN_STORE_KEY: generateKey() }), "WRONG_KEY", "wrong key: "],
      ["damaged", (s) => (flipByte(s.file, 120), s.env), "DAMAGED_FILE", "damaged: "],
      ["unsupported-version", (s) => (setVersion(s.file, 7), s.env), "UNSUPPORTED_VERSION", "unsupported version: "],
      ["missing", (s) => ({ ...s.env, ZOHO_TOKEN_STORE_FILE: join(s.dir, "nope.enc") }), "FILE_MISSING", "missing: "],
    ];
    for (const [status, prepare, code, label] of cases) {
      const env = prepare(await setup());
      const human = await cli(["verify"], env);
      expect(human.code, status).toBe(1);
      expect(human.stdout, status).toBe("");
      expect(human.stderr, status).toContain(`error ${code}: ${label}`);
      // The error line, after the line saying where the key came from (when one was read).
      expect(
        human.stderr
          .trim()
          .split("\n")
          .filter((line) => !line.startsWith("key: ")),
        status,
      ).toHaveLength(1);
      const machine = await cli(["verify", "--json"], env);
      expect(machine.code, status).toBe(1);
      const output = jsonOutput(machine.stdout);
      expect(output, status).toMatchObject({ ok: false, command: "verify", result: { status, generation: null, tokens: null }, error: { code } });
      expect(output.error!.message, status).toContain(label);
    }
  });

  it("a missing store whose previous generation is kept points to recover", async () => {
    const { env, file } = await setup();
    unlinkSync(file);
    const result = await cli(["verify", "--json"], env);
    expect(jsonOutput(result.stdout).result).toMatchObject({ status: "missing", previousGeneration: true });
    expect(result.stderr).toContain("zoho-encrypted-filestore recover");
  });
});

describe("rekey", () => {
  it("re-encrypts under the key in --new-key-file; the old key no longer opens the file", async () => {
    const { dir, file, key, env } = await setup();
    const newKeyFile = join(dir, "new.key");
    expect((await cli(["keygen", "--out", newKeyFile])).code).toBe(0);
    const result = await cli(["rekey", "--new-key-file", newKeyFile], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("re-encrypted 2 tokens");
    expect(result.stderr).toContain("still sealed with the old key");
    expect((await cli(["verify"], env)).stderr).toContain("error WRONG_KEY");
    const after = await cli(["list", "--json", "--key-file", newKeyFile], { ZOHO_TOKEN_STORE_FILE: file });
    expect(jsonResult(after.stdout).tokens).toHaveLength(2);
    expect(key).not.toBe(readFileSync(newKeyFile, "utf8").trim());
  });

  it("takes the new key from ZOHO_TOKEN_STORE_NEW_KEY, and needs one", async () => {
    const { env } = await setup();
    expect((await cli(["rekey"], env)).code).toBe(2);
    const next = generateKey();
    expect((await cli(["rekey"], { ...env, ZOHO_TOKEN_STORE_NEW_KEY: next })).code).toBe(0);
    expect((await cli(["verify"], { ...env, ZOHO_TOKEN_STORE_KEY: next })).code).toBe(0);
  });
});

describe("recover", () => {
  it("refuses while the current file is intact, restores the previous generation once it is damaged", async () => {
    const { env, file } = await setup();
    const refused = await cli(["recover"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("error REFUSED");
    flipByte(file, 130);
    const result = await cli(["recover", "--json"], env);
    expect(result.code).toBe(0);
    expect(jsonResult(result.stdout)).toMatchObject({ restoredGeneration: 1, tokens: 1 });
    expect((await cli(["verify"], env)).code).toBe(0);
  });

  it("after a rekey, needs the old key for the previous generation", async () => {
    const { env, file, keyFile } = await setup();
    const next = generateKey();
    await cli(["rekey"], { ...env, ZOHO_TOKEN_STORE_NEW_KEY: next });
    flipByte(file, 130);
    const newEnv = { ...env, ZOHO_TOKEN_STORE_KEY: next };
    const without = await cli(["recover"], newEnv);
    expect(without.code).toBe(1);
    expect(without.stderr).toContain("--previous-key-file");
    const withOld = await cli(["recover", "--previous-key-file", keyFile], newEnv);
    expect(withOld.code).toBe(0);
    expect(jsonResult((await cli(["list", "--json"], newEnv)).stdout).tokens).toHaveLength(2);
  });

  it("without a previous generation: FILE_MISSING", async () => {
    const { env, file } = await setup();
    unlinkSync(`${file}.prev`);
    const result = await cli(["recover", "--force"], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("error FILE_MISSING: there is no previous generation");
  });
});

describe("doctor", () => {
  it("a healthy store: exit 0", async () => {
    const { env, keyFile } = await setup();
    const result = await cli(["doctor", "--key-file", keyFile], { ZOHO_TOKEN_STORE_FILE: env.ZOHO_TOKEN_STORE_FILE });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("no problems found");
    expect(result.stdout).toMatch(/info\s+previous generation: .*generation 1/);
    expect(result.stdout).toMatch(/ok\s+decrypts: opens and authenticates/);
  });

  it("finds permissions, a stale lock and leftover temp files; --fix repairs them", async () => {
    const { dir, file, keyFile, env } = await setup();
    chmodSync(file, 0o644);
    chmodSync(`${file}.prev`, 0o640);
    chmodSync(keyFile, 0o644);
    chmodSync(dir, 0o770);
    mkdirSync(`${file}.lock`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${file}.lock`, old, old);
    writeFileSync(`${file}.4242-0123456789ab.tmp`, "half a write");
    writeFileSync(`${file}.prev.new`, "half a link");
    writeFileSync(`${file}.notes`, "not ours");

    const found = await cli(["doctor", "--key-file", keyFile, "--json"], { ZOHO_TOKEN_STORE_FILE: file });
    expect(found.code).toBe(1);
    const output = jsonOutput(found.stdout);
    expect(output.error).toEqual({ code: "PROBLEMS_FOUND", message: "6 problems; 'zoho-encrypted-filestore doctor --fix' repairs them" });
    const report = output.result;
    const status = Object.fromEntries(report.checks.map((check: { check: string; status: string }) => [check.check, check.status]));
    expect(status).toEqual({
      directory: "problem",
      "parent directories": "ok",
      "store file": "problem",
      "previous generation": "problem",
      "key file": "problem",
      lock: "problem",
      "temp files": "problem",
      exports: "ok",
      leases: "ok",
      decrypts: "info",
    });

    const fixed = await cli(["doctor", "--key-file", keyFile, "--fix"], { ZOHO_TOKEN_STORE_FILE: file });
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toContain("repaired; no problems left");
    expect(modeOf(file)).toBe(0o600);
    expect(modeOf(`${file}.prev`)).toBe(0o600);
    expect(modeOf(keyFile)).toBe(0o600);
    expect(modeOf(dir)).toBe(0o750);
    expect(existsSync(`${file}.lock`)).toBe(false);
    expect(existsSync(`${file}.4242-0123456789ab.tmp`)).toBe(false);
    expect(existsSync(`${file}.prev.new`)).toBe(false);
    expect(existsSync(`${file}.notes`)).toBe(true);
    expect((await cli(["verify"], env)).code).toBe(0);
  });

  it("never changes a sticky shared directory (like /tmp), nor a directory others may only read", async () => {
    const { dir, file } = await setup();
    chmodSync(dir, 0o1777);
    const shared = await cli(["doctor", "--fix", "--json"], { ZOHO_TOKEN_STORE_FILE: file });
    expect(shared.code).toBe(1);
    const check = jsonOutput(shared.stdout).result.checks.find((c: { check: string }) => c.check === "directory");
    expect(check).toMatchObject({ status: "problem", message: expect.stringContaining("move the store to a directory of your own") });
    expect(check.fix).toBeUndefined();
    expect(statSync(dir).mode & 0o7777).toBe(0o1777);
    chmodSync(dir, 0o755);
    const readable = await cli(["doctor", "--fix"], { ZOHO_TOKEN_STORE_FILE: file });
    expect(readable.code).toBe(0);
    expect(modeOf(dir)).toBe(0o755);
  });

  it("--fix clears only the access that is wrong: setgid on the directory and the owner's bits stay", async () => {
    const { dir, file, key, keyFile } = await setup();
    chmodSync(dir, 0o2770);
    chmodSync(keyFile, 0o744);
    chmodSync(file, 0o640);
    const fixed = await cli(["doctor", "--fix", "--key-file", keyFile], { ZOHO_TOKEN_STORE_FILE: file });
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(statSync(dir).mode & 0o7777).toBe(0o2750);
    expect(statSync(keyFile).mode & 0o7777).toBe(0o700);
    expect(statSync(file).mode & 0o7777).toBe(0o600);
    expect(fixed.stdout).toMatch(/fixed\s+directory: .* mode 2770 -> 2750/);
    expect(fixed.stdout).toMatch(/fixed\s+key file: .* mode 744 -> 700/);
    assertNoSecrets(fixed.stdout + fixed.stderr, [key, ...secretsOf(sampleToken("a"))]);
  });

  it("a key file that is a dangling symbolic link is a problem line, not an internal error", async () => {
    const { dir, file, key } = await setup();
    const link = join(dir, "link.key");
    symlinkSync(join(dir, "gone.key"), link);
    for (const extra of [[], ["--fix"]]) {
      const result = await cli(["doctor", "--key-file", link, ...extra], { ZOHO_TOKEN_STORE_FILE: file });
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/PROBLEM\s+key file: .*link\.key does not exist \(dangling symbolic link\)/);
      expect(result.stdout + result.stderr).not.toContain("INTERNAL");
      assertNoSecrets(result.stdout + result.stderr, [key]);
    }
    const machine = jsonOutput((await cli(["doctor", "--key-file", link, "--json"], { ZOHO_TOKEN_STORE_FILE: file })).stdout);
    expect(machine).toMatchObject({ ok: false, command: "doctor", error: { code: "PROBLEMS_FOUND" } });
    expect(JSON.stringify(machine)).toContain("dangling symbolic link");
  });

  it("leaves a fresh lock alone: a writer is running", async () => {
    const { file, env } = await setup();
    mkdirSync(`${file}.lock`);
    const result = await cli(["doctor", "--fix", "--json"], env);
    const lock = jsonResult(result.stdout).checks.find((check: { check: string }) => check.check === "lock");
    expect(lock).toMatchObject({ status: "info", message: expect.stringContaining("held by a running writer") });
    expect(existsSync(`${file}.lock`)).toBe(true);
  });

  it("a stale lock with files put inside it: --fix removes it whole", async () => {
    const { file, env } = await setup();
    mkdirSync(`${file}.lock`);
    writeFileSync(`${file}.lock/junk`, "not the store's");
    mkdirSync(`${file}.lock/nested`);
    writeFileSync(`${file}.lock/nested/more`, "junk");
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${file}.lock`, old, old);
    const found = await cli(["doctor"], env);
    expect(found.code).toBe(1);
    expect(found.stdout).toMatch(/PROBLEM\s+lock: .*tokens\.enc\.lock is stale/);
    const fixed = await cli(["doctor", "--fix"], env);
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(fixed.stdout).toMatch(/fixed\s+lock: removed the stale lock/);
    expect(readdirSync(dirname(file)).sort()).toEqual(["store.key", "tokens.enc", "tokens.enc.prev"]);
    await (await EncryptedFileStore.open({ path: file, key: env.ZOHO_TOKEN_STORE_KEY, lockWaitMs: 1000 })).saveToken(sampleToken("c"));
  });

  it("a lock dated in the future is a problem; --fix removes it once it stayed unchanged while watched", async () => {
    const { file, env } = await setup();
    mkdirSync(`${file}.lock`);
    const future = new Date(Date.now() + 3_600_000);
    utimesSync(`${file}.lock`, future, future);
    const found = await cli(["doctor"], env);
    expect(found.code).toBe(1);
    expect(found.stdout).toMatch(/PROBLEM\s+lock: .*tokens\.enc\.lock is dated 60 min in the future.*\(fix: /);
    expect(existsSync(`${file}.lock`)).toBe(true);
    const fixed = await cli(["doctor", "--fix"], env);
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(fixed.stdout).toMatch(/fixed\s+lock: removed the future-dated lock/);
    expect(existsSync(`${file}.lock`)).toBe(false);
    expect(readdirSync(dirname(file)).sort()).toEqual(["store.key", "tokens.enc", "tokens.enc.prev"]);
    // Writers no longer wait for it.
    await (await EncryptedFileStore.open({ path: file, key: env.ZOHO_TOKEN_STORE_KEY, lockWaitMs: 1000 })).saveToken(sampleToken("c"));
  }, 30_000);

  it("a missing or damaged store file is a problem it does not try to repair", async () => {
    const { file, env } = await setup();
    flipByte(file, 20);
    const damaged = await cli(["doctor", "--fix"], { ZOHO_TOKEN_STORE_FILE: file });
    expect(damaged.code).toBe(1);
    expect(damaged.stdout).toMatch(/PROBLEM\s+store file: .*header is damaged/);
    unlinkSync(file);
    const missing = await cli(["doctor"], env);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/PROBLEM\s+store file: .* is missing but its previous generation is kept/);
  });
});
