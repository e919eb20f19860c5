/**
 * The command-line tool on a PostgreSQL store, run as a user would (`node dist/cli.js`):
 * init, list, verify, doctor, import of an SDK CSV, copy into and out of the server; a
 * connection string with a password refused on the command line (and never printed), the
 * same one accepted from ZOHO_TOKEN_STORE_POSTGRES; a file-only command refused.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EncryptedFileStore, generateKey } from "../../src/index.js";
import { sdkCsv } from "../cli-helpers.js";
import { assertNoSecrets, ROOT, runCommand, sampleToken, secretsOf, tempDir } from "../helpers.js";
import { startPostgres, type PostgresServer } from "../servers/postgres.js";

const CLI = join(ROOT, "dist", "cli.js");
let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

/** Runs the tool with only PATH, HOME and `env` in its environment. */
async function tool(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const result = await runCommand(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: tempDir(), ...env },
    ...(cwd ? { cwd } : {}),
  });
  return { ...result, all: result.stdout + result.stderr };
}

function keyFile(dir: string): string {
  const path = join(dir, "zoho.key");
  writeFileSync(path, `${generateKey()}\n`, { mode: 0o600 });
  return path;
}

/** The URL without its password, and the password for PGPASSWORD. */
function split(url: string): { bare: string; password: string } {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = "";
  return { bare: parsed.toString(), password };
}

describe("the CLI on PostgreSQL", () => {
  it("init, list, verify and doctor work on a server store; init again changes nothing", async () => {
    const dir = tempDir();
    const key = keyFile(dir);
    const { url } = await server.createDatabase();
    const { bare, password } = split(url);
    const env = { PGPASSWORD: password };
    const init = await tool(["init", "--postgres", bare, "--key-file", key, "--namespace", "cli", "--json"], env);
    expect(init.code, init.all).toBe(0);
    const created = JSON.parse(init.stdout);
    expect(created.result).toMatchObject({ created: true, generation: 1, keySource: "raw" });
    expect(created.result.path).toContain("namespace=cli");
    const again = await tool(["init", "--postgres", bare, "--key-file", key, "--namespace", "cli"], env);
    expect(again.code, again.all).toBe(0);
    expect(again.stdout).toContain("nothing was changed");

    const list = await tool(["list", "--postgres", bare, "--key-file", key, "--namespace", "cli"], env);
    expect(list.code, list.all).toBe(0);
    expect(list.stdout).toContain("no tokens in postgres://");
    const verify = await tool(["verify", "--postgres", bare, "--key-file", key, "--namespace", "cli", "--json"], env);
    expect(verify.code, verify.all).toBe(0);
    expect(JSON.parse(verify.stdout).result).toMatchObject({ status: "ok", tokens: 0 });
    // Another namespace holds no store.
    const other = await tool(["verify", "--postgres", bare, "--key-file", key, "--namespace", "elsewhere", "--json"], env);
    expect(other.code).toBe(1);
    expect(JSON.parse(other.stdout).result.status).toBe("missing");

    const doctor = await tool(["doctor", "--postgres", bare, "--namespace", "cli", "--key-file", key, "--json"], env);
    expect(doctor.code, doctor.all).toBe(0);
    const checks = JSON.parse(doctor.stdout).result.checks as Array<{ check: string; status: string }>;
    expect(checks.map((check) => check.check)).toEqual(expect.arrayContaining(["server", "schema", "grants", "leases", "decrypts"]));
    expect(checks.every((check) => check.status !== "problem")).toBe(true);
    for (const output of [init, again, list, verify, other, doctor]) assertNoSecrets(output.all, [password]);
  });

  it("refuses a password on the command line (coded usage error, password never printed); the same URL works from the environment", async () => {
    const dir = tempDir();
    const key = keyFile(dir);
    const { url } = await server.createDatabase();
    const { password } = split(url);
    for (const args of [
      ["init", "--postgres", url, "--key-file", key, "--json"],
      ["list", `--postgres=${url}`, "--key-file", key, "--json"],
      ["copy", "--file", join(dir, "s.enc"), "--to-postgres", url, "--key-file", key, "--json"],
    ]) {
      const refused = await tool(args);
      expect(refused.code, refused.all).toBe(2);
      const output = JSON.parse(refused.stdout);
      expect(output.error.code).toBe("USAGE");
      expect(output.error.message).toMatch(/ZOHO_TOKEN_STORE_POSTGRES|PGPASSWORD/);
      assertNoSecrets(refused.all, [password]);
    }
    const human = await tool(["init", "--postgres", url, "--key-file", key]);
    expect(human.code).toBe(2);
    expect(human.stderr).toContain("PGPASSWORD");
    assertNoSecrets(human.all, [password]);

    const env = { ZOHO_TOKEN_STORE_POSTGRES: url };
    const init = await tool(["init", "--key-file", key], env);
    expect(init.code, init.all).toBe(0);
    expect(init.stdout).toContain("created an empty store at postgres://");
    const verify = await tool(["verify", "--key-file", key, "--json"], env);
    expect(verify.code, verify.all).toBe(0);
    for (const output of [init, verify]) assertNoSecrets(output.all, [password]);
  });

  it("imports an SDK CSV into PostgreSQL, copies the store to a file (a rerun changes nothing), all tokens found; recover is refused", async () => {
    const dir = tempDir();
    const key = keyFile(dir);
    const { url } = await server.createDatabase();
    const tokens = [sampleToken("pg-a"), sampleToken("pg-b"), sampleToken("pg-c")];
    const csv = join(dir, "tokens.csv");
    writeFileSync(csv, sdkCsv(tokens), { mode: 0o600 });
    const env = { ZOHO_TOKEN_STORE_POSTGRES: url };
    const imported = await tool(["import", "--from-csv", csv, "--key-file", key, "--json"], env);
    expect(imported.code, imported.all).toBe(0);
    expect(JSON.parse(imported.stdout).result.added).toBe(3);

    const file = join(dir, "copy.enc");
    const out = await tool(["copy", "--to-file", file, "--key-file", key, "--json"], env);
    expect(out.code, out.all).toBe(0);
    expect(JSON.parse(out.stdout).result).toMatchObject({ tokens: 3, added: 3, updated: 0, unchanged: 0 });
    const rerun = await tool(["copy", "--to-file", file, "--key-file", key, "--json"], env);
    expect(JSON.parse(rerun.stdout).result).toMatchObject({ tokens: 3, added: 0, unchanged: 3 });
    const store = await EncryptedFileStore.open({ path: file, keyFile: key });
    for (const token of tokens) expect((await store.findToken({ userName: token.userName }))?.refreshToken).toBe(token.refreshToken);
    await store.close();

    // Into a file sealed with another key; and never into the store itself.
    const otherKey = join(dir, "other.key");
    writeFileSync(otherKey, `${generateKey()}\n`, { mode: 0o600 });
    const rekeyed = join(dir, "other.enc");
    const other = await tool(["copy", "--to-file", rekeyed, "--key-file", key, "--to-key-file", otherKey, "--json"], env);
    expect(JSON.parse(other.stdout).result).toMatchObject({ added: 3 });
    const sealed = await EncryptedFileStore.open({ path: rekeyed, keyFile: otherKey });
    expect(await sealed.getTokens()).toHaveLength(3);
    await sealed.close();
    await expect(EncryptedFileStore.open({ path: rekeyed, keyFile: key })).rejects.toMatchObject({ code: "WRONG_KEY" });
    const itself = await tool(["copy", "--to-env", "ZOHO_TOKEN_STORE_POSTGRES", "--key-file", key, "--json"], env);
    expect(itself.code).toBe(1);
    expect(JSON.parse(itself.stdout).error.code).toBe("REFUSED");

    const recover = await tool(["recover", "--key-file", key, "--json"], env);
    expect(recover.code).toBe(1);
    expect(JSON.parse(recover.stdout).error.code).toBe("FILE_ONLY");
    const secrets = [split(url).password, ...tokens.flatMap(secretsOf)];
    for (const output of [imported, out, rerun, other, itself, recover]) assertNoSecrets(output.all, secrets);
  });
});

describe("the CLI's other commands on PostgreSQL", () => {
  it("show, delete, export and rekey work on a server store, and print no secret", async () => {
    const dir = tempDir();
    const key = keyFile(dir);
    const { url } = await server.createDatabase();
    const tokens = [sampleToken("cmd-a"), sampleToken("cmd-b")];
    const csv = join(dir, "tokens.csv");
    writeFileSync(csv, sdkCsv(tokens), { mode: 0o600 });
    const env = { ZOHO_TOKEN_STORE_POSTGRES: url };
    const secrets = [split(url).password, ...tokens.flatMap(secretsOf)];
    expect((await tool(["import", "--from-csv", csv, "--key-file", key], env)).code).toBe(0);
    const listed = JSON.parse((await tool(["list", "--key-file", key, "--json"], env)).stdout).result.tokens as Array<{ id: string; userName: string }>;
    expect(listed.map((token) => token.userName).sort()).toEqual(tokens.map((token) => token.userName).sort());

    const show = await tool(["show", listed[0]!.id, "--key-file", key], env);
    expect(show.code, show.all).toBe(0);
    expect(show.stdout).toContain(listed[0]!.userName);
    const out = join(dir, "export.csv");
    const exported = await tool(["export", "--out", out, "--key-file", key, "--json"], env);
    expect(exported.code, exported.all).toBe(0);
    expect(JSON.parse(exported.stdout).result.tokens).toBe(2);
    const again = await tool(["export", "--out", out, "--key-file", key, "--json"], env);
    expect(JSON.parse(again.stdout).error.code).toBe("EXISTS");

    const newKey = join(dir, "new.key");
    writeFileSync(newKey, `${generateKey()}\n`, { mode: 0o600 });
    const rekey = await tool(["rekey", "--key-file", key, "--new-key-file", newKey], env);
    expect(rekey.code, rekey.all).toBe(0);
    expect((await tool(["verify", "--key-file", key, "--json"], env)).code).toBe(1);
    const deleted = await tool(["delete", listed[0]!.id, "--key-file", newKey, "--json"], env);
    expect(deleted.code, deleted.all).toBe(0);
    const verify = await tool(["verify", "--key-file", newKey, "--json"], env);
    expect(JSON.parse(verify.stdout).result).toMatchObject({ status: "ok", tokens: 1 });
    for (const output of [show, exported, again, rekey, deleted, verify]) assertNoSecrets(output.all, secrets);
  });
});
