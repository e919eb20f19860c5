/**
 * A plaintext export killed half-way (SIGKILL, at the instant every token is in its temp
 * file, `OUT.<pid>-<hex>.tmp`, about to be fsynced) leaves nothing unaccounted for: the
 * record it wrote beside the store names that file, so `doctor` reports it wherever it
 * is, `doctor --fix` removes it, and so does the next export, which says so. No report
 * repeats a token.
 *
 * The child runs the built tool (dist/cli.js) through test/fixtures/stalled-export.mjs,
 * which stops it at that point from the outside; the parent then kills it.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../../src/index.js";
import { assertNoSecrets, fixture, sampleToken, secretsOf, tempDir } from "../helpers.js";
import { cli } from "../cli-helpers.js";
import { listing, registerSecrets } from "./support.js";

const TOKENS = [sampleToken("export-a"), sampleToken("export-b")];
const SECRETS = TOKENS.flatMap(secretsOf);
registerSecrets(...SECRETS);

async function setup() {
  const dir = tempDir();
  const file = join(dir, "t.enc");
  const key = generateKey();
  registerSecrets(key);
  const keyFile = join(tempDir(), "k");
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  const store = await EncryptedFileStore.open({ path: file, key });
  for (const token of TOKENS) await store.saveToken(token);
  const outDir = tempDir();
  return { dir, file, key, keyFile, outDir, out: join(outDir, "tokens.csv") };
}

/** Runs `export` in a child stopped with the whole export in its temp file, and kills it there. Returns that temp file. */
async function killedExport(file: string, keyFile: string, out: string): Promise<string> {
  const child = spawn(process.execPath, [fixture("stalled-export.mjs"), "export", "--file", file, "--key-file", keyFile, "--out", out], {
    env: { PATH: process.env.PATH ?? "", FAULT_STALL_TEMP_OF: out },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on("close", (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("stalled")) resolve();
    });
    closed.then(() => reject(new Error(`the export ended before it stalled: ${stdout} ${stderr}`)));
  });
  child.kill("SIGKILL");
  expect(await closed).toBe("SIGKILL");
  const left = listing(join(out, ".."));
  expect(left).toHaveLength(1);
  expect(left[0]).toMatch(/^tokens\.csv\.\d+-[0-9a-f]{12}\.tmp$/);
  const temp = join(out, "..", left[0]!);
  // The defect this suite is about: every token, in plaintext, under a name no one asked for.
  expect(readFileSync(temp, "utf8")).toContain(TOKENS[0]!.refreshToken);
  expect(existsSync(out)).toBe(false);
  return temp;
}

describe("an export killed while writing", () => {
  it("doctor reports the plaintext it left (wherever it is) and --fix removes it", async () => {
    const { dir, file, keyFile, outDir, out } = await setup();
    const temp = await killedExport(file, keyFile, out);

    const found = await cli(["doctor", "--json", "--stale-ms", "2000"], { ZOHO_TOKEN_STORE_FILE: file });
    assertNoSecrets(found.stdout + found.stderr, SECRETS);
    expect(found.code).toBe(1);
    const exports = JSON.parse(found.stdout).result.checks.find((check: { check: string }) => check.check === "exports");
    expect(exports).toMatchObject({ status: "problem", message: expect.stringContaining(`left every token in plaintext in ${temp}`) });
    expect(existsSync(temp)).toBe(true);

    const fixed = await cli(["doctor", "--fix", "--stale-ms", "2000"], { ZOHO_TOKEN_STORE_FILE: file });
    assertNoSecrets(fixed.stdout + fixed.stderr, SECRETS);
    expect(fixed.stdout).toMatch(/fixed\s+exports: removed the plaintext left by an interrupted export/);
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(listing(outDir)).toEqual([]);
    expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
    expect((await cli(["doctor", "--stale-ms", "2000"], { ZOHO_TOKEN_STORE_FILE: file })).code).toBe(0);
  }, 120_000);

  it("the next export removes it, says so, and writes its own file whole", async () => {
    const { dir, file, keyFile, outDir, out } = await setup();
    const temp = await killedExport(file, keyFile, out);
    const next = join(outDir, "again.csv");
    // The killed export held the store's lock: the next one takes it over once stale (10 s).
    const result = await cli(["export", "--out", next, "--key-file", keyFile], { ZOHO_TOKEN_STORE_FILE: file });
    expect(result.code, result.stderr).toBe(0);
    assertNoSecrets(result.stdout + result.stderr, SECRETS);
    expect(result.stderr).toContain(`removed ${temp}: every token in plaintext, left by an export that was interrupted`);
    expect(listing(outDir)).toEqual(["again.csv"]);
    expect(readFileSync(next, "utf8")).toContain(TOKENS[1]!.refreshToken);
    expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
  }, 120_000);

  it("a record that names no file (a power cut before the temp file) is harmless: reported as info, removed by --fix; one naming any other file never removes it", async () => {
    const { dir, file, outDir } = await setup();
    const record = `${file}.export-0123456789ab`;
    writeFileSync(record, JSON.stringify({ out: join(outDir, "a.csv"), temp: join(outDir, "a.csv.4242-0123456789ab.tmp") }), { mode: 0o600 });
    const found = await cli(["doctor", "--json"], { ZOHO_TOKEN_STORE_FILE: file });
    expect(found.code).toBe(0);
    expect(JSON.parse(found.stdout).result.checks.find((check: { check: string }) => check.check === "exports")).toMatchObject({ status: "info" });
    const fixed = await cli(["doctor", "--fix"], { ZOHO_TOKEN_STORE_FILE: file });
    expect(fixed.stdout).toMatch(/fixed\s+exports: removed the record of an interrupted export/);
    expect(existsSync(record)).toBe(false);
    // A record naming a file that is not a temp file of the export it records: the file stays.
    const precious = join(outDir, "precious.txt");
    writeFileSync(precious, "keep me");
    for (const named of [precious, join(outDir, "a.csv.bak"), join(outDir, "a.csv.4242-0123456789ab.tmp.old")]) {
      writeFileSync(record, JSON.stringify({ out: join(outDir, "a.csv"), temp: named }), { mode: 0o600 });
      writeFileSync(named, "keep me");
      await cli(["doctor", "--fix"], { ZOHO_TOKEN_STORE_FILE: file });
      expect(readFileSync(named, "utf8"), named).toBe("keep me");
    }
    expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
  });

  it("a finished export leaves nothing beside the store or its file", async () => {
    const { dir, file, keyFile, outDir, out } = await setup();
    const result = await cli(["export", "--out", out, "--key-file", keyFile], { ZOHO_TOKEN_STORE_FILE: file });
    expect(result.code, result.stderr).toBe(0);
    expect(listing(outDir)).toEqual(["tokens.csv"]);
    expect(listing(dir)).toEqual(["t.enc", "t.enc.prev"]);
    expect(result.stderr).not.toContain("removed");
  });
});
