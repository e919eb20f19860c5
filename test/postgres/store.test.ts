/**
 * The token store on PostgreSQL (a real server started by this file): the six
 * operations across separate pools as separate hosts would have them, one query per warm
 * read, a save that writes only the head and the token it changed, rows bound to their
 * place (a row copied to another namespace, table or record is refused), nothing readable
 * in the tables, and the SDK adapter's one line.
 * The two-host and SDK-adapter cases are test/sql/store.ts, shared with the MariaDB store.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore, type PostgresStoreOptions } from "../../src/backend/postgres/index.js";
import { generateKey, isTokenStoreError, type EncryptedTokenStore } from "../../src/index.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, runCommand, sampleToken, secretsOf, tempDir } from "../helpers.js";
import { storeCases } from "../sql/store.js";
import { startPostgres, type PostgresServer } from "../servers/postgres.js";

let server: PostgresServer;
const stores: EncryptedTokenStore[] = [];
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  for (const store of stores) await store.close().catch(() => undefined);
  await server?.stop();
});

async function open(options: PostgresStoreOptions): Promise<EncryptedTokenStore> {
  const store = await openPostgresStore(options);
  stores.push(store);
  return store;
}

/**
 * The text of every statement sent through `pool`'s clients, as sent: the store sends
 * each on a client it checks out (its own deadline per statement), never through
 * `pool.query`.
 */
function recordStatements(pool: pg.Pool): string[] {
  const sent: string[] = [];
  pool.on("acquire", (client) => {
    const marked = client as pg.PoolClient & { counted?: boolean };
    if (marked.counted) return;
    marked.counted = true;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const [first] = args;
      sent.push(typeof first === "string" ? first : String((first as { text?: unknown }).text));
      return query(...args);
    };
  });
  return sent;
}

describe("the store on PostgreSQL", () => {
  storeCases({
    option: "postgres",
    name: "PostgreSQL",
    server: () => server,
    open: (url, key) => open({ postgres: url, key }),
    location: /^postgres(ql)?:\/\/127\.0\.0\.1:\d+\//,
  });

  it("a warm read is one statement; a save writes the head and the one token's row, whatever the number stored", async () => {
    const { url, name } = await server.createDatabase();
    const key = generateKey();
    const writer = await open({ postgres: url, key });
    await Promise.all(Array.from({ length: 300 }, (_, i) => writer.saveToken(sampleToken(`bulk${i}`))));
    const pool = new pg.Pool({ connectionString: url });
    const sent = recordStatements(pool);
    const reader = await open({ postgres: pool, key });
    expect(await reader.getTokens()).toHaveLength(300);
    sent.length = 0;
    for (let i = 0; i < 5; i++) expect(await reader.findToken({ userName: "user-bulk7@example.com" })).not.toBeNull();
    expect(sent).toHaveLength(5);
    await writer.saveToken({ userName: "user-bulk7@example.com", accessToken: "1000.access-changed" });
    const { rows } = await server.query(
      "SELECT r.id FROM zoho_tokens r JOIN zoho_tokens_heads h ON h.namespace = r.namespace WHERE r.written = h.version ORDER BY 1",
      [],
      name,
    );
    expect(rows.map((r) => r.id)).toEqual(["head", "r.8"]);
    // The reader catches up in one statement too.
    sent.length = 0;
    expect((await reader.findToken({ userName: "user-bulk7@example.com" }))?.accessToken).toBe("1000.access-changed");
    expect(sent).toHaveLength(1);
    await reader.close();
    expect((await pool.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    await pool.end();
  });

  it("a save is two round trips (the lock, then the write with its COMMIT); a refused write is rolled back, nothing changed, the connection reusable", async () => {
    const { url, name } = await server.createDatabase();
    const key = generateKey();
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const sent = recordStatements(pool);
    const store = await open({ postgres: pool, key });
    await store.saveToken(sampleToken("one"));
    sent.length = 0;
    await store.saveToken({ userName: "user-one@example.com", accessToken: "1000.access-two" });
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatch(/^BEGIN;.*FOR UPDATE$/s);
    expect(sent[1]).toMatch(/; COMMIT$/);
    // Nothing of the token in the statement's text: its bytes are sealed.
    for (const text of sent) for (const secret of [...secretsOf(sampleToken("one")), "1000.access-two"]) expect(text).not.toContain(secret);

    const head = async () => (await server.query("SELECT version FROM zoho_tokens_heads", [], name)).rows[0]?.version;
    const before = await head();
    await server.query(
      "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$; CREATE TRIGGER refuse BEFORE UPDATE ON zoho_tokens FOR EACH ROW EXECUTE FUNCTION refuse()",
      [],
      name,
    );
    const error = await store.saveToken({ userName: "user-one@example.com", accessToken: "1000.access-three" }).catch((e: unknown) => e);
    expect(isTokenStoreError(error, "IO_ERROR")).toBe(true);
    expect(String((error as Error).message)).toMatch(/while writing/);
    expect(await head()).toBe(before);
    // No connection was given back with its transaction open or aborted.
    const idle = await server.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'", [name], name);
    expect(idle.rows[0]?.n).toBe(0);
    await server.query("DROP TRIGGER refuse ON zoho_tokens", [], name);
    await store.saveToken({ userName: "user-one@example.com", accessToken: "1000.access-four" });
    expect(Number(await head())).toBe(Number(before) + 1);
    expect((await store.findToken({ userName: "user-one@example.com" }))?.accessToken).toBe("1000.access-four");
    await store.close();
    await pool.end();
  });

  it("namespaces are separate stores in one table; a row copied to another namespace, record or table is refused (DAMAGED_FILE)", async () => {
    const { url, name } = await server.createDatabase();
    const key = generateKey();
    const quoted = await open({ postgres: url, key, namespace: "o'brien; --" });
    await quoted.saveToken(sampleToken("quoted"));
    expect((await (await open({ postgres: url, key, namespace: "o'brien; --" })).getTokens()).map((t) => t.userName)).toEqual(["user-quoted@example.com"]);
    // A namespace's quotes and backslashes stay data, also where a server still reads
    // backslashes in plain strings as escapes.
    await server.query(`ALTER DATABASE "${name}" SET standard_conforming_strings = off`, [], name);
    for (const namespace of ["back\\", "back\\'; --", "back"]) {
      const store = await open({ postgres: url, key, namespace });
      await store.saveToken(sampleToken(namespace.length.toString()));
      await store.saveToken({ userName: `user-${namespace.length}@example.com`, accessToken: "1000.access-again" });
      await store.close();
    }
    for (const namespace of ["back\\", "back\\'; --", "back"]) {
      const tokens = await (await open({ postgres: url, key, namespace })).getTokens();
      expect(tokens.map((t) => t.userName)).toEqual([`user-${namespace.length}@example.com`]);
    }
    await server.query(`ALTER DATABASE "${name}" RESET standard_conforming_strings`, [], name);
    const prod = await open({ postgres: url, key, namespace: "prod" });
    const test = await open({ postgres: url, key, namespace: "test" });
    await prod.saveToken(sampleToken("prod"));
    await test.saveToken(sampleToken("test"));
    expect((await test.getTokens()).map((t) => t.userName)).toEqual(["user-test@example.com"]);
    // An administrator copies prod's token row over test's.
    await server.query(
      "UPDATE zoho_tokens t SET sealed = p.sealed FROM zoho_tokens p WHERE t.namespace = 'test' AND p.namespace = 'prod' AND t.id = 'r.1' AND p.id = 'r.1'",
      [],
      name,
    );
    await server.query("UPDATE zoho_tokens_heads SET version = version + 1 WHERE namespace = 'test'", [], name);
    await server.query(
      "UPDATE zoho_tokens SET written = (SELECT version FROM zoho_tokens_heads WHERE namespace = 'test') WHERE namespace = 'test' AND id = 'r.1'",
      [],
      name,
    );
    const fresh = await open({ postgres: url, key, namespace: "test" });
    const error = await fresh.getTokens().catch((e) => e);
    expect(isTokenStoreError(error, "DAMAGED_FILE")).toBe(true);
    expect(error.message).toMatch(/copied from another table, namespace or record/);
    const seen = await test.findTokenById("1").catch((e) => e);
    expect(isTokenStoreError(seen, "DAMAGED_FILE")).toBe(true);
    // A head copied from another namespace is refused too, and so is a changed byte.
    const { url: url2, name: name2 } = await server.createDatabase();
    const other = await open({ postgres: url2, key });
    await other.saveToken(sampleToken("x"));
    await server.query("UPDATE zoho_tokens SET sealed = set_byte(sealed, 100, get_byte(sealed, 100) # 1) WHERE id = 'r.1'", [], name2);
    await server.query("UPDATE zoho_tokens_heads SET version = version + 1", [], name2);
    await server.query("UPDATE zoho_tokens SET written = (SELECT version FROM zoho_tokens_heads) WHERE id = 'r.1'", [], name2);
    expect(isTokenStoreError(await other.getTokens().catch((e) => e), "DAMAGED_FILE")).toBe(true);
    // prod is untouched.
    expect((await prod.getTokens()).map((t) => t.userName)).toEqual(["user-prod@example.com"]);
  });

  it("nothing readable in the tables: no user name, client id, token or secret in any column", async () => {
    const { url, name } = await server.createDatabase();
    const key = generateKey();
    const store = await open({ postgres: url, key, namespace: "app" });
    const tokens = [sampleToken("alpha"), sampleToken("beta", { grantToken: "1000.grant-beta-gt" })];
    for (const token of tokens) await store.saveToken(token);
    const dump = await server.query(
      "SELECT string_agg(t::text, E'\\n') AS all FROM (SELECT * FROM zoho_tokens UNION ALL SELECT namespace, 'h', version, NULL, NULL FROM zoho_tokens_heads) t",
      [],
      name,
    );
    const text = String(dump.rows[0]!.all);
    const hex = (value: string) => Buffer.from(value).toString("hex");
    for (const secret of [...tokens.flatMap(secretsOf), ...tokens.map((t) => t.userName), key]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(hex(secret));
    }
  });
});

describe("a runtime role with the documented grants", () => {
  it("reads, saves, deletes and takes leases, never creates anything, and inspection finds no missing grant", async () => {
    const { url, name } = await server.createDatabase();
    const key = generateKey();
    const owner = await open({ postgres: url, key });
    await owner.saveToken(sampleToken("owned"));
    const role = `app_${name}`;
    const password = "runtime-role-pw-7c1e";
    await server.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    for (const grant of [
      "GRANT USAGE ON SCHEMA public TO ROLE",
      "GRANT SELECT, INSERT, UPDATE ON zoho_tokens, zoho_tokens_heads TO ROLE",
      "GRANT SELECT, INSERT, UPDATE, DELETE ON zoho_tokens_leases TO ROLE",
      "GRANT SELECT ON zoho_tokens_schema TO ROLE",
    ]) {
      await server.query(grant.replace("ROLE", role), [], name);
    }
    const runtimeUrl = `postgres://${role}:${password}@${server.host}:${server.port}/${name}`;
    const app = await open({ postgres: runtimeUrl, key, createSchema: false });
    expect((await app.getTokens()).map((t) => t.userName)).toEqual(["user-owned@example.com"]);
    await app.saveToken(sampleToken("runtime"));
    expect(await app.deleteToken("1")).toBe(true);
    const coordinator = app.refreshCoordinator({ leaseMs: 1_000 });
    expect(await coordinator.claim("k", async () => false)).toBe("acquired");
    await coordinator.release("k");
    const { openPostgresBackend } = await import("../../src/backend/postgres/backend.js");
    const backend = await openPostgresBackend({ postgres: runtimeUrl, createSchema: false });
    const checks = await backend.inspect();
    await backend.close();
    expect(checks.find((c) => c.check === "grants")).toMatchObject({ status: "ok" });
    // Without a grant it may not write: a coded error, nothing changed.
    await server.query(`REVOKE UPDATE ON zoho_tokens_heads FROM ${role}`, [], name);
    const refused = await app.saveToken(sampleToken("refused")).catch((e) => e);
    expect(isTokenStoreError(refused, "IO_ERROR")).toBe(true);
    expect(refused.message).not.toContain(password);
    expect((await owner.getTokens()).map((t) => t.userName)).toEqual(["user-runtime@example.com"]);
  });
});

describe("examples/postgres.mjs", () => {
  it("runs against a real server, through the SDK adapter and on its own, printing no secret and no password", async () => {
    const { url } = await server.createDatabase();
    const dir = tempDir();
    const key = generateKey();
    writeFileSync(join(dir, "zoho.key"), `${key}\n`, { mode: 0o600 });
    const result = await runCommand(process.execPath, [join(ROOT, "examples", "postgres.mjs")], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", DATABASE_URL: url },
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^0 tokens for the SDK\n/);
    expect(result.stdout).toContain("refreshToken: '[redacted]'");
    expect(result.stdout).toContain(`postgres://127.0.0.1:${server.port}/`);
    for (const secret of [server.password, key, "1000.made-up-refresh-token"]) expect(result.stdout).not.toContain(secret);
  });

  it("a postgres option that is not set is INVALID_OPTION", async () => {
    const error = await openPostgresStore({ postgres: undefined, key: generateKey() }).catch((e) => e);
    expect(isTokenStoreError(error, "INVALID_OPTION")).toBe(true);
    expect(error.message).toMatch(/not set/);
  });
});
