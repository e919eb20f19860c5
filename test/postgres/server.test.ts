/**
 * The test servers themselves: a PostgreSQL started from the npm packages, per-test
 * databases, a restart on the same port and data, and PgBouncer in transaction pooling
 * mode (where session state does not survive a transaction).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notRun, pgBouncerUnavailable, startPgBouncer, startPostgres, type PgBouncer, type PostgresServer } from "../servers/postgres.js";

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres({ logStatements: true });
});
afterAll(async () => {
  await server?.stop();
});

async function one<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

describe("the PostgreSQL test server", () => {
  it("gives each test an empty database of its own, and keeps data across a restart", async () => {
    const a = await server.createDatabase();
    const b = await server.createDatabase();
    expect(a.name).not.toBe(b.name);
    await one(a.url, (c) => c.query("CREATE TABLE t (v int); INSERT INTO t VALUES (7)"));
    const tables = await one(b.url, (c) => c.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 't'"));
    expect(tables.rows[0].n).toBe(0);
    if (!server.managed) return notRun("restart of the test server", "the server is an existing one (ZOHO_TEST_POSTGRES_URL)");
    await server.restart();
    const rows = await one(a.url, (c) => c.query("SELECT v FROM t"));
    expect(rows.rows).toEqual([{ v: 7 }]);
    expect(server.log()).toContain("SELECT v FROM t");
  });
});

const bouncerMissing = pgBouncerUnavailable();
if (bouncerMissing) notRun("PgBouncer test server (test/postgres/server.test.ts)", bouncerMissing);

describe.skipIf(bouncerMissing !== undefined)("the PgBouncer test server", () => {
  let bouncer: PgBouncer;
  beforeAll(async () => {
    bouncer = await startPgBouncer(server, { poolSize: 2 });
  });
  afterAll(async () => {
    await bouncer?.stop();
  });

  it("pools by transaction: three connected clients share two server connections", async () => {
    const { name } = await server.createDatabase();
    const url = bouncer.url(name);
    // Two clients, one server connection each at a time: a SET by one is seen on whatever
    // server connection the next transaction gets, not kept for the client.
    const backends = new Set<number>();
    const clients = await Promise.all(
      [0, 1, 2].map(async () => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        return c;
      }),
    );
    try {
      for (let i = 0; i < 6; i++) {
        for (const c of clients) {
          const r = await c.query("SELECT pg_backend_pid() AS pid");
          backends.add(r.rows[0].pid);
        }
      }
      // Three connected clients shared at most two server connections (in session
      // pooling each would hold one of its own).
      expect(backends.size).toBeLessThanOrEqual(2);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
});
