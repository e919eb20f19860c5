/**
 * `import --from-dbstore-env VAR`: the way off the SDK's DBStore, on a real MariaDB.
 * One source table is filled by both real SDKs' own DBStore against the loopback accounts
 * server: ten users (a refresh token with a comma, 232 characters long), a user with a
 * quote (its string-built SQL is refused, nothing written), the eleventh insert (its id
 * collides) and a refresh (its string-built UPDATE). That table is imported into a file store
 * and a MariaDB store, and each SDK, in a process of its own, finds every token through
 * them as it calls the store and uses it with no new token request. Other tables are made
 * by the SDK README's DDL and filled by hand with values the DBStore cannot write (a quote)
 * and with bad ones. The source is unchanged afterwards (its checksum and rows), and
 * nothing printed holds a secret or the database password.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverConfig } from "../../scripts/sdk-scenario.mjs";
import { startZohoServer, type ZohoServer } from "../../scripts/zoho-loopback-server.mjs";
import { openMysqlStore } from "../../src/backend/mysql/index.js";
import { EncryptedFileStore, generateKey, zohoTokenStore } from "../../src/index.js";
import { cli, jsonResult } from "../cli-helpers.js";
import { fixture, runCommand, tempDir } from "../helpers.js";
import { skipWithoutMariadb, startMariadb, type MysqlServer } from "../servers/mariadb.js";

const require = createRequire(import.meta.url);
type Sdk = Record<string, any>;

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

/** A file store or a MySQL store, opened for a look at what it holds. */
function openStore(option: { path: string } | { mysql: string }, key: string) {
  return "path" in option ? EncryptedFileStore.open({ path: option.path, key }) : openMysqlStore({ mysql: option.mysql, key });
}

/** The two real SDKs, loaded into this process. */
async function loadSdks(): Promise<Record<"ts" | "nodejs", Sdk>> {
  // The nodejs SDK ships no types; a computed specifier keeps the type checker out of it.
  const nodejsSdk: string = "@zohocrm/nodejs-sdk-8.0";
  return { ts: require("@zohocrm/typescript-sdk-8.0"), nodejs: await import(nodejsSdk) };
}

/** Initialises `SDK` with `store` and `token`, then makes one API call: its HTTP status, or the failure's codes and messages along its causes. */
async function callThrough(SDK: Sdk, zoho: ZohoServer, store: unknown, token: unknown): Promise<{ status?: number; failure?: string }> {
  const environment = new SDK.Environment(zoho.apiUrl, zoho.accountsUrl, zoho.apiUrl);
  const logger = new SDK.LogBuilder().level(SDK.Levels.OFF).build();
  try {
    await (await new SDK.InitializeBuilder()).environment(environment).token(token).store(store).logger(logger).initialize();
    return { status: (await new SDK.Org.OrgOperations().getOrganization()).getStatusCode() };
  } catch (error) {
    const chain: string[] = [];
    for (let current: any = error, depth = 0; current && depth < 5; current = current.cause, depth += 1) {
      chain.push(`${current.code ?? current.name}: ${current.message ?? current.details ?? ""}`);
    }
    return { failure: chain.join(" <- ") };
  }
}

describe.skipIf(skip)("import --from-dbstore-env, from a table the SDKs' own DBStore filled", () => {
  it("both SDKs' DBStore write ten users (a quote breaks its SQL, the eleventh insert collides); the import takes all ten, and each SDK finds its token through a file store and a MariaDB store", async () => {
    // A refresh token with a comma, 232 characters long (the column holds 255).
    const zoho = await startZohoServer({ refreshTokenSuffix: `,long-${"x".repeat(145)}` });
    const outputs: string[] = [];
    try {
      const sdks = await loadSdks();
      const { name, url } = await server.createDatabase("dbstore");
      // The DBStore does not create its table: the SDK's README has the DDL run first.
      await server.query(SDK_DDL("oauthtoken"), [], name);
      const dbStore = (SDK: Sdk) => new SDK.DBStore("127.0.0.1", name, "oauthtoken", server.user, server.password, String(server.port));
      /** A program's token as it is configured: client, grant code, user. */
      const configured = (SDK: Sdk, user: { name: string; grantCode: string }) =>
        new SDK.OAuthBuilder()
          .clientId(zoho.clientId)
          .clientSecret(zoho.clientSecret)
          .grantToken(user.grantCode)
          .userSignature(new SDK.UserSignature(user.name))
          .build();
      const users = Array.from({ length: 10 }, (_, i) => ({
        sdk: (i % 2 === 0 ? "ts" : "nodejs") as "ts" | "nodejs",
        name: i === 3 ? "comma,user@example.com" : `user${i + 1}@example.com`,
        grantCode: "",
      }));
      for (const user of users) {
        user.grantCode = zoho.issueGrantCode({ user: user.name });
        expect(await callThrough(sdks[user.sdk], zoho, dbStore(sdks[user.sdk]), configured(sdks[user.sdk], user))).toEqual({ status: 204 });
      }
      expect(zoho.stats).toMatchObject({ grantsExchanged: 10, apiCallsOk: 10 });

      // A quote in a value: the DBStore's string-built SQL is refused and nothing is written.
      // The nodejs SDK's lookup breaks before the grant exchange; the typescript SDK's save
      // after it, so its grant code is spent and the refresh token it brought is lost.
      for (const sdk of ["nodejs", "ts"] as const) {
        const user = { name: `o'brien-${sdk}@example.com`, grantCode: zoho.issueGrantCode({ user: `o'brien-${sdk}@example.com` }) };
        const outcome = await callThrough(sdks[sdk], zoho, dbStore(sdks[sdk]), configured(sdks[sdk], user));
        expect(outcome.failure).toContain("ER_PARSE_ERROR");
      }
      expect(zoho.stats.grantsExchanged).toBe(11);
      // The eleventh insert: ids are max(id) + 1 over a varchar column, where "9" sorts above
      // "10", so both SDKs hand out "10" again and the insert is refused.
      for (const sdk of ["ts", "nodejs"] as const) {
        const user = { name: `eleventh-${sdk}@example.com`, grantCode: zoho.issueGrantCode({ user: `eleventh-${sdk}@example.com` }) };
        const outcome = await callThrough(sdks[sdk], zoho, dbStore(sdks[sdk]), configured(sdks[sdk], user));
        expect(outcome.failure).toContain("ER_DUP_ENTRY");
      }
      // A refresh through the DBStore: its string-built UPDATE of an existing row.
      await server.query("UPDATE oauthtoken SET expiry_time = ? WHERE id = '1'", [String(Date.now() - 60_000)], name);
      expect(await callThrough(sdks.ts, zoho, dbStore(sdks.ts), configured(sdks.ts, users[0]!))).toEqual({ status: 204 });
      expect(zoho.stats.refreshes).toBe(1);

      // What the DBStore wrote: ten rows, ids "1" to "10", every value in plaintext.
      const source = (await server.query("SELECT * FROM oauthtoken ORDER BY LENGTH(id), id", [], name)) as Array<Record<string, string | null>>;
      expect(source.map((row) => [row.id, row.user_name])).toEqual(users.map((user, i) => [String(i + 1), user.name]));
      for (const [i, row] of source.entries()) {
        const user = users[i]!;
        expect(row).toMatchObject({ client_id: zoho.clientId, client_secret: zoho.clientSecret, grant_token: user.grantCode, redirect_url: null });
        expect(row.refresh_token).toBe(zoho.refreshTokensOf(user.name)[0]);
        expect(row.refresh_token).toMatch(/,long-x{145}$/);
        expect(zoho.isLive(row.access_token!)).toBe(true);
        expect(Number(row.expiry_time)).toBeGreaterThan(Date.now());
      }
      const checksum = async () => {
        const [sum] = await server.query("CHECKSUM TABLE oauthtoken EXTENDED", [], name);
        return `${sum.Checksum}:${JSON.stringify(await server.query("SELECT * FROM oauthtoken ORDER BY id", [], name))}`;
      };
      const before = await checksum();
      let apiCalls = zoho.stats.apiCallsOk;

      // The import, into a file store and into a MariaDB store.
      const key = generateKey();
      const file = join(tempDir(), "tokens.enc");
      const { url: target } = await server.createDatabase("moved");
      const targets = [
        { env: { ZOHO_TOKEN_STORE_FILE: file }, option: { path: file } },
        { env: { ZOHO_TOKEN_STORE_MYSQL: target }, option: { mysql: target } },
      ];
      for (const { env, option } of targets) {
        const result = await cli(["import", "--from-dbstore-env", "DBSTORE_URL", "--json"], { ...env, ZOHO_TOKEN_STORE_KEY: key, DBSTORE_URL: url });
        outputs.push(result.stdout, result.stderr);
        expect(result.code, result.stderr).toBe(0);
        const report = jsonResult(result.stdout);
        expect(report).toMatchObject({ table: "oauthtoken", rows: 10, added: 10, updated: 0 });
        const ids = new Map<string, string>(report.results.map((r: any) => [r.rowId, r.id]));

        const store = await openStore(option, key);
        const stored = await store.getTokens();
        expect(stored.map(({ id: _id, ...token }) => token)).toEqual(
          source.map((row) => ({
            userName: row.user_name,
            clientId: row.client_id,
            clientSecret: row.client_secret,
            refreshToken: row.refresh_token,
            accessToken: row.access_token,
            grantToken: row.grant_token,
            expiryTime: row.expiry_time,
            redirectUrl: null,
            apiDomain: row.api_domain,
          })),
        );
        await store.close();

        // Each program keeps its SDK and its configured token and changes only its store: the
        // SDK finds the stored access token (findToken by user; findTokenById for a token
        // configured by id, and as the SDK calls it) and calls the API with it, without asking
        // the accounts server.
        const requests = zoho.stats.tokenRequests;
        for (const sdk of ["ts", "nodejs"] as const) {
          const mine = users.flatMap((user, i) => (user.sdk === sdk ? [{ user, row: source[i]! }] : []));
          const config = {
            sdk,
            store: option,
            ...serverConfig(zoho),
            users: mine.map(({ user, row }) => ({
              name: user.name,
              grantCode: user.grantCode,
              id: ids.get(row.id!),
              accessToken: row.access_token,
              refreshToken: row.refresh_token,
            })),
          };
          const run = await runCommand(process.execPath, [fixture("sdk-find-tokens.mjs")], {
            env: { ...process.env, ZOHO_TOKEN_STORE_KEY: key, SDK_FIND_CONFIG: JSON.stringify(config) },
          });
          outputs.push(run.stdout, run.stderr);
          expect(run.code, run.stderr).toBe(0);
          expect(JSON.parse(run.stdout)).toEqual(mine.map(() => ({ byUser: 204, byId: sdk === "ts" ? 204 : null, findTokenById: true })));
        }
        expect(zoho.stats.tokenRequests).toBe(requests);
        apiCalls += 15;
        expect(zoho.stats.apiCallsOk).toBe(apiCalls);
      }
      // The source table was only read.
      expect(await checksum()).toBe(before);
      for (const output of outputs) for (const secret of [...zoho.secrets(), server.password]) expect(output.includes(secret)).toBe(false);
    } finally {
      await zoho.close();
    }
  }, 300_000);
});
