/**
 * The seams of the store: where sealed records live ({@link StorageBackend}) and how
 * processes agree on who renews a token ({@link RefreshCoordinator}).
 *
 * The token store above knows these interfaces only. It reads sealed records and an
 * opaque version in one call that also revalidates what it holds ({@link
 * StorageBackend.read} with `since`: "unchanged", or what changed), and makes every
 * change inside {@link StorageBackend.exclusive}, replacing records only if the version
 * is still the one it read (compare-and-set). A backend is one folder implementing them:
 * `file/` (the default: one file, a lock directory, lease files), `memory/` (in process,
 * for tests); a server backend (`postgres/`) is opened from its own entry point.
 *
 * ## Records and granularity
 *
 * What a backend stores is a set of sealed records, each named by a {@link RecordId}
 * the store chooses. The backend never opens a record: it keeps bytes, versions and
 * ids. How the store cuts its state into records is the backend's
 * {@link StorageBackend.granularity}:
 *
 * - `"document"` (file, memory): one record, {@link DOCUMENT_RECORD}, the whole sealed
 *   document (every token and the store's metadata). Every replacement is `whole`, and
 *   every snapshot is `complete`. A backend of this granularity may refuse anything else.
 * - `"records"` (a server): the store seals a small head record (generation, id counter,
 *   retired keys) and one record per token, so that a save rewrites the head and the
 *   token it changed, not every token: its cost does not grow with the number of tokens
 *   stored. A replacement is then a delta (`whole: false`: records put, ids removed), and
 *   a read with `since` may answer with only the records changed since that version
 *   (`complete: false`), so that a changed read transfers and decrypts what changed. The
 *   backend keeps per-record versions (for example the store generation each row was last
 *   written at, and tombstones for removed ids) to answer that; they stay inside it.
 *
 * ## Versions
 *
 * A {@link Version} names the whole stored state (all records): equal versions (as the
 * backend compares them) mean equal records, and a version one instance gave is understood
 * by every instance of the same store (another process, another host). The store compares
 * nothing itself; it hands back versions it was given.
 *
 * ## Round trips
 *
 * A warm read of the store is one `read({ since })`: the file backend answers it with one
 * `stat`, a server with at most one query (no rows: "unchanged"; else the changed rows),
 * and never with a second call to fetch what changed.
 */
import type { ErrorAction } from "../errors.js";

/**
 * Identifies one version of the whole stored state. Opaque to the store: it only hands
 * versions back to the backend that gave them.
 */
export type Version = unknown;

/**
 * The name of one sealed record, chosen by the store: at most 64 characters of
 * `[A-Za-z0-9._-]`, never a secret (a server may keep it in clear, in an index).
 */
export type RecordId = string;

/** The id of the one record of a backend of granularity `"document"`. */
export const DOCUMENT_RECORD: RecordId = "document";

/**
 * The id of the head record of a backend of granularity `"records"`: the store's
 * generation, id counter and retired keys, sealed; what `peek` reads by default there.
 */
export const HEAD_RECORD: RecordId = "head";

/** A record as read: its id and its sealed bytes. */
export interface StoredRecord {
  readonly id: RecordId;
  readonly bytes: Uint8Array;
}

/**
 * A record to write: its id and its sealed bytes, as parts written one after the other
 * (the store seals a header and a body separately to save a copy of a large document).
 */
export interface SealedRecord {
  readonly id: RecordId;
  readonly parts: readonly Uint8Array[];
}

/** What is stored at one version, or what changed since the version a reader holds. */
export interface Snapshot {
  readonly kind: "snapshot";
  /** The version of the whole stored state after this snapshot is applied. */
  readonly version: Version;
  /**
   * True: `records` is everything stored (a record the reader held and is not here is
   * gone). False (only for a read with `since`, granularity `"records"`): `records` are
   * the records written since that version and `removed` the ids removed since; every
   * other record is as the reader holds it.
   */
  readonly complete: boolean;
  readonly records: readonly StoredRecord[];
  /** Ids removed since `since` (empty when `complete`). */
  readonly removed: readonly RecordId[];
}

/**
 * The answer of a read: `unchanged` (the version given as `since` is still what is
 * stored; nothing was read), `missing` (nothing is stored), or a snapshot.
 */
export type ReadResult = Snapshot | { readonly kind: "unchanged" } | { readonly kind: "missing" };

/** The answer `unchanged`, one frozen object a backend may return every time (a warm read allocates nothing). */
export const UNCHANGED: { readonly kind: "unchanged" } = Object.freeze({ kind: "unchanged" as const });

/** The answer `missing`, likewise. */
export const MISSING: { readonly kind: "missing" } = Object.freeze({ kind: "missing" as const });

/**
 * Checks the first bytes of a stored record (at most `headBytes` of them) and its whole
 * length before the rest is read: a foreign or huge file is refused without being read
 * whole. Throws to refuse; the read then rejects with that error.
 */
export interface HeadCheck {
  headBytes: number;
  check(head: Uint8Array, length: number): void;
}

export interface ReadOptions {
  /**
   * The version the reader holds whole. When it is still current the read resolves to
   * `{ kind: "unchanged" }` and reads nothing more; otherwise to a snapshot (complete,
   * or for granularity `"records"` possibly only what changed since). Omitted: a
   * complete snapshot (or missing).
   */
  since?: Version;
  /** Applied to every record before it is read whole. */
  check?: HeadCheck;
}

/** A stored record's first bytes and its whole length, read without the key (inspection). */
export interface Peek {
  readonly head: Uint8Array;
  readonly length: number;
}

/** How a finding of an inspection came out. */
export type CheckStatus = "ok" | "info" | "warn" | "problem" | "fixed";

/** One finding of a key-free inspection ({@link StorageBackend.inspect}). */
export interface Check {
  /** What was checked, in a few words: "directory", "store file", "lock", "schema", ... */
  check: string;
  status: CheckStatus;
  /** Safe to print: no secret, no password. */
  message: string;
  /** For a problem: how it is (or would be) repaired, as a shell command or in words; present when a repair can do it. */
  fix?: string;
  /** For a problem that no repair here makes: what to do. */
  action?: ErrorAction;
}

export interface InspectOptions {
  /** Repair what is safe to repair (permissions, a stale lock, leftovers of killed writers). */
  fix?: boolean;
  /**
   * Describes a stored record from its first bytes without the key (the store's reader of
   * its sealed header): "format 1, generation 7, raw key". Throws a TokenStoreError for
   * bytes that are not an intact record of a version this package reads.
   */
  describe?: { headBytes: number; describe(head: Uint8Array, length: number): string };
}

/**
 * Where and how sealed records are kept. Every method may reject with a TokenStoreError:
 * `UNAVAILABLE` (a server cannot be reached, or the connection broke mid-call: nothing
 * was changed), `CLOSED` (after {@link close}), `IO_ERROR`, `INSECURE_PERMISSIONS`, ...
 */
export interface StorageBackend {
  /**
   * Where the store lives, safe to print: a file path, or a URL without its password
   * (user name and password dropped). Used in every message and status.
   */
  readonly location: string;

  /**
   * For granularity `"records"`: the place the records belong to (engine, table and
   * namespace, never a secret), which the store binds into every record's associated
   * data, so that a record copied to another place fails authentication there.
   */
  readonly binding?: string;

  /** How the store cuts its state into records (see the top of this file). */
  readonly granularity: "document" | "records";

  /**
   * Creates what the store needs before its first write, idempotently and without the
   * key: a server its schema (tables, indexes) and the schema version row; the file
   * backend checks its location and creates nothing (never a directory). Resolves `created: false` when everything was there already.
   * Throws UNSUPPORTED_VERSION when it finds a newer schema or format than this package
   * writes. A backend's open function checks that version too (and a server's may run
   * this itself on first use, when its role may).
   */
  create(): Promise<{ created: boolean }>;

  /**
   * What is stored, revalidating `since` in the same call (see {@link ReadOptions}).
   * A warm read is one call: one `stat` for a file, at most one query for a server.
   * A backend that answers without waiting (the file backend: a `stat`, and a read only
   * when the file changed) may return the result itself rather than a promise, and then
   * throws rather than rejects; callers await either.
   */
  read(options?: ReadOptions): ReadResult | Promise<ReadResult>;

  /** Whether a previous generation is kept (a store that existed, even if its records are gone). */
  hasPrevious(): Promise<boolean>;

  /** The previous generation, complete, or undefined when none is kept. */
  readPrevious(check?: HeadCheck): Promise<Snapshot | undefined>;

  /**
   * The first `headBytes` bytes of the stored record `id` (default: {@link DOCUMENT_RECORD},
   * or {@link HEAD_RECORD} for granularity `"records"`) and its length, without the key, or undefined when
   * there is none. `previous`: of the previous generation.
   */
  peek(options: { headBytes: number; id?: RecordId; previous?: boolean }): Promise<Peek | undefined>;

  /**
   * Checks, without the key, what the backend keeps beside the records: a file's
   * directory, permissions, lock, leftovers and leases; a server's reachability, schema
   * version, grants and stale leases. With `fix`, repairs what is safe to repair.
   */
  inspect(options?: InspectOptions): Promise<Check[]>;

  /**
   * Runs `change` so that no other `exclusive` of the same store runs at the same time,
   * in this process or any other (on any host) the backend serves. Resolves to what
   * `change` resolves to.
   *
   * When `change` throws or rejects with any value (an Error or not), `exclusive`
   * rejects with that same value, unwrapped, and nothing `change` wrote is kept: a
   * server rolls its transaction back; the file and memory backends write only in
   * {@link ExclusiveSession.replace}'s last step. A change calls `replace` at most once,
   * as its last step (the store does), so for it "rolled back" and "never written" are
   * the same. A failure to end the section (a commit) rejects with a TokenStoreError
   * and leaves the stored state as before the change.
   */
  exclusive<T>(change: (session: ExclusiveSession) => Promise<T>): Promise<T>;

  /**
   * A refresh coordinator for processes sharing this store, when the backend has its own
   * (lease files, a lease row); `nameKey` gives the secret that names leases.
   */
  refreshCoordinator?(options: { leaseMs: number; nameKey: () => Uint8Array }): RefreshCoordinator;

  /**
   * Ends what this backend opened (a connection pool it created, never one it was given),
   * after the calls under way have ended. Idempotent. Every later call rejects `CLOSED`.
   */
  close(): Promise<void>;
}

/** What a change can do while it runs exclusively. */
export interface ExclusiveSession {
  /** Same as {@link StorageBackend.read}, inside the exclusive section (on a server, in its transaction). */
  read(options?: ReadOptions): Promise<ReadResult>;

  /** The version stored now without reading it (undefined: nothing stored), to replace what cannot be read. */
  currentVersion(): Promise<Version | undefined>;

  /**
   * Writes `replacement` if what is stored is still `expected` (undefined: nothing is
   * stored). With `keepPrevious`, the state replaced (all of it, complete) becomes the
   * previous generation ({@link StorageBackend.readPrevious}); without it the previous
   * generation is left as it was. Resolves to the new version.
   *
   * Throws `WRITE_CONFLICT` when the stored version is not `expected`, and
   * `LOCK_COMPROMISED` when exclusivity was lost (a lock taken over), both before
   * anything was written: nothing changed, and the whole change may be tried again.
   * Any other error may come after the records were stored (its message says so).
   */
  replace(replacement: Replacement, expected: Version | undefined, options: { keepPrevious: boolean }): Promise<Version>;
}

/** The records a replacement writes. */
export interface Replacement {
  /**
   * True: `put` is the whole new state; every stored record not in it is removed (the
   * only kind a `"document"` backend takes). False: a delta; records not named keep
   * their bytes.
   */
  readonly whole: boolean;
  /** Records written, new or replacing the record of the same id. Ids are distinct. */
  readonly put: readonly SealedRecord[];
  /** For a delta: ids removed (an id not stored is no error). Disjoint from `put`. */
  readonly remove: readonly RecordId[];
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
 *
 * The rules every coordinator keeps (the backend contract suite checks them): one
 * acquirer at a time per key (also among the callers of one coordinator); a waiter returns `satisfied` once `satisfied()` is true; a
 * lease older than `leaseMs` no longer holds others up; a release by a caller whose
 * lease expired and was taken by another does not end the newer lease (fencing by a
 * random owner token).
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
  /**
   * Ends the lease on `key` this coordinator holds, if it holds one. Awaited by the
   * adapter after a save and when the SDK's renewal fails; a rejection is ignored there
   * (the lease then ends by expiry), so it never fails a save.
   */
  release(key: string): Promise<void>;
}
