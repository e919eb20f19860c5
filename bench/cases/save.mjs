// Durable saveToken (a refresh of one of 10 users) against the durable-write floor of
// the same bytes, better-sqlite3's upsert and the SDK FileStore's (not durable) write.
import * as fs from "node:fs";
import { join } from "node:path";
import { makeToken, refreshOf, USERS_SAVE } from "../lib/data.mjs";
import { CaseResult, formatBytes, formatNs, formatRatio } from "../lib/report.mjs";
import { timeInterleaved } from "../lib/timing.mjs";
import { makeFloor } from "../subjects/floor.mjs";
import { loadSdk, sdkToken } from "../subjects/sdk.mjs";
import { openSqlite } from "../subjects/sqlite.mjs";
import { openStore, seedStore } from "../subjects/store.mjs";

const MAIN = "this store: saveToken (durable)";
const FLOOR = "floor: mkdir lock + open/write/fsync/close/rename + dir fsync";

export async function run(ctx) {
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
  const refresh = (i) => refreshOf(users, i);
  let sdkTokens = [];
  const ops = ctx.quick ? 10 : 40;
  const stats = await timeInterleaved(
    [
      { name: MAIN, ops, run: (i) => store.saveToken(refresh(i)) },
      { name: FLOOR, ops, run: floor },
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
  if (check?.accessToken.length !== 70) throw new Error("store saveToken: wrong result");

  const r = new CaseResult("save", `durable saveToken, ${USERS_SAVE} tokens stored (${formatBytes(fileBytes)} sealed file)`);
  for (const [name, s] of stats) r.row(name, s, { ref: name === MAIN ? undefined : MAIN });
  const ours = stats.get(MAIN);
  const floorStats = stats.get(FLOOR);
  r.target(
    "saveToken median <= 1.5x floor median",
    ours.medianNs <= 1.5 * floorStats.medianNs,
    `${formatRatio(ours.medianNs / floorStats.medianNs)} (${formatNs(ours.medianNs)} vs ${formatNs(floorStats.medianNs)})`,
  );
  r.note(
    `the floor writes the same ${fileBytes} bytes; this store also keeps ${"`<file>.prev`"} (a hard link), checks the file's identity before the rename and fsyncs file and directory.`,
  );
  return r;
}
