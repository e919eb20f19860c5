/**
 * The PostgreSQL backend: options, the connection pool, and the SQL backend on the
 * PostgreSQL dialect. `pg` (node-postgres) is an optional peer dependency, loaded here
 * only, when a PostgreSQL store is opened: a file-store user installs and loads nothing
 * more.
 *
 * The pool: a connection string or a `pg` pool configuration makes a pool this backend
 * owns (and ends on close); an existing `pg.Pool` is used as it is and never ended.
 */
import type { Pool, PoolClient, PoolConfig, QueryConfig } from "pg";
import { describeType, TokenStoreError } from "../../errors.js";
import type { SqlBackend } from "../sql/backend.js";
import { withDeadline } from "../sql/deadline.js";
import { openSqlBackend, type SqlTimeouts, sqlCommonOptions, sqlNameOption } from "../sql/open.js";
import type { PooledConnection, SqlNames, SqlPool } from "../sql/dialect.js";
import { postgresDialect } from "./dialect.js";

/**
 * What a `pg.Pool` given to the backend must offer (typed without `pg`, so that the
 * package's main types never name the optional driver).
 */
export interface PostgresPoolLike {
  query: (...args: never[]) => unknown;
  connect: (...args: never[]) => unknown;
  end: (...args: never[]) => unknown;
  options?: object;
}

/** A `pg` pool configuration (`pg.PoolConfig`; its other fields are passed on as they are). */
export interface PostgresPoolConfig {
  connectionString?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string | (() => string | Promise<string>);
  database?: string;
  max?: number;
  connectionTimeoutMillis?: number;
  query_timeout?: number;
  idleTimeoutMillis?: number;
  ssl?: unknown;
  [option: string]: unknown;
}

/** Where a PostgreSQL store lives. */
export interface PostgresBackendOptions {
  /**
   * The server: a connection string (`postgres://user@host:5432/db`; a password in it is
   * used but never printed), a `pg` pool configuration, or an existing `pg.Pool`, which
   * the store uses and never ends. `undefined` (an environment variable that is not set) is
   * refused with INVALID_OPTION.
   */
  postgres: string | PostgresPoolConfig | PostgresPoolLike | undefined;
  /** The schema of the tables. @default "public" */
  schema?: string;
  /** The name of the records table; the others are named after it (`<table>_heads`, `_leases`, `_schema`). @default "zoho_tokens" */
  table?: string;
  /** Several stores (apps, environments) in one table, each with its own name. @default "default" */
  namespace?: string;
  /** Create the tables on first use when they are missing (the role must be allowed to). @default true */
  createSchema?: boolean;
  /** Longest wait for another writer of the same namespace before LOCK_TIMEOUT. @default 15000 */
  lockTimeoutMs?: number;
  /** Longest wait for a connection (a new one, or a free one of the pool) before UNAVAILABLE. @default 10000 */
  connectTimeoutMs?: number;
  /**
   * Longest wait for the answer to one statement before UNAVAILABLE (a statement of a write
   * may first wait `lockTimeoutMs` more for the lock). It holds on a pool you give too.
   * @default 15000
   */
  queryTimeoutMs?: number;
}

export const POSTGRES_BACKEND_OPTIONS = [
  "postgres",
  "schema",
  "table",
  "namespace",
  "createSchema",
  "lockTimeoutMs",
  "connectTimeoutMs",
  "queryTimeoutMs",
] as const;

/**
 * Opens (and on first use, creates, when allowed) the PostgreSQL backend. With `check:
 * false` it neither checks nor creates the schema (key-free inspection: `inspect` reports
 * what is there).
 */
export async function openPostgresBackend(options: PostgresBackendOptions, { check = true }: { check?: boolean } = {}): Promise<SqlBackend> {
  const names: SqlNames = { schema: sqlNameOption("schema", options.schema, "public"), table: sqlNameOption("table", options.table, "zoho_tokens") };
  const common = sqlCommonOptions(options, 100);
  const { pool, owns, where } = await poolOf(options.postgres, common.timeouts);
  return openSqlBackend({ dialect: postgresDialect, pool, owns, where, names, tableName: `${names.schema}.${names.table}`, common, check });
}

async function poolOf(given: PostgresBackendOptions["postgres"], timeouts: SqlTimeouts): Promise<{ pool: SqlPool; owns: boolean; where: string }> {
  if (isPool(given)) {
    return { pool: wrap(given as unknown as Pool, false, timeouts), owns: false, where: describeConfig((given.options ?? {}) as PostgresPoolConfig) };
  }
  let config: PoolConfig;
  if (typeof given === "string" && given !== "") {
    if (!/^postgres(ql)?:\/\//.test(given) && !given.includes("=")) {
      throw new TokenStoreError(
        "INVALID_OPTION",
        "postgres must be a connection string (postgres://user@host:5432/database), a pg pool configuration or a pg.Pool",
      );
    }
    config = { connectionString: given };
  } else if (typeof given === "object" && given !== null && !Array.isArray(given)) {
    config = { ...(given as PoolConfig) };
  } else if (given === undefined || given === "") {
    throw new TokenStoreError(
      "INVALID_OPTION",
      "postgres is not set (an empty environment variable?): give a connection string, a pg pool configuration or a pg.Pool",
    );
  } else {
    throw new TokenStoreError("INVALID_OPTION", `postgres must be a connection string, a pg pool configuration or a pg.Pool, got ${describeType(given)}`);
  }
  let pg: typeof import("pg");
  try {
    pg = (await import("pg")).default as unknown as typeof import("pg");
  } catch (error) {
    throw new TokenStoreError("INVALID_OPTION", "the postgres option needs the pg package: npm install pg", { cause: error });
  }
  const pool = new pg.Pool({
    max: 10,
    // A server that is down fails a call within these, never hangs it (every statement
    // also has its own deadline, below).
    connectionTimeoutMillis: timeouts.connectMs,
    idleTimeoutMillis: 10_000,
    // A program may end without closing the store.
    allowExitOnIdle: true,
    ...config,
  });
  // An idle connection the server ended (a restart) is dropped by the pool; without a
  // listener its error would end the process.
  pool.on("error", () => undefined);
  return { pool: wrap(pool, true, timeouts), owns: true, where: describeConfig({ ...config, ...pool.options } as PostgresPoolConfig) };
}

function isPool(value: unknown): value is PostgresPoolLike {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as PostgresPoolLike).connect === "function" &&
    typeof (value as PostgresPoolLike).query === "function" &&
    typeof (value as PostgresPoolLike).end === "function"
  );
}

/**
 * The pool as the SQL layer uses it, with deadlines that hold whatever the pool's own
 * settings: a connection within `connectMs` (a pool given may have no connection timeout,
 * and a free connection of a busy pool may never come), and each statement's answer within
 * `queryMs` (`transactionQueryMs` inside a write's transaction), through `pg`'s per-query
 * `query_timeout`. A connection whose statement ran out of time is closed, never reused (its
 * answer may still come).
 */
function wrap(pool: Pool, owns: boolean, timeouts: SqlTimeouts): SqlPool {
  const connect = async (queryMs: number): Promise<PooledConnection> => {
    const client: PoolClient = await withDeadline(pool.connect(), timeouts.connectMs, "with a connection", undefined, (late) => late.release());
    // The server may end the connection while it is checked out (a restart,
    // pg_terminate_backend) between two statements: without a listener the client's
    // error event would end the process. The next statement then fails, coded.
    let lost: unknown;
    const onError = (error: unknown) => {
      lost ??= error;
    };
    client.on("error", onError);
    return {
      query: async (text, params) => {
        if (lost !== undefined) throw lost;
        // query_timeout per statement is pg's (not in its types' QueryConfig).
        const config = { text, values: params as unknown[] | undefined, query_timeout: queryMs } as QueryConfig;
        const result = await client.query(config);
        // A multi-statement text returns one result per statement.
        const last = Array.isArray(result) ? result[result.length - 1] : result;
        return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? null };
      },
      release: (broken) => {
        client.removeListener("error", onError);
        const failed = broken ?? lost;
        client.release(failed === undefined ? undefined : failed instanceof Error ? failed : true);
      },
    };
  };
  return {
    // An autocommit statement: the pool's own (a connection, the statement, the connection
    // given back, or dropped on an error), within both deadlines.
    query: async (text, params) => {
      const config = { text, values: params as unknown[] | undefined, query_timeout: timeouts.queryMs } as QueryConfig;
      const result = await withDeadline(pool.query(config), timeouts.connectMs + timeouts.queryMs, "a statement");
      return { rows: result.rows, rowCount: result.rowCount };
    },
    connect: () => connect(timeouts.transactionQueryMs),
    end: async () => {
      if (owns) await pool.end();
    },
  };
}

/** Where the server is, safe to print: `postgres://host:port/database`, without user or password. */
export function describeConfig(config: PostgresPoolConfig): string {
  let host = config.host;
  let port: string | number | undefined = config.port;
  let database = config.database;
  if (config.connectionString) {
    try {
      const url = new URL(config.connectionString);
      host ??= decodeURIComponent(url.hostname) || undefined;
      port ??= url.port || undefined;
      database ??= decodeURIComponent(url.pathname.slice(1)) || undefined;
    } catch {
      // A key=value string: named by host and database only when given apart.
    }
  }
  const where = host?.startsWith("/") ? `[${host}]` : (host ?? "localhost");
  return `postgres://${where}:${port ?? 5432}/${database ?? ""}`;
}
