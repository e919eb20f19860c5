/**
 * The command-line tool on a MySQL/MariaDB store, run as a user would (`node dist/cli.js`):
 * init, list, verify and doctor; a connection string with a password refused on the
 * command line (never printed) and accepted from ZOHO_TOKEN_STORE_MYSQL; and `copy` round
 * the three kinds of store, file -> PostgreSQL -> MySQL -> file, every token found at the
 * end and a rerun changing nothing. This file starts a PostgreSQL server too, for that trip.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EncryptedFileStore, generateKey } from "../../src/index.js";
import { assertNoSecrets, ROOT, runCommand, sampleToken, secretsOf, tempDir } from "../helpers.js";
import { skipWithoutMariadb, startMariadb, type MysqlServer } from "../servers/mariadb.js";
import { startPostgres, type PostgresServer } from "../servers/postgres.js";

const CLI = join(ROOT, "dist", "cli.js");
const skip = skipWithoutMariadb("the MySQL CLI suite (test/mysql/cli.test.ts)");
let server: MysqlServer;
let postgres: PostgresServer;
beforeAll(async () => {
  if (skip) return;
  [server, postgres] = await Promise.all([startMariadb(), startPostgres()]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), postgres?.stop()]);
});

async function tool(args: string[], env: Record<string, string> = {}) {
  const result = await runCommand(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? "", HOME: tempDir(), ...env } });
  return { ...result, all: result.stdout + result.stderr };
}

function keyFile(dir: string): string {
  const path = join(dir, "zoho.key");
  writeFileSync(path, `${generateKey()}\n`, { mode: 0o600 });
  return path;
}

function passwordOf(url: string): string {
  return decodeURIComponent(new URL(url).password);
}

describe.skipIf(skip)("the CLI on MySQL/MariaDB", () => {
  it("refuses a password on the command line; from ZOHO_TOKEN_STORE_MYSQL init, list, verify and doctor work", async () => {
    const dir = tempDir();
    const key = keyFile(dir);
    const { url } = await server.createDatabase();
    const password = passwordOf(url);
    expect(password.length).toBeGreaterThan(0);
    const refused = await tool(["init", "--mysql", url, "--key-file", key, "--json"]);
    expect(refused.code, refused.all).toBe(2);
    const error = JSON.parse(refused.stdout).error;
    expect(error.code).toBe("USAGE");
    expect(error.message).toContain("ZOHO_TOKEN_STORE_MYSQL");
    assertNoSecrets(refused.all, [password]);
    const schema = await tool(["list", "--mysql", "mysql://someone@127.0.0.1:1/db", "--schema", "x", "--key-file", key, "--json"]);
    expect(schema.code).toBe(2);

    const env = { ZOHO_TOKEN_STORE_MYSQL: url };
    const init = await tool(["init", "--key-file", key, "--table", "cli_tokens", "--json"], env);
    expect(init.code, init.all).toBe(0);
    expect(JSON.parse(init.stdout).result).toMatchObject({ created: true, generation: 1 });
    const list = await tool(["list", "--key-file", key, "--table", "cli_tokens", "--json"], env);
    expect(list.code, list.all).toBe(0);
    expect(JSON.parse(list.stdout).result.tokens).toEqual([]);
    const verify = await tool(["verify", "--key-file", key, "--table", "cli_tokens"], env);
    expect(verify.code, verify.all).toBe(0);
    expect(verify.stdout).toMatch(/^ok: mysql:\/\//);
    const doctor = await tool(["doctor", "--table", "cli_tokens", "--json"], env);
    expect(doctor.code, doctor.all).toBe(0);
    const checks = JSON.parse(doctor.stdout).result.checks as Array<{ check: string; status: string }>;
    expect(checks.find((check) => check.check === "schema")?.status).toBe("ok");
    // Another table has no store yet: verify says so.
    const missing = await tool(["verify", "--key-file", key, "--json"], env);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).result.status).toBe("missing");
    for (const output of [init, list, verify, doctor, missing]) assertNoSecrets(output.all, [password]);
  });

  it("copies file -> PostgreSQL -> MySQL -> file: every token found at the end; a rerun and a dry run change nothing", async () => {
    const dir = tempDir();
    const key = keyFile(dir);
    const tokens = [sampleToken("trip-a"), sampleToken("trip-b"), sampleToken("trip-c", { grantToken: "1000.grant-trip-c-gt" })];
    const start = join(dir, "start.enc");
    const first = await EncryptedFileStore.open({ path: start, keyFile: key });
    await first.saveTokens(tokens);
    await first.close();
    const pg = (await postgres.createDatabase()).url;
    const my = (await server.createDatabase()).url;
    const env = { PG_DEST: pg, MY_DEST: my };
    const secrets = [passwordOf(pg), passwordOf(my), ...tokens.flatMap(secretsOf)];

    const dry = await tool(["copy", "--file", start, "--to-env", "PG_DEST", "--key-file", key, "--dry-run", "--json"], env);
    expect(dry.code, dry.all).toBe(0);
    expect(JSON.parse(dry.stdout).result).toMatchObject({ dryRun: true, added: 3 });
    const toPg = await tool(["copy", "--file", start, "--to-env", "PG_DEST", "--key-file", key, "--json"], env);
    expect(toPg.code, toPg.all).toBe(0);
    expect(JSON.parse(toPg.stdout).result).toMatchObject({ tokens: 3, added: 3 });
    const toMy = await tool(["copy", "--to-env", "MY_DEST", "--key-file", key], { ...env, ZOHO_TOKEN_STORE_POSTGRES: pg });
    expect(toMy.code, toMy.all).toBe(0);
    expect(toMy.stdout).toMatch(/^copied 3 tokens from postgres:\/\/.* to mysql:\/\/.*: 3 added, 0 updated, 0 unchanged/);
    const end = join(dir, "end.enc");
    const toFile = await tool(["copy", "--to-file", end, "--key-file", key, "--json"], { ZOHO_TOKEN_STORE_MYSQL: my });
    expect(toFile.code, toFile.all).toBe(0);
    expect(JSON.parse(toFile.stdout).result).toMatchObject({ tokens: 3, added: 3 });
    const rerun = await tool(["copy", "--to-env", "MY_DEST", "--key-file", key, "--json"], { ...env, ZOHO_TOKEN_STORE_POSTGRES: pg });
    expect(JSON.parse(rerun.stdout).result).toMatchObject({ tokens: 3, added: 0, updated: 0, unchanged: 3 });

    const last = await EncryptedFileStore.open({ path: end, keyFile: key });
    const found = await last.getTokens();
    expect(found).toHaveLength(3);
    for (const token of tokens) {
      const record = await last.findToken({ userName: token.userName });
      expect({ ...record, id: undefined }).toMatchObject(token);
    }
    await last.close();
    for (const output of [dry, toPg, toMy, toFile, rerun]) assertNoSecrets(output.all, secrets);
  });
});
