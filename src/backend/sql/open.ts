/**
 * What opening a SQL backend is on every dialect: the options they share checked one way
 * (table and schema names, the namespace, the lock wait, `createSchema`), the printable
 * location, and the first-use check or creation of the schema. A dialect's entry point
 * (postgres/, mysql/) adds only its pool: how to make one from a connection string or a
 * configuration, and how to name it without its password.
 */
import { describeType, TokenStoreError } from "../../errors.js";
import { integerOption } from "../../store/options.js";
import { SqlBackend } from "./backend.js";
import type { SqlDialect, SqlNames, SqlPool } from "./dialect.js";

const NAME = /^[a-z_][a-z0-9_]{0,40}$/;

/** A table or schema name option: a lower-case SQL name, or its default. */
export function sqlNameOption(option: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !NAME.test(value)) {
    throw new TokenStoreError(
      "INVALID_OPTION",
      `${option} must be a lower-case SQL name (letters, digits, underscores; at most 41), got ${describeType(value)}`,
    );
  }
  return value;
}

/** The options every SQL backend takes beside its server. */
export interface SqlCommonOptions {
  namespace?: string;
  createSchema?: boolean;
  lockTimeoutMs?: number;
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
}

/** The shared options as checked. */
export interface SqlCommon {
  namespace: string;
  createSchema: boolean;
  lockTimeoutMs: number;
  timeouts: SqlTimeouts;
}

/**
 * How long the backend waits for the server, so that a server that stops answering (a
 * stopped process, a network that drops packets) fails a call instead of hanging it.
 */
export interface SqlTimeouts {
  /** Longest wait for a connection: a new one's handshake, or a free one of a busy pool. */
  connectMs: number;
  /** Longest wait for the answer to one autocommit statement (a read, a lease). */
  queryMs: number;
  /** Longest wait for the answer to one statement of a write's transaction: the query time plus the lock wait. */
  transactionQueryMs: number;
}

/** The shared options, checked (INVALID_OPTION for a bad one); `minLockTimeoutMs` is the dialect's finest lock wait. */
export function sqlCommonOptions(options: SqlCommonOptions, minLockTimeoutMs: number): SqlCommon {
  const namespace = options.namespace ?? "default";
  if (typeof namespace !== "string" || namespace.length === 0 || namespace.length > 200 || /[\u0000-\u001f]/.test(namespace)) {
    throw new TokenStoreError("INVALID_OPTION", `namespace must be a string of 1 to 200 printable characters, got ${describeType(namespace)}`);
  }
  const lockTimeoutMs = integerOption("lockTimeoutMs", options.lockTimeoutMs, 15_000, minLockTimeoutMs, 3_600_000);
  if (options.createSchema !== undefined && typeof options.createSchema !== "boolean") {
    throw new TokenStoreError("INVALID_OPTION", `createSchema must be a boolean, got ${describeType(options.createSchema)}`);
  }
  const connectMs = integerOption("connectTimeoutMs", options.connectTimeoutMs, 10_000, 100, 600_000);
  const queryMs = integerOption("queryTimeoutMs", options.queryTimeoutMs, 15_000, 100, 3_600_000);
  return {
    namespace,
    createSchema: options.createSchema ?? true,
    lockTimeoutMs,
    // A statement of a write may first wait its turn for the namespace's lock.
    timeouts: { connectMs, queryMs, transactionQueryMs: queryMs + lockTimeoutMs },
  };
}

/**
 * The backend over a pool: named `<where>?table=<table>&namespace=<namespace>`, and unless
 * `check` is false (key-free inspection: `inspect` reports what is there), its schema checked
 * and, when allowed, created; a failure there ends a pool the backend made.
 */
export async function openSqlBackend(settings: {
  dialect: SqlDialect;
  pool: SqlPool;
  owns: boolean;
  /** The server, safe to print: no password. */
  where: string;
  names: SqlNames;
  /** The table as the location names it. */
  tableName: string;
  common: SqlCommon;
  check: boolean;
}): Promise<SqlBackend> {
  const { namespace, createSchema, lockTimeoutMs } = settings.common;
  const backend = new SqlBackend({
    dialect: settings.dialect,
    pool: settings.pool,
    ownsPool: settings.owns,
    names: settings.names,
    namespace,
    location: `${settings.where}?table=${settings.tableName}&namespace=${encodeURIComponent(namespace)}`,
    lockTimeoutMs,
    // A holder that stalls mid-transaction longer than this is ended by the server.
    idleTimeoutMs: Math.max(lockTimeoutMs, 5_000),
  });
  if (!settings.check) return backend;
  try {
    await backend.prepare({ create: createSchema });
  } catch (error) {
    await backend.close();
    throw error;
  }
  return backend;
}
