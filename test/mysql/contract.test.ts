/**
 * The backend contract and the store's shared suite (test/contract/) on MariaDB: a real
 * server started by this file (Debian's mariadb-server), or the MySQL 8 / MariaDB server
 * that ZOHO_TEST_MYSQL_URL names. Each fixture is a database of its own; each instance
 * opened over it has a pool of its own, as another host would.
 */
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe } from "vitest";
import { openMysqlBackend } from "../../src/backend/mysql/backend.js";
import { openMysqlStore } from "../../src/backend/mysql/index.js";
import { describeBackendContract } from "../contract/backend-contract.js";
import { describeStoreContract } from "../contract/store-contract.js";
import { skipWithoutMariadb, startMariadb, type MysqlServer } from "../servers/mariadb.js";

const skip = skipWithoutMariadb("the MySQL/MariaDB contract suites (test/mysql/contract.test.ts)");
let server: MysqlServer;

beforeAll(async () => {
  if (!skip) server = await startMariadb();
});
afterAll(async () => {
  await server?.stop();
});

/** Everything the tables hold for the store, as bytes (for the suite's leak scans). */
async function dump(url: string): Promise<Uint8Array> {
  const connection = await mysql.createConnection(url);
  try {
    const [tables] = await connection.query<any[]>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()");
    const parts: string[] = [];
    for (const { name } of tables) {
      const [rows] = await connection.query<any[]>(`SELECT * FROM \`${name}\``);
      for (const row of rows) {
        for (const value of Object.values(row)) parts.push(Buffer.isBuffer(value) ? value.toString("latin1") : String(value));
      }
    }
    return new Uint8Array(Buffer.from(parts.join("\n"), "latin1"));
  } finally {
    await connection.end();
  }
}

describe.skipIf(skip)("MariaDB", () => {
  describeBackendContract("mysql", async () => {
    const { url } = await server.createDatabase("contract");
    return { open: () => openMysqlBackend({ mysql: url }) };
  });

  describeStoreContract(
    "mysql",
    async () => {
      const { url } = await server.createDatabase("store");
      const inspector = await openMysqlBackend({ mysql: url }, { check: false });
      return {
        open: (key) => openMysqlStore({ mysql: url, key }),
        backend: () => inspector,
        cleanup: () => inspector.close(),
        stored: () => dump(url),
      };
    },
    { modelRuns: 10 },
  );
});
