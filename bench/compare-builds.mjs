#!/usr/bin/env node
/**
 * Two builds of the package in one process, timed in alternating rounds: is a change
 * slower? Each round runs both builds, in turn order flipped every round, so that the
 * load of a shared machine hits both alike.
 *
 *   git worktree add ../before <commit> && (cd ../before && npm ci && npm run build)
 *   npm run build && node bench/compare-builds.mjs ../before/dist dist
 *
 * Prints, for findToken (100 tokens) and saveToken (10, 1,000 and 10,000 tokens), the
 * median over rounds of each build's mean time, and their ratio (second ÷ first).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const [firstDir, secondDir] = process.argv.slice(2);
if (!firstDir || !secondDir) {
  console.error("usage: node bench/compare-builds.mjs <first dist/> <second dist/>");
  process.exit(2);
}
const builds = { first: await import(join(resolve(firstDir), "index.js")), second: await import(join(resolve(secondDir), "index.js")) };
const key = builds.second.generateKey();
const dirs = [];
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function store(build, count) {
  const dir = mkdtempSync(join(tmpdir(), "zefs-compare-"));
  dirs.push(dir);
  const opened = await build.EncryptedFileStore.open({ path: join(dir, "t.enc"), key });
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      opened.saveToken({
        userName: `u${i}@example.com`,
        refreshToken: `1000.rt-${i}-${"r".repeat(40)}`,
        accessToken: `1000.at-${i}-${"a".repeat(40)}`,
        clientId: "1000.CLIENTID",
        clientSecret: "s".repeat(30),
        expiryTime: String(2e12),
        apiDomain: "https://www.zohoapis.com",
      }),
    ),
  );
  return opened;
}

/** Alternating rounds of `run(store, round)` (ops calls each) on both builds; mean ns per call per round. */
async function compare(label, count, ops, rounds, run) {
  const stores = { first: await store(builds.first, count), second: await store(builds.second, count) };
  const times = { first: [], second: [] };
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 ? ["first", "second"] : ["second", "first"]) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < ops; i++) await run(stores[name], round, i);
      times[name].push(Number(process.hrtime.bigint() - start) / ops);
    }
  }
  const [a, b] = [median(times.first), median(times.second)];
  const unit = a > 1e6 ? [1e6, "ms"] : [1e3, "µs"];
  console.log(
    `${label.padEnd(36)} ${(a / unit[0]).toFixed(2).padStart(8)} ${unit[1]}  ${(b / unit[0]).toFixed(2).padStart(8)} ${unit[1]}  ${(b / a).toFixed(3)}x`,
  );
}

console.log(`${"".padEnd(36)} ${"first".padStart(11)}  ${"second".padStart(11)}  second ÷ first`);
await compare("findToken, 100 tokens", 100, 5000, 20, (s, _round, i) => s.findToken({ userName: `u${i % 100}@example.com` }));
for (const [count, ops, rounds] of [
  [10, 20, 20],
  [1000, 10, 10],
  [10_000, 4, 8],
]) {
  await compare(`saveToken, ${count.toLocaleString("en")} tokens`, count, ops, rounds, (s, round, i) =>
    s.saveToken({ userName: `u${i}@example.com`, accessToken: `1000.at-${round}-${i}` }),
  );
}
for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
