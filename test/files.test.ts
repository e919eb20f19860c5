import { describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { EncryptedFileStore, generateKey, TokenStoreError } from "../src/index.js";
import { sampleToken, tempDir } from "./helpers.js";

async function code(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "ok",
    (error: unknown) => (error instanceof TokenStoreError ? error.code : String(error)),
  );
}

describe("file identity", () => {
  it("every generation's mtime is above the one before, even where file times keep whole seconds", async () => {
    // utimes() through a stand-in that keeps whole seconds, as some file systems do, and
    // each generation dated ahead of the next one's creation: a 1 ms step then lands back
    // on the old mtime.
    const path = join(tempDir(), "t.enc");
    const store = await EncryptedFileStore.open({ path, key: generateKey() });
    const original = fs.utimesSync;
    (fs as { utimesSync: typeof fs.utimesSync }).utimesSync = (target, atime, mtime) => {
      const seconds = (time: fs.TimeLike) => Math.floor(new Date(time as Date).getTime() / 1000);
      return original(target, seconds(atime), seconds(mtime));
    };
    syncBuiltinESMExports();
    try {
      let last = -1n;
      let notAbove = 0;
      for (let i = 0; i < 20; i++) {
        await store.saveToken(sampleToken("a", { accessToken: `1000.access-${i % 2}-at` }));
        const mtime = statSync(path, { bigint: true }).mtimeNs;
        if (mtime <= last) notAbove++;
        // The file dated the next whole second: the next new file, made now, is dated before it.
        const next = Number(mtime / 1_000_000_000n) + 1;
        original(path, next, next);
        last = statSync(path, { bigint: true }).mtimeNs;
      }
      expect(notAbove).toBe(0);
    } finally {
      (fs as { utimesSync: typeof fs.utimesSync }).utimesSync = original;
      syncBuiltinESMExports();
    }
  });
});

describe("files and permissions", () => {
  it("a FIFO at the store path, or at a lease's name, is refused at once instead of blocking the process", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    execFileSync("mkfifo", ["-m", "600", path]);
    // A blocking open of the FIFO would hang this very process: the test would time out.
    expect(await code(EncryptedFileStore.open({ path, key: generateKey() }))).toBe("INVALID_PATH");
    const other = join(dir, "u.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path: other, key });
    await store.saveToken(sampleToken("a"));
    const coordinator = store.refreshCoordinator({ leaseMs: 2000 });
    // Names are keyed: take the one this coordinator uses, then put a FIFO there.
    expect(await coordinator.claim("refresh:x", async () => false)).toBe("acquired");
    const lease = readdirSync(dir).find((name) => name.startsWith("u.enc.lease-"))!;
    coordinator.release("refresh:x");
    execFileSync("mkfifo", ["-m", "600", join(dir, lease)]);
    expect(await coordinator.claim("refresh:x", async () => false)).toBe("acquired");
  });

  it("creates the file 0600 on the first write in an existing directory, and never a missing directory", async () => {
    const parent = tempDir();
    const dir = join(parent, "a");
    const path = join(dir, "tokens.enc");
    const missing = await EncryptedFileStore.open({ path, key: generateKey() }).catch((e: TokenStoreError) => e);
    expect(missing).toMatchObject({ code: "INVALID_PATH", path: dir });
    expect((missing as Error).message).toContain(`mkdir -m 700 '${dir}'`);
    expect(readdirSync(parent)).toEqual([]);
    mkdirSync(dir, { mode: 0o700 });
    const store = await EncryptedFileStore.open({ path, key: generateKey() });
    expect(existsSync(path)).toBe(false);
    await store.saveToken(sampleToken("a"));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await store.saveToken(sampleToken("b"));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}.prev`).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(["tokens.enc", "tokens.enc.prev"]);
  });

  it("refuses a store file other users can read, saying how to fix it", async () => {
    const path = join(tempDir(), "t.enc");
    const key = generateKey();
    await (await EncryptedFileStore.open({ path, key })).saveToken(sampleToken("a"));
    chmodSync(path, 0o640);
    const error = await EncryptedFileStore.open({ path, key }).catch((e: TokenStoreError) => e);
    expect(error).toMatchObject({ code: "INSECURE_PERMISSIONS" });
    expect((error as Error).message).toContain(`chmod 600 '${path}'`);
  });

  it("refuses a store whose mode changes after it was opened", async () => {
    const path = join(tempDir(), "t.enc");
    const store = await EncryptedFileStore.open({ path, key: generateKey() });
    await store.saveToken(sampleToken("a"));
    chmodSync(path, 0o644);
    expect(await code(store.getTokens())).toBe("INSECURE_PERMISSIONS");
  });

  it("refuses a world-writable directory, a symlink and a directory in place of the file", async () => {
    const key = generateKey();
    const open = tempDir();
    chmodSync(open, 0o777);
    expect(await code(EncryptedFileStore.open({ path: join(open, "t.enc"), key }))).toBe("INSECURE_PERMISSIONS");
    const dir = tempDir();
    const real = join(dir, "real.enc");
    await (await EncryptedFileStore.open({ path: real, key })).saveToken(sampleToken("a"));
    symlinkSync(real, join(dir, "link.enc"));
    expect(await code(EncryptedFileStore.open({ path: join(dir, "link.enc"), key }))).toBe("INVALID_PATH");
    mkdirSync(join(dir, "dir.enc"));
    expect(await code(EncryptedFileStore.open({ path: join(dir, "dir.enc"), key }))).toBe("INVALID_PATH");
  });

  function leaveLeftovers(dir: string, path: string): void {
    writeFileSync(`${path}.4242-0123456789ab.tmp`, "left by a killed writer", { mode: 0o600 });
    writeFileSync(`${path}.prev.new`, "", { mode: 0o600 });
    writeFileSync(join(dir, "unrelated.123"), "not ours", { mode: 0o600 });
    // Files that only start with the store's name are not leftovers: another store, a backup.
    writeFileSync(`${path}.1`, "a backup", { mode: 0o600 });
    writeFileSync(`${path}.123456789`, "another store", { mode: 0o600 });
  }
  const afterSweep = ["t.enc", "t.enc.1", "t.enc.123456789", "t.enc.prev", "unrelated.123"];

  it.each([
    ["a save", (store: EncryptedFileStore) => store.saveToken(sampleToken("b"))],
    ["a delete that finds nothing to delete", (store: EncryptedFileStore) => store.deleteToken("999")],
  ])("cleans up what a writer killed inside the lock left, on the next change that finds its lock: %s", async (_, change) => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const store = await EncryptedFileStore.open({ path, key: generateKey(), lockStaleMs: 2000 });
    await store.saveToken(sampleToken("a"));
    await store.saveToken(sampleToken("c"));
    leaveLeftovers(dir, path);
    // The killed writer's lock directory, stale by now.
    mkdirSync(`${path}.lock`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, old, old);
    await change(store);
    expect(readdirSync(dir).sort()).toEqual(afterSweep);
  });

  it("cleans up leftovers on the first write of a store opened afterwards, lock or not", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    await (await EncryptedFileStore.open({ path, key })).saveToken(sampleToken("a"));
    leaveLeftovers(dir, path);
    await (await EncryptedFileStore.open({ path, key })).saveToken(sampleToken("b"));
    expect(readdirSync(dir).sort()).toEqual(afterSweep);
  });
});

describe("the lock", () => {
  it("fails with LOCK_TIMEOUT naming the file when the lock stays held", async () => {
    const path = join(tempDir(), "t.enc");
    mkdirSync(`${path}.lock`);
    const store = await EncryptedFileStore.open({ path, key: generateKey(), lockStaleMs: 5000, lockWaitMs: 300 });
    const error = await store.saveToken(sampleToken("a")).catch((e: TokenStoreError) => e);
    expect(error).toMatchObject({ code: "LOCK_TIMEOUT" });
    expect((error as Error).message).toContain(path);
    expect(existsSync(path)).toBe(false);
  });

  it("takes over a lock left by a dead process once it is stale", async () => {
    const path = join(tempDir(), "t.enc");
    mkdirSync(`${path}.lock`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, old, old);
    const store = await EncryptedFileStore.open({ path, key: generateKey(), lockStaleMs: 2000, lockWaitMs: 1000 });
    await store.saveToken(sampleToken("a"));
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(await store.getTokens()).toHaveLength(1);
  });

  it("serialises many concurrent changes in one process, batching them", async () => {
    const path = join(tempDir(), "t.enc");
    const key = generateKey();
    const a = await EncryptedFileStore.open({ path, key });
    const b = await EncryptedFileStore.open({ path, key });
    const saves = Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).saveToken(sampleToken(`u${i}`)));
    const records = await Promise.all(saves);
    expect(new Set(records.map((r) => r.id)).size).toBe(50);
    expect(await (await EncryptedFileStore.open({ path, key })).getTokens()).toHaveLength(50);
    // Far fewer generations than saves: queued changes share a write.
    expect((await a.verify()).generation).toBeLessThan(50);
  });

  it("a failed change in a batch fails alone", async () => {
    const path = join(tempDir(), "t.enc");
    const store = await EncryptedFileStore.open({ path, key: generateKey() });
    const results = await Promise.allSettled([store.saveToken(sampleToken("a")), store.saveToken({ userName: "no token" }), store.saveToken(sampleToken("b"))]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(await store.getTokens()).toHaveLength(2);
  });
});
