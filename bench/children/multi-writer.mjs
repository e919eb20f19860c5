// One writer of the multi-process case (cases/multi.mjs), forked with an IPC channel:
// receives its job, opens its subject, says "ready", waits for "go", then times `ops`
// saves one after the other and sends back the latencies and the number of failures.
import { makeToken, refreshOf } from "../lib/data.mjs";
import { isThenable } from "../lib/timing.mjs";
import { loadSdk, sdkToken } from "../subjects/sdk.mjs";
import { openSqlite } from "../subjects/sqlite.mjs";
import { openStore } from "../subjects/store.mjs";

const job = await new Promise((res) => process.once("message", res));
const { subject, mode, path, proc, ops, key } = job;
const user = `proc${proc}@example.com`;
const input = (i) => (mode === "update" ? refreshOf([user], i) : makeToken(i, `p${proc}-new`));
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
