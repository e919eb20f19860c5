/**
 * The file backend: a store is one sealed file, changed only under the store's lock and
 * replaced atomically and durably (store-file.ts), with its previous generation kept as
 * a hard link, refresh leases as small files beside it (leases.ts), and every name
 * beside it owned by layout.ts.
 *
 * A version is the file's identity (device, inode, size, mtime, ctime): a read
 * revalidates a cached document with one `stat`.
 */
import { TokenStoreError } from "../../errors.js";
import {
  DOCUMENT_RECORD,
  MISSING,
  UNCHANGED,
  type Check,
  type ExclusiveSession,
  type HeadCheck,
  type InspectOptions,
  type Peek,
  type ReadOptions,
  type ReadResult,
  type RecordId,
  type RefreshCoordinator,
  type Replacement,
  type Snapshot,
  type StorageBackend,
  type Version,
} from "../types.js";
import { StoreLayout } from "./layout.js";
import { FileLeases } from "./leases.js";
import { checkStore } from "./maintenance.js";
import { FileLock, type HeldLock, type LockSettings } from "./lock.js";
import {
  fileExists,
  peekFile,
  prepareLocation,
  readWithIdentity,
  replaceFile,
  isIdentity,
  sameVersionOrBothMissing,
  statIdentityOrUndefined,
  sweepLeftovers,
  type FileIdentity,
} from "./store-file.js";

export class FileBackend implements StorageBackend {
  readonly layout: StoreLayout;
  readonly granularity = "document";
  readonly #lock: FileLock;
  #closed = false;
  readonly #lockSettings: LockSettings;
  /** Whether this instance has swept leftovers once (see #exclusive). */
  #swept = false;

  private constructor(layout: StoreLayout, lock: LockSettings) {
    this.layout = layout;
    this.#lockSettings = lock;
    this.#lock = new FileLock(layout, lock);
  }

  /**
   * The backend of the store file at `path` (absolute). Creates nothing; refuses a
   * missing directory, a location that fails the permission policy (the directory, every
   * directory above it, the store file and its previous generation), a symbolic link, or
   * a name with no room for the files beside it.
   */
  static open(path: string, lock: LockSettings): FileBackend {
    const layout = new StoreLayout(path);
    prepareLocation(layout);
    return new FileBackend(layout, lock);
  }

  /**
   * The backend of the store file at `path` (absolute) for key-free inspection: creates
   * and checks nothing until it is used (`create()` prepares the location).
   */
  static at(path: string, lock: LockSettings): FileBackend {
    return new FileBackend(new StoreLayout(path), lock);
  }

  get location(): string {
    return this.layout.path;
  }

  /** Whether `version` is still what is stored (one `stat`). */
  isCurrent(version: Version): boolean {
    return isIdentity(this.layout.path, version as FileIdentity);
  }

  /**
   * Checks the location as `open` does; creates nothing (a directory never: one that is
   * missing is INVALID_PATH, so that a store moved away never comes back empty). The
   * store's `create()` then writes the first generation.
   */
  async create(): Promise<{ created: boolean }> {
    this.#open();
    prepareLocation(this.layout);
    return { created: false };
  }

  /** Answers at once (no promise): the warm read of a file store is one `stat` in the caller's tick. */
  read(options: ReadOptions = {}): ReadResult {
    this.#open();
    return this.#read(options);
  }

  async hasPrevious(): Promise<boolean> {
    this.#open();
    return fileExists(this.layout.previous);
  }

  async readPrevious(check?: HeadCheck): Promise<Snapshot | undefined> {
    this.#open();
    const file = readWithIdentity(this.layout.previous, check);
    return file && snapshot(file.bytes, file.identity);
  }

  async peek(options: { headBytes: number; id?: RecordId; previous?: boolean }): Promise<Peek | undefined> {
    this.#open();
    if (options.id !== undefined && options.id !== DOCUMENT_RECORD) return undefined;
    return peekFile(options.previous ? this.layout.previous : this.layout.path, options.headBytes);
  }

  async inspect(options: InspectOptions = {}): Promise<Check[]> {
    this.#open();
    return checkStore(this.layout.path, { staleMs: this.#lockSettings.staleMs, fix: options.fix === true, describe: options.describe });
  }

  async close(): Promise<void> {
    // Nothing is held between calls: locks and leases live only inside them.
    this.#closed = true;
  }

  exclusive<T>(change: (session: ExclusiveSession) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closedError());
    return this.#lock.hold(async (held) => {
      // What a writer killed mid-write leaves behind (its temp file) is removed by each
      // store's first locked operation, and whenever the lock was found taken (a killed
      // writer leaves it so); not every time, since reading the directory costs more
      // the more files share it. Here, before anything can fail or turn out to change
      // nothing: the taken-over lock is gone afterwards, and with it the sign.
      if (!this.#swept || held.contended) {
        sweepLeftovers(this.layout);
        this.#swept = true;
      }
      return change(this.#session(held));
    });
  }

  refreshCoordinator(options: { leaseMs: number; nameKey: () => Uint8Array }): RefreshCoordinator {
    return new FileLeases(this.layout, options.leaseMs, options.nameKey);
  }

  #session(held: HeldLock): ExclusiveSession {
    const { layout } = this;
    return {
      read: async (options) => this.#read(options ?? {}),
      currentVersion: async () => statIdentityOrUndefined(layout.path),
      replace: async (replacement, expected, { keepPrevious }) => {
        const parts = documentParts(replacement);
        const base = expected as FileIdentity | undefined;
        // Checked before the temp file is written and again just before the rename: a
        // holder that stalled past the stale time anywhere in between (the fsync can take
        // seconds on a busy disk) must not rename its file over a newer generation.
        const assertUnchanged = () => {
          if (!held.stillHeld()) throw this.#lost();
          if (!sameVersionOrBothMissing(statIdentityOrUndefined(layout.path), base)) throw this.#conflict();
        };
        assertUnchanged();
        return replaceFile(layout, parts, base, keepPrevious, assertUnchanged);
      },
    };
  }

  #read({ since, check }: ReadOptions): ReadResult {
    if (since !== undefined && this.isCurrent(since)) return UNCHANGED;
    const file = readWithIdentity(this.layout.path, check);
    return file ? snapshot(file.bytes, file.identity) : MISSING;
  }

  #open(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): TokenStoreError {
    return new TokenStoreError("CLOSED", `the store ${this.layout.path} was closed`, { location: this.layout.path });
  }

  #lost(): TokenStoreError {
    return new TokenStoreError(
      "LOCK_COMPROMISED",
      `the lock on ${this.layout.path} was lost while writing (taken over after ${this.#lockSettings.staleMs} ms?); the change was not written`,
      { location: this.layout.path, action: "retry", advice: "try again" },
    );
  }

  #conflict(): TokenStoreError {
    return new TokenStoreError(
      "WRITE_CONFLICT",
      `another writer replaced ${this.layout.path} while this one held the lock (a lock taken over after ${this.#lockSettings.staleMs} ms?); the change was not written`,
      { location: this.layout.path, action: "retry", advice: "try again" },
    );
  }
}

function snapshot(bytes: Uint8Array, identity: FileIdentity): Snapshot {
  return { kind: "snapshot", version: identity, complete: true, records: [{ id: DOCUMENT_RECORD, bytes }], removed: [] };
}

/** The parts of the one document a replacement of a file store writes. */
function documentParts(replacement: Replacement): readonly Uint8Array[] {
  const record = replacement.put[0];
  if (!replacement.whole || replacement.put.length !== 1 || record?.id !== DOCUMENT_RECORD) {
    throw new TypeError(`the file backend takes one whole record named ${JSON.stringify(DOCUMENT_RECORD)}`);
  }
  return record.parts;
}
