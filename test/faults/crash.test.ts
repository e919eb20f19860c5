/**
 * Crash at any instant: a writer process is SIGKILLed at a random moment of a run of
 * acknowledged operations (saves; saves and deletes; saves and rekeys). Afterwards the store always opens and holds exactly the
 * document of the last acknowledged generation or of the one after it; the kept
 * previous generation is a whole, earlier one; and once the next writer has run, no
 * temp file, staging link or lock directory is left.
 *
 * Acknowledgements are appended with a synchronous write to a file outside the store's
 * directory, so the count read after the kill is exact (no pipe buffering).
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../../src/index.js";
import { fixture, tempDir } from "../helpers.js";
import { listing, registerSecrets, sized, sleep, STRESS } from "./support.js";

interface Trial {
  early: boolean;
  ops: "save" | "mixed" | "rekey";
  preloaded: number;
}

interface TrialResult {
  acked: number;
  extra: 0 | 1;
  lockLeft: boolean;
  tempLeft: boolean;
}

const PREFIX = "w";

/** The user names the store must hold after `ops` operations of the writer. */
function expectedNames(trial: Trial, ops: number): string[] {
  const names = Array.from({ length: trial.preloaded }, (_, i) => `pre-${i}`);
  for (let i = 1; i <= ops; i++) {
    if (trial.ops === "rekey" && i % 3 === 0) continue;
    if (trial.ops === "mixed" && i % 4 === 0) names.splice(names.indexOf(`${PREFIX}-${i - 2}`), 1);
    else names.push(`${PREFIX}-${i}`);
  }
  return names;
}

/** The key the writer re-encrypts to (and back from) in "rekey" trials. */
const SECOND_KEY = generateKey();
registerSecrets(SECOND_KEY);

async function namesAt(path: string, key: string): Promise<{ generation: number; names: Array<string | null> }> {
  // Either key opens a store of a "rekey" trial: a kill can land on either side of a rekey.
  const store = await EncryptedFileStore.open({ path, key, previousKeys: [SECOND_KEY], lockStaleMs: 2000 });
  const status = await store.verify();
  return { generation: status.generation, names: (await store.getTokens()).map((t) => t.userName) };
}

async function crashTrial(trial: Trial): Promise<TrialResult> {
  const dir = tempDir();
  const logs = tempDir();
  const path = join(dir, "t.enc");
  const acks = join(logs, "acks");
  const key = generateKey();
  registerSecrets(key);
  let baseGeneration = 0;
  if (trial.preloaded > 0) {
    const store = await EncryptedFileStore.open({ path, key });
    // Issued in one tick: one batch, one generation.
    await Promise.all(
      Array.from({ length: trial.preloaded }, (_, i) => store.saveToken({ userName: `pre-${i}`, refreshToken: `1000.pre-${i}-${"r".repeat(80)}` })),
    );
    baseGeneration = (await store.verify()).generation;
    expect(baseGeneration).toBe(1);
  }
  const child = spawn(process.execPath, [fixture("fault-writer.mjs"), path, PREFIX, "100000"], {
    env: { ...process.env, ZOHO_TOKEN_STORE_KEY: key, FAULT_SECOND_KEY: SECOND_KEY, FAULT_ACK: acks, FAULT_STALE_MS: "2000", FAULT_OPS: trial.ops },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise((resolve) => child.on("close", resolve));
  if (trial.early) {
    // Anywhere from start-up through open and the first writes (which create the file).
    await sleep(Math.random() * 400);
  } else {
    const started = Date.now();
    while (!existsSync(acks) || statSync(acks).size === 0) {
      if (Date.now() - started > 20_000) throw new Error(`the writer never acknowledged a write: ${stderr}`);
      await sleep(2);
    }
    await sleep(Math.random() * 200);
  }
  child.kill("SIGKILL");
  await closed;
  expect(stderr).toBe("");
  const acked = existsSync(acks) ? readFileSync(acks, "utf8").split("\n").filter(Boolean).length : 0;
  const lockLeft = existsSync(`${path}.lock`);
  const tempLeft = listing(dir).some((name) => name.endsWith(".tmp") || name.endsWith(".prev.new"));

  // The store opens and holds the last acknowledged generation or the one after it.
  let current = { generation: 0, names: [] as Array<string | null> };
  if (existsSync(path)) current = await namesAt(path, key);
  else expect(acked, "acknowledged writes but no store file").toBe(0);
  const ops = current.generation - baseGeneration;
  expect(ops === acked || ops === acked + 1, `generation ${current.generation} after ${acked} acknowledged operations (base ${baseGeneration})`).toBe(true);
  expect(current.names).toEqual(expectedNames(trial, ops));

  // The kept previous generation is whole and not newer.
  if (existsSync(`${path}.prev`)) {
    const previous = await namesAt(`${path}.prev`, key);
    expect(previous.generation).toBeLessThanOrEqual(current.generation);
    expect(previous.names).toEqual(expectedNames(trial, previous.generation - baseGeneration));
  }

  // The next writer takes over a lock left by the kill and sweeps leftovers, and only
  // them: a backup and another store whose names start with the store's stay.
  writeFileSync(`${path}.1`, "a backup", { mode: 0o600 });
  writeFileSync(`${path}.2`, "another store", { mode: 0o600 });
  const next = await EncryptedFileStore.open({ path, key, previousKeys: [SECOND_KEY], lockStaleMs: 2000, lockWaitMs: 10_000 });
  await next.saveToken({ userName: "next", refreshToken: "1000.next" });
  expect(listing(dir)).toEqual(current.generation > 0 ? ["t.enc", "t.enc.1", "t.enc.2", "t.enc.prev"] : ["t.enc", "t.enc.1", "t.enc.2"]);
  expect(await namesAt(path, key)).toEqual({ generation: current.generation + 1, names: [...expectedNames(trial, ops), "next"] });
  return { acked, extra: ops === acked ? 0 : 1, lockLeft, tempLeft };
}

describe("crash at any instant", () => {
  // At least 1,000 kills under `npm run stress`.
  const trials = sized(12, 1000);
  it(
    `${trials} writers SIGKILLed at random moments: a whole generation, the acknowledged one or the next, and no leftovers`,
    async () => {
      const parallel = STRESS ? 6 : 4;
      const plans: Trial[] = Array.from({ length: trials }, (_, i) => ({
        early: i % 4 === 0,
        ops: (["save", "mixed", "rekey"] as const)[i % 3]!,
        preloaded: i % 5 === 4 ? 400 : 0,
      }));
      const results: TrialResult[] = [];
      for (let start = 0; start < plans.length; start += parallel) {
        results.push(...(await Promise.all(plans.slice(start, start + parallel).map(crashTrial))));
      }
      const figures = {
        trials: results.length,
        killedAfterAck: results.filter((r) => r.extra === 0).length,
        killedWithOneMoreOnDisk: results.filter((r) => r.extra === 1).length,
        lockLeftByKill: results.filter((r) => r.lockLeft).length,
        tempFilesLeftByKill: results.filter((r) => r.tempLeft).length,
        acknowledgedOperations: results.reduce((sum, r) => sum + r.acked, 0),
      };
      console.log(`[fault figures] crash ${JSON.stringify(figures)}`);
      expect(results).toHaveLength(trials);
    },
    STRESS ? 3_600_000 : 120_000,
  );
});
