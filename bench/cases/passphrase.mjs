// Passphrase keys: scrypt runs once per process, at open, never per operation. Two
// fresh processes (children/passphrase.mjs), one creating the store and one opening it.
import { fork } from "node:child_process";
import { join } from "node:path";
import { childScript } from "../lib/paths.mjs";
import { CaseResult } from "../lib/report.mjs";

export async function run(ctx) {
  const dir = ctx.mkdir("passphrase");
  const path = join(dir, "tokens.enc");
  const runChild = (job) =>
    new Promise((res, rej) => {
      const child = fork(childScript("passphrase"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
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
