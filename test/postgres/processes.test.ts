/**
 * Processes on a PostgreSQL store, each with a pool of its own as separate hosts would
 * have (test/fixtures/sql-writer.mjs, the built package): no save lost under contention,
 * and a server restarted or connections terminated (pg_terminate_backend) mid-run give
 * coded errors for the calls they hit, nothing half-written, and the next call works.
 * The cases are test/sql/processes.ts, shared with the MariaDB store.
 */
import { openPostgresStore } from "../../src/backend/postgres/index.js";
import { EXTERNAL_URL_ENV, type PostgresServer, startPostgres } from "../servers/postgres.js";
import { processesSuite } from "../sql/processes.js";

processesSuite<PostgresServer>({
  dialect: "postgres",
  title: "processes on one PostgreSQL store",
  externalEnv: EXTERNAL_URL_ENV,
  faultsCase: "the server restart case of test/postgres/processes.test.ts",
  start: () => startPostgres(),
  open: (url, key) => openPostgresStore({ postgres: url, key }),
  contention: [80, 200],
  writerTimeoutMs: 240_000,
  faultsTitle: "a server restart and terminated connections mid-run: coded errors (UNAVAILABLE) for the calls they hit, then every save lands",
  endConnections: async (server, database) => {
    const terminate = `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`;
    const result = await server.query<{ n: number }>(terminate, [database]);
    return result.rows[0]!.n;
  },
});
