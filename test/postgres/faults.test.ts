/**
 * Faults on a PostgreSQL store: a lease holder killed mid-refresh holds the others up no
 * longer than its lease; a row put back to an older sealed copy is refused by a process
 * that saw the newer one (and, as documented, not by one that never did).
 * The cases are test/sql/faults.ts, shared with the MariaDB store.
 */
import { openPostgresBackend, openPostgresStore } from "../../src/backend/postgres/index.js";
import { type PostgresServer, startPostgres } from "../servers/postgres.js";
import { faultsSuite } from "../sql/faults.js";

faultsSuite<PostgresServer>({
  start: () => startPostgres(),
  open: (url, key, options) => openPostgresStore({ postgres: url, key, ...options }),
  openBackend: (url, options) => openPostgresBackend({ postgres: url, ...options }),
  leaseHolder: "pg-lease-holder.mjs",
  leaseRows: async (server, database) => (await server.query("SELECT count(*)::int AS n FROM zoho_tokens_leases", [], database)).rows[0]!.n,
  timed: true,
  sealedOfFirst: async (server, database) => (await server.query("SELECT sealed FROM zoho_tokens WHERE id = 'r.1'", [], database)).rows[0]!.sealed,
  putBack: async (server, database, sealed) => {
    await server.query("UPDATE zoho_tokens SET sealed = $1, written = (SELECT version + 1 FROM zoho_tokens_heads) WHERE id = 'r.1'", [sealed], database);
    await server.query("UPDATE zoho_tokens_heads SET version = version + 1", [], database);
  },
  markHead: async (server, database) => {
    await server.query("UPDATE zoho_tokens SET written = (SELECT version FROM zoho_tokens_heads) WHERE id = 'head'", [], database);
  },
  sql: async (server, database, text) => (await server.query(text, [], database)).rows,
});
