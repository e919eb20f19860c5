/**
 * Refresh leases on one host: the file backend's refresh coordinator.
 *
 * A lease is a small file beside the store, `<store>.lease-<name>`, created whole and
 * exclusively (fs/private-files.ts: a temp file hard-linked into place) and holding only
 * the holder's pid, start time and a random nonce (which tells two holders' files apart). Its name is an HMAC of the token under a key derived
 * from the store's key, so someone who can list the directory cannot confirm a guessed
 * token from it.
 *
 * A lease ends when its holder releases it (the fresh token was saved), when the holder's
 * process is gone, or when it is older than `leaseMs`. A lease that cannot be right (a
 * start time in the future, an unreadable file) counts as ended. A process never waits
 * for its own lease: asking again while it holds one (its renewal failed, nothing was
 * saved) makes it the renewer again at once. Other instances in the same process (two
 * stores, or adapters, on one file) wait for it like other processes: the leases this
 * process holds are listed in one process-wide registry (shared through `globalThis`, so
 * ESM and CJS copies agree), and a lease of this process's pid that is not in it is
 * left by an instance that is gone.
 */
import { createHmac, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { writePrivateFile } from "../../fs/private-files.js";
import type { LeaseOutcome, RefreshCoordinator } from "../types.js";
import type { StoreLayout } from "./layout.js";

interface Held {
  path: string;
  /** The lease file's inode and text: together they tell this holder's file from a later one (inodes are reused). */
  ino: bigint;
  text: string;
  timer: NodeJS.Timeout;
}

const POLL_MS = 20;

const HELD_KEY = Symbol.for("zoho-encrypted-filestore.held-leases.v1");
const globalHeld = globalThis as typeof globalThis & { [HELD_KEY]?: Set<string> };
globalHeld[HELD_KEY] ??= new Set();
/** The text of every lease file a live instance in this process holds. */
const heldInProcess: Set<string> = globalHeld[HELD_KEY];
/** A lease dated further ahead than this was not written by a live holder on this clock. */
const FUTURE_SLACK_MS = 3000;

export class FileLeases implements RefreshCoordinator {
  readonly #held = new Map<string, Held>();

  constructor(
    private readonly layout: StoreLayout,
    readonly leaseMs: number,
    private readonly nameKey: () => Uint8Array,
  ) {}

  async claim(key: string, satisfied: () => Promise<boolean>): Promise<LeaseOutcome> {
    const path = this.#pathFor(key);
    const deadline = Date.now() + this.leaseMs;
    for (;;) {
      if (await satisfied()) return "satisfied";
      if (this.#held.has(key)) {
        // This process holds it already and asks again: its renewal ended without a
        // save. It renews again, now, under the lease it holds.
        this.#restartTimer(key);
        return "acquired";
      }
      if (this.#tryCreate(key, path)) {
        // The previous holder may have saved and released between the check above and
        // the create: look once more before renewing again.
        if (!(await satisfied())) return "acquired";
        this.#releaseNow(key);
        return "satisfied";
      }
      this.#removeIfAbandoned(path);
      if (Date.now() >= deadline) return "timeout";
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async release(key: string): Promise<void> {
    this.#releaseNow(key);
  }

  #releaseNow(key: string): void {
    const held = this.#held.get(key);
    if (!held) return;
    this.#held.delete(key);
    heldInProcess.delete(held.text);
    clearTimeout(held.timer);
    try {
      // Only our own lease file: an expired one may have been replaced by a new holder's,
      // which may even have the same inode.
      if (fs.statSync(held.path, { bigint: true }).ino === held.ino && readLease(held.path) === held.text) fs.unlinkSync(held.path);
    } catch {
      // Already gone.
    }
  }

  #pathFor(key: string): string {
    return this.layout.lease(createHmac("sha256", this.nameKey()).update(key).digest("hex").slice(0, 32));
  }

  #tryCreate(key: string, path: string): boolean {
    try {
      const text = JSON.stringify({ pid: process.pid, since: Date.now(), nonce: randomBytes(6).toString("hex") });
      if (!writePrivateFile(path, text, { replace: false, durable: false })) return false;
      const ino = fs.statSync(path, { bigint: true }).ino;
      this.#held.set(key, { path, ino, text, timer: this.#timer(key) });
      heldInProcess.add(text);
      return true;
    } catch {
      // Cannot create it (the directory is full, say): renew without a lease.
      return false;
    }
  }

  #timer(key: string): NodeJS.Timeout {
    const timer = setTimeout(() => this.#releaseNow(key), this.leaseMs);
    timer.unref();
    return timer;
  }

  #restartTimer(key: string): void {
    const held = this.#held.get(key)!;
    clearTimeout(held.timer);
    held.timer = this.#timer(key);
  }

  /** Removes a lease whose holder is gone, that outlived `leaseMs`, or that cannot be right. */
  #removeIfAbandoned(path: string): void {
    let stats: fs.BigIntStats | undefined;
    let holder: { pid?: unknown; since?: unknown };
    let text = "";
    try {
      stats = fs.statSync(path, { bigint: true, throwIfNoEntry: false });
      if (!stats) return; // Gone: look again on the next poll.
      text = readLease(path);
      holder = JSON.parse(text) as typeof holder;
    } catch {
      holder = {}; // Not a lease this package wrote: it cannot be right.
    }
    if (!stats) return;
    const now = Date.now();
    const since = holder.since;
    const expired = typeof since !== "number" || since > now + FUTURE_SLACK_MS || now - since > this.leaseMs;
    if (!expired && !this.#holderGone(holder.pid, text)) return;
    try {
      if (fs.statSync(path, { bigint: true }).ino === stats.ino) fs.unlinkSync(path);
    } catch {
      // Someone else removed it first.
    }
  }

  /** Whether the process (or, in this process, the instance) that wrote a lease is gone. */
  #holderGone(pid: unknown, text: string): boolean {
    if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0) return true;
    if (pid === process.pid) return !heldInProcess.has(text);
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "ESRCH";
    }
  }
}

/** A lease file's text: a few dozen bytes; anything else (a FIFO, a huge file) is not a lease. */
function readLease(path: string): string {
  const fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0));
  try {
    if (!fs.fstatSync(fd).isFile()) throw new Error("not a lease");
    const buffer = Buffer.alloc(256);
    return buffer.subarray(0, fs.readSync(fd, buffer, 0, buffer.length, 0)).toString("utf8");
  } finally {
    fs.closeSync(fd);
  }
}
