// better-sqlite3 with the seed article's table (`oauthtoken`, its 10 columns, primary key
// id, no other index) but parameterised, prepared statements. better-sqlite3 is the
// benchmark's own dependency (bench/package.json), loaded only when a case uses it.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

const COLUMNS = ["id", "user_name", "client_id", "client_secret", "refresh_token", "access_token", "grant_token", "expiry_time", "redirect_url", "api_domain"];

function tokenRow(id, t) {
  return [id, t.userName, t.clientId, t.clientSecret, t.refreshToken, t.accessToken, t.grantToken, t.expiryTime, t.redirectUrl, t.apiDomain];
}

/** The versions of better-sqlite3 and of the SQLite it was built with. */
export function sqliteVersions() {
  const Database = require("better-sqlite3");
  const db = new Database(":memory:");
  const sqlite = db.prepare("select sqlite_version()").pluck().get();
  db.close();
  return { "better-sqlite3": require("better-sqlite3/package.json").version, sqlite };
}

/** Opens (creating) the table in WAL mode with synchronous=FULL. */
export function openSqlite(path, { busyTimeout = 0 } = {}) {
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
