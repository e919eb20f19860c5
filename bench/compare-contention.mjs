#!/usr/bin/env node
/**
 * Two builds of the package under contention, timed in alternating rounds: N processes
 * (default 8) save at once, each its own user (update) or new users (insert), into one
 * store; each round runs both builds, in turn order flipped every round, so that the load
 * of a shared machine hits both alike. Also checks that every save landed.
 *
 *   git worktree add ../before <commit> && (cd ../before && npm ci && npm run build)
 *   npm run build && node bench/compare-contention.mjs ../before/dist dist [--rounds 4] [--ops 100] [--mode update|insert] [--procs 8]
 *
 * Prints per round and the median over rounds of each build's aggregate rate and p50/p99
 * latency, and their ratios (second ÷ first).
 */
import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeToken, refreshOf } from "./lib/data.mjs";

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === "--child") {
  const job = await new Promise((res) => process.once("message", res));
  const { EncryptedFileStore } = await import(join(job.dist, "index.js"));
  const store = await EncryptedFileStore.open({ path: job.path, key: job.key });
  const user = `proc${job.proc}@example.com`;
  const input = (i) => (job.mode === "update" ? refreshOf([user], i) : makeToken(i, `p${job.proc}-new`));
  process.send("ready");
  await new Promise((res) => process.once("message", res));
  const latencies = [];
  let errors = 0;
  for (let i = 0; i < job.ops; i++) {
    const start = process.hrtime.bigint();
    try {
      await store.saveToken(input(i));
    } catch {
      errors++;
    }
    latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  process.send({ latencies, errors }, () => process.exit(0));
} else {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args[at + 1] : fallback;
  };
  const [firstDir, secondDir] = args.filter((arg, i) => !arg.startsWith("--") && !args[i - 1]?.startsWith("--"));
  if (!firstDir || !secondDir) {
    console.error("usage: node bench/compare-contention.mjs <first dist/> <second dist/> [--rounds N] [--ops N] [--mode update|insert] [--procs N]");
    process.exit(2);
  }
  const rounds = Number(option("rounds", 4));
  const ops = Number(option("ops", 100));
  const procs = Number(option("procs", 8));
  const mode = option("mode", "update");
  const dists = { first: resolve(firstDir), second: resolve(secondDir) };
  const { generateKey } = await import(join(dists.second, "index.js"));
  const key = generateKey();
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const quantile = (values, q) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))];

  async function runOnce(dist) {
    const dir = mkdtempSync(join(tmpdir(), "zefs-contention-"));
    try {
      const path = join(dir, "tokens.enc");
      const { EncryptedFileStore } = await import(join(dist, "index.js"));
      const seed = await EncryptedFileStore.open({ path, key });
      await Promise.all(Array.from({ length: 10 }, (_, i) => seed.saveToken(makeToken(i, "proc"))));
      const before = (await seed.verify()).generation;
      const children = Array.from({ length: procs }, () => fork(self, ["--child"], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
      const ready = children.map((child) => new Promise((res) => child.once("message", res)));
      children.forEach((child, proc) => child.send({ dist, path, key, proc, ops, mode }));
      await Promise.all(ready);
      const done = children.map((child) => new Promise((res) => child.once("message", res)));
      const start = process.hrtime.bigint();
      for (const child of children) child.send("go");
      const results = await Promise.all(done);
      const wallS = Number(process.hrtime.bigint() - start) / 1e9;
      const latencies = results.flatMap((r) => r.latencies);
      const errors = results.reduce((sum, r) => sum + r.errors, 0);
      const check = await EncryptedFileStore.open({ path, key });
      const writes = (await check.verify()).generation - before;
      return {
        rate: (procs * ops - errors) / wallS,
        p50: quantile(latencies, 0.5),
        p99: quantile(latencies, 0.99),
        errors,
        lost: procs * ops - errors - writes,
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const results = { first: [], second: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ["first", "second"] : ["second", "first"];
    for (const which of order) {
      const r = await runOnce(dists[which]);
      results[which].push(r);
      console.log(
        `round ${round + 1} ${which}: ${r.rate.toFixed(0)} saves/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.errors} failed, ${r.lost} lost`,
      );
    }
  }
  const summary = (which, field) => median(results[which].map((r) => r[field]));
  console.log(`\n${procs} processes x ${ops} saves (${mode}), median of ${rounds} rounds:`);
  for (const field of ["rate", "p50", "p99"]) {
    const a = summary("first", field);
    const b = summary("second", field);
    console.log(`  ${field.padEnd(4)}  first ${a.toFixed(1).padStart(8)}  second ${b.toFixed(1).padStart(8)}  second ÷ first ${(b / a).toFixed(2)}x`);
  }
}
