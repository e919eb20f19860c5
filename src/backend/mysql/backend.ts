/**
 * The MySQL/MariaDB backend: options, the connection pool, and the SQL backend on the
 * MySQL dialect. `mysql2` is an optional peer dependency, loaded here only, when a MySQL
 * store is opened: a file-store user installs and loads nothing more.
 *
 * The pool: a connection string or a `mysql2` pool configuration makes a pool this backend
 * owns (and ends on close); an existing `mysql2` pool (promise or callback API) is used as
 * it is and never ended.
 */
import type { Pool as CallbackPool } from "mysql2";
import type { Pool, PoolConnection, PoolOptions } from "mysql2/promise";
import { describeType, TokenStoreError } from "../../errors.js";
import type { SqlBackend } from "../sql/backend.js";
import { withDeadline } from "../sql/deadline.js";
import { openSqlBackend, type SqlTimeouts, sqlCommonOptions, sqlNameOption } from "../sql/open.js";
import type { PooledConnection, SqlNames, SqlPool, SqlRow } from "../sql/dialect.js";
import { flavourOfVersion, mysqlDialect, type FlavouredConnection, type MysqlFlavour } from "./dialect.js";

/**
 * A `mysql2` pool given to the backend: the promise API's pool (`mysql2/promise`
 * `createPool`), or the callback API's, whose `promise()` is used. Typed without `mysql2`,
 * so that the package's main types never name the optional driver.
 */
export interface MysqlPoolLike {
  getConnection: (...args: never[]) => unknown;
  query: (...args: never[]) => unknown;
  end: (...args: never[]) => unknown;
  /** The callback API's pool has it. */
  promise?: (...args: never[]) => unknown;
}

/** A `mysql2` pool configuration (`PoolOptions`; its other fields are passed on as they are). */
export interface MysqlPoolConfig {
  uri?: string;
  host?: string;
  port?: number;
  socketPath?: string;
  user?: string;
  password?: string;
  database?: string;
  connectionLimit?: number;
  connectTimeout?: number;
  ssl?: unknown;
  [option: string]: unknown;
}

/** Where a MySQL or MariaDB store lives. */
export interface MysqlBackendOptions {
  /**
   * The server: a connection string (`mysql://user@host:3306/database`; a password in it is
   * used but never printed), a `mysql2` pool configuration (with `database`), or an existing
   * `mysql2` pool, which the store uses and never ends. The tables live in the
   * connection's database. `undefined` (an environment variable that is not set) is refused
   * with INVALID_OPTION.
   */
  mysql: string | MysqlPoolConfig | MysqlPoolLike | undefined;
  /** The name of the records table; the others are named after it (`<table>_heads`, `_leases`, `_schema`). @default "zoho_tokens" */
  table?: string;
  /** Several stores (apps, environments) in one table, each with its own name. @default "default" */
  namespace?: string;
  /** Create the tables on first use when they are missing (the user must be allowed to). @default true */
  createSchema?: boolean;
  /** Longest wait for another writer of the same namespace before LOCK_TIMEOUT (whole seconds on the server). @default 15000 */
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

export const MYSQL_BACKEND_OPTIONS = ["mysql", "table", "namespace", "createSchema", "lockTimeoutMs", "connectTimeoutMs", "queryTimeoutMs"] as const;

/**
 * Opens (and on first use, creates, when allowed) the MySQL/MariaDB backend. With `check:
 * false` it neither checks nor creates the schema (key-free inspection: `inspect` reports
 * what is there).
 */
export async function openMysqlBackend(options: MysqlBackendOptions, { check = true }: { check?: boolean } = {}): Promise<SqlBackend> {
  if (typeof options !== "object" || options === null) throw new TokenStoreError("INVALID_OPTION", "openMysqlBackend expects an options object");
  const table = sqlNameOption("table", options.table, "zoho_tokens");
  const common = sqlCommonOptions(options, 1_000);
  const { pool, owns, where } = await poolOf(options.mysql, common.timeouts);
  // The schema is the connection's database: it is not part of a record's binding, so a
  // database restored under another name still opens.
  const names: SqlNames = { schema: "", table };
  return openSqlBackend({ dialect: mysqlDialect, pool, owns, where, names, tableName: table, common, check });
}

async function poolOf(given: MysqlBackendOptions["mysql"], timeouts: SqlTimeouts): Promise<{ pool: SqlPool; owns: boolean; where: string }> {
  if (isPromisePool(given)) return { pool: wrap(given as Pool, false, timeouts), owns: false, where: describeMysqlConfig(poolConfig(given)) };
  if (isCallbackPool(given)) {
    const promised = given.promise() as unknown as Pool;
    return { pool: wrap(promised, false, timeouts), owns: false, where: describeMysqlConfig(poolConfig(promised)) };
  }
  let config: PoolOptions;
  if (given === undefined || given === "") {
    throw new TokenStoreError(
      "INVALID_OPTION",
      "mysql is not set (an empty environment variable?): give a connection string, a mysql2 pool configuration or a mysql2 pool",
    );
  }
  if (typeof given === "string") {
    if (!/^(mysql|mariadb):\/\//.test(given)) {
      throw new TokenStoreError(
        "INVALID_OPTION",
        "mysql must be a connection string (mysql://user@host:3306/database), a mysql2 pool configuration or a mysql2 pool",
      );
    }
    let database = "";
    try {
      database = decodeURIComponent(new URL(given).pathname.slice(1));
    } catch {
      throw new TokenStoreError("INVALID_OPTION", "mysql is not a valid connection string (mysql://user@host:3306/database)");
    }
    if (!database) throw new TokenStoreError("INVALID_OPTION", "the mysql connection string names no database (mysql://user@host:3306/database)");
    // mysql2 reads mysql:// only.
    config = { uri: given.replace(/^mariadb:/, "mysql:") };
  } else if (typeof given === "object" && given !== null && !Array.isArray(given)) {
    config = { ...(given as PoolOptions) };
    if (!config.database && !config.uri) throw new TokenStoreError("INVALID_OPTION", "the mysql pool configuration names no database");
  } else {
    throw new TokenStoreError("INVALID_OPTION", `mysql must be a connection string, a mysql2 pool configuration or a mysql2 pool, got ${describeType(given)}`);
  }
  let mysql: typeof import("mysql2/promise");
  try {
    mysql = (await import("mysql2/promise")).default as unknown as typeof import("mysql2/promise");
  } catch (error) {
    throw new TokenStoreError("INVALID_OPTION", "the mysql option needs the mysql2 package: npm install mysql2", { cause: error });
  }
  const pool = mysql.createPool({
    connectionLimit: 10,
    // A server that is down fails a call within this, never hangs it (every statement
    // also has its own deadline, below).
    connectTimeout: timeouts.connectMs,
    // Idle connections are closed by the pool before the server would end them.
    idleTimeout: 10_000,
    maxIdle: 10,
    // No LOAD DATA LOCAL: the store never asks the client to send a file.
    flags: ["-LOCAL_FILES"],
    ...config,
  });
  // An idle connection the server ended (a restart) is dropped by the pool; without a
  // listener its error would end the process.
  (pool as unknown as { on(event: string, listener: () => void): void }).on("error", () => undefined);
  return { pool: wrap(pool, true, timeouts), owns: true, where: describeMysqlConfig(config) };
}

function isPromisePool(value: unknown): value is Pool {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Pool).getConnection === "function" &&
    typeof (value as Pool).query === "function" &&
    typeof (value as Pool).end === "function" &&
    // The callback pool has the same methods, and promise().
    typeof (value as Partial<CallbackPool>).promise !== "function"
  );
}

function isCallbackPool(value: unknown): value is CallbackPool {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as CallbackPool).promise === "function" &&
    typeof (value as CallbackPool).getConnection === "function"
  );
}

function poolConfig(pool: unknown): Partial<PoolOptions> {
  const core = (pool as { pool?: { config?: { connectionConfig?: Partial<PoolOptions> } } }).pool;
  return core?.config?.connectionConfig ?? {};
}

/** A driver result as the SQL layer reads it: rows of a SELECT, or the affected rows of any other statement. */
function result(value: unknown): { rows: SqlRow[]; rowCount: number | null } {
  if (Array.isArray(value)) return { rows: value as SqlRow[], rowCount: value.length };
  const affected = (value as { affectedRows?: unknown } | null)?.affectedRows;
  return { rows: [], rowCount: typeof affected === "number" ? affected : null };
}

/**
 * The pool as the SQL layer uses it, with deadlines that hold whatever the pool's own
 * settings: a connection within `connectMs` (mysql2's pool has no wait limit for a free
 * connection), and each statement's answer within `queryMs` (`transactionQueryMs` inside a
 * write's transaction). The timers are this module's, not the driver's query timeout, whose
 * timer outlives a lost connection and holds a program that closed its store open until it
 * fires. A connection whose statement ran out of time is closed at once (mysql2's `destroy`
 * only half-closes the socket and leaves the statement's promise pending for ever when the
 * server does not answer) and never reused.
 */
function wrap(pool: Pool, owns: boolean, timeouts: SqlTimeouts): SqlPool {
  const run = (connection: PoolConnection, text: string, params: readonly unknown[] | undefined, queryMs: number) =>
    withDeadline(
      connection.query({ sql: text, values: params as unknown[] | undefined }).then(([value]) => result(value)),
      queryMs,
      "a statement",
      () => {
        connection.destroy();
        (connection as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
      },
    );
  // The server's flavour, once per pool: from the greeting of its first connection (the
  // version the server announces), else asked.
  let flavour: Promise<MysqlFlavour> | undefined;
  const flavourOf = (connection: PoolConnection): Promise<MysqlFlavour> => {
    flavour ??= (async () => {
      const greeted = (connection as unknown as { connection?: { _handshakePacket?: { serverVersion?: unknown } } }).connection?._handshakePacket
        ?.serverVersion;
      if (typeof greeted === "string" && greeted !== "") return flavourOfVersion(greeted);
      const { rows } = await run(connection, "SELECT VERSION() AS version", undefined, timeouts.queryMs);
      return flavourOfVersion(String(rows[0]?.version ?? ""));
    })();
    flavour.catch(() => {
      flavour = undefined;
    });
    return flavour;
  };
  const connect = async (queryMs: number): Promise<PooledConnection & FlavouredConnection> => {
    const connection: PoolConnection = await withDeadline(pool.getConnection(), timeouts.connectMs, "with a connection", undefined, (late) => late.release());
    return {
      query: (text, params) => run(connection, text, params, queryMs),
      flavour: () => flavourOf(connection),
      // A connection in an unknown state (a failed statement mid-transaction) is closed, not reused.
      release: (broken) => (broken === undefined ? connection.release() : connection.destroy()),
    };
  };
  return {
    // An autocommit statement: on a connection of the pool, given back after it.
    query: async (text, params) => {
      const connection = await connect(timeouts.queryMs);
      try {
        const value = await connection.query(text, params);
        connection.release();
        return value;
      } catch (error) {
        connection.release(error);
        throw error;
      }
    },
    connect: () => connect(timeouts.transactionQueryMs),
    end: async () => {
      if (owns) await pool.end();
    },
  };
}

/** Where the server is, safe to print: `mysql://host:port/database`, without user or password. */
export function describeMysqlConfig(config: Partial<PoolOptions>): string {
  let host = config.host;
  let port: string | number | undefined = config.port;
  let database = config.database;
  const socket = config.socketPath;
  if (config.uri) {
    try {
      const url = new URL(config.uri);
      host ??= decodeURIComponent(url.hostname) || undefined;
      port ??= url.port || undefined;
      database ??= decodeURIComponent(url.pathname.slice(1)) || undefined;
    } catch {
      // Named by the parts given apart only.
    }
  }
  const where = socket ? `[${socket}]` : (host ?? "localhost");
  return `mysql://${where}${socket ? "" : `:${port ?? 3306}`}/${database ?? ""}`;
}
