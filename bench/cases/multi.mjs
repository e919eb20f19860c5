// Several processes saving at once: 8 writers, each refreshing its own user (update) or
// adding new users (insert), for this store, better-sqlite3 and the SDK FileStore. Then
// every subject's file is checked for lost updates. The writers: children/multi-writer.mjs.
import { fork } from "node:child_process";
import { join } from "node:path";
import { accessToken, makeToken } from "../lib/data.mjs";
import { childScript } from "../lib/paths.mjs";
import { CaseResult, formatRatio } from "../lib/report.mjs";
import { summarize } from "../lib/timing.mjs";
import { loadSdk, sdkToken } from "../subjects/sdk.mjs";
import { openSqlite } from "../subjects/sqlite.mjs";
import { openStore, seedStore } from "../subjects/store.mjs";

const PROCS = 8;
const LABELS = {
  store: "this store",
  sqlite: "better-sqlite3 (WAL, synchronous=FULL, busy_timeout)",
  sdk: "SDK FileStore (no lock, not durable)",
};
const MODES = { update: "refresh own user", insert: "insert new users" };

export async function run(ctx) {
  const ops = ctx.quick ? 30 : 200;
  const r = new CaseResult("multi", `${PROCS} processes x ${ops} saves at once`);
  for (const mode of ["update", "insert"]) {
    for (const subject of ["store", "sqlite", "sdk"]) {
      const dir = ctx.mkdir(`multi-${mode}-${subject}`);
      const outcome = await runWriters(ctx, { dir, subject, mode, ops });
      const name = `${MODES[mode]}: ${LABELS[subject]}`;
      r.row(name, { ...outcome.stats, rate: outcome.rate }, { unit: "rate", ref: undefined, check: outcome.check, errors: outcome.errors });
      r.note(`${name}: ${outcome.check.text}${outcome.errors ? `; ${outcome.errors} operations failed` : ""}`);
      if (subject === "store") r.target(`${mode}: no lost update, no failed save (this store)`, outcome.check.ok && outcome.errors === 0, outcome.check.text);
      if (subject === "sqlite") {
        const ours = r.rows.find((row) => row.subject === `${MODES[mode]}: ${LABELS.store}`);
        r.note(`${mode}: aggregate rate, this store ÷ better-sqlite3: ${formatRatio(ours.rate / outcome.rate)}`);
        r.extra[`${mode}RateRatio`] = ours.rate / outcome.rate;
      }
    }
  }
  r.note(
    "refresh: each process updates its own user's token (10 tokens stored); lost updates show as a generation count below the number of saves or a wrong final value. insert: every save adds a new user, so the file grows to 1,610 tokens; a lost update shows as a missing user.",
  );
  return r;
}

/** Seeds the subject's file with 10 tokens, starts PROCS writers together, checks the result. */
async function runWriters(ctx, { dir, subject, mode, ops }) {
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
  const children = Array.from({ length: PROCS }, () => fork(childScript("multi-writer"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  const ready = children.map(
    (child) =>
      new Promise((res, rej) => {
        child.once("message", res);
        child.once("error", rej);
        child.once("exit", (code) => code !== 0 && rej(new Error(`child exited with ${code}`)));
      }),
  );
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
  const check = await checkWriters(ctx, { subject, mode, path, ops, startGeneration });
  return { stats: summarize(latencies), rate: (total - errors) / (wallNs / 1e9), errors, check };
}

/** Reads the subject's file back: every process's last value for its own user (update), or every user (insert). */
async function checkWriters(ctx, { subject, mode, path, ops, startGeneration }) {
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
      records = (await new sdk.FileStore(path).getTokens()).map((t) => ({
        userName: t.getUserSignature()?.getName() ?? null,
        accessToken: t.getAccessToken(),
      }));
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
