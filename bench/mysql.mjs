#!/usr/bin/env node
// The MySQL/MariaDB store against bare queries on the same pool, in one run on one machine:
// warm findToken against one `SELECT 1` round trip, saveToken against a bare one-row UPDATE
// transaction, and a save at 10,000 stored tokens against one at 10. Starts its own MariaDB
// (Debian's mariadb-server, as the tests do) on 127.0.0.1. Not part of `npm test`.
//
//   npm run bench:mysql            build, then a run (about a minute on 2 cores)
//   node bench/mysql.mjs --quick   a short run (numbers not stable)
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { generateKey } from "../dist/index.js";
import { openMysqlStore } from "../dist/mysql.js";

const QUICK = process.argv.includes("--quick");
const N = QUICK ? 60 : 400;

async function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const program = (name) =>
  [name, `/usr/sbin/${name}`, `/usr/bin/${name}`].find((candidate) => {
    try {
      execFileSync(candidate, ["--version"], { stdio: "pipe" });
      return true;
    } catch {
      return false;
    }
  });

async function startServer() {
  if (!program("mariadbd")) throw new Error("mariadbd is not installed: apt-get install -y mariadb-server");
  const dir = mkdtempSync(join(tmpdir(), "zefs-bench-mariadb-"));
  const asRoot = userInfo().uid === 0;
  if (asRoot)
    chownSync(dir, Number(execFileSync("id", ["-u", "mysql"], { encoding: "utf8" })), Number(execFileSync("id", ["-g", "mysql"], { encoding: "utf8" })));
  const user = asRoot ? ["--user=mysql"] : [];
  execFileSync(
    program("mariadb-install-db"),
    ["--no-defaults", ...user, `--datadir=${join(dir, "data")}`, "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
    { stdio: "pipe" },
  );
  const port = await freePort();
  const socketPath = join(dir, "s.sock");
  // Durable commits, as in production (innodb_flush_log_at_trx_commit=1, the default).
  const child = spawn(
    program("mariadbd"),
    [
      "--no-defaults",
      ...user,
      `--datadir=${join(dir, "data")}`,
      `--socket=${socketPath}`,
      `--port=${port}`,
      "--bind-address=127.0.0.1",
      `--tmpdir=${dir}`,
      "--skip-name-resolve",
      `--log-error=${join(dir, "error.log")}`,
      "--skip-log-bin",
    ],
    { stdio: "ignore" },
  );
  for (;;) {
    try {
      await (await mysql.createConnection({ socketPath, user: "root" })).end();
      break;
    } catch {
      if (child.exitCode !== null) throw new Error("mariadbd exited at start");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const password = randomBytes(12).toString("hex");
  const admin = await mysql.createConnection({ socketPath, user: "root" });
  await admin.query(`CREATE USER 'bench'@'127.0.0.1' IDENTIFIED BY '${password}'`);
  await admin.query("GRANT ALL ON *.* TO 'bench'@'127.0.0.1'");
  return {
    async createDatabase(name) {
      await admin.query(`CREATE DATABASE ${name}`);
      return `mysql://bench:${password}@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await admin.end();
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Median and p95 in ms of `n` runs of `task` (after a few warm-up runs). */
async function time(n, task) {
  for (let i = 0; i < Math.min(20, n); i++) await task(i);
  const samples = [];
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await task(i);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(n * 0.5)], p95: samples[Math.floor(n * 0.95)] };
}

const token = (i) => ({
  userName: `user-${i}@example.com`,
  clientId: "1000.CLIENT",
  clientSecret: "secret",
  refreshToken: `1000.rt-${i}`,
  accessToken: `1000.at-${i}`,
  expiryTime: String(Date.now() + 3_600_000),
});

const server = await startServer();
const rows = [];
try {
  const key = generateKey();
  const url = await server.createDatabase("bench");
  const pool = mysql.createPool({ uri: url, connectionLimit: 4 });
  const store = await openMysqlStore({ mysql: pool, key });
  await store.saveToken(token(0));
  await pool.query("CREATE TABLE bare (id int PRIMARY KEY, v blob)");
  await pool.query("INSERT INTO bare VALUES (1, ?)", [randomBytes(300)]);

  const select = await time(N, () => pool.query("SELECT 1"));
  const find = await time(N, () => store.findToken({ userName: "user-0@example.com" }));
  rows.push(["warm findToken", find, "one SELECT 1", select, 1.5]);

  const update = await time(N, async () => {
    const client = await pool.getConnection();
    try {
      await client.query("START TRANSACTION");
      await client.query("UPDATE bare SET v = ? WHERE id = 1", [randomBytes(300)]);
      await client.query("COMMIT");
    } finally {
      client.release();
    }
  });
  const save = await time(N, (i) => store.saveToken({ userName: "user-0@example.com", accessToken: `1000.at-new-${i}` }));
  rows.push(["saveToken", save, "a one-row UPDATE transaction", update, 1.5]);

  const sizes = QUICK ? [10, 1000] : [10, 10_000];
  const at = [];
  for (const size of sizes) {
    const sized = await openMysqlStore({ mysql: pool, key, namespace: `n${size}` });
    for (let start = 0; start < size; start += 500) {
      await Promise.all(Array.from({ length: Math.min(500, size - start) }, (_, j) => sized.saveToken(token(start + j))));
    }
    at.push(await time(Math.min(N, 200), (i) => sized.saveToken({ userName: `user-${i % size}@example.com`, accessToken: `1000.at-x-${i}` })));
    await sized.close();
  }
  rows.push([`save at ${sizes[1]} tokens`, at[1], `save at ${sizes[0]}`, at[0], 3]);
  await store.close();
  await pool.end();
} finally {
  await server.stop();
}

console.log(`MySQL/MariaDB store vs bare queries on the same pool (${N} runs each; p50 / p95 in ms)\n`);
console.log("| measured | p50 | p95 | against | p50 | p95 | ratio (p50) | bound |");
console.log("|---|---:|---:|---|---:|---:|---:|---:|");
let failed = false;
for (const [name, a, other, b, bound] of rows) {
  const ratio = a.p50 / b.p50;
  failed ||= ratio > bound;
  console.log(
    `| ${name} | ${a.p50.toFixed(2)} | ${a.p95.toFixed(2)} | ${other} | ${b.p50.toFixed(2)} | ${b.p95.toFixed(2)} | ${ratio.toFixed(2)}x | <= ${bound}x |`,
  );
}
if (failed) console.log("\nA ratio misses its bound (on a busy machine, run again before believing it).");
