#!/usr/bin/env node
// The benchmark: this store against the Zoho SDK's own FileStore, better-sqlite3 and
// the raw durable-write floor, all measured in one run on one machine, so that the
// ratios mean something even on a busy machine. Not part of `npm test`.
//
//   npm run bench                      build, then a full run (a few minutes on 2 cores)
//   node bench/run.mjs --quick         short smoke run (numbers not stable)
//   node bench/run.mjs --json FILE --markdown FILE --only find,save --dir DIR
//
// One file per case in cases/, the subjects in subjects/, timing and the report in
// lib/, forked processes in children/. better-sqlite3 is this folder's own dependency
// (package.json here), installed on first use.
import * as fs from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import * as find from "./cases/find.mjs";
import * as memory from "./cases/memory.mjs";
import * as multi from "./cases/multi.mjs";
import * as passphrase from "./cases/passphrase.mjs";
import * as save from "./cases/save.mjs";
import * as scale from "./cases/scale.mjs";
import { ensureDependencies } from "./lib/install.mjs";
import { loadAverage, machine } from "./lib/machine.mjs";
import { DIST, DIST_INTERNAL } from "./lib/paths.mjs";
import { printCase, writeJson, writeMarkdown } from "./lib/report.mjs";
import { loadStore } from "./subjects/store.mjs";

/** The cases, in the order they run. */
const CASES = { find, save, multi, scale, memory, passphrase };

function parseArgs(argv) {
  const args = { json: undefined, markdown: undefined, only: undefined, quick: false, dir: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === "--json") args.json = value();
    else if (arg === "--markdown") args.markdown = value();
    else if (arg === "--only") args.only = value().split(",");
    else if (arg === "--quick") args.quick = true;
    else if (arg === "--dir") args.dir = value();
    else if (arg === "--help" || arg === "-h") {
      console.log(`usage: node bench/run.mjs [--json FILE] [--markdown FILE] [--only ${Object.keys(CASES).join(",")}] [--quick] [--dir DIR]`);
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}`);
  }
  for (const name of args.only ?? []) if (!(name in CASES)) throw new Error(`unknown case ${name} (cases: ${Object.keys(CASES).join(", ")})`);
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  for (const file of [DIST, DIST_INTERNAL]) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run build (npm run bench does)`);
  }
  ensureDependencies();

  const base = fs.mkdtempSync(join(args.dir ?? os.tmpdir(), "zefs-bench-"));
  fs.chmodSync(base, 0o700);
  const { generateKey } = await loadStore();
  const ctx = {
    quick: args.quick,
    key: generateKey(),
    mkdir(name) {
      const dir = join(base, name);
      fs.mkdirSync(dir, { mode: 0o700 });
      return dir;
    },
  };
  const info = machine(base);
  const started = Date.now();
  console.log("zoho-encrypted-filestore benchmark");
  console.log(`machine: ${info.cpu}, ${info.cores} cores, ${info.memory} RAM, ${info.os}`);
  console.log(`node ${info.node}; temp dir ${info.tempDir} on ${info.fileSystem}`);
  console.log(
    `better-sqlite3 ${info.versions["better-sqlite3"]} (SQLite ${info.versions.sqlite}); @zohocrm/nodejs-sdk-8.0 ${info.versions["@zohocrm/nodejs-sdk-8.0"]}`,
  );
  console.log(`load average at start: ${info.loadAverageAtStart}${args.quick ? "; --quick: short run, numbers not stable" : ""}`);

  const results = [];
  try {
    for (const [name, { run }] of Object.entries(CASES)) {
      if (args.only && !args.only.includes(name)) continue;
      const result = await run(ctx);
      printCase(result);
      results.push(result);
    }
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
  info.loadAverageAtEnd = loadAverage();
  const seconds = (Date.now() - started) / 1000;
  const failed = results.flatMap((r) => r.targets.filter((t) => !t.pass).map((t) => `${r.id}: ${t.text}`));
  console.log(
    `\n${results.reduce((n, r) => n + r.targets.length, 0) - failed.length} targets met, ${failed.length} missed; ${seconds.toFixed(0)} s; load average at end: ${info.loadAverageAtEnd}`,
  );
  for (const f of failed) console.log(`  missed: ${f}`);

  const report = { command: `node bench/run.mjs ${process.argv.slice(2).join(" ")}`.trim(), started, seconds, machine: info, results };
  if (args.json) {
    writeJson(args.json, report);
    console.log(`wrote ${args.json}`);
  }
  if (args.markdown) {
    writeMarkdown(args.markdown, report);
    console.log(`wrote ${args.markdown}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
