/**
 * What a SQL database backend needs from its dialect (PostgreSQL now, MySQL/MariaDB next):
 * the statements, written for that engine, and how its driver's errors read. Everything
 * else (transactions, compare-and-set by version, the lease protocol, error codes) is
 * shared, in backend.ts and leases.ts.
 *
 * ## The rows (every dialect keeps the same ones)
 *
 * - `<table>`: one row per sealed record: `namespace`, `id` (the store's record id, never
 *   a secret), `written` (the store version that last wrote it), `sealed` (the record's
 *   bytes; NULL for a removed record, a tombstone that tells readers holding an older
 *   version what went), `prev` (the record's bytes at the previous generation, when it
 *   changed since). Primary key (namespace, id); an index on (namespace, written) serves
 *   "what changed since".
 * - `<table>_heads`: one row per namespace: `version` (bumped by every write, the
 *   compare-and-set point, locked by every exclusive section) and `previous` (the version
 *   the previous generation is, or NULL).
 * - `<table>_leases`: refresh leases: `namespace`, `name` (a keyed hash of the token, a
 *   blind name), `owner` (a random token per claim: fencing), `expires_at` (on the
 *   server's clock).
 * - `<table>_schema`: the schema version this package checks on open.
 *
 * ## Pruned tombstones (schema version 2)
 *
 * Tombstones of records removed long ago are deleted by writes (a bounded number at a
 * time). A reader whose version is older than a deleted tombstone would miss that removal,
 * so the write that deletes them also writes the marker row {@link PRUNED_MARKER} (a
 * tombstone of no record: its id is not a record id) at its own version. A reader whose
 * delta holds the marker may have missed removals and reads everything instead. Version 1
 * has the same tables; version 2 says every process may meet the marker (a process of a
 * package that predates it refuses the schema, instead of missing removals).
 */

/** The id of the row that marks the latest pruning of tombstones (never a record id: those are A-Z a-z 0-9 . _ -). */
export const PRUNED_MARKER = "~pruned";

/** Rows as a driver returns them. */
export interface SqlRow {
  [column: string]: unknown;
}

/** One connection (or, for autocommit statements, the pool): statements with `$n`-free parameters are the dialect's business. */
export interface SqlConnection {
  query(text: string, params?: readonly unknown[]): Promise<{ rows: SqlRow[]; rowCount: number | null }>;
}

/** A connection taken from the pool for one transaction. */
export interface PooledConnection extends SqlConnection {
  /** Gives the connection back; with an error, it is closed instead (its state is unknown). */
  release(broken?: unknown): void;
}

/** A driver's pool, as the backend uses it. */
export interface SqlPool extends SqlConnection {
  connect(): Promise<PooledConnection>;
  /** Ends the pool; only for a pool the backend created. */
  end(): Promise<void>;
}

/** Where the tables are: names checked by the options, quoted by the dialect. */
export interface SqlNames {
  schema: string;
  table: string;
}

/** The head row of a namespace. */
export interface HeadRow {
  /** 0: nothing stored yet. */
  version: number;
  previous: number | null;
}

/** A record row as read. */
export interface RecordRow {
  id: string;
  /** null: removed (a tombstone). */
  sealed: Uint8Array | null;
}

/** What a write puts in the rows. */
export interface RowWrite {
  /** The version the write makes. */
  version: number;
  /**
   * The version the previous generation is after this write: every record row changed
   * by it that was last written at or before this version keeps its old bytes in `prev`.
   */
  previous: number | null;
  /** Whether the records not in `put` are all removed. */
  whole: boolean;
  put: ReadonlyArray<{ id: string; bytes: Uint8Array }>;
  remove: readonly string[];
}

/** How a driver error reads, for the shared error codes. */
export type ErrorKind =
  /** The server could not be reached, went away, or ended the connection: nothing of an unfinished transaction was kept. */
  | "unavailable"
  /** A lock was not granted in time. */
  | "lock-timeout"
  /** The tables are not there. */
  | "no-schema"
  /** The role may not do this (create tables, write rows). */
  | "permission"
  | "other";

export interface SqlDialect {
  /** The engine's name, for messages ("PostgreSQL"). */
  readonly engine: string;
  /** Where the docs give this engine's grants, for messages. @default "docs/postgres.md" */
  readonly grantsDoc?: string;
  commit(connection: SqlConnection): Promise<void>;
  rollback(connection: SqlConnection): Promise<void>;

  /** The schema version stored, or undefined when the tables are not there. */
  schemaVersion(connection: SqlConnection, names: SqlNames): Promise<number | undefined>;
  /**
   * Creates the tables at `version`, idempotently, in one transaction that other
   * creators wait for. Resolves whether anything was created.
   */
  createSchema(connection: PooledConnection, names: SqlNames, version: number): Promise<boolean>;

  /** Moves the schema version from `from` to `to` (a migration); resolves whether this call moved it. */
  setSchemaVersion(connection: SqlConnection, names: SqlNames, from: number, to: number): Promise<boolean>;
  /**
   * Inside the transaction that locked the head: deletes up to `limit` tombstones written at
   * or before `below` (never the marker) and, when it deleted any, writes the marker
   * {@link PRUNED_MARKER} at `version`. Resolves how many it deleted.
   */
  pruneTombstones(connection: SqlConnection, names: SqlNames, namespace: string, prune: { below: number; version: number; limit: number }): Promise<number>;

  /**
   * Starts the transaction of an exclusive section (with its lock and idle limits, in
   * milliseconds) and locks the namespace's head row, as {@link lockHead}, in as few round
   * trips as the engine allows.
   */
  beginLocked(connection: SqlConnection, names: SqlNames, namespace: string, limits: { lockTimeoutMs: number; idleTimeoutMs: number }): Promise<HeadRow>;
  /** Locks the namespace's head row for this transaction (creating it at version 0 when missing) and reads it. */
  lockHead(connection: SqlConnection, names: SqlNames, namespace: string): Promise<HeadRow>;
  /**
   * In one statement: the head, and the record rows written after `since` (tombstones
   * included) or, for `since` undefined or not usable (above the head's version), every
   * live row. `complete` says which.
   */
  readSince(
    connection: SqlConnection,
    names: SqlNames,
    namespace: string,
    since: number | undefined,
  ): Promise<{ head: HeadRow | undefined; complete: boolean; rows: RecordRow[] }>;
  /** The records of the previous generation (version `head.previous`), or undefined when none is kept. */
  readPrevious(connection: SqlConnection, names: SqlNames, namespace: string): Promise<RecordRow[] | undefined>;
  /** The first bytes of one record and its length, current or previous. */
  peek(
    connection: SqlConnection,
    names: SqlNames,
    namespace: string,
    id: string,
    headBytes: number,
    previous: boolean,
  ): Promise<{ head: Uint8Array; length: number } | undefined>;
  /** Writes the records and the head, inside the transaction that locked the head. */
  write(connection: SqlConnection, names: SqlNames, namespace: string, write: RowWrite): Promise<void>;
  /**
   * Optional: the write and the transaction's COMMIT in one round trip. A failure of the
   * write leaves the transaction open (aborted) for the caller to roll back.
   */
  writeAndCommit?(connection: SqlConnection, names: SqlNames, namespace: string, write: RowWrite): Promise<void>;

  /** Takes the lease `name` for `owner` for `ms` on the server's clock if it is free, expired, or already this owner's. */
  takeLease(connection: SqlConnection, names: SqlNames, namespace: string, name: string, owner: string, ms: number): Promise<boolean>;
  /** Ends the lease `name` only if `owner` still holds it. */
  releaseLease(connection: SqlConnection, names: SqlNames, namespace: string, name: string, owner: string): Promise<void>;
  /** Leases of the namespace: how many, and how many have expired (on the server's clock). */
  leaseCounts(connection: SqlConnection, names: SqlNames, namespace: string): Promise<{ total: number; expired: number }>;
  /** Removes expired leases; resolves how many. */
  removeExpiredLeases(connection: SqlConnection, names: SqlNames, namespace: string): Promise<number>;
  /** Which privileges the current role lacks on the tables (for inspection). */
  missingGrants(connection: SqlConnection, names: SqlNames): Promise<string[]>;

  classify(error: unknown): ErrorKind;
}
