/**
 * Faults on a MariaDB store: a lease holder killed mid-refresh holds the others up no
 * longer than its lease; a row put back to an older sealed copy is refused by a process
 * that saw the newer one (and, as for every SQL store, not by one that never did).
 * The cases are test/sql/faults.ts, shared with the PostgreSQL store.
 */
import { openMysqlBackend, openMysqlStore } from "../../src/backend/mysql/index.js";
import { type MysqlServer, skipWithoutMariadb, startMariadb } from "../servers/mariadb.js";
import { faultsSuite } from "../sql/faults.js";

faultsSuite<MysqlServer>({
  title: "faults on MariaDB",
  skip: skipWithoutMariadb("the MySQL/MariaDB fault suite (test/mysql/faults.test.ts)"),
  start: () => startMariadb(),
  open: (url, key, options) => openMysqlStore({ mysql: url, key, ...options }),
  openBackend: (url, options) => openMysqlBackend({ mysql: url, ...options }),
  leaseHolder: "mysql-lease-holder.mjs",
  leaseRows: async (server, database) => Number((await server.query("SELECT COUNT(*) AS n FROM zoho_tokens_leases", [], database))[0].n),
  sealedOfFirst: async (server, database) => (await server.query("SELECT sealed FROM zoho_tokens WHERE id = 'r.1'", [], database))[0].sealed,
  putBack: async (server, database, sealed) => {
    await server.query(
      "UPDATE zoho_tokens r JOIN zoho_tokens_heads h ON h.namespace = r.namespace SET r.sealed = ?, r.written = h.version + 1, h.version = h.version + 1 WHERE r.id = 'r.1'",
      [sealed],
      database,
    );
  },
  markHead: async (server, database) => {
    await server.query(
      "UPDATE zoho_tokens r JOIN zoho_tokens_heads h ON h.namespace = r.namespace SET r.written = h.version WHERE r.id = 'head'",
      [],
      database,
    );
  },
  sql: async (server, database, text) => await server.query(text, [], database),
});
