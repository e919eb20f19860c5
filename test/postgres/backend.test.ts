/**
 * The PostgreSQL backend on a real server, at the seam (no store above it): provisioning,
 * one-statement reads that revalidate and return only what changed, compare-and-set
 * writes in one transaction, the previous generation kept per row, leases on the
 * server's clock with fencing, lifecycle, and coded errors for a server that is down.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isTokenStoreError, TokenStoreError } from "../../src/errors.js";
import { openPostgresBackend, type PostgresBackendOptions } from "../../src/backend/postgres/backend.js";
import type { SqlBackend } from "../../src/backend/sql/backend.js";
import type { Replacement, ReadResult } from "../../src/backend/types.js";
import { freePort, startPostgres, type PostgresServer } from "../servers/postgres.js";

let server: PostgresServer;
const opened: SqlBackend[] = [];
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  for (const backend of opened) await backend.close();
  await server?.stop();
});

async function open(url: string, options: Partial<PostgresBackendOptions> = {}): Promise<SqlBackend> {
  const backend = await openPostgresBackend({ postgres: url, ...options });
  opened.push(backend);
  return backend;
}

const bytes = (text: string) => new Uint8Array(Buffer.from(text));
const text = (b: Uint8Array) => Buffer.from(b).toString();
const put = (records: Record<string, string>, remove: string[] = [], whole = false): Replacement => ({
  whole,
  put: Object.entries(records).map(([id, value]) => ({ id, parts: [bytes(value)] })),
  remove,
});

function contents(result: ReadResult): Record<string, string> {
  if (result.kind !== "snapshot") throw new Error(`expected a snapshot, got ${result.kind}`);
  return Object.fromEntries(result.records.map((r) => [r.id, text(r.bytes)]));
}

async function write(backend: SqlBackend, replacement: Replacement, keepPrevious = true) {
  return backend.exclusive(async (session) => {
    const current = await session.currentVersion();
    return session.replace(replacement, current, { keepPrevious });
  });
}

describe("provisioning", () => {
  it("creates the tables once (idempotent), checks the schema version on open, and refuses a newer one", async () => {
    const { url, name } = await server.createDatabase();
    const backend = await open(url, { createSchema: false }).catch((error) => error);
    expect(isTokenStoreError(backend, "FILE_MISSING")).toBe(true);
    const first = await open(url);
    expect(await first.create()).toEqual({ created: false });
    const tables = await server.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", [], name);
    expect(tables.rows.map((r) => r.tablename)).toEqual(["zoho_tokens", "zoho_tokens_heads", "zoho_tokens_leases", "zoho_tokens_schema"]);
    // Several openers at once: no error, one schema.
    await Promise.all([1, 2, 3].map(() => open(url, { table: "other" })));
    await server.query("UPDATE zoho_tokens_schema SET version = 99", [], name);
    const newer = await open(url).catch((error) => error);
    expect(isTokenStoreError(newer, "UNSUPPORTED_VERSION")).toBe(true);
    expect(newer.message).not.toContain(server.password);
  });

  it("puts the tables in the schema and table given", async () => {
    const { url, name } = await server.createDatabase();
    await open(url, { schema: "tokens", table: "app" });
    const tables = await server.query("SELECT tablename FROM pg_tables WHERE schemaname = 'tokens' ORDER BY 1", [], name);
    expect(tables.rows.map((r) => r.tablename)).toEqual(["app", "app_heads", "app_leases", "app_schema"]);
  });

  it("refuses bad options with INVALID_OPTION, naming no value", async () => {
    for (const options of [
      { postgres: 42 },
      { postgres: "mysql://x" },
      { postgres: "postgres://x", table: "Robert'); DROP" },
      { postgres: "postgres://x", namespace: "" },
    ]) {
      const error = await openPostgresBackend(options as PostgresBackendOptions).catch((e) => e);
      expect(error).toBeInstanceOf(TokenStoreError);
      expect(error.code).toBe("INVALID_OPTION");
      expect(error.message).not.toContain("DROP");
    }
  });
});

describe("reads and writes", () => {
  it("reads missing, then a complete snapshot; a read with the current version is 'unchanged'; a later one gets only what changed", async () => {
    const { url } = await server.createDatabase();
    const backend = await open(url);
    expect(await backend.read()).toEqual({ kind: "missing" });
    const v1 = await write(backend, put({ head: "h1", a: "a1", b: "b1", c: "c1" }, [], true));
    const all = await backend.read();
    expect(contents(all)).toEqual({ head: "h1", a: "a1", b: "b1", c: "c1" });
    expect(all.kind === "snapshot" && all.complete).toBe(true);
    expect(await backend.read({ since: v1 })).toEqual({ kind: "unchanged" });
    const v2 = await write(backend, put({ head: "h2", b: "b2" }, ["c"]));
    const delta = await backend.read({ since: v1 });
    expect(delta.kind === "snapshot" && { complete: delta.complete, version: delta.version, removed: delta.removed }).toEqual({
      complete: false,
      version: v2,
      removed: ["c"],
    });
    expect(contents(delta)).toEqual({ head: "h2", b: "b2" });
    expect(contents(await backend.read())).toEqual({ head: "h2", a: "a1", b: "b2" });
    // A whole replacement removes every record not in it.
    const v3 = await write(backend, put({ head: "h3", d: "d1" }, [], true));
    const after = await backend.read({ since: v2 });
    expect(after.kind === "snapshot" && [...after.removed].sort()).toEqual(["a", "b"]);
    expect(contents(await backend.read())).toEqual({ head: "h3", d: "d1" });
    // A removed id written again comes back.
    await write(backend, put({ c: "c2" }));
    expect(contents(await backend.read({ since: v3 }))).toEqual({ c: "c2" });
  });

  it("a stale compare-and-set writes nothing (WRITE_CONFLICT, also matched as LOCK_COMPROMISED)", async () => {
    const { url } = await server.createDatabase();
    const a = await open(url);
    const b = await open(url);
    const v1 = await write(a, put({ head: "1" }, [], true));
    await write(b, put({ head: "2" }));
    const error: any = await a.exclusive((session) => session.replace(put({ head: "stale" }), v1, { keepPrevious: true })).catch((e) => e);
    expect(error.code).toBe("WRITE_CONFLICT");
    expect(isTokenStoreError(error, "LOCK_COMPROMISED")).toBe(true);
    expect(contents(await a.read())).toEqual({ head: "2" });
  });

  it("a change that throws (any value) is rolled back and the value rethrown unchanged", async () => {
    const { url } = await server.createDatabase();
    const backend = await open(url);
    await write(backend, put({ head: "1" }, [], true));
    const thrown = { not: "an error" };
    const error = await backend
      .exclusive(async (session) => {
        await session.replace(put({ head: "2", x: "x" }), await session.currentVersion(), { keepPrevious: true });
        throw thrown;
      })
      .catch((e) => e);
    expect(error).toBe(thrown);
    expect(contents(await backend.read())).toEqual({ head: "1" });
  });

  it("two backends with pools of their own never overlap inside exclusive", async () => {
    const { url } = await server.createDatabase();
    const backends = [await open(url), await open(url)];
    const events: string[] = [];
    await Promise.all(
      backends.flatMap((backend, who) =>
        Array.from({ length: 10 }, () =>
          backend.exclusive(async (session) => {
            events.push(`<${who}`);
            await new Promise((resolve) => setTimeout(resolve, 2));
            const version = await session.currentVersion();
            await session.replace(put({ head: `${who}` }), version, { keepPrevious: false });
            events.push(`>${who}`);
          }),
        ),
      ),
    );
    for (let i = 0; i < events.length; i += 2) expect(events[i + 1]).toBe(`>${events[i]!.slice(1)}`);
    expect(events).toHaveLength(40);
  });

  it("keeps the previous generation per row: the state before the last write that kept it", async () => {
    const { url } = await server.createDatabase();
    const backend = await open(url);
    expect(await backend.hasPrevious()).toBe(false);
    await write(backend, put({ head: "h1", a: "a1", b: "b1" }, [], true));
    expect(await backend.hasPrevious()).toBe(false);
    await write(backend, put({ head: "h2", a: "a2", n: "n1" }, ["b"]));
    expect(contents((await backend.readPrevious())!)).toEqual({ head: "h1", a: "a1", b: "b1" });
    // Two writes in a row: the previous is the state before the last one.
    await write(backend, put({ head: "h3", n: "n2" }));
    expect(contents((await backend.readPrevious())!)).toEqual({ head: "h2", a: "a2", n: "n1" });
    // A write that does not keep the previous generation leaves it as it was.
    await write(backend, put({ head: "h4", a: "a3" }, ["n"]), false);
    expect(contents((await backend.readPrevious())!)).toEqual({ head: "h2", a: "a2", n: "n1" });
    expect(contents(await backend.read())).toEqual({ head: "h4", a: "a3" });
    const peek = await backend.peek({ headBytes: 1, id: "head", previous: true });
    expect(peek && { head: text(peek.head), length: peek.length }).toEqual({ head: "h", length: 2 });
  });
});

describe("refresh leases on the server's clock", () => {
  const key = () => new Uint8Array(32).fill(7);

  it("one acquirer; a waiter is satisfied once the work is done; a stale release does not end a newer lease", async () => {
    const { url, name } = await server.createDatabase();
    const [a, b, c] = [await open(url), await open(url), await open(url)];
    const ca = a.refreshCoordinator({ leaseMs: 400, nameKey: key });
    const cb = b.refreshCoordinator({ leaseMs: 400, nameKey: key });
    const cc = c.refreshCoordinator({ leaseMs: 5_000, nameKey: key });
    // A waiter is satisfied (leases long enough that no load makes them expire here).
    const la = a.refreshCoordinator({ leaseMs: 60_000, nameKey: key });
    const lc = c.refreshCoordinator({ leaseMs: 60_000, nameKey: key });
    expect(await la.claim("waited", async () => false)).toBe("acquired");
    let done = false;
    const waiting = lc.claim("waited", async () => done);
    await new Promise((resolve) => setTimeout(resolve, 100));
    done = true;
    expect(await waiting).toBe("satisfied");
    await la.release("waited");
    expect(await ca.claim("token", async () => false)).toBe("acquired");
    // a's lease expires (400 ms on the server's clock); b takes it over.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await cb.claim("token", async () => false)).toBe("acquired");
    // a's late release must not end b's lease.
    await ca.release("token");
    const rows = await server.query("SELECT name, owner FROM zoho_tokens_leases", [], name);
    expect(rows.rows).toHaveLength(1);
    // The lease name is a keyed hash, not the key.
    expect(rows.rows[0]!.name).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.stringify(rows.rows)).not.toContain("token");
    const third = cc.claim("token", async () => false);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await cb.release("token");
    expect(await third).toBe("acquired");
    await cc.release("token");
    expect((await server.query("SELECT count(*)::int AS n FROM zoho_tokens_leases", [], name)).rows[0]!.n).toBe(0);
  });

  it("a waiter goes ahead after the lease time when the holder never finishes", async () => {
    const { url } = await server.createDatabase();
    const [a, b] = [await open(url), await open(url)];
    expect(await a.refreshCoordinator({ leaseMs: 60_000, nameKey: key }).claim("k", async () => false)).toBe("acquired");
    expect(await b.refreshCoordinator({ leaseMs: 300, nameKey: key }).claim("k", async () => false)).toBe("timeout");
  });
});

describe("lifecycle and failures", () => {
  it("close ends a pool it created, never one it was given; every later call is CLOSED", async () => {
    const { url } = await server.createDatabase();
    const pool = new pg.Pool({ connectionString: url });
    const given = await openPostgresBackend({ postgres: pool });
    await write(given, put({ head: "1" }, [], true));
    await given.close();
    await given.close();
    expect((await pool.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    await pool.end();
    const error = await given.read().catch((e) => e);
    expect(error.code).toBe("CLOSED");
    const owned = await openPostgresBackend({ postgres: url });
    const running = write(owned, put({ head: "2" }));
    const closing = owned.close();
    // A call under way finishes before the pool ends.
    expect(typeof (await running)).toBe("number");
    await closing;
    expect((await owned.exclusive(async () => 1).catch((e) => e)).code).toBe("CLOSED");
  });

  it("a server that is not there fails with UNAVAILABLE within the connection timeout, without the password", async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await openPostgresBackend({ postgres: `postgres://u:hunter2secret@127.0.0.1:${port}/db` }).catch((e) => e);
    expect(error.code).toBe("UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(`${error.message} ${error.stack} ${JSON.stringify(error)}`).not.toContain("hunter2secret");
    expect(error.cause).toBeDefined();
  });
});
