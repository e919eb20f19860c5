/**
 * Both real Zoho CRM SDKs, several processes (hosts) sharing one user through a
 * PostgreSQL store, against the loopback accounts server (scripts/zoho-loopback-server.mjs):
 * one grant exchange for one grant code, one refresh per expiry, no failed call, and no
 * token, secret or user name in the tables, the server's log (every statement with its
 * parameters) or the processes' output.
 * The case is test/sql/zoho-e2e.ts, shared with the MariaDB store.
 */
import { expect } from "vitest";
import { openPostgresStore } from "../../src/backend/postgres/index.js";
import { type PostgresServer, startPostgres } from "../servers/postgres.js";
import { zohoE2eSuite } from "../sql/zoho-e2e.js";

zohoE2eSuite<PostgresServer>({
  option: "postgres",
  title: "the real %s SDK, processes sharing one user through PostgreSQL",
  caseTitle: "one grant exchange for one grant code, then one refresh per expiry; no failed call; nothing readable in tables or log",
  /** Each process loads a whole SDK (1.5 to 2.5 s of CPU): as the other SDK suites, 4 in npm test, 8 under STRESS=1. */
  processes: [8, 12],
  start: () => startPostgres({ logStatements: true }),
  open: (url, namespace, key) => openPostgresStore({ postgres: url, namespace, key }),
  scanned: async (server, database) => {
    // A dump of the database's tables and the server's log.
    const dump = await server.query(
      "SELECT string_agg(t::text, E'\\n') AS all FROM (SELECT namespace, id, written::text, encode(sealed, 'escape') AS s FROM zoho_tokens UNION ALL SELECT namespace, name, owner, expires_at::text FROM zoho_tokens_leases) t",
      [],
      database,
    );
    expect(server.log()).toContain("zoho_tokens_heads");
    expect(server.log()).toMatch(/parameters: \$1 = 'e2e'/i);
    return [String(dump.rows[0]!.all), server.log()];
  },
});
