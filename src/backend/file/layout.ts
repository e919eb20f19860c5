/**
 * Every name beside a store file, in one place. Whatever writes, sweeps, checks or
 * describes a file next to the store (the store itself, the lock, leases, `doctor`, the
 * command-line tool) asks this module for its name and for what a name in the directory
 * is.
 *
 * | name                                  | what                                                     |
 * |---------------------------------------|----------------------------------------------------------|
 * | `<store>`                             | the sealed store, mode 0600                              |
 * | `<store>.prev`                        | the previous generation (a hard link), for recover()     |
 * | `<store>.prev.new`                    | the previous generation being linked (a killed writer's) |
 * | `<store>.<pid>-<12 hex>.tmp`          | a write in progress (or a killed writer's)               |
 * | `<store>.lock/`                       | the cross-process lock (a directory, mode 0700)          |
 * | `<store>.lock.claim-<16 hex>/`        | a takeover of a stale lock in progress                   |
 * | `<store>.lock.stale-<12 hex>/`        | a stale lock moved aside, being removed                  |
 * | `<store>.lock.queue/`                 | the writers waiting for the lock, one ticket each (lock.ts) |
 * | `<store>.lease-<32 hex>`              | a refresh lease (holder's pid, owner token, start time)  |
 * | `<store>.lease-<32 hex>.<pid>-<12 hex>.tmp` | a lease being created                              |
 * | `<store>.export-<12 hex>`             | a plaintext export being written: names its temp file    |
 * | `<store>.export-<12 hex>.<pid>-<12 hex>.tmp` | such a record being created                        |
 *
 * Other files whose names merely start with the store's (a backup `tokens.enc.1`, another
 * store `tokens.enc.2`) are none of these and never touched.
 */
import { createHash, randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { isTempSuffix } from "../../fs/private-files.js";

/** What a name in the store's directory is, to this store. */
export type EntryKind =
  | "store"
  | "previous"
  | "lock"
  /** The lock's queue of waiting writers: a directory of tickets, each refreshed by a live waiter. */
  | "lock-queue"
  | "lease"
  /**
   * The record of a plaintext export (written under the lock, removed when the export is
   * done): a killed export's is how its plaintext temp file, wherever it is, is found.
   */
  | "export"
  /** Left by a writer that was killed: removed by the sweep, under the lock. */
  | "leftover-temp"
  | "leftover-previous"
  | "leftover-lease-temp"
  | "leftover-export-temp"
  /** Left by a lock takeover that was killed: removed by the sweep, under the lock. */
  | "leftover-lock";

/** Longest name a directory entry may have (NAME_MAX on Linux and macOS), in bytes. */
const NAME_MAX = 255;
/** The longest suffix this layout adds to the store's name: a lease's temp file. */
const LONGEST_SUFFIX = ".lease-".length + 32 + ".4194304-0123456789ab.tmp".length;

export class StoreLayout {
  /** Absolute path of the store file. */
  readonly path: string;
  readonly directory: string;
  /** The store file's name within its directory. */
  readonly name: string;

  constructor(path: string) {
    this.path = path;
    this.directory = dirname(path);
    this.name = basename(path);
  }

  /** Longest store file name, in UTF-8 bytes, that leaves room for every name beside it. */
  static readonly maxNameBytes = NAME_MAX - LONGEST_SUFFIX;

  /** Why the store's name leaves no room for the names beside it, or undefined. */
  nameProblem(): string | undefined {
    const bytes = Buffer.byteLength(this.name, "utf8");
    if (bytes <= StoreLayout.maxNameBytes) return undefined;
    return `the store file name is ${bytes} bytes long; at most ${StoreLayout.maxNameBytes} leave room for the files kept beside it (.prev, .lock, leases, temp files)`;
  }

  get previous(): string {
    return `${this.path}.prev`;
  }

  get previousStaging(): string {
    return `${this.path}.prev.new`;
  }

  get lock(): string {
    return `${this.path}.lock`;
  }

  /** The directory holding one ticket per writer waiting for the lock (see lock.ts). */
  get lockQueue(): string {
    return `${this.path}.lock.queue`;
  }

  /**
   * The claim for taking over the lock directory in the state `observed` (its device,
   * inode and mtime): every process that saw the same stale lock contends for this one
   * name, so exactly one of them may remove it.
   */
  lockClaim(observed: { dev: bigint; ino: bigint; mtimeNs: bigint }): string {
    const digest = createHash("sha256").update(`${observed.dev}:${observed.ino}:${observed.mtimeNs}`).digest("hex");
    return `${this.lock}.claim-${digest.slice(0, 16)}`;
  }

  /** A fresh name to move a stale lock directory to before removing it. */
  lockTrash(): string {
    return `${this.lock}.stale-${randomBytes(6).toString("hex")}`;
  }

  /** A fresh name for the record of a plaintext export (see EntryKind "export"). */
  exportRecord(): string {
    return `${this.path}.export-${randomBytes(6).toString("hex")}`;
  }

  /** The lease file for a lease name (32 hex digits, derived with a key). */
  lease(hexName: string): string {
    return `${this.path}.lease-${hexName}`;
  }

  /** What `entry`, a name in the store's directory, is to this store; undefined when it is none of its files. */
  classify(entry: string): EntryKind | undefined {
    if (entry === this.name) return "store";
    if (!entry.startsWith(this.name)) return undefined;
    const rest = entry.slice(this.name.length);
    if (rest === ".prev") return "previous";
    if (rest === ".prev.new") return "leftover-previous";
    if (rest === ".lock") return "lock";
    if (rest === ".lock.queue") return "lock-queue";
    if (isTempSuffix(rest)) return "leftover-temp";
    if (/^\.lock\.(claim-[0-9a-f]{16}|stale-[0-9a-f]{12})$/.test(rest)) return "leftover-lock";
    const record = /^\.export-[0-9a-f]{12}(.*)$/.exec(rest);
    if (record) {
      if (record[1] === "") return "export";
      if (isTempSuffix(record[1]!)) return "leftover-export-temp";
    }
    const lease = /^\.lease-[0-9a-f]{32}(.*)$/.exec(rest);
    if (lease) {
      if (lease[1] === "") return "lease";
      if (isTempSuffix(lease[1]!)) return "leftover-lease-temp";
    }
    return undefined;
  }

  /** Full path of a name in the store's directory. */
  entryPath(entry: string): string {
    return join(this.directory, entry);
  }
}
