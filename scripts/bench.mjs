#!/usr/bin/env node
// The benchmark: this store against the Zoho SDK's own FileStore, better-sqlite3 and
// the raw durable-write floor, all measured in one run on one machine, so that the
// ratios mean something even on a busy machine. Not part of `npm test`.
//
//   npm run bench                      full run (a few minutes on 2 cores)
//   node scripts/bench.mjs --quick     short smoke run (numbers not stable)
//   node scripts/bench.mjs --json FILE --markdown FILE --only find,save --dir DIR
//
// Every timed operation is timed on its own (process.hrtime.bigint), subjects are
// interleaved in rounds so that a burst of load from elsewhere hits all of them, and
// each case reports the median and the 99th percentile.
import { fork, execFileSync } from "node:child_process";
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..");
const DIST = join(ROOT, "dist", "index.js");
const require = createRequire(import.meta.url);

// ---- command line ------------------------------------------------------------

function parseArgs(argv) {
  const args = { json: undefined, markdown: undefined, only: undefined, quick: false, dir: undefined, child: undefined, rest: {} };
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
    else if (arg === "--child") args.child = value();
    else if (arg === "--help" || arg === "-h") {
      console.log("usage: node scripts/bench.mjs [--json FILE] [--markdown FILE] [--only find,save,multi,scale,memory,passphrase] [--quick] [--dir DIR]");
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}`);
  }
  return args;
}

// ---- test data ---------------------------------------------------------------

function hex(tag, i, length) {
  return createHash("sha256").update(`${tag}:${i}`).digest("hex").slice(0, length);
}

/** A token shaped like Zoho's: 70-character refresh and access tokens, one client. */
function makeToken(i, prefix = "user") {
  return {
    userName: `${prefix}${i}@example.com`,
    clientId: `1000.${hex("client", 0, 30).toUpperCase()}`,
    clientSecret: hex("secret", 0, 42),
    refreshToken: `1000.${hex("refresh-a", `${prefix}${i}`, 32)}.${hex("refresh-b", `${prefix}${i}`, 32)}`,
    accessToken: accessToken(`${prefix}${i}`, 0),
    grantToken: null,
    expiryTime: String(1_800_000_000_000 + i),
    redirectUrl: "https://example.com/oauth/callback",
    apiDomain: "https://www.zohoapis.com",
  };
}

/** A fresh access token, always 70 characters, so a refresh never changes the file's size. */
function accessToken(user, n) {
  return `1000.${hex("access-a", `${user}:${n}`, 32)}.${hex("access-b", `${user}:${n}`, 32)}`;
}

const COLUMNS = ["id", "user_name", "client_id", "client_secret", "refresh_token", "access_token", "grant_token", "expiry_time", "redirect_url", "api_domain"];

function tokenRow(id, t) {
  return [id, t.userName, t.clientId, t.clientSecret, t.refreshToken, t.accessToken, t.grantToken, t.expiryTime, t.redirectUrl, t.apiDomain];
}

// ---- the subjects ------------------------------------------------------------

let storeModule;
async function loadStore() {
  storeModule ??= await import(DIST);
  return storeModule;
}

async function openStore(path, key, extra = {}) {
  const { EncryptedFileStore } = await loadStore();
  return EncryptedFileStore.open({ path, key, ...extra });
}

/** Fills a store with `count` tokens in one batch (queued saves share one write). */
async function seedStore(store, count, prefix = "user") {
  await Promise.all(Array.from({ length: count }, (_, i) => store.saveToken(makeToken(i, prefix))));
}

/**
 * better-sqlite3 with the seed article's table (`oauthtoken`, its 10 columns, primary
 * key id, no other index) but parameterised, prepared statements.
 */
function openSqlite(path, { busyTimeout = 0 } = {}) {
  const Database = require("better-sqlite3");
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  if (busyTimeout) db.pragma(`busy_timeout = ${busyTimeout}`);
  db.exec(
    "CREATE TABLE IF NOT EXISTS oauthtoken (id varchar(10) NOT NULL, user_name varchar(255), client_id varchar(255), client_secret varchar(255), " +
      "refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), " +
      "api_domain varchar(255), primary key (id))",
  );
  const byId = db.prepare("SELECT * FROM oauthtoken WHERE id = ?");
  const byUser = db.prepare("SELECT * FROM oauthtoken WHERE user_name = ? LIMIT 1");
  const update = db.prepare(
    "UPDATE oauthtoken SET client_id = ?, client_secret = ?, refresh_token = ?, access_token = ?, grant_token = ?, expiry_time = ?, redirect_url = ?, api_domain = ? WHERE user_name = ?",
  );
  const insert = db.prepare(`INSERT INTO oauthtoken (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`);
  const nextId = db.prepare("SELECT COALESCE(MAX(CAST(id AS INTEGER)), 0) + 1 AS next FROM oauthtoken").pluck();
  const count = db.prepare("SELECT COUNT(*) FROM oauthtoken").pluck();
  // The seed's save_token: update the row of this user, else insert one with a new id.
  const saveTx = db.transaction((t) => {
    const info = update.run(t.clientId, t.clientSecret, t.refreshToken, t.accessToken, t.grantToken, t.expiryTime, t.redirectUrl, t.apiDomain, t.userName);
    if (info.changes === 0) insert.run(...tokenRow(String(nextId.get()), t));
  });
  return {
    db,
    findById: (id) => byId.get(id),
    findByUser: (userName) => byUser.get(userName),
    // IMMEDIATE: the write lock is taken (waiting up to busy_timeout) before the read.
    save: (t) => saveTx.immediate(t),
    count: () => count.get(),
    seed(tokens) {
      db.transaction(() => tokens.forEach((t, i) => insert.run(...tokenRow(String(i + 1), t))))();
    },
    close: () => db.close(),
  };
}

let sdkModule;
async function loadSdk() {
  sdkModule ??= await import("@zohocrm/nodejs-sdk-8.0");
  return sdkModule;
}

/** The SDK's OAuthToken for a token, built as the SDK builds it (user signature for the user name). */
function sdkToken(sdk, t) {
  const token = Reflect.construct(sdk.OAuthToken, []);
  if (t.userName) token.setUserSignature(new sdk.UserSignature(t.userName));
  if (t.clientId) token.setClientId(t.clientId);
  if (t.clientSecret) token.setClientSecret(t.clientSecret);
  if (t.refreshToken) token.setRefreshToken(t.refreshToken);
  if (t.accessToken) token.setAccessToken(t.accessToken);
  if (t.expiryTime) token.setExpiresIn(t.expiryTime);
  if (t.redirectUrl) token.setRedirectURL(t.redirectUrl);
  if (t.apiDomain) token.setAPIDomain(t.apiDomain);
  return token;
}

function sdkQuery(sdk, userName) {
  const token = Reflect.construct(sdk.OAuthToken, []);
  token.setUserSignature(new sdk.UserSignature(userName));
  return token;
}

/**
 * The floor for one durable replacement of `bytes`: take an mkdir lock, write a temp
 * file (open, write, fsync, close), rename it over the target, fsync the directory,
 * release the lock. No library, no checks.
 */
function makeFloor(dir, size) {
  const target = join(dir, "floor.bin");
  const temp = join(dir, "floor.bin.tmp");
  const lock = join(dir, "floor.bin.lock");
  const bytes = randomBytes(size);
  return () => {
    fs.mkdirSync(lock);
    const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
    fs.writeSync(fd, bytes, 0, bytes.length, 0);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(temp, target);
    const dfd = fs.openSync(dir, fs.constants.O_RDONLY);
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
    fs.rmdirSync(lock);
  };
}

// ---- timing ------------------------------------------------------------------

function isThenable(value) {
  return value !== null && typeof value === "object" && typeof value.then === "function";
}

/**
 * Times every operation of every subject, interleaving the subjects in rounds (the
 * order rotates each round). A subject: { name, run(i), ops (per round), prepare?(n) }.
 * `prepare` runs untimed before a subject's turn in a round (to build inputs).
 */
async function timeInterleaved(subjects, { rounds, warmup = 0 }) {
  const counters = new Map(subjects.map((s) => [s, 0]));
  const samples = new Map(subjects.map((s) => [s, []]));
  const runOne = async (subject, record) => {
    const n = counters.get(subject);
    counters.set(subject, n + 1);
    const start = process.hrtime.bigint();
    const result = subject.run(n);
    if (isThenable(result)) await result;
    const elapsed = Number(process.hrtime.bigint() - start);
    if (record) samples.get(subject).push(elapsed);
  };
  for (const subject of subjects) {
    const count = Math.min(warmup, subject.ops * 2);
    if (subject.prepare) await subject.prepare(count);
    for (let i = 0; i < count; i++) await runOne(subject, false);
  }
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const subject = subjects[(k + round) % subjects.length];
      if (subject.prepare) await subject.prepare(subject.ops);
      for (let i = 0; i < subject.ops; i++) await runOne(subject, true);
    }
  }
  return new Map(subjects.map((s) => [s.name, summarize(samples.get(s))]));
}

function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  let sum = 0;
  for (const v of sorted) sum += v;
  return { ops: sorted.length, medianNs: at(0.5), p99Ns: at(0.99), meanNs: sum / sorted.length, maxNs: sorted[sorted.length - 1] };
}

function formatNs(ns) {
  if (ns === undefined || Number.isNaN(ns)) return "-";
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e4) return `${(ns / 1e3).toFixed(2)} µs`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e7) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e6).toFixed(1)} ms`;
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

function formatRatio(r) {
  if (r === undefined || !Number.isFinite(r)) return "-";
  if (r >= 100) return `${r.toFixed(0)}x`;
  if (r >= 10) return `${r.toFixed(1)}x`;
  return `${r.toFixed(2)}x`;
}

// ---- a case's result -------------------------------------------------------

/**
 * One case: rows (subject, median, p99, ops, and "÷ store", this store's median over
 * the row's), notes, and targets checked against the numbers of this run.
 */
class CaseResult {
  constructor(id, title) {
    this.id = id;
    this.title = title;
    this.rows = [];
    this.targets = [];
    this.notes = [];
    this.extra = {};
  }

  row(subject, stats, { ref, unit = "time", ...more } = {}) {
    this.rows.push({ subject, ...stats, ref, unit, ...more });
    return this;
  }

  target(text, pass, detail) {
    this.targets.push({ text, pass, detail });
    return this;
  }

  note(text) {
    this.notes.push(text);
    return this;
  }
}

function ratioAgainst(rows, row) {
  if (!row.ref) return undefined;
  const ref = rows.find((r) => r.subject === row.ref);
  if (!ref || !ref.medianNs || !row.medianNs) return undefined;
  return ref.medianNs / row.medianNs;
}

function printCase(result) {
  const lines = [];
  lines.push("", `== ${result.title}`);
  const table = [["subject", "median", "p99", "ops", "ours ÷ this"]];
  for (const row of result.rows) {
    if (row.unit === "rate") {
      table.push([row.subject, `${row.rate.toFixed(0)} ops/s`, `p99 ${formatNs(row.p99Ns)}`, String(row.ops), row.ref ? formatRatio(ratioAgainst(result.rows, row)) : "-"]);
    } else {
      table.push([row.subject, formatNs(row.medianNs), formatNs(row.p99Ns), String(row.ops), row.ref ? formatRatio(ratioAgainst(result.rows, row)) : "-"]);
    }
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  for (const [i, r] of (table.length > 1 ? table : []).entries()) {
    lines.push("  " + r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  "));
    if (i === 0) lines.push("  " + widths.map((w) => "-".repeat(w)).join("  "));
  }
  for (const note of result.notes) lines.push(`  note: ${note}`);
  for (const t of result.targets) lines.push(`  [${t.pass ? "PASS" : "FAIL"}] ${t.text}: ${t.detail}`);
  console.log(lines.join("\n"));
}

function markdownCase(result) {
  const lines = [`### ${result.title}`, ""];
  if (result.rows.length > 0) lines.push("| subject | median | p99 | ops | ours ÷ this |", "|---|--:|--:|--:|--:|");
  for (const row of result.rows) {
    const ratio = row.ref ? formatRatio(ratioAgainst(result.rows, row)) : "";
    if (row.unit === "rate") lines.push(`| ${row.subject} | ${row.rate.toFixed(0)} ops/s (save median ${formatNs(row.medianNs)}) | ${formatNs(row.p99Ns)} | ${row.ops} | ${ratio} |`);
    else lines.push(`| ${row.subject} | ${formatNs(row.medianNs)} | ${formatNs(row.p99Ns)} | ${row.ops} | ${ratio} |`);
  }
  lines.push("");
  for (const note of result.notes) lines.push(`- ${note}`);
  for (const t of result.targets) lines.push(`- **${t.pass ? "PASS" : "FAIL"}** ${t.text}: ${t.detail}`);
  lines.push("");
  return lines.join("\n");
}

// ---- the cases ---------------------------------------------------------------

const USERS_FIND = 100;

async function caseFind(ctx) {
  const dir = ctx.mkdir("find");
  const tokens = Array.from({ length: USERS_FIND }, (_, i) => makeToken(i));
  const users = tokens.map((t) => t.userName);

  const storePath = join(dir, "store.enc");
  const store = await openStore(storePath, ctx.key);
  await seedStore(store, USERS_FIND);
  const ids = (await store.getTokens()).map((r) => r.id);

  const sqlite = openSqlite(join(dir, "sqlite.db"));
  sqlite.seed(tokens);

  const sdk = await loadSdk();
  const csv = join(dir, "sdk.csv");
  const fileStore = new sdk.FileStore(csv);
  for (const t of tokens) await fileStore.saveToken(sdkToken(sdk, t));

  // Each subject must answer correctly before it is timed.
  const u = users[37];
  if ((await store.findToken({ userName: u }))?.userName !== u) throw new Error("store findToken: wrong answer");
  if ((await store.findTokenById(ids[37]))?.userName !== u) throw new Error("store findTokenById: wrong answer");
  if (sqlite.findById(ids[37])?.user_name !== u) throw new Error("sqlite by id: wrong answer");
  if (sqlite.findByUser(u)?.user_name !== u) throw new Error("sqlite by user: wrong answer");
  if ((await fileStore.findToken(sdkQuery(sdk, u)))?.getAccessToken() !== tokens[37].accessToken) throw new Error("SDK FileStore: wrong answer");

  // Lookups cycle through every stored user, in the same order for every subject.
  const order = Array.from({ length: USERS_FIND }, (_, i) => (i * 37) % USERS_FIND);
  let sdkQueries = [];
  const fast = ctx.quick ? 500 : 4000;
  const stats = await timeInterleaved(
    [
      { name: "this store: findToken (by user name)", ops: fast, run: (i) => store.findToken({ userName: users[order[i % USERS_FIND]] }) },
      { name: "this store: findTokenById", ops: fast, run: (i) => store.findTokenById(ids[order[i % USERS_FIND]]) },
      // The revalidation alone, which every warm read pays: the floor of any read that
      // notices another process's write at once.
      { name: "floor: fs.statSync of the store file", ops: fast, run: () => fs.statSync(storePath, { bigint: true, throwIfNoEntry: false }) },
      { name: "better-sqlite3: point query by id (primary key)", ops: fast, run: (i) => sqlite.findById(ids[order[i % USERS_FIND]]) },
      { name: "better-sqlite3: query by user_name (seed schema, no index)", ops: fast, run: (i) => sqlite.findByUser(users[order[i % USERS_FIND]]) },
      {
        name: "SDK FileStore.findToken (by user name)",
        ops: ctx.quick ? 50 : 300,
        // The SDK fills in the token it is given, so every call gets a new one, built untimed.
        prepare: (n) => {
          sdkQueries = Array.from({ length: n }, (_, i) => sdkQuery(sdk, users[order[i % USERS_FIND]]));
        },
        run: (i) => fileStore.findToken(sdkQueries[i % sdkQueries.length]),
      },
    ],
    { rounds: ctx.quick ? 3 : 15, warmup: 2000 },
  );
  sqlite.close();

  const r = new CaseResult("find", `warm findToken, ${USERS_FIND} tokens stored (file unchanged, revalidated by stat on every call)`);
  const main = "this store: findToken (by user name)";
  for (const [name, s] of stats) r.row(name, s, { ref: name === main ? undefined : main });
  const ours = stats.get(main);
  const byId = stats.get("this store: findTokenById");
  const pk = stats.get("better-sqlite3: point query by id (primary key)");
  const sdkStats = stats.get("SDK FileStore.findToken (by user name)");
  r.target("findToken median <= better-sqlite3 point query median", ours.medianNs <= pk.medianNs, `${formatNs(ours.medianNs)} vs ${formatNs(pk.medianNs)} (${formatRatio(ours.medianNs / pk.medianNs)})`);
  r.target("findTokenById median <= better-sqlite3 point query median", byId.medianNs <= pk.medianNs, `${formatNs(byId.medianNs)} vs ${formatNs(pk.medianNs)} (${formatRatio(byId.medianNs / pk.medianNs)})`);
  const statStats = stats.get("floor: fs.statSync of the store file");
  r.target(
    "SDK FileStore.findToken >= 50x findToken (medians)",
    sdkStats.medianNs >= 50 * ours.medianNs,
    `${formatRatio(sdkStats.medianNs / ours.medianNs)} slower (the stat alone: ${formatRatio(sdkStats.medianNs / statStats.medianNs)}; findToken = stat + ${formatNs(ours.medianNs - statStats.medianNs)})`,
  );
  r.note("this store takes a plain token object and returns a copy of the record; the SDK's FileStore is given its own OAuthToken (built untimed) and fills it in.");
  return r;
}

const USERS_SAVE = 10;

async function caseSave(ctx) {
  const dir = ctx.mkdir("save");
  const tokens = Array.from({ length: USERS_SAVE }, (_, i) => makeToken(i));
  const users = tokens.map((t) => t.userName);

  const storePath = join(dir, "store", "tokens.enc");
  const store = await openStore(storePath, ctx.key);
  await seedStore(store, USERS_SAVE);
  const fileBytes = fs.statSync(storePath).size;

  const sqlite = openSqlite(join(dir, "sqlite.db"));
  sqlite.seed(tokens);

  const sdk = await loadSdk();
  const fileStore = new sdk.FileStore(join(dir, "sdk.csv"));
  for (const t of tokens) await fileStore.saveToken(sdkToken(sdk, t));

  const floorDir = join(dir, "floor");
  fs.mkdirSync(floorDir, { mode: 0o700 });
  const floor = makeFloor(floorDir, fileBytes);

  // A refresh: new access token and expiry for one of the users, in turn.
  const refresh = (i) => ({ userName: users[i % USERS_SAVE], accessToken: accessToken(users[i % USERS_SAVE], i + 1), expiryTime: String(1_900_000_000_000 + i) });
  let sdkTokens = [];
  const ops = ctx.quick ? 10 : 40;
  const stats = await timeInterleaved(
    [
      { name: "this store: saveToken (durable)", ops, run: (i) => store.saveToken(refresh(i)) },
      { name: "floor: mkdir lock + open/write/fsync/close/rename + dir fsync", ops, run: floor },
      { name: "better-sqlite3: upsert (WAL, synchronous=FULL)", ops, run: (i) => sqlite.save({ ...tokens[i % USERS_SAVE], ...refresh(i) }) },
      {
        name: "SDK FileStore.saveToken (writeFileSync, no fsync: not durable)",
        ops,
        prepare: (n) => {
          sdkTokens = Array.from({ length: n }, (_, i) => sdkToken(sdk, refresh(i)));
        },
        run: (i) => fileStore.saveToken(sdkTokens[i % sdkTokens.length]),
      },
    ],
    { rounds: ctx.quick ? 3 : 20, warmup: 20 },
  );
  sqlite.close();
  const check = await store.findToken({ userName: users[3] });
  if (!check || check.accessToken.length !== 70) throw new Error("store saveToken: wrong result");

  const r = new CaseResult("save", `durable saveToken, ${USERS_SAVE} tokens stored (${formatBytes(fileBytes)} sealed file)`);
  const main = "this store: saveToken (durable)";
  for (const [name, s] of stats) r.row(name, s, { ref: name === main ? undefined : main });
  const ours = stats.get(main);
  const floorStats = stats.get("floor: mkdir lock + open/write/fsync/close/rename + dir fsync");
  r.target("saveToken median <= 1.5x floor median", ours.medianNs <= 1.5 * floorStats.medianNs, `${formatRatio(ours.medianNs / floorStats.medianNs)} (${formatNs(ours.medianNs)} vs ${formatNs(floorStats.medianNs)})`);
  r.note(`the floor writes the same ${fileBytes} bytes; this store also keeps ${"`<file>.prev`"} (a hard link), checks the file's identity before the rename and fsyncs file and directory.`);
  ctx.saveFileBytes = fileBytes;
  return r;
}

// -- several processes -------------------------------------------------------

const PROCS = 8;

async function caseMulti(ctx) {
  const ops = ctx.quick ? 30 : 200;
  const r = new CaseResult("multi", `${PROCS} processes x ${ops} saves at once`);
  for (const mode of ["update", "insert"]) {
    for (const subject of ["store", "sqlite", "sdk"]) {
      const dir = ctx.mkdir(`multi-${mode}-${subject}`);
      const outcome = await runMulti(ctx, { dir, subject, mode, ops });
      const label = {
        store: "this store",
        sqlite: "better-sqlite3 (WAL, synchronous=FULL, busy_timeout)",
        sdk: "SDK FileStore (no lock, not durable)",
      }[subject];
      const name = `${mode === "update" ? "refresh own user" : "insert new users"}: ${label}`;
      r.row(name, { ...outcome.stats, rate: outcome.rate }, { unit: "rate", ref: undefined, check: outcome.check, errors: outcome.errors });
      r.note(`${name}: ${outcome.check.text}${outcome.errors ? `; ${outcome.errors} operations failed` : ""}`);
      if (subject === "store") r.target(`${mode}: no lost update, no failed save (this store)`, outcome.check.ok && outcome.errors === 0, outcome.check.text);
      if (subject === "sqlite") {
        const ours = r.rows.find((row) => row.subject.startsWith(mode === "update" ? "refresh own user: this store" : "insert new users: this store"));
        r.note(`${mode}: aggregate rate, this store ÷ better-sqlite3: ${formatRatio(ours.rate / outcome.rate)}`);
        r.extra[`${mode}RateRatio`] = ours.rate / outcome.rate;
      }
    }
  }
  r.note("refresh: each process updates its own user's token (10 tokens stored); lost updates show as a generation count below the number of saves or a wrong final value. insert: every save adds a new user, so the file grows to 1,610 tokens; a lost update shows as a missing user.");
  return r;
}

async function runMulti(ctx, { dir, subject, mode, ops }) {
  const seed = Array.from({ length: 10 }, (_, i) => makeToken(i, "proc"));
  const path = join(dir, subject === "store" ? "tokens.enc" : subject === "sqlite" ? "tokens.db" : "tokens.csv");
  let startGeneration = 0;
  if (subject === "store") {
    const store = await openStore(path, ctx.key);
    await seedStore(store, 10, "proc");
    startGeneration = (await store.verify()).generation;
  } else if (subject === "sqlite") {
    const db = openSqlite(path);
    db.seed(seed);
    db.close();
  } else {
    const sdk = await loadSdk();
    const fileStore = new sdk.FileStore(path);
    for (const t of seed) await fileStore.saveToken(sdkToken(sdk, t));
  }
  const children = Array.from({ length: PROCS }, (_, proc) =>
    fork(fileURLToPath(import.meta.url), ["--child", "multi"], { stdio: ["ignore", "inherit", "inherit", "ipc"] }),
  );
  const ready = children.map((child) => new Promise((res, rej) => {
    child.once("message", res);
    child.once("error", rej);
    child.once("exit", (code) => code !== 0 && rej(new Error(`child exited with ${code}`)));
  }));
  children.forEach((child, proc) => child.send({ subject, mode, path, proc, ops, key: ctx.key }));
  await Promise.all(ready);
  const done = children.map((child) => new Promise((res) => child.once("message", res)));
  const start = process.hrtime.bigint();
  for (const child of children) child.send("go");
  const results = await Promise.all(done);
  const wallNs = Number(process.hrtime.bigint() - start);
  await Promise.all(children.map((child) => new Promise((res) => (child.exitCode !== null ? res() : child.once("exit", res)))));
  const latencies = results.flatMap((res) => res.latencies);
  const errors = results.reduce((sum, res) => sum + res.errors, 0);
  const total = PROCS * ops;
  const check = await checkMulti(ctx, { subject, mode, path, ops, startGeneration });
  return { stats: summarize(latencies), rate: (total - errors) / (wallNs / 1e9), errors, check };
}

async function checkMulti(ctx, { subject, mode, path, ops, startGeneration }) {
  // Expected: every process's last value for its own user (refresh), or every user (insert).
  let records;
  let generation;
  if (subject === "store") {
    const store = await openStore(path, ctx.key);
    records = (await store.getTokens()).map((t) => ({ userName: t.userName, accessToken: t.accessToken }));
    generation = (await store.verify()).generation - startGeneration;
  } else if (subject === "sqlite") {
    const db = openSqlite(path);
    records = db.db.prepare("SELECT user_name AS userName, access_token AS accessToken FROM oauthtoken").all();
    db.close();
  } else {
    const sdk = await loadSdk();
    try {
      records = (await new sdk.FileStore(path).getTokens()).map((t) => ({ userName: t.getUserSignature()?.getName() ?? null, accessToken: t.getAccessToken() }));
    } catch {
      records = [];
    }
  }
  const users = new Map();
  for (const rec of records) users.set(rec.userName, (users.get(rec.userName) ?? []).concat(rec.accessToken));
  let missing = 0;
  let wrong = 0;
  let duplicated = 0;
  if (mode === "update") {
    for (let proc = 0; proc < PROCS; proc++) {
      const user = `proc${proc}@example.com`;
      const values = users.get(user);
      if (!values) missing++;
      else {
        if (values.length > 1) duplicated++;
        if (values[0] !== accessToken(user, ops)) wrong++;
      }
    }
  } else {
    for (let proc = 0; proc < PROCS; proc++) {
      for (let i = 0; i < ops; i++) {
        const values = users.get(`p${proc}-new${i}@example.com`);
        if (!values) missing++;
        else if (values.length > 1) duplicated++;
      }
    }
  }
  const expectedRows = mode === "update" ? 10 : 10 + PROCS * ops;
  const parts = [`${records.length}/${expectedRows} records`];
  if (missing) parts.push(`${missing} users missing`);
  if (duplicated) parts.push(`${duplicated} users duplicated`);
  if (wrong) parts.push(`${wrong} users without their last value`);
  let ok = records.length === expectedRows && missing === 0 && duplicated === 0 && wrong === 0;
  if (generation !== undefined) {
    parts.push(`${generation} writes for ${PROCS * ops} saves`);
    if (generation !== PROCS * ops) ok = false;
  }
  parts.push(ok ? "no lost update" : "LOST UPDATES");
  return { ok, text: parts.join(", ") };
}

async function childMulti() {
  const job = await new Promise((res) => process.once("message", res));
  const { subject, mode, path, proc, ops, key } = job;
  const user = `proc${proc}@example.com`;
  const input = (i) =>
    mode === "update"
      ? { userName: user, accessToken: accessToken(user, i + 1), expiryTime: String(1_900_000_000_000 + i) }
      : makeToken(i, `p${proc}-new`);
  let save;
  if (subject === "store") {
    const store = await openStore(path, key);
    save = (i) => store.saveToken(input(i));
  } else if (subject === "sqlite") {
    const db = openSqlite(path, { busyTimeout: 30_000 });
    const base = makeToken(proc, "proc");
    save = (i) => db.save(mode === "update" ? { ...base, ...input(i) } : input(i));
  } else {
    const sdk = await loadSdk();
    const fileStore = new sdk.FileStore(path);
    save = (i) => fileStore.saveToken(sdkToken(sdk, input(i)));
  }
  process.send("ready");
  await new Promise((res) => process.once("message", res));
  const latencies = [];
  let errors = 0;
  for (let i = 0; i < ops; i++) {
    const start = process.hrtime.bigint();
    try {
      const result = save(i);
      if (isThenable(result)) await result;
    } catch {
      errors++;
    }
    latencies.push(Number(process.hrtime.bigint() - start));
  }
  process.send({ latencies, errors }, () => process.exit(0));
}

// -- scale -------------------------------------------------------------------

let formatModule;
/** The cipher layer itself, built from the same source as dist/ (it is not exported). */
async function loadFormat() {
  if (formatModule) return formatModule;
  const { build } = await import("tsup");
  const outDir = join(ROOT, "node_modules", ".cache", "zoho-encrypted-filestore-bench");
  await build({
    entry: { format: join(ROOT, "src", "crypto", "format.ts") },
    outDir,
    format: ["esm"],
    target: "node20",
    platform: "node",
    config: false,
    dts: false,
    silent: true,
    clean: true,
    splitting: false,
    sourcemap: false,
  });
  formatModule = await import(join(outDir, "format.js"));
  return formatModule;
}

async function caseScale(ctx) {
  const sizes = [10, 1000, 10_000];
  const format = await loadFormat();
  const r = new CaseResult("scale", "scale: 10, 1,000 and 10,000 tokens stored");
  const perSize = [];
  // Every store first, so that the finds of the three sizes run interleaved (the same
  // load hits all three) and "flat" compares like with like.
  const setups = [];
  for (const count of sizes) {
    const dir = ctx.mkdir(`scale-${count}`);
    const storePath = join(dir, "store", "tokens.enc");
    const store = await openStore(storePath, ctx.key);
    await seedStore(store, count);
    const fileBytes = fs.statSync(storePath).size;
    const plainBytes = fileBytes - format.HEADER_BYTES - format.TAG_BYTES;
    const users = Array.from({ length: Math.min(count, 100) }, (_, i) => makeToken(Math.floor((i * count) / Math.min(count, 100))).userName);
    const floorDir = join(dir, "floor");
    fs.mkdirSync(floorDir, { mode: 0o700 });
    const floor = makeFloor(floorDir, fileBytes);
    setups.push({ count, store, fileBytes, plainBytes, users, floor });
  }
  const finds = await timeInterleaved(
    setups.map(({ count, store, users }) => ({ name: `find ${count}`, ops: ctx.quick ? 500 : 3000, run: (i) => store.findToken({ userName: users[i % users.length] }) })),
    { rounds: ctx.quick ? 2 : 10, warmup: 2000 },
  );
  for (const { count, store, fileBytes, plainBytes, users, floor } of setups) {
    const saveOps = ctx.quick ? 3 : count >= 10_000 ? 4 : count >= 1000 ? 10 : 20;
    const saveRounds = ctx.quick ? 2 : count >= 10_000 ? 8 : 10;
    const findStats = new Map([["find", finds.get(`find ${count}`)]]);
    const refresh = (i) => ({ userName: users[i % users.length], accessToken: accessToken(users[i % users.length], i + 1), expiryTime: String(1_900_000_000_000 + i) });
    const saveStats = await timeInterleaved(
      [
        { name: "save", ops: saveOps, run: (i) => store.saveToken(refresh(i)) },
        { name: "floor", ops: saveOps, run: floor },
      ],
      { rounds: saveRounds, warmup: 3 },
    );

    // The cipher alone: this store's seal (HKDF subkey + AES-256-GCM + header, as the
    // header and the ciphertext the store writes one after the other) against
    // node:crypto's AES-256-GCM on a buffer of the same size, giving the same parts.
    const plaintext = randomBytes(plainBytes);
    const master = { key: new Uint8Array(randomBytes(32)), keyId: new Uint8Array(16) };
    const nodeKey = randomBytes(32);
    const header = randomBytes(96);
    const sealed = await format.seal(plaintext, master, 1);
    const nodeSealed = (() => {
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", nodeKey, nonce);
      cipher.setAAD(header);
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return { nonce, ciphertext, tag: cipher.getAuthTag() };
    })();
    const cipherOps = ctx.quick ? 5 : Math.max(20, Math.min(2000, Math.floor(4e7 / Math.max(plainBytes, 1) / 4)));
    const cipherStats = await timeInterleaved(
      [
        { name: "seal", ops: cipherOps, run: () => format.sealParts(plaintext, master, 2) },
        {
          name: "node:crypto encrypt",
          ops: cipherOps,
          run: () => {
            const cipher = createCipheriv("aes-256-gcm", nodeKey, randomBytes(12));
            cipher.setAAD(header);
            return [header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()];
          },
        },
        { name: "unseal", ops: cipherOps, run: () => format.unseal(sealed, master, "bench") },
        {
          name: "node:crypto decrypt",
          ops: cipherOps,
          run: () => {
            const decipher = createDecipheriv("aes-256-gcm", nodeKey, nodeSealed.nonce);
            decipher.setAAD(header);
            decipher.setAuthTag(nodeSealed.tag);
            return Buffer.concat([decipher.update(nodeSealed.ciphertext), decipher.final()]);
          },
        },
      ],
      { rounds: ctx.quick ? 2 : 5, warmup: 10 },
    );
    const label = `${count.toLocaleString("en-US")} tokens (${formatBytes(plainBytes)} JSON)`;
    r.row(`${label}: findToken`, findStats.get("find"));
    r.row(`${label}: saveToken`, saveStats.get("save"));
    r.row(`${label}: floor, same bytes`, saveStats.get("floor"), { ref: `${label}: saveToken` });
    r.row(`${label}: seal (HKDF + AES-256-GCM)`, cipherStats.get("seal"));
    r.row(`${label}: node:crypto AES-256-GCM encrypt`, cipherStats.get("node:crypto encrypt"), { ref: `${label}: seal (HKDF + AES-256-GCM)` });
    r.row(`${label}: unseal`, cipherStats.get("unseal"));
    r.row(`${label}: node:crypto AES-256-GCM decrypt`, cipherStats.get("node:crypto decrypt"), { ref: `${label}: unseal` });
    perSize.push({
      count,
      plainBytes,
      fileBytes,
      find: findStats.get("find"),
      save: saveStats.get("save"),
      floor: saveStats.get("floor"),
      seal: cipherStats.get("seal"),
      nodeEncrypt: cipherStats.get("node:crypto encrypt"),
      unseal: cipherStats.get("unseal"),
      nodeDecrypt: cipherStats.get("node:crypto decrypt"),
    });
  }
  const first = perSize[0];
  const last = perSize[perSize.length - 1];
  const findGrowth = last.find.medianNs / first.find.medianNs;
  r.target("warm findToken flat from 10 to 10,000 tokens (median grows < 1.5x)", findGrowth < 1.5, `${formatNs(first.find.medianNs)} -> ${formatNs(last.find.medianNs)} (${formatRatio(findGrowth)})`);
  for (let i = 1; i < perSize.length; i++) {
    const a = perSize[i - 1];
    const b = perSize[i];
    const timeGrowth = b.save.medianNs / a.save.medianNs;
    const sizeGrowth = b.fileBytes / a.fileBytes;
    r.target(
      `saveToken grows no faster than the file, ${a.count} -> ${b.count} tokens`,
      timeGrowth <= sizeGrowth,
      `time ${formatRatio(timeGrowth)}, size ${formatRatio(sizeGrowth)} (floor ${formatRatio(b.floor.medianNs / a.floor.medianNs)})`,
    );
  }
  for (const s of perSize) {
    const mibps = (ns) => (s.plainBytes / (1024 * 1024)) / (ns / 1e9);
    const ratio = s.nodeEncrypt.medianNs / s.seal.medianNs;
    r.target(
      `seal throughput >= 0.5x node:crypto AES-256-GCM at ${formatBytes(s.plainBytes)}`,
      ratio >= 0.5,
      `${mibps(s.seal.medianNs).toFixed(0)} MiB/s vs ${mibps(s.nodeEncrypt.medianNs).toFixed(0)} MiB/s (${formatRatio(ratio)}); unseal ${mibps(s.unseal.medianNs).toFixed(0)} MiB/s vs ${mibps(s.nodeDecrypt.medianNs).toFixed(0)} MiB/s`,
    );
  }
  r.note("seal includes the per-write HKDF subkey, the header and its check; the node:crypto rows encrypt (decrypt) the same number of bytes with a fixed key.");
  r.extra.perSize = perSize.map(({ count, plainBytes, fileBytes }) => ({ count, plainBytes, fileBytes }));
  return r;
}

// -- memory ------------------------------------------------------------------

async function caseMemory(ctx) {
  const count = 10_000;
  const dir = ctx.mkdir("memory");
  const path = join(dir, "tokens.enc");
  const store = await openStore(path, ctx.key);
  await seedStore(store, count);
  const plainBytes = fs.statSync(path).size - 96 - 16;
  const child = fork(fileURLToPath(import.meta.url), ["--child", "memory"], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const result = await new Promise((res, rej) => {
    child.once("message", res);
    child.once("error", rej);
    child.send({ path, warmPath: join(dir, "warm", "tokens.enc"), key: ctx.key, user: makeToken(count - 1).userName, idleMs: ctx.quick ? 3000 : 12_000 });
  });
  await new Promise((res) => (child.exitCode !== null ? res() : child.once("exit", res)));
  const r = new CaseResult("memory", `memory: one process holding ${count.toLocaleString("en-US")} tokens (${formatBytes(plainBytes)} of decrypted JSON)`);
  const growth = (m) => ({ heap: m.heapUsed + m.external - (result.before.heapUsed + result.before.external), rss: m.rss - result.before.rss });
  const open = growth(result.afterOpen);
  const steady = growth(result.steady);
  const peak = result.peak.rss - result.before.rss;
  const x = (n) => `${(n / plainBytes).toFixed(2)}x`;
  r.note(`baseline: the same process after it used a one-token store, full GCs; open of the 10,000-token store took ${formatNs(result.openNs)}; then one saveToken (a refresh), so the writer's serialization buffer is counted`);
  r.note(`during open (before any GC): RSS +${formatBytes(peak)} (${x(peak)}): the file, its decryption, the JSON text and the parse are all alive at once`);
  r.note(`just after open and the save, full GCs: heap (used + external) +${formatBytes(open.heap)} (${x(open.heap)}), RSS +${formatBytes(open.rss)} (${x(open.rss)}); V8 still holds the young generation it grew while parsing`);
  r.note(`steady, ${result.idleMs / 1000} s later (V8's memory reducer has run), full GCs: heap +${formatBytes(steady.heap)} (${x(steady.heap)}), RSS +${formatBytes(steady.rss)} (${x(steady.rss)})`);
  r.target("steady heap growth <= 3x the decrypted JSON", steady.heap <= 3 * plainBytes, x(steady.heap));
  r.target("steady RSS growth <= 3x the decrypted JSON", steady.rss <= 3 * plainBytes, x(steady.rss));
  r.extra = { plainBytes, openGrowth: open, steadyGrowth: steady, peakRssGrowth: peak, ...result };
  return r;
}

async function childMemory() {
  const job = await new Promise((res) => process.once("message", res));
  const { EncryptedFileStore } = await loadStore();
  const settle = () => {
    for (let i = 0; i < 4; i++) global.gc();
  };
  // The baseline is a process that has used the library (code compiled, cipher and
  // file system paths warmed) on a store of one token, so the growth is the data's.
  const warm = await EncryptedFileStore.open({ path: job.warmPath, key: job.key });
  await warm.saveToken(makeToken(0));
  await warm.findToken({ userName: makeToken(0).userName });
  settle();
  const before = process.memoryUsage();
  const start = process.hrtime.bigint();
  const store = await EncryptedFileStore.open({ path: job.path, key: job.key });
  const found = await store.findToken({ userName: job.user });
  const openNs = Number(process.hrtime.bigint() - start);
  const peak = process.memoryUsage();
  if (!found) throw new Error("memory child: token not found");
  // One refresh, as a process that renews a token does: a writer also keeps the buffer
  // it serializes the document into.
  await store.saveToken({ userName: job.user, accessToken: accessToken(job.user, 1) });
  settle();
  const afterOpen = process.memoryUsage();
  // Idle, as a process between API calls is: V8 shrinks what it grew for the parse.
  await new Promise((res) => setTimeout(res, job.idleMs));
  settle();
  const steady = process.memoryUsage();
  // Keep the store alive until after the measurement.
  if (!(await store.findToken({ userName: job.user }))) throw new Error("unreachable");
  process.send({ before, peak, afterOpen, steady, openNs, idleMs: job.idleMs }, () => process.exit(0));
}

// -- passphrase --------------------------------------------------------------

async function casePassphrase(ctx) {
  const dir = ctx.mkdir("passphrase");
  const path = join(dir, "tokens.enc");
  const runChild = (job) =>
    new Promise((res, rej) => {
      const child = fork(fileURLToPath(import.meta.url), ["--child", "passphrase"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
      child.once("message", res);
      child.once("error", rej);
      child.once("exit", (code) => code !== 0 && rej(new Error(`passphrase child exited with ${code}`)));
      child.send(job);
    });
  const ops = ctx.quick ? 10 : 40;
  const first = await runChild({ path, rawPath: join(dir, "raw.enc"), key: ctx.key, ops, create: true });
  const second = await runChild({ path, rawPath: join(dir, "raw2.enc"), key: ctx.key, ops, create: false });
  const r = new CaseResult("passphrase", "passphrase: scrypt (N=2^16, r=8, p=1) once per process");
  for (const [label, res] of [
    ["new store", first],
    ["existing store, new process", second],
  ]) {
    r.row(`${label}: open`, { ops: 1, medianNs: res.openNs, p99Ns: res.openNs });
    r.row(`${label}: saveToken, passphrase key`, res.save);
    r.row(`${label}: saveToken, raw key`, res.rawSave, { ref: `${label}: saveToken, passphrase key` });
    r.row(`${label}: findToken, passphrase key`, res.find);
    r.note(`${label}: ${res.kdfAtOpen} scrypt call(s) during open, ${res.kdfAfterOpen} during ${res.opCount} operations afterwards`);
    r.target(`${label}: one key derivation per process`, res.kdfAtOpen === 1 && res.kdfAfterOpen === 0, `${res.kdfAtOpen} at open, ${res.kdfAfterOpen} after`);
  }
  return r;
}

async function childPassphrase() {
  const job = await new Promise((res) => process.once("message", res));
  // Counts scrypt calls: the library imports node:crypto's scrypt, so the builtin is
  // wrapped (and the ESM view of it updated) before the library is loaded.
  const crypto = require("node:crypto");
  const { syncBuiltinESMExports } = require("node:module");
  let kdfCalls = 0;
  const original = crypto.scrypt;
  crypto.scrypt = function countedScrypt(...args) {
    kdfCalls++;
    return original.apply(this, args);
  };
  syncBuiltinESMExports();
  const { EncryptedFileStore } = await loadStore();
  const start = process.hrtime.bigint();
  const store = await EncryptedFileStore.open({ path: job.path, passphrase: "correct horse battery staple" });
  if (job.create) await seedStore(store, USERS_SAVE);
  const openNs = Number(process.hrtime.bigint() - start);
  const kdfAtOpen = kdfCalls;
  const raw = await EncryptedFileStore.open({ path: job.rawPath, key: job.key });
  await seedStore(raw, USERS_SAVE);
  const users = Array.from({ length: USERS_SAVE }, (_, i) => makeToken(i).userName);
  const refresh = (i) => ({ userName: users[i % USERS_SAVE], accessToken: accessToken(users[i % USERS_SAVE], i + 1), expiryTime: String(1_900_000_000_000 + i) });
  const kdfBefore = kdfCalls;
  const stats = await timeInterleaved(
    [
      { name: "save", ops: job.ops, run: (i) => store.saveToken(refresh(i)) },
      { name: "raw", ops: job.ops, run: (i) => raw.saveToken(refresh(i)) },
      { name: "find", ops: job.ops * 50, run: (i) => store.findToken({ userName: users[i % USERS_SAVE] }) },
    ],
    { rounds: 5, warmup: 5 },
  );
  const opCount = [...stats.values()].reduce((sum, s) => sum + s.ops, 0);
  process.send(
    { openNs, kdfAtOpen, kdfAfterOpen: kdfCalls - kdfBefore, opCount, save: stats.get("save"), rawSave: stats.get("raw"), find: stats.get("find") },
    () => process.exit(0),
  );
}

// ---- machine -----------------------------------------------------------------

function fileSystemOf(dir) {
  try {
    const mounts = fs
      .readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((line) => line.split(" "))
      .filter((parts) => parts.length > 2);
    const real = fs.realpathSync(dir);
    let best;
    for (const [device, mountPoint, type] of mounts) {
      const point = mountPoint.replace(/\\040/g, " ");
      if ((real === point || real.startsWith(point.endsWith("/") ? point : `${point}/`)) && (!best || point.length > best.point.length)) {
        best = { point, type, device };
      }
    }
    if (best) return `${best.type} (${best.device} on ${best.point})`;
  } catch {
    // not Linux: fall through
  }
  try {
    return execFileSync("df", ["-T", dir], { encoding: "utf8" }).split("\n")[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

function machine(dir) {
  const cpus = os.cpus();
  const versions = {
    "better-sqlite3": require("better-sqlite3/package.json").version,
    "@zohocrm/nodejs-sdk-8.0": JSON.parse(fs.readFileSync(join(ROOT, "node_modules/@zohocrm/nodejs-sdk-8.0/package.json"), "utf8")).version,
    sqlite: (() => {
      const Database = require("better-sqlite3");
      const db = new Database(":memory:");
      const v = db.prepare("select sqlite_version()").pluck().get();
      db.close();
      return v;
    })(),
  };
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memory: formatBytes(os.totalmem()),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    tempDir: dir,
    fileSystem: fileSystemOf(dir),
    loadAverageAtStart: os.loadavg().map((v) => v.toFixed(2)).join(" "),
    versions,
  };
}

// ---- main --------------------------------------------------------------------

const CASES = { find: caseFind, save: caseSave, multi: caseMulti, scale: caseScale, memory: caseMemory, passphrase: casePassphrase };

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.child === "multi") return childMulti();
  if (args.child === "memory") return childMemory();
  if (args.child === "passphrase") return childPassphrase();
  if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: run npm run build (npm run bench does)`);

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
  console.log(`better-sqlite3 ${info.versions["better-sqlite3"]} (SQLite ${info.versions.sqlite}); @zohocrm/nodejs-sdk-8.0 ${info.versions["@zohocrm/nodejs-sdk-8.0"]}`);
  console.log(`load average at start: ${info.loadAverageAtStart}${args.quick ? "; --quick: short run, numbers not stable" : ""}`);

  const results = [];
  try {
    for (const [name, run] of Object.entries(CASES)) {
      if (args.only && !args.only.includes(name)) continue;
      const result = await run(ctx);
      printCase(result);
      results.push(result);
    }
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
  info.loadAverageAtEnd = os.loadavg().map((v) => v.toFixed(2)).join(" ");
  const seconds = (Date.now() - started) / 1000;
  const failed = results.flatMap((r) => r.targets.filter((t) => !t.pass).map((t) => `${r.id}: ${t.text}`));
  console.log(`\n${results.reduce((n, r) => n + r.targets.length, 0) - failed.length} targets met, ${failed.length} missed; ${seconds.toFixed(0)} s; load average at end: ${info.loadAverageAtEnd}`);
  for (const f of failed) console.log(`  missed: ${f}`);

  const command = `node scripts/bench.mjs ${process.argv.slice(2).join(" ")}`.trim();
  if (args.json) {
    const out = { command, date: new Date(started).toISOString(), seconds, machine: info, cases: results };
    fs.writeFileSync(args.json, JSON.stringify(out, null, 2) + "\n");
    console.log(`wrote ${args.json}`);
  }
  if (args.markdown) {
    const header = [
      `Measured ${new Date(started).toISOString().slice(0, 16).replace("T", " ")} UTC with \`${command}\` (${seconds.toFixed(0)} s).`,
      "",
      `Machine: ${info.cpu}, ${info.cores} cores, ${info.memory} RAM, ${info.os}; Node ${info.node}; temp dir on ${info.fileSystem}; ` +
        `better-sqlite3 ${info.versions["better-sqlite3"]} (SQLite ${info.versions.sqlite}), @zohocrm/nodejs-sdk-8.0 ${info.versions["@zohocrm/nodejs-sdk-8.0"]}; ` +
        `load average ${info.loadAverageAtStart} at start, ${info.loadAverageAtEnd} at end.`,
      "",
    ];
    fs.writeFileSync(args.markdown, header.concat(results.map(markdownCase)).join("\n"));
    console.log(`wrote ${args.markdown}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
