/**
 * The token store on MariaDB (a real server started by this file, with its general log
 * on): the six operations across separate pools as separate hosts would have them, one
 * statement per warm read, rows bound to their place (a row copied to another namespace
 * is refused), nothing readable in a `mariadb-dump` or in the server's log of every
 * statement, a connection killed mid-transaction (a coded error, nothing half-written, the
 * lock freed), bad options refused, and the SDK adapter's one line.
 * The two-host and SDK-adapter cases are test/sql/store.ts, shared with the PostgreSQL store.
 */
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openMysqlBackend, type MysqlBackendOptions } from "../../src/backend/mysql/backend.js";
import { openMysqlStore, type MysqlStoreOptions } from "../../src/backend/mysql/index.js";
import { generateKey, isTokenStoreError, TokenStoreError, type EncryptedTokenStore } from "../../src/index.js";
import { sampleToken, secretsOf } from "../helpers.js";
import { storeCases } from "../sql/store.js";
import { notRun, skipWithoutMariadb, startMariadb, type MysqlServer } from "../servers/mariadb.js";

const skip = skipWithoutMariadb("the MySQL/MariaDB store suite (test/mysql/store.test.ts)");
let server: MysqlServer;
const stores: EncryptedTokenStore[] = [];
beforeAll(async () => {
  if (skip) return;
  server = await startMariadb({ generalLog: true });
  if (!server.managed) notRun("the dump, log and KILL cases of test/mysql/store.test.ts", "the server is an existing one (ZOHO_TEST_MYSQL_URL)");
});
afterAll(async () => {
  for (const store of stores) await store.close().catch(() => undefined);
  await server?.stop();
});

async function open(options: MysqlStoreOptions): Promise<EncryptedTokenStore> {
  const store = await openMysqlStore(options);
  stores.push(store);
  return store;
}

describe.skipIf(skip)("the store on MariaDB", () => {
  storeCases({
    option: "mysql",
    name: "MySQL",
    server: () => server,
    open: (url, key) => open({ mysql: url, key }),
    location: /^mysql:\/\/127\.0\.0\.1:\d+\//,
  });

  it("a database name of 64 characters and a table name of 41: the tables are made and used (MySQL limits a named lock to 64 characters)", async () => {
    const name = `d${"x".repeat(63)}`;
    await server.query(`CREATE DATABASE \`${name}\``);
    try {
      const table = `t${"y".repeat(40)}`;
      const store = await open({ mysql: server.url(name), table, key: generateKey() });
      await store.saveToken({ userName: "long-names@example.com", refreshToken: "1000.long-names" });
      expect((await store.findToken({ userName: "long-names@example.com" }))?.refreshToken).toBe("1000.long-names");
      await store.close();
    } finally {
      await server.query(`DROP DATABASE \`${name}\``);
    }
  });

  it("a warm read is one statement; a save writes the head and the one token's row", async () => {
    const { url, name } = await server.createDatabase();
    const key = generateKey();
    const writer = await open({ mysql: url, key });
    await Promise.all(Array.from({ length: 200 }, (_, i) => writer.saveToken(sampleToken(`bulk${i}`))));
    const pool = mysql.createPool(url);
    let statements = 0;
    // Every statement the store sends, on any connection it takes from the pool.
    const getConnection = pool.getConnection.bind(pool);
    pool.getConnection = (async () => {
      const connection = await getConnection();
      const query = connection.query.bind(connection);
      connection.query = ((...args: any[]) => {
        statements++;
        return (query as any)(...args);
      }) as any;
      return connection;
    }) as any;
    const reader = await open({ mysql: pool, key });
    expect(await reader.getTokens()).toHaveLength(200);
    statements = 0;
    for (let i = 0; i < 5; i++) expect(await reader.findToken({ userName: "user-bulk7@example.com" })).not.toBeNull();
    expect(statements).toBe(5);
    await writer.saveToken({ userName: "user-bulk7@example.com", accessToken: "1000.access-changed" });
    const rows = await server.query(
      "SELECT r.id FROM zoho_tokens r JOIN zoho_tokens_heads h ON h.namespace = r.namespace WHERE r.written = h.version ORDER BY 1",
      [],
      name,
    );
    expect(rows.map((r: any) => r.id)).toEqual(["head", "r.8"]);
    statements = 0;
    expect((await reader.findToken({ userName: "user-bulk7@example.com" }))?.accessToken).toBe("1000.access-changed");
    expect(statements).toBe(1);
    await reader.close();
    // A pool given is never ended.
    const [one] = await pool.query("SELECT 1 AS one");
    expect(one).toEqual([{ one: 1 }]);
    await pool.end();
  });

  it("a save is five round trips (the settings, the lock, the compare-and-set, the row, the commit); the connection goes back with the server's settings, also after a refused write", async () => {
    const { url, name } = await server.createDatabase();
    const key = generateKey();
    // Two connections (a section may read on a second one), both checked after each save.
    const pool = mysql.createPool({ uri: url, connectionLimit: 2 });
    const sent: string[] = [];
    const getConnection = pool.getConnection.bind(pool);
    pool.getConnection = (async () => {
      const connection = await getConnection();
      const query = connection.query.bind(connection);
      connection.query = ((...args: any[]) => {
        sent.push(String(typeof args[0] === "string" ? args[0] : args[0].sql));
        return (query as any)(...args);
      }) as any;
      return connection;
    }) as any;
    /** The settings of every connection of the pool, as the next user of each would find them. */
    const settings = async () => {
      const connections = [await getConnection(), await getConnection()];
      try {
        const found = [];
        for (const connection of connections) {
          const [rows] = await connection.query(
            "SELECT @@SESSION.autocommit = @@GLOBAL.autocommit AS autocommit, @@SESSION.tx_isolation = @@GLOBAL.tx_isolation AS isolation, @@SESSION.wait_timeout = @@GLOBAL.wait_timeout AS idle, @@SESSION.innodb_lock_wait_timeout = @@GLOBAL.innodb_lock_wait_timeout AS locks, @@in_transaction AS open",
          );
          found.push((rows as any[])[0]);
        }
        return found;
      } finally {
        for (const connection of connections) connection.release();
      }
    };
    const defaults = { autocommit: 1, isolation: 1, idle: 1, locks: 1, open: 0 };
    const untouched = [defaults, defaults];
    const store = await open({ mysql: pool, key });
    // A new namespace's first save creates its head row; the settings are put back after it too.
    await store.saveToken(sampleToken("one"));
    expect(await settings()).toEqual(untouched);
    sent.length = 0;
    await store.saveToken({ userName: "user-one@example.com", accessToken: "1000.access-two" });
    expect(sent).toHaveLength(5);
    expect(sent[0]).toMatch(/^SET SESSION autocommit = 0/);
    expect(sent[1]).toMatch(/FOR UPDATE$/);
    expect(sent[4]).toMatch(/^SET SESSION autocommit = 1/);
    expect(await settings()).toEqual(untouched);

    const head = async () => Number((await server.query("SELECT version FROM zoho_tokens_heads", [], name))[0]?.version);
    const before = await head();
    await server.query("CREATE TRIGGER refuse BEFORE UPDATE ON zoho_tokens FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'", [], name);
    const error = await store.saveToken({ userName: "user-one@example.com", accessToken: "1000.access-three" }).catch((e: unknown) => e);
    expect(isTokenStoreError(error, "IO_ERROR")).toBe(true);
    expect(await head()).toBe(before);
    expect(await settings()).toEqual(untouched);
    await server.query("DROP TRIGGER refuse", [], name);
    await store.saveToken({ userName: "user-one@example.com", accessToken: "1000.access-four" });
    expect(await head()).toBe(before + 1);
    expect((await store.findToken({ userName: "user-one@example.com" }))?.accessToken).toBe("1000.access-four");
    expect(await settings()).toEqual(untouched);
    await store.close();
    await pool.end();
  });

  it("namespaces are separate stores in one table; a row moved or copied to another namespace is refused (DAMAGED_FILE)", async () => {
    const { url, name } = await server.createDatabase();
    const key = generateKey();
    const prod = await open({ mysql: url, key, namespace: "prod" });
    const test = await open({ mysql: url, key, namespace: "test" });
    // Namespaces differ by case only: still two stores (the columns compare byte for byte).
    const upper = await open({ mysql: url, key, namespace: "TEST" });
    await prod.saveToken(sampleToken("prod"));
    await test.saveToken(sampleToken("test"));
    expect(await upper.getTokens()).toEqual([]);
    expect((await test.getTokens()).map((t) => t.userName)).toEqual(["user-test@example.com"]);
    // An administrator copies prod's token row over test's, and marks it written.
    await server.query(
      `UPDATE zoho_tokens t JOIN zoho_tokens p ON p.namespace = 'prod' AND p.id = 'r.1'
          JOIN zoho_tokens_heads h ON h.namespace = 'test'
          SET t.sealed = p.sealed, t.written = h.version + 1, h.version = h.version + 1
        WHERE t.namespace = 'test' AND t.id = 'r.1'`,
      [],
      name,
    );
    const fresh = await open({ mysql: url, key, namespace: "test" });
    const error = await fresh.getTokens().catch((e) => e);
    expect(isTokenStoreError(error, "DAMAGED_FILE")).toBe(true);
    expect(error.message).toMatch(/copied from another table, namespace or record/);
    expect(isTokenStoreError(await test.findTokenById("1").catch((e) => e), "DAMAGED_FILE")).toBe(true);
    // A whole namespace moved (its rows renamed to another): refused too.
    await server.query("UPDATE zoho_tokens SET namespace = 'moved' WHERE namespace = 'prod'", [], name);
    await server.query("UPDATE zoho_tokens_heads SET namespace = 'moved' WHERE namespace = 'prod'", [], name);
    const moved = await open({ mysql: url, key, namespace: "moved" })
      .then((store) => store.getTokens())
      .catch((e) => e);
    expect(isTokenStoreError(moved, "DAMAGED_FILE")).toBe(true);
    // A changed byte is refused.
    const { url: url2, name: name2 } = await server.createDatabase();
    const other = await open({ mysql: url2, key });
    await other.saveToken(sampleToken("x"));
    await server.query(
      `UPDATE zoho_tokens r JOIN zoho_tokens_heads h ON h.namespace = r.namespace
          SET r.sealed = CONCAT(LEFT(r.sealed, 99), CHAR(ASCII(SUBSTRING(r.sealed, 100, 1)) ^ 1), SUBSTRING(r.sealed, 101)), r.written = h.version + 1, h.version = h.version + 1
        WHERE r.id = 'r.1'`,
      [],
      name2,
    );
    expect(isTokenStoreError(await other.getTokens().catch((e) => e), "DAMAGED_FILE")).toBe(true);
  });

  it.skipIf(process.env.ZOHO_TEST_MYSQL_URL !== undefined)(
    "nothing readable in a mariadb-dump or in the server's general log: no token, secret, user name, key or password",
    async () => {
      const { url, name } = await server.createDatabase();
      const key = generateKey();
      const store = await open({ mysql: url, key, namespace: "app" });
      const tokens = [
        sampleToken("alpha"),
        sampleToken("beta", { grantToken: "1000.grant-beta-gt" }),
        sampleToken("gamma", { refreshToken: `1000.${"long".repeat(300)}-rt` }),
      ];
      for (const token of tokens) await store.saveToken(token);
      await store.saveToken({ userName: "user-alpha@example.com", accessToken: "1000.access-alpha-renewed" });
      await store.getTokens();
      await store.deleteToken("2");
      const dump = server.dump(name);
      const log = server.log();
      // The scans can fail: the dump holds the rows, the log the statements.
      expect(dump).toContain("INSERT INTO `zoho_tokens`");
      expect(log).toContain("zoho_tokens_heads");
      const secrets = [...tokens.flatMap(secretsOf), "1000.access-alpha-renewed", ...tokens.map((t) => t.userName), key, server.password];
      const hex = (value: string) => Buffer.from(value).toString("hex");
      const found: string[] = [];
      for (const [where, text] of [
        ["dump", dump],
        ["log", log],
      ] as const) {
        for (const secret of secrets) {
          if (text.includes(secret) || text.toLowerCase().includes(hex(secret)) || text.includes(Buffer.from(secret).toString("base64"))) {
            found.push(`${where}: ${secret.length} chars`);
          }
        }
      }
      expect(found).toEqual([]);
    },
  );

  it("a connection killed (KILL) mid-transaction: UNAVAILABLE, nothing half-written, the lock freed, the next call works", async () => {
    if (!server.managed) return;
    const { url, name } = await server.createDatabase();
    const key = generateKey();
    const store = await open({ mysql: url, key });
    await store.saveToken(sampleToken("before"));
    const backend = await openMysqlBackend({ mysql: url });
    const other = await open({ mysql: url, key });
    let waiter: Promise<unknown> | undefined;
    const error: any = await backend
      .exclusive(async (session) => {
        // This section holds the head's lock; a writer elsewhere waits for it.
        waiter = other.saveToken(sampleToken("waiting"));
        const [trx] = await server.query(
          "SELECT trx_mysql_thread_id AS id FROM information_schema.innodb_trx t JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id WHERE p.db = ? AND t.trx_state = 'RUNNING' ORDER BY t.trx_started LIMIT 1",
          [name],
        );
        expect(trx).toBeDefined();
        await server.query(`KILL CONNECTION ${Number(trx.id)}`);
        const replacement = { whole: false, put: [{ id: "r.99", parts: [new Uint8Array(40)] }], remove: [] };
        return session.replace(replacement, await session.currentVersion(), { keepPrevious: false });
      })
      .catch((e) => e);
    expect(error).toBeInstanceOf(TokenStoreError);
    expect(error.code).toBe("UNAVAILABLE");
    expect(error.message).not.toContain(server.password);
    // The waiter got the lock once the server ended the killed transaction.
    await waiter;
    const rows = await server.query("SELECT id FROM zoho_tokens ORDER BY id", [], name);
    expect(rows.map((r: any) => r.id)).toEqual(["head", "r.1", "r.2"]);
    expect((await store.getTokens()).map((t) => t.userName)).toEqual(["user-before@example.com", "user-waiting@example.com"]);
    // The backend's pool dropped the killed connection: its next section works.
    expect(await backend.exclusive(async (session) => session.currentVersion())).toBeGreaterThan(0);
    await backend.close();
  });

  it("refuses bad options with INVALID_OPTION, naming no value; a server that is not there is UNAVAILABLE", async () => {
    for (const options of [
      { mysql: 42 },
      { mysql: undefined },
      { mysql: "" },
      { mysql: "postgres://x/db" },
      { mysql: "mysql://x:3306/" },
      { mysql: { host: "127.0.0.1" } },
      { mysql: "mysql://x/db", table: "Robert'); DROP" },
      { mysql: "mysql://x/db", namespace: "" },
      { mysql: "mysql://x/db", lockTimeoutMs: 5 },
    ]) {
      const error = await openMysqlBackend(options as MysqlBackendOptions).catch((e) => e);
      expect(error).toBeInstanceOf(TokenStoreError);
      expect(error.code).toBe("INVALID_OPTION");
      expect(error.message).not.toContain("DROP");
    }
    const error: any = await openMysqlBackend({ mysql: "mysql://zefs:hunter2-password@127.0.0.1:1/db" }).catch((e) => e);
    expect(error.code).toBe("UNAVAILABLE");
    expect(error.message).toContain("mysql://127.0.0.1:1/db");
    expect(error.message).not.toContain("hunter2");
  });
});
