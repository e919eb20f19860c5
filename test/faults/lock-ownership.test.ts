/**
 * The lock knows its own directory: a holder is never told it lost the lock while it
 * holds it, and a holder that lost it (stalled past the stale time) never removes the
 * next holder's lock. File systems hand a removed directory's inode to the next one made
 * (ext4 does, every time), so the inode alone does not tell.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { FileLock, StoreLayout } from "../../src/internal.js";
import { EncryptedFileStore, generateKey } from "../../src/index.js";
import { fixture, sampleToken, tempDir } from "../helpers.js";
import { failure } from "./support.js";

function holder(store: string, role: "stall" | "hold", staleMs: number) {
  const child = spawn(process.execPath, [fixture("lock-holder.mjs"), store, role, String(staleMs)], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let onHolding: () => void;
  const holding = new Promise<void>((resolve) => (onHolding = resolve));
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes("holding")) onHolding();
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<Record<string, unknown>>((resolve, reject) =>
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(stdout.trim().split("\n").pop()!)) : reject(new Error(`exit ${code}: ${stderr}`)))),
  );
  return { holding, done };
}

describe("the lock knows its own directory", () => {
  it("a holder that keeps the lock past several refreshes is never reported lost, and leaves no lock behind", async () => {
    const dir = tempDir();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => {
        const layout = new StoreLayout(join(dir, `s${i}.enc`));
        // A stale time of 10 s refreshes every 2 s: a refresh may come up to 8 s late on a
        // loaded machine (proper-lockfile reports a lock lost once a refresh is later than
        // the stale time, whether or not anyone took it).
        return new FileLock(layout, { staleMs: 10_000, waitMs: 10_000 })
          .hold(async (held) => {
            await new Promise((resolve) => setTimeout(resolve, 4500)); // past two refreshes (every 2 s)
            return held.stillHeld();
          })
          .then((stillHeld) => ({ stillHeld, lockLeft: existsSync(layout.lock) }));
      }),
    );
    expect(results).toEqual(Array(6).fill({ stillHeld: true, lockLeft: false }));
  }, 30_000);

  it("a holder stalled past the stale time learns it lost the lock, and its release leaves the next holder's lock alone", async () => {
    const store = join(tempDir(), "t.enc");
    const staleMs = 2000;
    const stalled = holder(store, "stall", staleMs);
    await stalled.holding;
    const next = holder(store, "hold", staleMs);
    const [first, second] = await Promise.all([stalled.done, next.done]);
    expect(first).toEqual({ stillHeldAfterStall: false, lockLeftAfterRelease: true });
    expect(second).toEqual({ checksWhereLockWasGone: 0, lockLeftAfterRelease: false });
  }, 60_000);

  it("a store whose directory was removed fails a write at once with IO_ERROR, not a LOCK_TIMEOUT blaming another writer", async () => {
    const dir = join(tempDir(), "gone");
    mkdirSync(dir, { mode: 0o700 });
    const store = await EncryptedFileStore.open({ path: join(dir, "t.enc"), key: generateKey(), lockWaitMs: 60_000 });
    await store.saveToken(sampleToken("a"));
    rmSync(dir, { recursive: true });
    const error = await failure(store.saveToken(sampleToken("b")));
    expect(error.code).toBe("IO_ERROR");
  }, 30_000);
});
