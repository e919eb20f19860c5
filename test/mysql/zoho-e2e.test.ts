/**
 * Both real Zoho CRM SDKs, several processes (hosts) sharing one user through a MariaDB
 * store, against the loopback accounts server (scripts/zoho-loopback-server.mjs): one grant
 * exchange for one grant code, one refresh per expiry, no failed call, and no token, secret
 * or user name in a mariadb-dump, the server's general log (every statement it received) or
 * the processes' output.
 * The case is test/sql/zoho-e2e.ts, shared with the PostgreSQL store.
 */
import { expect } from "vitest";
import { openMysqlStore } from "../../src/backend/mysql/index.js";
import { type MysqlServer, notRun, skipWithoutMariadb, startMariadb } from "../servers/mariadb.js";
import { zohoE2eSuite } from "../sql/zoho-e2e.js";

zohoE2eSuite<MysqlServer>({
  option: "mysql",
  title: "the real %s SDK, processes sharing one user through MariaDB",
  caseTitle: "one grant exchange for one grant code, then one refresh per expiry; no failed call; nothing readable in a dump or the log",
  skip: skipWithoutMariadb("the real SDKs through MariaDB (test/mysql/zoho-e2e.test.ts)"),
  /** Each process loads a whole SDK (1.5 to 2.5 s of CPU): 8 of them on 2 cores take a while. */
  processes: [8, 12],
  start: async () => {
    const server = await startMariadb({ generalLog: true });
    if (!server.managed) notRun("the dump and log scans of test/mysql/zoho-e2e.test.ts", "the server is an existing one (ZOHO_TEST_MYSQL_URL)");
    return server;
  },
  open: (url, namespace, key) => openMysqlStore({ mysql: url, namespace, key }),
  scanned: async (server, database) => {
    if (!server.managed) return undefined;
    const log = server.log();
    expect(log).toContain("zoho_tokens_leases");
    expect(log).toContain("'e2e'");
    return [server.dump(database), log];
  },
});
