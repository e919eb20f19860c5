/**
 * The backend contract and the store's shared suite (test/contract/) on PostgreSQL: a
 * real server started by this file, directly and through a real PgBouncer in transaction
 * pooling mode (where no session state survives a transaction and no named prepared
 * statement is available). Each fixture is a database of its own; each instance opened
 * over it has a pool of its own, as another host would.
 */
import pg from "pg";
import { afterAll, beforeAll, describe } from "vitest";
import { openPostgresBackend } from "../../src/backend/postgres/backend.js";
import { openPostgresStore } from "../../src/backend/postgres/index.js";
import { describeBackendContract } from "../contract/backend-contract.js";
import { describeStoreContract } from "../contract/store-contract.js";
import { notRun, pgBouncerUnavailable, startPgBouncer, startPostgres, type PgBouncer, type PostgresServer } from "../servers/postgres.js";

let server: PostgresServer;
let bouncer: PgBouncer | undefined;
const bouncerMissing = pgBouncerUnavailable();
if (bouncerMissing) notRun("the PostgreSQL contract suites through PgBouncer (test/postgres/contract.test.ts)", bouncerMissing);

beforeAll(async () => {
  server = await startPostgres();
  if (!bouncerMissing) bouncer = await startPgBouncer(server, { poolSize: 6 });
});
afterAll(async () => {
  await bouncer?.stop();
  await server?.stop();
});

/** Everything the tables hold for the store, as bytes (for the suite's leak scans). */
async function dump(url: string): Promise<Uint8Array> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
    const parts: string[] = [];
    for (const { tablename } of tables.rows) {
      const { rows } = await client.query(`SELECT * FROM "${tablename}"`);
      for (const row of rows) {
        for (const value of Object.values(row)) parts.push(Buffer.isBuffer(value) ? value.toString("latin1") : String(value));
      }
    }
    return new Uint8Array(Buffer.from(parts.join("\n"), "latin1"));
  } finally {
    await client.end();
  }
}

for (const via of ["directly", "through PgBouncer"] as const) {
  const skip = via === "through PgBouncer" && bouncerMissing !== undefined;
  describe.skipIf(skip)(`PostgreSQL ${via}`, () => {
    const urlFor = (database: string) => (via === "directly" ? server.url(database) : bouncer!.url(database));

    describeBackendContract(`postgres ${via}`, async () => {
      const { name } = await server.createDatabase("contract");
      return { open: () => openPostgresBackend({ postgres: { connectionString: urlFor(name), max: 3 } }) };
    });

    describeStoreContract(
      `postgres ${via}`,
      async () => {
        const { name } = await server.createDatabase("store");
        const inspector = await openPostgresBackend({ postgres: { connectionString: urlFor(name), max: 2 } }, { check: false });
        return {
          // Small pools: the model check opens many instances.
          open: (key) => openPostgresStore({ postgres: { connectionString: urlFor(name), max: 3 }, key }),
          backend: () => inspector,
          cleanup: () => inspector.close(),
          stored: () => dump(server.url(name)),
        };
      },
      { modelRuns: 10 },
    );
  });
}
