/**
 * Refresh leases on one host: the file backend's refresh coordinator.
 *
 * A lease is a small file beside the store, `<store>.lease-<name>`, created whole and
 * exclusively (fs/private-files.ts: a temp file hard-linked into place) and holding only
 * the holder's pid and thread id, its owner token (one per coordinator), its start time
 * and a random nonce (which tells two holders' files apart). Its name is an HMAC of the
 * token under a key derived from the store's key, so someone who can list the directory
 * cannot confirm a guessed token from it.
 *
 * A lease ends when its holder releases it (the fresh token was saved), when the holder's
 * process is gone, or when it is older than `leaseMs`. A lease that cannot be right (a
 * start time in the future, an unreadable file) counts as ended.
 *
 * One process may hold several coordinators on one store (two SDK adapters; a bundled
 * copy of this package beside the installed one). They tell their leases apart by the
 * owner token, not the pid: every lease held in this process is listed in a registry on
 * `globalThis` under a versioned `Symbol.for` key, which every copy of this module loaded
 * into the process shares (as lock.ts shares its queues). A lease with this process's pid
 * is live while the registry lists it, and left over (by an earlier process that had the
 * same pid: a restarted container) when it does not. So a second coordinator waits for
 * the first one's renewal, as another process would. A worker thread has a `globalThis`
 * of its own: a lease of another thread of this process counts as live until it is
 * released or expires. A claim for a lease the same coordinator holds waits as well (two
 * API calls through one adapter): a lease stands for one renewal in flight, whoever asks.
 * So a holder releases when its renewal ends, saved or not: the SDK adapter releases
 * when the SDK's call to the accounts server fails, and the next caller renews at once.
 * A lease never released (its holder hung) ends after `leaseMs`, for every waiter alike.
 *
 * When the lease file cannot be created (no space, no inode left, a read-only file
 * system, a directory it may not write), the claim returns at once and the caller renews
 * without coordinating with other processes; within this process the registry still
 * lets one coordinator renew at a time. Another error (one that may pass) is tried again
 * on the next polls, three times at most.
 */
import { createHmac, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { threadId } from "node:worker_threads";
import { errnoOf } from "../../errors.js";
import { writePrivateFile } from "../../fs/private-files.js";
import type { LeaseOutcome, RefreshCoordinator } from "../types.js";
import type { StoreLayout } from "./layout.js";

interface Held {
  path: string;
  /** The lease file's inode and text: together they tell this holder's file from a later one (inodes are reused). Undefined: held without a file. */
  ino: bigint | undefined;
  text: string;
  timer: NodeJS.Timeout;
}

/**
 * The leases held in this process, by every coordinator of every copy of this module.
 * Its shape is part of the key's version: a change to it takes a new key.
 */
interface LeaseRegistry {
  /** The text of every lease file held in this process. */
  readonly files: Set<string>;
  /** Leases held without a file (it could not be created): the lease file's path, to the holder's owner token. */
  readonly fileless: Map<string, string>;
}

const REGISTRY_KEY = Symbol.for("zoho-encrypted-filestore.refresh-leases.v1");
const globalRegistry = globalThis as typeof globalThis & { [REGISTRY_KEY]?: LeaseRegistry };
globalRegistry[REGISTRY_KEY] ??= { files: new Set(), fileless: new Map() };
const registry: LeaseRegistry = globalRegistry[REGISTRY_KEY];

const POLL_MS = 20;
/** Errors that say no lease file can be made here for now: the claim renews at once, without one. */
const CANNOT_CREATE: ReadonlySet<string> = new Set(["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EMFILE", "ENFILE", "EMLINK", "ENAMETOOLONG"]);
/** Failed creates in a row, with another error, after which the claim renews without a lease file too. */
const MAX_CREATE_FAILURES = 3;
/** A lease dated further ahead than this was not written by a live holder on this clock. */
const FUTURE_SLACK_MS = 3000;

export class FileLeases implements RefreshCoordinator {
  readonly #held = new Map<string, Held>();
  /** Tells this coordinator's leases from those of the other coordinators in this process. */
  readonly #owner = randomBytes(8).toString("hex");

  constructor(
    private readonly layout: StoreLayout,
    readonly leaseMs: number,
    private readonly nameKey: () => Uint8Array,
  ) {}

  async claim(key: string, satisfied: () => Promise<boolean>): Promise<LeaseOutcome> {
    const path = this.#pathFor(key);
    const deadline = Date.now() + this.leaseMs;
    let failures = 0;
    for (;;) {
      if (await satisfied()) return "satisfied";
      // A lease this coordinator holds is another caller's renewal in flight (two API
      // calls through one adapter): waited for like any other holder's, until it saves
      // or releases (a renewal that failed) or its time is out.
      if (!this.#held.has(key)) {
        let created = this.#tryCreate(key, path);
        if (created === "failed" && ++failures >= MAX_CREATE_FAILURES) created = "unavailable";
        if (created === "created") {
          // The previous holder may have saved and released between the check above and
          // the create: look once more before renewing again.
          if (!(await satisfied())) return "acquired";
          this.#releaseNow(key);
          return "satisfied";
        }
        if (created === "unavailable") {
          // No lease file can be made here: renew at once, without one. Only another
          // caller in this process renewing the same token without a file is waited for.
          if (!registry.fileless.has(path)) {
            registry.fileless.set(path, this.#owner);
            this.#held.set(key, { path, ino: undefined, text: this.#owner, timer: this.#timer(key) });
            return "acquired";
          }
        } else if (created === "held") {
          this.#removeIfAbandoned(path);
        }
      }
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
    clearTimeout(held.timer);
    if (held.ino === undefined) {
      if (registry.fileless.get(held.path) === this.#owner) registry.fileless.delete(held.path);
      return;
    }
    try {
      // Only our own lease file: an expired one may have been replaced by a new holder's,
      // which may even have the same inode.
      if (fs.statSync(held.path, { bigint: true }).ino === held.ino && readLease(held.path) === held.text) fs.unlinkSync(held.path);
    } catch {
      // Already gone.
    } finally {
      registry.files.delete(held.text);
    }
  }

  #pathFor(key: string): string {
    return this.layout.lease(createHmac("sha256", this.nameKey()).update(key).digest("hex").slice(0, 32));
  }

  /**
   * Creates the lease file: "created" (this coordinator holds the lease now), "held" (a
   * lease file is there), "unavailable" (none is there and none can be made) or "failed"
   * (none is there, and the error may pass).
   */
  #tryCreate(key: string, path: string): "created" | "held" | "unavailable" | "failed" {
    const text = JSON.stringify({ pid: process.pid, thread: threadId, owner: this.#owner, since: Date.now(), nonce: randomBytes(6).toString("hex") });
    try {
      if (!writePrivateFile(path, text, { replace: false, durable: false })) return "held";
      // Listed before anything else can fail: from here on, no coordinator of this
      // process takes the file for one left over.
      registry.files.add(text);
      let ino: bigint;
      try {
        ino = fs.statSync(path, { bigint: true }).ino;
      } catch (error) {
        registry.files.delete(text);
        throw error;
      }
      this.#held.set(key, { path, ino, text, timer: this.#timer(key) });
      return "created";
    } catch (error) {
      // Cannot create it (the disk is full, no inode is left, the file system is
      // read-only...). One made before the disk filled up still holds the others back.
      let exists: boolean;
      try {
        exists = fs.lstatSync(path, { throwIfNoEntry: false }) !== undefined;
      } catch {
        exists = false;
      }
      if (exists) return "held";
      // Another error may pass (a sweep under the store's lock removed the temp file
      // before it was linked): the claim tries again, a few times.
      return CANNOT_CREATE.has(errnoOf((error as { cause?: unknown }).cause ?? error)) ? "unavailable" : "failed";
    }
  }

  #timer(key: string): NodeJS.Timeout {
    const timer = setTimeout(() => this.#releaseNow(key), this.leaseMs);
    timer.unref();
    return timer;
  }

  /** Removes a lease whose holder is gone, that outlived `leaseMs`, or that cannot be right. */
  #removeIfAbandoned(path: string): void {
    let stats: fs.BigIntStats | undefined;
    let text = "";
    let holder: { pid?: unknown; thread?: unknown; since?: unknown };
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
    if (!expired && !holderGone(holder.pid, holder.thread, text)) return;
    try {
      if (fs.statSync(path, { bigint: true }).ino === stats.ino) fs.unlinkSync(path);
    } catch {
      // Someone else removed it first.
    }
  }
}

/**
 * Whether the holder of the lease file holding `text`, written by thread `thread` of
 * process `pid`, is gone. A lease of this thread is live while a coordinator here holds
 * it (the registry lists it); one it does not list was left by an earlier process with
 * the same pid. Another worker thread of this process has a registry of its own, which
 * cannot be asked: its lease ends when it is released or expires.
 */
function holderGone(pid: unknown, thread: unknown, text: string): boolean {
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0) return true;
  if (pid === process.pid) return (thread ?? 0) === threadId && !registry.files.has(text);
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
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
