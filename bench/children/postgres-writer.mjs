// One writer of the PostgreSQL many-process case (bench/postgres.mjs), forked with an IPC
// channel: receives its job (the connection string and the key come this way, never on a
// command line), opens its own pool, says "ready", waits for "go", makes `ops` saves one
// after the other, and sends back the number of failures.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openPostgresStore } from "../../dist/postgres.js";

const job = await new Promise((res) => process.once("message", res));
const { subject, url, key, proc, ops } = job;
const pool = new pg.Pool({ connectionString: url, max: 2 });
pool.on("error", () => undefined);
let save;
let store;
if (subject === "store") {
  store = await openPostgresStore({ postgres: pool, key, namespace: "many" });
  const user = `proc-${proc}@example.com`;
  await store.saveToken({
    userName: user,
    clientId: "1000.CLIENT",
    clientSecret: "secret",
    refreshToken: `1000.rt-${proc}`,
    accessToken: "1000.at",
    expiryTime: String(Date.now() + 3_600_000),
  });
  save = (i) => store.saveToken({ userName: user, accessToken: `1000.at-${proc}-${i}` });
} else {
  // Plain unencrypted upserts of one row per process, autocommit.
  save = () => pool.query("INSERT INTO plain (id, v) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v", [proc, randomBytes(300)]);
}
process.send("ready");
await new Promise((res) => process.once("message", res));
let errors = 0;
for (let i = 0; i < ops; i++) {
  try {
    await save(i);
  } catch {
    errors++;
  }
}
await store?.close();
await pool.end();
process.send({ errors }, () => process.exit(0));
