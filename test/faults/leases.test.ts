/**
 * Refresh leases against lease files that cannot be right, and what a lease file's name
 * gives away. The coordinator is driven directly (`refreshCoordinator().claim/release`),
 * as the SDK adapter drives it; the lease files are the real ones beside the store.
 */
import { afterEach, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey, type RefreshCoordinator } from "../../src/index.js";
import { tempDir } from "../helpers.js";
import { sleep } from "./support.js";

/** A renewal key as the adapter derives one: it stands for a refresh token. */
const TOKEN = "1000.refresh-token-of-a-shared-user";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

/** The pid of a live process that is not this one and never touches a lease. */
async function livePid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 120_000)"], { stdio: "ignore" });
  children.push(child);
  await new Promise((resolve) => child.on("spawn", resolve));
  return child.pid!;
}

async function openStore(path: string, key: string): Promise<EncryptedFileStore> {
  const store = await EncryptedFileStore.open({ path, key });
  // A lease is named after the key that sealed the store: let there be a store file.
  await store.saveToken({ userName: "u", refreshToken: TOKEN });
  return store;
}

function coordinator(store: EncryptedFileStore, leaseMs: number): RefreshCoordinator {
  return store.refreshCoordinator({ leaseMs });
}

/** The name of the lease file for TOKEN (taken and released once to learn it). */
async function leaseName(store: EncryptedFileStore): Promise<string> {
  const dir = join(store.path, "..");
  const leases = coordinator(store, 30_000);
  expect(await leases.claim(TOKEN, notYet)).toBe("acquired");
  const [name] = leaseFiles(dir);
  leases.release(TOKEN);
  expect(name).toBeDefined();
  expect(leaseFiles(dir)).toEqual([]);
  return name!;
}

/** The lease files beside the store (names only). */
function leaseFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => /^t\.enc\.lease-[0-9a-f]{32}$/.test(name));
}

const notYet = async () => false;

describe("lease files that cannot be right", () => {
  it("a lease of a live process dated an hour ahead does not hold up a claim", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    const store = await openStore(path, key);
    const lease = await leaseName(store);
    // Another live process's lease that starts an hour from now (a clock change).
    writeFileSync(join(dir, lease), JSON.stringify({ pid: await livePid(), since: Date.now() + 3_600_000 }), { mode: 0o600 });
    // Without the fix, the claim waits out the whole lease time and comes back as "timeout".
    const leases = coordinator(await EncryptedFileStore.open({ path, key }), 30_000);
    expect(await leases.claim(TOKEN, notYet)).toBe("acquired");
    expect(JSON.parse(readFileSync(join(dir, lease), "utf8"))).toMatchObject({ pid: process.pid });
    leases.release(TOKEN);
    expect(leaseFiles(dir)).toEqual([]);
  }, 60_000);

  it("a claim while this process holds the lease itself (its renewal ended without a save) is acquired again at once", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const leaseMs = 30_000;
    const leases = coordinator(await openStore(path, generateKey()), leaseMs);
    expect(await leases.claim(TOKEN, notYet)).toBe("acquired");
    // Not released: the renewal failed and nothing was saved. The next caller renews
    // now, not once this process's own lease has run out.
    const started = Date.now();
    expect(await leases.claim(TOKEN, notYet)).toBe("acquired");
    expect(Date.now() - started).toBeLessThan(leaseMs / 2);
    expect(leaseFiles(dir)).toHaveLength(1);
    leases.release(TOKEN);
    expect(leaseFiles(dir)).toEqual([]);
  }, 60_000);

  it("a live holder's lease still makes another process wait for the renewed token", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    const lease = await leaseName(await openStore(path, key));
    // Another live process's lease, started just now.
    writeFileSync(join(dir, lease), JSON.stringify({ pid: await livePid(), since: Date.now() }), { mode: 0o600 });
    let renewed = false;
    const waiter = coordinator(await EncryptedFileStore.open({ path, key }), 30_000);
    const claimed = waiter.claim(TOKEN, async () => renewed);
    await sleep(300);
    renewed = true;
    expect(await claimed).toBe("satisfied");
  }, 60_000);
});

describe("a lease that outlived its time", () => {
  it("its holder's release leaves the lease a later holder took since, also when the new lease file got the old one's inode", async () => {
    // The file system hands a freed inode to the next file often, not always: the case
    // is tried until it happens (the release must then still tell the two files apart).
    let reused = 0;
    for (let attempt = 0; attempt < 20 && reused === 0; attempt++) {
      const dir = tempDir();
      const path = join(dir, "t.enc");
      const key = generateKey();
      const slow = coordinator(await openStore(path, key), 5000);
      expect(await slow.claim(TOKEN, notYet)).toBe("acquired");
      const [lease] = leaseFiles(dir);
      const inodeBefore = statSync(join(dir, lease!)).ino;
      // The renewal takes longer than the lease time: the lease has expired (same file).
      writeFileSync(join(dir, lease!), JSON.stringify({ pid: process.pid, since: Date.now() - 60_000 }));
      const next = coordinator(await EncryptedFileStore.open({ path, key }), 5000);
      expect(await next.claim(TOKEN, notYet)).toBe("acquired");
      if (statSync(join(dir, lease!)).ino === inodeBefore) reused++;
      // The slow holder saves at last and releases: the next holder's lease must stay, or
      // a third process renews too.
      slow.release(TOKEN);
      expect(leaseFiles(dir), `attempt ${attempt}`).toEqual([lease]);
      next.release(TOKEN);
      expect(leaseFiles(dir)).toEqual([]);
    }
    console.log(`[fault figures] lease inode reused ${reused > 0 ? "(checked)" : "never in 20 attempts (not checked)"}`);
  }, 60_000);
});

describe("lease file names", () => {
  it("are keyed: no unkeyed hash of the token, different under another store key, the same for every store with the same key", async () => {
    const names = async (path: string, key: string) => {
      const leases = coordinator(await openStore(path, key), 30_000);
      expect(await leases.claim(TOKEN, notYet)).toBe("acquired");
      const found = leaseFiles(join(path, "..")).map((name) => name.slice("t.enc.lease-".length));
      leases.release(TOKEN);
      return found;
    };
    const key = generateKey();
    const dir = tempDir();
    const [name] = await names(join(dir, "t.enc"), key);
    expect(name).toMatch(/^[0-9a-f]{32}$/);
    // Anyone who can list the directory could hash a guessed token and compare.
    const unkeyed = new Set<string>();
    for (const algorithm of ["sha256", "sha512", "sha1", "md5", "sha3-256", "sha384", "sha224", "blake2b512", "blake2s256"]) {
      for (const prefix of ["", "zoho-encrypted-filestore lease v1\0", "zoho-encrypted-filestore lease v2\0"]) {
        const digest = createHash(algorithm)
          .update(prefix + TOKEN)
          .digest("hex");
        unkeyed.add(digest.slice(0, 32));
        unkeyed.add(digest.slice(-32));
      }
    }
    expect(unkeyed.has(name!)).toBe(false);
    // The same token under another key: another name.
    const [other] = await names(join(tempDir(), "t.enc"), generateKey());
    expect(other).not.toBe(name);
    // Every process with the store's key must find the same lease.
    const [again] = await names(join(tempDir(), "t.enc"), key);
    expect(again).toBe(name);
  });
});
