/**
 * A storage backend on a SQL database, shared by every dialect: records as rows
 * (granularity "records"), compare-and-set by version in one transaction, the previous
 * generation kept per row, and error codes for a server that is down or went away.
 *
 * - A read outside an exclusive section is one autocommit statement: the head and the
 *   rows written since the version the reader holds ("unchanged" when none).
 * - An exclusive section is one transaction: it locks the namespace's head row (every
 *   writer of the namespace, on any host, waits there), reads, and writes the changed
 *   rows and the head in one statement where the dialect can. A change that throws rolls
 *   the transaction back and is rethrown unchanged.
 * - The transaction has a lock timeout (a holder that never lets go fails the waiters
 *   with LOCK_TIMEOUT, not a hang) and an idle timeout (the server ends the session of a
 *   holder that stalls mid-transaction, which rolls it back and frees the lock).
 * - Nothing relies on session state: every transaction may run on another server
 *   connection (PgBouncer's transaction pooling), and no named prepared statement is used.
 */
import { TokenStoreError, isTokenStoreError } from "../../errors.js";
import {
  HEAD_RECORD,
  type Check,
  type ExclusiveSession,
  type HeadCheck,
  type Peek,
  type ReadOptions,
  type ReadResult,
  type RecordId,
  type RefreshCoordinator,
  type Replacement,
  type Snapshot,
  type StorageBackend,
  type StoredRecord,
  type Version,
} from "../types.js";
import {
  type PooledConnection,
  PRUNED_MARKER,
  type RecordRow,
  type RowWrite,
  type SqlConnection,
  type SqlDialect,
  type SqlNames,
  type SqlPool,
} from "./dialect.js";
import { TableLeases } from "../table-leases.js";

/**
 * The schema version this package writes and reads. Migrations go forward only: 1 -> 2
 * (the same tables; writes prune old tombstones, see dialect.ts) moves the version number,
 * on open or `create`, when the role may update the schema table; a role that may not
 * keeps using a version 1 schema as it is, without pruning.
 */
export const SCHEMA_VERSION = 2;

/** The first schema version whose writes prune tombstones. */
const PRUNING_VERSION = 2;

/**
 * Tombstones are pruned by every PRUNE_EVERY-th write, up to PRUNE_LIMIT of them, once they
 * are PRUNE_AFTER versions old (a reader that far behind reads everything once).
 */
const PRUNE_EVERY = 100;
const PRUNE_AFTER = 100;
const PRUNE_LIMIT = 1_000;

/** The largest write (sealed bytes) sent with the COMMIT as literals; a larger one goes as parameters first. */
const COMBINED_WRITE_BYTES = 256 * 1024;

export interface SqlBackendSettings {
  dialect: SqlDialect;
  pool: SqlPool;
  /** Whether `close` ends the pool (only one the backend created). */
  ownsPool: boolean;
  names: SqlNames;
  namespace: string;
  /** Safe to print: no password. */
  location: string;
  /** Longest wait for the namespace's lock. */
  lockTimeoutMs: number;
  /** A transaction left idle this long is ended by the server. */
  idleTimeoutMs: number;
}

export class SqlBackend implements StorageBackend {
  readonly granularity = "records" as const;
  readonly location: string;
  /**
   * What every sealed record of this backend is bound to (the store puts it in each
   * record's associated data): the table and the namespace. A row copied to another
   * namespace or table fails authentication there.
   */
  readonly binding: string;
  readonly #s: SqlBackendSettings;
  #closed = false;
  #closing: Promise<void> | undefined;
  #running = 0;
  #idle: (() => void) | undefined;
  /** The schema version found on open (undefined: not checked, so no pruning). */
  #schemaVersion: number | undefined;

  constructor(settings: SqlBackendSettings) {
    this.#s = settings;
    this.location = settings.location;
    // A dialect without schemas (MySQL: the connection's database) binds to the table alone.
    const { schema, table } = settings.names;
    this.binding = `${settings.dialect.engine.toLowerCase()}:${schema ? `${schema}.` : ""}${table}:${settings.namespace}`;
  }

  get namespace(): string {
    return this.#s.namespace;
  }

  async create(): Promise<{ created: boolean }> {
    return this.#public("creating the schema", async () => {
      const connection = await this.#connect();
      try {
        const version = await this.#s.dialect.schemaVersion(connection, this.#s.names);
        if (version !== undefined) {
          this.#checkSchemaVersion(version);
          connection.release();
          await this.#migrate(version);
          return { created: false };
        }
        const created = await this.#s.dialect.createSchema(connection, this.#s.names, SCHEMA_VERSION);
        connection.release();
        this.#schemaVersion = SCHEMA_VERSION;
        return { created };
      } catch (error) {
        connection.release(error);
        if (this.#s.dialect.classify(error) === "permission") {
          throw new TokenStoreError(
            "INVALID_OPTION",
            `the database role may not create the tables of ${this.location}; open the store once with a role that may (see ${this.#s.dialect.grantsDoc ?? "docs/postgres.md"} for the grants)`,
            { location: this.location, cause: error },
          );
        }
        throw error;
      }
    });
  }

  /** Checks the schema version; creates the schema when it is missing and `create` is true. */
  async prepare({ create }: { create: boolean }): Promise<void> {
    const version = await this.#public("checking the schema", () => this.#s.dialect.schemaVersion(this.#s.pool, this.#s.names));
    if (version !== undefined) {
      this.#checkSchemaVersion(version);
      if (create) await this.#migrate(version);
      else this.#schemaVersion = version;
      return;
    }
    if (create) {
      await this.create();
      return;
    }
    throw new TokenStoreError("FILE_MISSING", `${this.location} has no tables yet; open it once with createSchema: true and a role that may create them`, {
      location: this.location,
    });
  }

  /**
   * Moves an older schema to this package's version. A role that may not update the schema
   * table goes on with the version it found (version 1 is read and written the same way,
   * without pruning tombstones): an upgrade of the package never stops a running program.
   */
  async #migrate(found: number): Promise<void> {
    this.#schemaVersion = found;
    if (found >= SCHEMA_VERSION) return;
    try {
      await this.#s.dialect.setSchemaVersion(this.#s.pool, this.#s.names, found, SCHEMA_VERSION);
    } catch (error) {
      if (this.#s.dialect.classify(error) === "permission") return;
      throw this.#coded("moving the schema to a newer version", error);
    }
    // Moved by this call or by another process meanwhile.
    this.#schemaVersion = (await this.#call("checking the schema", () => this.#s.dialect.schemaVersion(this.#s.pool, this.#s.names))) ?? found;
  }

  #checkSchemaVersion(version: number): void {
    if (version > SCHEMA_VERSION) {
      throw new TokenStoreError(
        "UNSUPPORTED_VERSION",
        `${this.location} has schema version ${version}; this version of zoho-encrypted-filestore uses version ${SCHEMA_VERSION}`,
        { location: this.location, action: "upgrade", advice: "upgrade the package" },
      );
    }
  }

  async read(options: ReadOptions = {}): Promise<ReadResult> {
    return this.#track(() => this.#read(this.#s.pool, options));
  }

  async #read(connection: SqlConnection, { since, check }: ReadOptions): Promise<ReadResult> {
    const known = typeof since === "number" ? since : undefined;
    // Only the database call's errors are coded: a head check's error is the caller's, unchanged.
    const { head, complete, rows } = await this.#call("reading", () => this.#s.dialect.readSince(connection, this.#s.names, this.#s.namespace, known));
    if (!head || head.version === 0) return { kind: "missing" };
    if (!complete && head.version === known) return { kind: "unchanged" };
    // Tombstones were pruned since this reader's version: it may have missed removals.
    if (!complete && rows.some((row) => row.id === PRUNED_MARKER)) return this.#read(connection, { check });
    const records: StoredRecord[] = [];
    const removed: RecordId[] = [];
    for (const row of rows) {
      if (row.sealed === null) {
        if (row.id !== PRUNED_MARKER) removed.push(row.id);
      } else records.push(checked(row, check));
    }
    return { kind: "snapshot", version: head.version, complete, records, removed: complete ? [] : removed };
  }

  async hasPrevious(): Promise<boolean> {
    // One row: the previous generation's head record (every write writes the head).
    return this.#public(
      "reading",
      async () => (await this.#s.dialect.peek(this.#s.pool, this.#s.names, this.#s.namespace, HEAD_RECORD, 1, true)) !== undefined,
    );
  }

  async readPrevious(check?: HeadCheck): Promise<Snapshot | undefined> {
    return this.#track(async () => {
      const rows = await this.#call("reading the previous generation", () => this.#s.dialect.readPrevious(this.#s.pool, this.#s.names, this.#s.namespace));
      if (!rows) return undefined;
      return { kind: "snapshot", version: undefined, complete: true, records: rows.map((row) => checked(row, check)), removed: [] };
    });
  }

  async peek(options: { headBytes: number; id?: RecordId; previous?: boolean }): Promise<Peek | undefined> {
    return this.#public("reading", () =>
      this.#s.dialect.peek(this.#s.pool, this.#s.names, this.#s.namespace, options.id ?? HEAD_RECORD, options.headBytes, options.previous ?? false),
    );
  }

  async inspect(options: { fix?: boolean } = {}): Promise<Check[]> {
    const checks: Check[] = [];
    const { dialect, names, namespace, pool } = this.#s;
    let version: number | undefined;
    try {
      version = await this.#public("connecting", () => dialect.schemaVersion(pool, names));
      checks.push({ check: "server", status: "ok", message: `${this.location} answers` });
    } catch (error) {
      checks.push({
        check: "server",
        status: "problem",
        message: isTokenStoreError(error) ? error.reason : `${this.location} cannot be reached`,
        action: "retry",
      });
      return checks;
    }
    if (version === undefined) {
      checks.push({ check: "schema", status: "problem", message: `${this.location} has no tables yet`, fix: "open the store once with createSchema: true" });
      return checks;
    }
    checks.push(
      version > SCHEMA_VERSION
        ? { check: "schema", status: "problem", message: `schema version ${version} is newer than this package's (${SCHEMA_VERSION})`, action: "upgrade" }
        : version < SCHEMA_VERSION
          ? {
              check: "schema",
              status: "info",
              message: `schema version ${version}, older than this package's (${SCHEMA_VERSION}): removed tokens' tombstones are not pruned until a role that may update the schema table opens the store`,
            }
          : { check: "schema", status: "ok", message: `schema version ${version}` },
    );
    const missing = await this.#public("checking grants", () => dialect.missingGrants(pool, names));
    checks.push(
      missing.length === 0
        ? { check: "grants", status: "ok", message: "the role may read and write every table" }
        : { check: "grants", status: "problem", message: `the role lacks ${missing.join(", ")}` },
    );
    const leases = await this.#public("reading leases", () => dialect.leaseCounts(pool, names, namespace));
    if (leases.expired > 0 && options.fix) {
      const removed = await this.#public("removing expired leases", () => dialect.removeExpiredLeases(pool, names, namespace));
      checks.push({ check: "leases", status: "fixed", message: `removed ${removed} expired refresh lease${removed === 1 ? "" : "s"}` });
    } else {
      checks.push({
        check: "leases",
        status: leases.expired > 0 ? "info" : "ok",
        message: `${leases.total} refresh lease${leases.total === 1 ? "" : "s"}, ${leases.expired} expired (expired leases hold nobody up)`,
      });
    }
    return checks;
  }

  exclusive<T>(change: (session: ExclusiveSession) => Promise<T>): Promise<T> {
    return this.#track(async () => {
      const { dialect, names, namespace } = this.#s;
      const connection = await this.#call("connecting", () => this.#connect());
      let broken: unknown;
      try {
        const head = await this.#call("locking the store", () =>
          dialect.beginLocked(connection, names, namespace, { lockTimeoutMs: this.#s.lockTimeoutMs, idleTimeoutMs: this.#s.idleTimeoutMs }),
        );
        let wrote = false;
        let pending: RowWrite | undefined;
        const flush = async () => {
          const rows = pending;
          pending = undefined;
          if (rows) await this.#call("writing", () => dialect.write(connection, names, namespace, rows));
        };
        const session: ExclusiveSession = {
          read: async (options) => {
            // The head is locked: a reader at its version, or a namespace with nothing
            // stored, needs no statement (the rows cannot change until the lock is let go).
            if (!wrote && head.version === 0) return { kind: "missing" };
            if (!wrote && options?.since === head.version) return { kind: "unchanged" };
            await flush();
            return this.#read(connection, options ?? {});
          },
          currentVersion: async () => (head.version === 0 ? undefined : head.version),
          replace: async (replacement: Replacement, expected: Version | undefined, { keepPrevious }) => {
            if (wrote) throw new TypeError("replace may be called once per exclusive section");
            const current = head.version === 0 ? undefined : head.version;
            if (current !== expected) {
              throw new TokenStoreError("WRITE_CONFLICT", `${this.location} changed since it was read; the change was not written`, {
                location: this.location,
                action: "retry",
              });
            }
            const version = head.version + 1;
            // The previous generation after this write: the state it replaces, or the one kept before.
            const previous = keepPrevious ? (head.version === 0 ? null : head.version) : head.previous;
            const rows: RowWrite = {
              version,
              previous,
              whole: replacement.whole,
              put: replacement.put.map((record) => ({ id: checkId(record.id), bytes: concat(record.parts) })),
              remove: replacement.remove.map(checkId),
            };
            wrote = true;
            await this.#prune(connection, version, previous);
            // A small write waits for the end of the section, to travel with the COMMIT
            // where the dialect can: one round trip less.
            if (dialect.writeAndCommit && rows.put.reduce((sum, record) => sum + record.bytes.length, 0) <= COMBINED_WRITE_BYTES) pending = rows;
            else await this.#call("writing", () => dialect.write(connection, names, namespace, rows));
            return version;
          },
        };
        let value: T;
        try {
          value = await change(session);
        } catch (error) {
          // Rolled back; the change's own value is what the caller gets, unwrapped.
          try {
            await dialect.rollback(connection);
          } catch (rollbackError) {
            broken = rollbackError;
          }
          throw error;
        }
        if (pending && dialect.writeAndCommit) {
          const rows = pending;
          pending = undefined;
          try {
            await dialect.writeAndCommit(connection, names, namespace, rows);
          } catch (error) {
            // Refused: nothing was written (the COMMIT did not run), the transaction is rolled back.
            // A lost connection: the COMMIT may or may not have been run.
            if (dialect.classify(error) !== "unavailable") {
              try {
                await dialect.rollback(connection);
              } catch (rollbackError) {
                broken = rollbackError;
              }
              throw this.#coded("writing", error);
            }
            throw this.#coded("committing (the change may or may not have been written)", error);
          }
          return value;
        }
        await this.#call(wrote ? "committing (the change may or may not have been written)" : "ending a transaction", async () => {
          await dialect.commit(connection);
          return undefined;
        });
        return value;
      } catch (error) {
        broken ??= isTokenStoreError(error, "UNAVAILABLE") || isTokenStoreError(error, "LOCK_TIMEOUT") ? error : undefined;
        throw error;
      } finally {
        connection.release(broken);
      }
    });
  }

  /**
   * Every PRUNE_EVERY-th write deletes old tombstones, in its transaction: never one the
   * previous generation still needs (written after it), and the marker tells readers who
   * are older than them to read everything.
   */
  async #prune(connection: SqlConnection, version: number, previous: number | null): Promise<void> {
    if ((this.#schemaVersion ?? 0) < PRUNING_VERSION || version % PRUNE_EVERY !== 0) return;
    const below = Math.min(version - PRUNE_AFTER, previous ?? Number.POSITIVE_INFINITY);
    if (below <= 0) return;
    await this.#call("pruning removed records", () =>
      this.#s.dialect.pruneTombstones(connection, this.#s.names, this.#s.namespace, { below, version, limit: PRUNE_LIMIT }),
    );
  }

  refreshCoordinator(options: { leaseMs: number; nameKey: () => Uint8Array }): RefreshCoordinator {
    return new TableLeases({
      leaseMs: options.leaseMs,
      nameKey: options.nameKey,
      take: (name, owner, ms) =>
        this.#public("taking a refresh lease", () => this.#s.dialect.takeLease(this.#s.pool, this.#s.names, this.#s.namespace, name, owner, ms)),
      release: (name, owner) =>
        this.#public("ending a refresh lease", () => this.#s.dialect.releaseLease(this.#s.pool, this.#s.names, this.#s.namespace, name, owner)),
    });
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      if (this.#running > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      if (this.#s.ownsPool) await this.#s.pool.end().catch(() => undefined);
    })();
    return this.#closing;
  }

  async #connect(): Promise<PooledConnection> {
    return this.#s.pool.connect();
  }

  /** Runs `task` counted as under way (close waits for it), refused once closed. */
  async #track<T>(task: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new TokenStoreError("CLOSED", `${this.location} was closed`, { location: this.location });
    this.#running++;
    try {
      return await task();
    } finally {
      if (--this.#running === 0) this.#idle?.();
    }
  }

  /** Runs one database call, turning a driver error into a coded one. */
  async #call<T>(what: string, task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } catch (error) {
      throw this.#coded(what, error);
    }
  }

  /** A public call: counted (close waits for it), refused once closed, driver errors coded. */
  #public<T>(what: string, task: () => Promise<T>): Promise<T> {
    return this.#track(() => this.#call(what, task));
  }

  #coded(what: string, error: unknown): unknown {
    if (error instanceof TokenStoreError || error instanceof TypeError) return error;
    const { engine } = this.#s.dialect;
    switch (this.#s.dialect.classify(error)) {
      case "unavailable":
        return new TokenStoreError(
          "UNAVAILABLE",
          `${engine} at ${this.location} could not be reached or ended the connection while ${what}; ${what.startsWith("committing") ? "check whether the change was stored" : "nothing was changed"}`,
          { location: this.location, cause: error, action: "retry", advice: "try again once the server is back" },
        );
      case "lock-timeout":
        return new TokenStoreError("LOCK_TIMEOUT", `another writer held ${this.location} longer than ${this.#s.lockTimeoutMs} ms; nothing was changed`, {
          location: this.location,
          cause: error,
          action: "retry",
        });
      case "no-schema":
        return new TokenStoreError("FILE_MISSING", `${this.location} has no tables (dropped?) while ${what}`, {
          location: this.location,
          cause: error,
        });
      case "permission":
        return new TokenStoreError("IO_ERROR", `the database role was refused while ${what} on ${this.location} (missing grants?); nothing was changed`, {
          location: this.location,
          cause: error,
        });
      default:
        return new TokenStoreError("IO_ERROR", `${engine} refused a statement while ${what} on ${this.location}; nothing was changed`, {
          location: this.location,
          cause: error,
        });
    }
  }
}

const RECORD_ID = /^[A-Za-z0-9._-]{1,64}$/;

function checkId(id: RecordId): string {
  if (typeof id !== "string" || !RECORD_ID.test(id)) throw new TypeError("a record id is 1 to 64 characters of A-Z a-z 0-9 . _ -");
  return id;
}

function checked(row: RecordRow, check: HeadCheck | undefined): StoredRecord {
  const bytes = row.sealed!;
  check?.check(bytes.subarray(0, check.headBytes), bytes.length);
  return { id: row.id, bytes };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  return new Uint8Array(Buffer.concat(parts.map((part) => Buffer.from(part.buffer, part.byteOffset, part.byteLength))));
}
