// The process of the passphrase case (cases/passphrase.mjs): counts node:crypto scrypt
// calls while it opens a passphrase store and times saves and finds on it, beside a
// raw-key store.
import { createRequire, syncBuiltinESMExports } from "node:module";
import { makeToken, refreshOf, USERS_SAVE } from "../lib/data.mjs";
import { timeInterleaved } from "../lib/timing.mjs";
import { loadStore, seedStore } from "../subjects/store.mjs";

const job = await new Promise((res) => process.once("message", res));
// The library imports node:crypto's scrypt, so the builtin is wrapped (and the ESM view
// of it updated) before the library is loaded.
const crypto = createRequire(import.meta.url)("node:crypto");
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
const kdfBefore = kdfCalls;
const stats = await timeInterleaved(
  [
    { name: "save", ops: job.ops, run: (i) => store.saveToken(refreshOf(users, i)) },
    { name: "raw", ops: job.ops, run: (i) => raw.saveToken(refreshOf(users, i)) },
    { name: "find", ops: job.ops * 50, run: (i) => store.findToken({ userName: users[i % USERS_SAVE] }) },
  ],
  { rounds: 5, warmup: 5 },
);
const opCount = [...stats.values()].reduce((sum, s) => sum + s.ops, 0);
process.send(
  { openNs, kdfAtOpen, kdfAfterOpen: kdfCalls - kdfBefore, opCount, save: stats.get("save"), rawSave: stats.get("raw"), find: stats.get("find") },
  () => process.exit(0),
);
