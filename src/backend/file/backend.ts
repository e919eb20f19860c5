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
import type { ExclusiveSession, HeadCheck, RefreshCoordinator, StorageBackend, Stored, Version } from "../types.js";
import { StoreLayout } from "./layout.js";
import { FileLeases } from "./leases.js";
import { FileLock, type HeldLock, type LockSettings } from "./lock.js";
import {
  fileExists,
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
  readonly #lock: FileLock;
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

  get location(): string {
    return this.layout.path;
  }

  isCurrent(version: Version): boolean {
    return isIdentity(this.layout.path, version as FileIdentity);
  }

  async read(head?: HeadCheck): Promise<Stored | undefined> {
    return toStored(readWithIdentity(this.layout.path, head));
  }

  hasPrevious(): boolean {
    return fileExists(this.layout.previous);
  }

  async readPrevious(head?: HeadCheck): Promise<Stored | undefined> {
    return toStored(readWithIdentity(this.layout.previous, head));
  }

  exclusive<T>(change: (session: ExclusiveSession) => Promise<T>): Promise<T> {
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
      isCurrent: (version) => this.isCurrent(version),
      read: (head) => this.read(head),
      currentVersion: () => statIdentityOrUndefined(layout.path),
      replace: async (parts, expected, { keepPrevious }) => {
        const base = expected as FileIdentity | undefined;
        // Checked before the temp file is written and again just before the rename: a
        // holder that stalled past the stale time anywhere in between (the fsync can take
        // seconds on a busy disk) must not rename its file over a newer generation.
        const assertUnchanged = () => {
          if (!held.stillHeld() || !sameVersionOrBothMissing(statIdentityOrUndefined(layout.path), base)) throw this.#lost();
        };
        assertUnchanged();
        return replaceFile(layout, parts, base, keepPrevious, assertUnchanged);
      },
    };
  }

  #lost(): TokenStoreError {
    return new TokenStoreError(
      "LOCK_COMPROMISED",
      `the lock on ${this.layout.path} was lost while writing, or another writer replaced the file meanwhile (a lock taken over after ${this.#lockSettings.staleMs} ms?); the change was not written`,
      { path: this.layout.path, action: "retry", advice: "try again" },
    );
  }
}

function toStored(file: { bytes: Uint8Array; identity: FileIdentity } | undefined): Stored | undefined {
  return file && { bytes: file.bytes, version: file.identity };
}
