import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { StoreLayout } from "../src/backend/file/layout.js";
import { FileLock } from "../src/backend/file/lock.js";
import { EncryptedFileStore, generateKey } from "../src/index.js";
import { fixture, runNode, tempDir, type ChildResult } from "./helpers.js";

const LOCK = { staleMs: 10_000, waitMs: 60_000 };

/** Resolves once the lock's queue holds `count` tickets (checked every 20 ms, for 60 s at most). */
async function ticketsQueued(layout: StoreLayout, count: number): Promise<void> {
  const queued = () => existsSync(layout.lockQueue) && readdirSync(layout.lockQueue).length >= count;
  for (let checks = 0; !queued(); checks++) {
    if (checks > 3000) throw new Error(`no ${count} writers queued for the lock`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What the record "shared" holds now, and in the previous generation. */
async function lastWriters(path: string, key: string): Promise<{ last: string | undefined; before: string | undefined }> {
  const read = async (file: string) => (await (await EncryptedFileStore.open({ path: file, key })).findToken({ userName: "shared" }))?.accessToken ?? undefined;
  return { last: await read(path), before: await read(`${path}.prev`) };
}

describe("the lock's queue", () => {
  it("writers that found the lock taken get it in arrival order, and a releasing writer queues behind them", async () => {
    const path = join(tempDir(), "t.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path, key });
    await store.saveToken({ userName: "shared", refreshToken: "1000.rt-shared", accessToken: "1000.at-seed" });
    const layout = new StoreLayout(path);
    const writers: Promise<ChildResult>[] = [];
    await new FileLock(layout, LOCK).hold(async () => {
      // Four writers arrive one after the other while this process holds the lock.
      for (const [index, name] of ["w1", "w2", "w3", "w4"].entries()) {
        writers.push(runNode(fixture("shared-writer.mjs"), [path, name], { ZOHO_TOKEN_STORE_KEY: key }));
        await ticketsQueued(layout, index + 1);
      }
      // Saved right after the release: behind the four, though the lock is free at once.
      return undefined;
    });
    await store.saveToken({ userName: "shared", accessToken: "1000.at-releaser" });
    for (const result of await Promise.all(writers)) expect(result.code, result.stderr).toBe(0);
    // The releaser's save came last, w4's just before it: without the queue the releaser
    // takes the free lock first, and the four race.
    expect(await lastWriters(path, key)).toEqual({ last: "1000.at-releaser", before: "1000.at-w4" });
    expect(readdirSync(layout.directory).sort()).toEqual(["t.enc", "t.enc.prev"]);
  }, 120_000);

  it("tickets of dead waiters hold no one up: one not refreshed for the stale time is removed, one of a pid not running is skipped", async () => {
    const path = join(tempDir(), "t.enc");
    const key = generateKey();
    await (await EncryptedFileStore.open({ path, key })).saveToken({ userName: "shared", refreshToken: "1000.rt-shared", accessToken: "1000.at-seed" });
    const layout = new StoreLayout(path);
    mkdirSync(layout.lockQueue, { mode: 0o700 });
    // Ahead of any new arrival: a live pid (this process) whose ticket went stale an hour ago...
    const stale = join(layout.lockQueue, `${"1".padStart(15, "0")}-${process.pid}-00000000`);
    mkdirSync(stale);
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(stale, hourAgo, hourAgo);
    // ...and a fresh ticket of a pid no process has (above the kernel's pid_max).
    const gone = join(layout.lockQueue, `${"2".padStart(15, "0")}-4194305-00000000`);
    mkdirSync(gone);
    const result = await runNode(fixture("shared-writer.mjs"), [path, "after-dead"], { ZOHO_TOKEN_STORE_KEY: key });
    expect(result.code, result.stderr).toBe(0);
    expect((await lastWriters(path, key)).last).toBe("1000.at-after-dead");
    expect(existsSync(stale)).toBe(false);
    expect(readdirSync(layout.lockQueue)).toEqual([gone.slice(layout.lockQueue.length + 1)]);
  }, 120_000);
});
