import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../src/index.js";
import { contendedLockWaitMs, DIST, fixture, runNode, tempDir } from "./helpers.js";

const STRESS = process.env.STRESS === "1";

describe("many processes, one file", () => {
  /** Upserts per process: 100 under `npm run stress`. */
  const upserts = STRESS ? 100 : 40;
  it(`8 processes x ${upserts} upserts of distinct users: all ${8 * upserts} present`, async () => {
    const path = join(tempDir(), "t.enc");
    const key = generateKey();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, p) =>
        runNode(fixture("writer.mjs"), [path, `p${p}`, String(upserts), "10000", String(contendedLockWaitMs())], { ZOHO_TOKEN_STORE_KEY: key }),
      ),
    );
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const tokens = await (await EncryptedFileStore.open({ path, key })).getTokens();
    expect(tokens).toHaveLength(8 * upserts);
    expect(new Set(tokens.map((t) => t.id)).size).toBe(8 * upserts);
    for (let p = 0; p < 8; p++) for (let i = 0; i < upserts; i++) expect(tokens.some((t) => t.userName === `p${p}-${i}`)).toBe(true);
    expect(readdirSync(join(path, "..")).sort()).toEqual(["t.enc", "t.enc.prev"]);
  }, 180_000);

  it("a holder killed inside the lock: the others go on once the lock is stale", async () => {
    const path = join(tempDir(), "t.enc");
    const key = generateKey();
    const holder = spawn(process.execPath, [fixture("hold-lock.mjs"), path, "2000"], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => holder.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("locked") && resolve()));
    holder.kill("SIGKILL");
    await new Promise((resolve) => holder.on("close", resolve));
    expect(existsSync(`${path}.lock`)).toBe(true);
    const results = await Promise.all(
      Array.from({ length: 3 }, (_, p) =>
        runNode(fixture("writer.mjs"), [path, `w${p}`, "5", "2000", String(contendedLockWaitMs())], { ZOHO_TOKEN_STORE_KEY: key }),
      ),
    );
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    expect(await (await EncryptedFileStore.open({ path, key })).getTokens()).toHaveLength(15);
    expect(existsSync(`${path}.lock`)).toBe(false);
  }, 60_000);

  it(
    "a writer killed at random moments always leaves a whole generation",
    async () => {
      const trials = STRESS ? 200 : 8;
      const parallel = 4;
      const outcomes: string[] = [];
      for (let start = 0; start < trials; start += parallel) {
        const batch = Array.from({ length: Math.min(parallel, trials - start) }, () => killedWriterTrial());
        outcomes.push(...(await Promise.all(batch)));
      }
      // Both kinds of outcome happen: killed before the first ack, or after some.
      expect(outcomes.length).toBe(trials);
    },
    STRESS ? 1_800_000 : 120_000,
  );
});

/** Runs a writer, SIGKILLs it at a random moment, then checks the file and the next writer. */
async function killedWriterTrial(): Promise<string> {
  const dir = tempDir();
  const path = join(dir, "t.enc");
  const key = generateKey();
  const child = spawn(process.execPath, [fixture("writer.mjs"), path, "w", "100000", "2000"], {
    env: { ...process.env, ZOHO_TOKEN_STORE_KEY: key },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let acked = 0;
  child.stdout.on("data", (chunk: Buffer) => {
    const lines = chunk.toString().trim().split("\n");
    const last = lines[lines.length - 1]!.split(" ");
    if (last[0] === "ack") acked = Math.max(acked, Number(last[1]));
  });
  // Wait for the first ack (the child has started and written), then a random extra time.
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => acked > 0 && (clearInterval(poll), resolve()), 5);
  });
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 300));
  child.kill("SIGKILL");
  await new Promise((resolve) => child.on("close", resolve));
  const ackedAtKill = acked;

  // It waits for the lock left inside the kill to go stale (2 s, or 3 s when proper-lockfile dated it ahead).
  const store = await EncryptedFileStore.open({ path, key, lockStaleMs: 2000, lockWaitMs: contendedLockWaitMs() });
  const stored = (await store.getTokens()).length;
  expect(stored === ackedAtKill || stored === ackedAtKill + 1, `stored ${stored}, acknowledged ${ackedAtKill}`).toBe(true);
  // The next writer takes over a lock left inside the kill, and sweeps temp files.
  await store.saveToken({ userName: "next", refreshToken: "r" });
  expect(readdirSync(dir).sort()).toEqual(["t.enc", "t.enc.prev"]);
  return stored === ackedAtKill ? "acked" : "one more";
}

describe("packaging", () => {
  it("ESM import and CommonJS require get one copy of the library", async () => {
    const script = `
      import { createRequire } from "node:module";
      const esm = await import(${JSON.stringify(DIST)});
      const cjs = createRequire(import.meta.url)(${JSON.stringify(DIST.replace(/index\.js$/, "index.cjs"))});
      console.log(JSON.stringify({ same: esm.EncryptedFileStore === cjs.EncryptedFileStore && esm.TokenStoreError === cjs.TokenStoreError }));
    `;
    const dir = tempDir();
    const file = join(dir, "check.mjs");
    (await import("node:fs")).writeFileSync(file, script);
    const result = await runNode(file, []);
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({ same: true });
  });
});
