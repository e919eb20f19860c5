// Memory: what one process holding 10,000 tokens keeps, measured in a fresh child
// (children/memory.mjs, run with --expose-gc) against its own baseline.
import { fork } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { makeToken } from "../lib/data.mjs";
import { childScript } from "../lib/paths.mjs";
import { CaseResult, formatBytes, formatNs } from "../lib/report.mjs";
import { loadInternal, openStore, seedStore } from "../subjects/store.mjs";

const COUNT = 10_000;

export async function run(ctx) {
  const { HEADER_BYTES, TAG_BYTES } = await loadInternal();
  const dir = ctx.mkdir("memory");
  const path = join(dir, "tokens.enc");
  const store = await openStore(path, ctx.key);
  await seedStore(store, COUNT);
  const plainBytes = fs.statSync(path).size - HEADER_BYTES - TAG_BYTES;
  const child = fork(childScript("memory"), [], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const result = await new Promise((res, rej) => {
    child.once("message", res);
    child.once("error", rej);
    child.send({ path, warmPath: join(dir, "warm", "tokens.enc"), key: ctx.key, user: makeToken(COUNT - 1).userName, idleMs: ctx.quick ? 3000 : 12_000 });
  });
  await new Promise((res) => (child.exitCode !== null ? res() : child.once("exit", res)));
  const r = new CaseResult("memory", `memory: one process holding ${COUNT.toLocaleString("en-US")} tokens (${formatBytes(plainBytes)} of decrypted JSON)`);
  const growth = (m) => ({ heap: m.heapUsed + m.external - (result.before.heapUsed + result.before.external), rss: m.rss - result.before.rss });
  const open = growth(result.afterOpen);
  const steady = growth(result.steady);
  const peak = result.peak.rss - result.before.rss;
  const x = (n) => `${(n / plainBytes).toFixed(2)}x`;
  r.note(
    `baseline: the same process after it used a one-token store, full GCs; open of the 10,000-token store took ${formatNs(result.openNs)}; then one saveToken (a refresh), so the writer's serialization buffer is counted`,
  );
  r.note(`during open (before any GC): RSS +${formatBytes(peak)} (${x(peak)}): the file, its decryption, the JSON text and the parse are all alive at once`);
  r.note(
    `just after open and the save, full GCs: heap (used + external) +${formatBytes(open.heap)} (${x(open.heap)}), RSS +${formatBytes(open.rss)} (${x(open.rss)}); V8 still holds the young generation it grew while parsing`,
  );
  r.note(
    `steady, ${result.idleMs / 1000} s later (V8's memory reducer has run), full GCs: heap +${formatBytes(steady.heap)} (${x(steady.heap)}), RSS +${formatBytes(steady.rss)} (${x(steady.rss)})`,
  );
  r.target("steady heap growth <= 3x the decrypted JSON", steady.heap <= 3 * plainBytes, x(steady.heap));
  r.target("steady RSS growth <= 3x the decrypted JSON", steady.rss <= 3 * plainBytes, x(steady.rss));
  r.extra = { plainBytes, openGrowth: open, steadyGrowth: steady, peakRssGrowth: peak, ...result };
  return r;
}
