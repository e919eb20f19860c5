/**
 * `import --from-dbstore-env VAR`: the way off the SDK's DBStore. The source is a table
 * made by the SDK README's DDL on a real MariaDB, filled with values as the DBStore writes
 * them (expiry in ms as text, nulls for values it lacks) and odd ones (a quote, a comma, a
 * 250-character token); every token is then found through the store and the SDK adapter,
 * the source table is unchanged (its checksum and rows), and nothing printed holds a
 * secret or the database password.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openMysqlStore } from "../../src/backend/mysql/index.js";
import { EncryptedFileStore, generateKey, zohoTokenStore } from "../../src/index.js";
import { cli, jsonResult } from "../cli-helpers.js";
import { tempDir } from "../helpers.js";
import { skipWithoutMariadb, startMariadb, type MysqlServer } from "../servers/mariadb.js";

const skip = skipWithoutMariadb("the DBStore import suite (test/mysql/dbstore-import.test.ts)");
let server: MysqlServer;
beforeAll(async () => {
  if (!skip) server = await startMariadb();
});
afterAll(async () => {
  await server?.stop();
});

/** The SDK README's DDL for DBStore (nodejs-sdk-8.0), as given. */
const SDK_DDL = (table: string) => `CREATE TABLE ${table} (
  id varchar(10) NOT NULL,
  user_name varchar(255),
  client_id varchar(255),
  client_secret varchar(255),
  refresh_token varchar(255),
  access_token varchar(255),
  grant_token varchar(255),
  expiry_time varchar(20),
  redirect_url varchar(255),
  api_domain varchar(255),
  primary key (id)
)`;

const COLUMNS = ["id", "user_name", "client_id", "client_secret", "refresh_token", "access_token", "grant_token", "expiry_time", "redirect_url", "api_domain"];

const expiry = String(Date.now() + 3_600_000);
const LONG = `1000.${"a1b2c3d4e5".repeat(24)}.long`;
/** Rows as the DBStore writes them; ids as it gives them ("1", "2", ..., "10": strings). */
const ROWS: Array<Array<string | null>> = [
  [
    "1",
    "o'brien@example.com",
    "1000.CLIENTQUOTE",
    "secret'with'quotes",
    "1000.refresh'quote",
    "1000.access'quote",
    null,
    expiry,
    "https://example.com/cb",
    "https://www.zohoapis.com",
  ],
  [
    "2",
    "comma@example.com",
    "1000.CLIENT,COMMA",
    "secret,with,commas",
    "1000.refresh,comma",
    "1000.access,comma",
    null,
    expiry,
    "https://example.com/a,b",
    "https://www.zohoapis.eu",
  ],
  ["3", "long@example.com", "1000.CLIENTLONG", "secret-long", LONG, "1000.access-long", null, expiry, "https://example.com/cb", "https://www.zohoapis.com"],
  // A grant token not yet exchanged: the DBStore writes null for what it does not have.
  ["10", null, "1000.CLIENTGRANT", "secret-grant", null, null, "1000.grant-only-gt", null, "https://example.com/cb", null],
];

function secretsOfRows(rows: Array<Array<string | null>>): string[] {
  return rows.flatMap((row) => [row[2], row[3], row[4], row[5], row[6]]).filter((value): value is string => value !== null);
}

async function legacyTable(table = "oauthtoken", rows = ROWS): Promise<{ name: string; url: string; checksum: () => Promise<string> }> {
  const { name, url } = await server.createDatabase("legacy");
  await server.query(SDK_DDL(table), [], name);
  for (const row of rows) await server.query(`INSERT INTO ${table} (${COLUMNS.join(", ")}) VALUES (?)`, [row], name);
  const checksum = async () => {
    const [sum] = await server.query(`CHECKSUM TABLE ${table} EXTENDED`, [], name);
    const all = await server.query(`SELECT * FROM ${table} ORDER BY id`, [], name);
    return `${sum.Checksum}:${JSON.stringify(all)}`;
  };
  return { name, url, checksum };
}

describe.skipIf(skip)("import --from-dbstore-env", () => {
  it("--dry-run reports what would be added and creates nothing; the import takes every row; a second run changes nothing", async () => {
    const { url, checksum } = await legacyTable();
    const before = await checksum();
    const dir = tempDir();
    const file = join(dir, "tokens.enc");
    const key = generateKey();
    const env = { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_KEY: key, DBSTORE_URL: url };

    const dry = await cli(["import", "--from-dbstore-env", "DBSTORE_URL", "--dry-run"], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("read 4 rows from the DBStore table oauthtoken of mysql://127.0.0.1:");
    expect(dry.stdout).toContain("row id 1: would add a new token (o'brien@example.com)");
    expect(dry.stdout).toMatch(/dry run: would add 4, update 0, leave 0 unchanged in .*; nothing was written/);
    expect(existsSync(file)).toBe(false);

    const result = await cli(["import", "--from-dbstore-env", "DBSTORE_URL", "--json"], env);
    expect(result.code, result.stderr).toBe(0);
    const report = jsonResult(result.stdout);
    expect(report).toMatchObject({ table: "oauthtoken", rows: 4, added: 4, updated: 0, unchanged: 0, writes: 1 });
    expect(report.results.map((r: any) => [r.rowId, r.id, r.action])).toEqual([
      ["1", "1", "added"],
      ["2", "2", "added"],
      ["3", "3", "added"],
      ["10", "4", "added"],
    ]);
    expect(result.stderr).toContain("the table oauthtoken of mysql://127.0.0.1:");
    expect(result.stderr).toContain("still holds these tokens in plaintext; once every program has moved, drop it: DROP TABLE `oauthtoken`;");

    // Every token is in the store as the DBStore had it.
    const store = await EncryptedFileStore.open({ path: file, key });
    for (const row of ROWS) {
      const found = (await store.getTokens()).find((record) => (row[1] !== null ? record.userName === row[1] : record.grantToken === row[6]));
      expect(
        found && [
          found.userName,
          found.clientId,
          found.clientSecret,
          found.refreshToken,
          found.accessToken,
          found.grantToken,
          found.expiryTime,
          found.redirectUrl,
          found.apiDomain,
        ],
      ).toEqual(row.slice(1));
    }
    await store.close();
    // And through the SDK: the adapter hands the SDK its own OAuthToken with every value.
    const sdk = await import("@zohocrm/typescript-sdk-8.0");
    const adapter = await zohoTokenStore(sdk as any, { path: file, key });
    const tokens = await adapter.getTokens();
    expect(tokens.map((t: any) => [t.getUserSignature()?.getName() ?? null, t.getRefreshToken(), t.getClientSecret(), t.getGrantToken()])).toEqual(
      ROWS.map((row) => [row[1], row[4], row[3], row[6]]),
    );
    await adapter.close();

    // Text output: the same report, the advice to drop the table, and no secret anywhere.
    const again = await cli(["import", "--from-dbstore-env", "DBSTORE_URL"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("added 0, updated 0, unchanged 4");
    expect(again.stdout).toContain("still holds these tokens, the client secrets with them, in plaintext");
    expect(again.stdout).toContain("DROP TABLE `oauthtoken`;");
    for (const output of [dry, result, again]) {
      for (const secret of [...secretsOfRows(ROWS), server.password]) expect(output.stdout + output.stderr).not.toContain(secret);
    }
    // The source table was only read.
    expect(await checksum()).toBe(before);

    // docs/mysql.md: from the imported file into a MySQL store.
    const { url: target } = await server.createDatabase("target");
    const from = await EncryptedFileStore.open({ path: file, key });
    const to = await openMysqlStore({ mysql: target, key });
    await Promise.all((await from.getTokens()).map(({ id: _id, ...token }) => to.saveToken(token)));
    expect((await to.getTokens()).map(({ id: _id, ...token }) => token)).toEqual((await from.getTokens()).map(({ id: _id, ...token }) => token));
    await from.close();
    await to.close();
  });

  it("matches rows to tokens already in the store (updated, not duplicated); --table names another table", async () => {
    const { url, checksum } = await legacyTable("zoho_oauth", [
      ROWS[0]!,
      ["7", "o'brien@example.com", null, null, null, "1000.access-newer", null, expiry, null, null],
    ]);
    const before = await checksum();
    const dir = tempDir();
    const file = join(dir, "tokens.enc");
    const key = generateKey();
    const seeded = await EncryptedFileStore.open({ path: file, key });
    await seeded.saveToken({ userName: "o'brien@example.com", refreshToken: "1000.refresh-old", clientId: "1000.CLIENTQUOTE" });
    await seeded.close();
    const env = { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_KEY: key, LEGACY: url };
    const dry = jsonResult((await cli(["import", "--from-dbstore-env", "LEGACY", "--table", "zoho_oauth", "--dry-run", "--json"], env)).stdout);
    expect(dry).toMatchObject({ dryRun: true, added: 0, updated: 2, writes: 0 });
    const result = await cli(["import", "--from-dbstore-env", "LEGACY", "--table", "zoho_oauth", "--json"], env);
    expect(result.code, result.stderr).toBe(0);
    const report = jsonResult(result.stdout);
    expect(report).toMatchObject({ added: 0, updated: 2 });
    expect(report.results[1]).toMatchObject({ rowId: "7", id: "1", sameAsRow: "1" });
    const store = await EncryptedFileStore.open({ path: file, key });
    const tokens = await store.getTokens();
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ refreshToken: "1000.refresh'quote", accessToken: "1000.access-newer", clientSecret: "secret'with'quotes" });
    await store.close();
    expect(await checksum()).toBe(before);
  });

  it("refuses, with a code and nothing written: an unset variable, a missing table, a table of other columns, a bad row (named by its id), a server not there", async () => {
    const { url, name } = await legacyTable("oauthtoken", [
      ...ROWS,
      ["11", "bad@example.com", "1000.C", "secret-bad-row", "1000.refresh-bad-row", null, null, "tomorrow", null, null],
    ]);
    await server.query("CREATE TABLE other (id int primary key, something varchar(10))", [], name);
    const dir = tempDir();
    const file = join(dir, "tokens.enc");
    const env = { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_KEY: generateKey(), DBSTORE_URL: url };
    const unset = await cli(["import", "--from-dbstore-env", "NOT_SET_ANYWHERE"], env);
    expect([unset.code, unset.stderr]).toEqual([2, expect.stringContaining("NOT_SET_ANYWHERE is not set")]);
    const url_given = await cli(["import", "--from-dbstore-env", url], env);
    expect(url_given.code).toBe(2);
    expect(url_given.stderr).not.toContain(server.password);
    const missing = await cli(["import", "--from-dbstore-env", "DBSTORE_URL", "--table", "nope"], env);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringContaining("BAD_SOURCE")]);
    const other = await cli(["import", "--from-dbstore-env", "DBSTORE_URL", "--table", "other"], env);
    expect(other.stderr).toContain("is not a DBStore table");
    const bad = await cli(["import", "--from-dbstore-env", "DBSTORE_URL"], env);
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stderr).toContain("row id 11: expiry_time is not a time in milliseconds");
    expect(bad.stderr).toMatch(/BAD_SOURCE: 1 of 5 rows cannot be read \(row id 11\); nothing was written/);
    for (const value of ["secret-bad-row", "1000.refresh-bad-row", "tomorrow"]) expect(bad.stdout + bad.stderr).not.toContain(value);
    expect(existsSync(file)).toBe(false);
    const skipped = jsonResult((await cli(["import", "--from-dbstore-env", "DBSTORE_URL", "--skip-bad", "--json"], env)).stdout);
    expect(skipped).toMatchObject({ added: 4, skipped: [{ rowId: "11" }] });
    const down = await cli(["import", "--from-dbstore-env", "DOWN"], { ...env, DOWN: "mysql://zefs:pw-of-nobody@127.0.0.1:1/db" });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("UNAVAILABLE");
    expect(down.stderr).not.toContain("pw-of-nobody");
    for (const output of [unset, missing, other, bad, down]) expect(output.stdout + output.stderr).not.toContain(server.password);
  });
});
