/**
 * A real MariaDB server for the tests, started by the test file itself: Debian's
 * `mariadb-server` (`mariadbd`, `mariadb-install-db`), on 127.0.0.1 and a free port, with
 * its data in a temporary directory removed at the end. One server per test file; each
 * test takes a database of its own (`createDatabase`). `mariadb-install-db` takes seconds,
 * so one template data directory is made per machine and MariaDB version (under the
 * temporary directory) and copied for each server.
 *
 * The tests connect as a user with a random password (a secret the leak tests scan for);
 * the harness itself uses root over the server's socket, without a password.
 *
 * `ZOHO_TEST_MYSQL_URL` points the tests at an existing MySQL 8 or MariaDB server instead
 * (`mysql://USER:PASSWORD@HOST:PORT/`, a user that may create databases): then the tests
 * that restart the server, kill its connections, or read its log and dumps are not run,
 * and say so.
 *
 * As root, mariadbd runs as the `mysql` user (`--user=mysql`; it stops at once as root
 * without it). Where mariadbd is not installed, `mariadbUnavailable()` says what to
 * install, and the suites print loudly that they were not run.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { freePort, notRun, program } from "./postgres.js";
import { resumeTree, suspendTree } from "./suspend.js";

export { notRun };

/** The environment variable naming an existing server to use instead of starting one. */
export const EXTERNAL_URL_ENV = "ZOHO_TEST_MYSQL_URL";

export interface MysqlServer {
  /** True for a server this file started (it can be restarted, and its log read). */
  readonly managed: boolean;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The test user's password: a secret, scanned for in the leak tests. */
  readonly password: string;
  /** A connection string for `database` (with the password in it). */
  url(database: string): string;
  /** A new, empty database. */
  createDatabase(prefix?: string): Promise<{ name: string; url: string }>;
  /** Runs SQL as an administrator, in `database` when given. */
  query(sql: string, params?: unknown[], database?: string): Promise<any>;
  /** Everything the server's general log holds so far (managed servers started with `generalLog`). */
  log(): string;
  /** `mariadb-dump` of `database` (managed servers only). */
  dump(database: string): string;
  /** Stops the server (every connection is ended) and starts it again on the same port and data. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Stops the server's process (SIGSTOP): it hangs, its connections open (managed servers only). */
  suspend(): void;
  /** Lets a suspended server go on (SIGCONT); harmless when it is not suspended. */
  resume(): void;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Log every statement the server receives (the general log), for the leak scans. */
  generalLog?: boolean;
}

/** Why no MariaDB can be used here (and what to install), or undefined when one can. */
export function mariadbUnavailable(): string | undefined {
  if (process.env[EXTERNAL_URL_ENV]) return undefined;
  if (!program("mariadbd") || !program("mariadb-install-db")) {
    return `mariadbd is not installed: apt-get install -y mariadb-server (Debian's package; .ci/run installs it), or set ${EXTERNAL_URL_ENV}=mysql://USER:PASSWORD@HOST:PORT/ to use a server of yours`;
  }
  return undefined;
}

/** Prints NOT RUN for `suite` when no server can be used; returns whether it must be skipped. */
export function skipWithoutMariadb(suite: string): boolean {
  const why = mariadbUnavailable();
  if (why) notRun(suite, why);
  return why !== undefined;
}

/** Starts a server (or connects to the one `ZOHO_TEST_MYSQL_URL` names). */
export async function startMariadb(options: StartOptions = {}): Promise<MysqlServer> {
  const external = process.env[EXTERNAL_URL_ENV];
  if (external) return externalServer(external);
  const why = mariadbUnavailable();
  if (why) throw new Error(why);
  return managedServer(options);
}

interface Owner {
  uid: number;
  gid: number;
}

function mysqlUser(): Owner | undefined {
  if (userInfo().uid !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync("id", [flag, "mysql"], { encoding: "utf8", stdio: "pipe" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

/** Server options shared by install-db and the server (the redo log's size must agree). */
const INNODB = ["--innodb-log-file-size=8M", "--innodb-data-file-path=ibdata1:4M:autoextend"];

/** One template data directory per MariaDB version and user, made once and copied per server. */
function templateDirectory(owner: Owner | undefined): string {
  const version = execFileSync(program("mariadbd")!, ["--version"], { encoding: "utf8" })
    .replace(/[^0-9A-Za-z.]+/g, "-")
    .slice(0, 80);
  const template = join(tmpdir(), `zefs-mariadb-template-${userInfo().uid}-${version}`);
  if (existsSync(join(template, "data", "mysql"))) return template;
  const building = mkdtempSync(join(tmpdir(), "zefs-mariadb-build-"));
  if (owner) chownSync(building, owner.uid, owner.gid);
  execFileSync(
    program("mariadb-install-db")!,
    [
      "--no-defaults",
      ...(owner ? ["--user=mysql"] : []),
      `--datadir=${join(building, "data")}`,
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      "--skip-name-resolve",
      ...INNODB,
    ],
    { stdio: "pipe" },
  );
  try {
    renameSync(building, template);
  } catch {
    // Another test file made it first.
    rmSync(building, { recursive: true, force: true });
  }
  return template;
}

async function managedServer(options: StartOptions): Promise<MysqlServer> {
  const owner = mysqlUser();
  const template = templateDirectory(owner);
  const dir = mkdtempSync(join(tmpdir(), "zefs-mariadb-"));
  execFileSync("cp", ["-a", join(template, "data"), join(dir, "data")]);
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const port = await freePort();
  const socketPath = join(dir, "s.sock");
  const args = [
    "--no-defaults",
    ...(owner ? ["--user=mysql"] : []),
    `--datadir=${join(dir, "data")}`,
    `--socket=${socketPath}`,
    `--port=${port}`,
    "--bind-address=127.0.0.1",
    `--tmpdir=${dir}`,
    "--skip-name-resolve",
    `--log-error=${join(dir, "error.log")}`,
    `--pid-file=${join(dir, "mariadbd.pid")}`,
    "--max-connections=400",
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-buffer-pool-size=64M",
    "--skip-log-bin",
    ...INNODB,
    // The general log is switched on once the test user exists (its password is in that statement).
    ...(options.generalLog ? [`--general-log-file=${join(dir, "general.log")}`] : []),
  ];
  let child: ChildProcess | undefined;
  const admin = () => mysql.createConnection({ socketPath, user: "root" });
  const start = async () => {
    await startServer();
    if (options.generalLog) await server.query("SET GLOBAL general_log = ON");
  };
  const startServer = async () => {
    child = spawn(program("mariadbd")!, args, { stdio: "ignore" });
    const exited = child;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited.exitCode !== null || exited.signalCode !== null) {
        throw new Error(`mariadbd exited at start: ${lastLines(join(dir, "error.log"))}`);
      }
      try {
        const connection = await admin();
        await connection.end();
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          exited.kill("SIGKILL");
          throw new Error(`mariadbd did not answer within 60 s: ${(error as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  let suspended: number | undefined;
  const resume = () => {
    if (suspended !== undefined) resumeTree(suspended);
    suspended = undefined;
  };
  const halt = async () => {
    resume();
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill("SIGTERM");
    const timer = setTimeout(() => running.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await startServer();
  } catch (error) {
    await halt();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const user = "zefs";
  const password = randomBytes(12).toString("hex");
  const setup = await admin();
  await setup.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'`);
  await setup.query(`GRANT ALL ON *.* TO '${user}'@'127.0.0.1' WITH GRANT OPTION`);
  await setup.end();
  if (options.generalLog) {
    const logging = await admin();
    await logging.query("SET GLOBAL general_log = ON");
    await logging.end();
  }
  let databases = 0;
  const server: MysqlServer = {
    managed: true,
    host: "127.0.0.1",
    port,
    user,
    password,
    url: (database) => `mysql://${user}:${password}@127.0.0.1:${port}/${database}`,
    async createDatabase(prefix = "t") {
      const name = `${prefix}_${++databases}_${randomBytes(3).toString("hex")}`;
      await server.query(`CREATE DATABASE \`${name}\``);
      return { name, url: server.url(name) };
    },
    async query(sql, params, database) {
      const connection = await mysql.createConnection({ socketPath, user: "root", database });
      try {
        const [rows] = await connection.query(sql, params);
        return rows;
      } finally {
        await connection.end().catch(() => undefined);
      }
    },
    log: () => {
      if (!options.generalLog) throw new Error("the server was started without its general log");
      return readFileSync(join(dir, "general.log"), "latin1");
    },
    dump: (database) =>
      execFileSync(program("mariadb-dump") ?? "mariadb-dump", ["--no-defaults", `--socket=${socketPath}`, "-uroot", "--skip-comments", database], {
        encoding: "latin1",
        maxBuffer: 256 * 1024 * 1024,
      }),
    suspend() {
      if (child?.pid === undefined) throw new Error("the server is not running");
      suspended = child.pid;
      suspendTree(child.pid);
    },
    resume,
    async restart({ downMs = 0 } = {}) {
      await halt();
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

async function externalServer(url: string): Promise<MysqlServer> {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  const base = { host: parsed.hostname, port: Number(parsed.port || 3306), user: decodeURIComponent(parsed.username), password };
  const created: string[] = [];
  const query = async (sql: string, params?: unknown[], database?: string) => {
    const connection = await mysql.createConnection({ ...base, database });
    try {
      const [rows] = await connection.query(sql, params);
      return rows;
    } finally {
      await connection.end().catch(() => undefined);
    }
  };
  try {
    await query("SELECT 1");
  } catch (error) {
    throw new Error(`${EXTERNAL_URL_ENV} names a server that does not answer (${(error as Error).message.split("\n")[0]})`);
  }
  const refuse = (what: string) => () => {
    throw new Error(`a server named by ${EXTERNAL_URL_ENV}: ${what} is not done by the tests`);
  };
  const server: MysqlServer = {
    managed: false,
    host: base.host,
    port: base.port,
    user: base.user,
    password,
    url(database) {
      const next = new URL(url);
      next.pathname = `/${database}`;
      return next.toString();
    },
    async createDatabase(prefix = "t") {
      const name = `zefs_${prefix}_${randomBytes(4).toString("hex")}`;
      await query(`CREATE DATABASE \`${name}\``);
      created.push(name);
      return { name, url: server.url(name) };
    },
    query,
    log: refuse("reading the log"),
    dump: refuse("a dump"),
    restart: async () => refuse("a restart")(),
    suspend: refuse("stopping the server"),
    resume: () => undefined,
    async stop() {
      for (const name of created) await query(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => undefined);
    },
  };
  return server;
}

function lastLines(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-5).join(" | ");
  } catch {
    return "(no error log)";
  }
}
