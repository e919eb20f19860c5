/**
 * Processes on a MariaDB store, each with a pool of its own as separate hosts would have
 * (test/fixtures/sql-writer.mjs, the built package): no save lost under contention, and
 * connections killed (KILL) and the server restarted mid-run give coded errors for the
 * calls they hit, nothing half-written, and the next call works.
 * The cases are test/sql/processes.ts, shared with the PostgreSQL store.
 */
import { openMysqlStore } from "../../src/backend/mysql/index.js";
import { EXTERNAL_URL_ENV, type MysqlServer, skipWithoutMariadb, startMariadb } from "../servers/mariadb.js";
import { processesSuite } from "../sql/processes.js";

const skip = skipWithoutMariadb("the MySQL/MariaDB process suite (test/mysql/processes.test.ts)");
processesSuite<MysqlServer>({
  dialect: "mysql",
  title: "processes on one MariaDB store",
  skip,
  externalEnv: EXTERNAL_URL_ENV,
  faultsCase: "the restart and KILL case of test/mysql/processes.test.ts",
  start: () => startMariadb(),
  open: (url, key) => openMysqlStore({ mysql: url, key }),
  contention: [200, 500],
  writerTimeoutMs: 280_000,
  faultsTitle: "connections killed (KILL) and a server restart mid-run: coded errors (UNAVAILABLE) for the calls they hit, then every save lands",
  endConnections: async (server, database) => {
    const rows = await server.query("SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()", [database]);
    for (const row of rows) await server.query(`KILL CONNECTION ${Number(row.id)}`).catch(() => undefined);
    return rows.length;
  },
});
