/**
 * The seams of the store: where sealed bytes live ({@link StorageBackend}) and how
 * processes agree on who renews a token ({@link RefreshCoordinator}).
 *
 * The token store above knows these interfaces only: it reads sealed bytes and an opaque
 * version, revalidates a cached version cheaply on every read, and makes every change
 * inside {@link StorageBackend.exclusive}, replacing the bytes only if the version is
 * still the one it read (compare-and-set). A backend is one folder implementing them:
 * `file/` (the default: one file, a lock directory, lease files) and `memory/` (in
 * process, for tests).
 */

/**
 * Identifies one version of the stored bytes: two equal versions (by the backend's
 * `isCurrent`) hold the same bytes. Opaque to the store.
 */
export type Version = unknown;

/** Stored bytes and their version. */
export interface Stored {
  bytes: Uint8Array;
  version: Version;
}

/**
 * Checks the first bytes of what is stored (at most `headBytes` of them) and its whole
 * length before the rest is read: a foreign or huge file is refused without being read
 * whole. Throws to refuse.
 */
export interface HeadCheck {
  headBytes: number;
  check(head: Uint8Array, length: number): void;
}

export interface StorageBackend {
  /** Where the store lives, for messages (a file path); never a secret. */
  readonly location: string;

  /** Whether `version` is still what is stored. Cheap (one stat); runs on every read. */
  isCurrent(version: Version): boolean | Promise<boolean>;

  /** The stored bytes, or undefined when nothing is stored. */
  read(head?: HeadCheck): Promise<Stored | undefined>;

  /** Whether a previous generation is kept (a store that existed, even if its bytes are gone). */
  hasPrevious(): boolean | Promise<boolean>;

  /** The previous generation, or undefined when none is kept. */
  readPrevious(head?: HeadCheck): Promise<Stored | undefined>;

  /**
   * Runs `change` so that no other `exclusive` of the same store runs at the same time,
   * in this process or any other the backend serves. Resolves to what `change` resolves to.
   */
  exclusive<T>(change: (session: ExclusiveSession) => Promise<T>): Promise<T>;

  /**
   * A refresh coordinator for processes sharing this store, when the backend has its own
   * (lease files, a lease row); `nameKey` gives the secret that names leases.
   */
  refreshCoordinator?(options: { leaseMs: number; nameKey: () => Uint8Array }): RefreshCoordinator;
}

/** What a change can do while it runs exclusively. */
export interface ExclusiveSession {
  /** Same as {@link StorageBackend.isCurrent}, inside the exclusive section. */
  isCurrent(version: Version): boolean | Promise<boolean>;

  /** Same as {@link StorageBackend.read}, inside the exclusive section. */
  read(head?: HeadCheck): Promise<Stored | undefined>;

  /** The version stored now without reading it (undefined: nothing stored), to replace what cannot be read. */
  currentVersion(): Version | undefined | Promise<Version | undefined>;

  /**
   * Replaces the stored bytes with `parts` (written one after the other) if what is
   * stored is still `expected` (undefined: nothing is stored). With `keepPrevious` the
   * bytes replaced become the previous generation. Resolves to the new version.
   *
   * Throws `LOCK_COMPROMISED` when the stored version changed or exclusivity was lost
   * before anything was written: nothing changed, and the whole change may be tried
   * again. Any other error may come after the new bytes were stored (its message says so).
   */
  replace(parts: readonly Uint8Array[], expected: Version | undefined, options: { keepPrevious: boolean }): Promise<Version>;
}

/** How a claim to renew a token ended. */
export type LeaseOutcome =
  /** This caller holds the lease: it should renew the token, then release, whether the renewal saved a token or failed. */
  | "acquired"
  /** Another caller renewed the token meanwhile: use the stored one. */
  | "satisfied"
  /** The holder is still at it after the lease time: go ahead without a lease. */
  | "timeout";

/**
 * At most one caller at a time, across the processes that share a store, asks the
 * accounts server for a new access token for a given token. An optimisation that keeps
 * processes under Zoho's refresh limits, not a safety mechanism: if two callers ever both
 * renew, that is what happens without coordination at all.
 */
export interface RefreshCoordinator {
  /** Longest a lease is held before others stop waiting for it. */
  readonly leaseMs: number;
  /**
   * Takes the lease for `key`, or waits for its holder. `satisfied` says whether the work
   * is done already (the stored token is fresh); it is checked before and while waiting.
   * Callers of one coordinator wait for each other as callers in other processes do.
   */
  claim(key: string, satisfied: () => Promise<boolean>): Promise<LeaseOutcome>;
  /** Ends the lease on `key` this coordinator holds, if it holds one. */
  release(key: string): void;
}
