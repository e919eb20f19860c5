// The process of the memory case (cases/memory.mjs), forked with --expose-gc: opens the
// large store after a baseline and reports process.memoryUsage() at each stage.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { accessToken, makeToken } from "../lib/data.mjs";
import { loadStore } from "../subjects/store.mjs";

const job = await new Promise((res) => process.once("message", res));
const { EncryptedFileStore } = await loadStore();
const settle = () => {
  for (let i = 0; i < 4; i++) global.gc();
};
// The baseline is a process that has used the library (code compiled, cipher and
// file system paths warmed) on a store of one token, so the growth is the data's.
mkdirSync(dirname(job.warmPath), { recursive: true, mode: 0o700 });
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
