/**
 * Choosing the store target (src/cli/target.ts), checked before any server is contacted:
 * two targets at once, server options without a server, a password on the command line
 * (in URL and key=value form, for the store and for copy's destination), never repeated.
 */
import { describe, expect, it } from "vitest";
import { cli, jsonOutput } from "./cli-helpers.js";
import { tempDir } from "./helpers.js";

const PASSWORD = "pw-Zq81x-secret";

async function usageError(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await cli([...argv, "--json"], env, { cwd: tempDir() });
  expect(result.code, result.stderr).toBe(2);
  const output = jsonOutput(result.stdout);
  expect(output.error?.code).toBe("USAGE");
  expect(result.stdout + result.stderr).not.toContain(PASSWORD);
  return output.error!.message;
}

describe("the store target", () => {
  it("refuses a connection string with a password on the command line, naming where it goes instead", async () => {
    expect(await usageError(["list", "--postgres", `postgres://app:${PASSWORD}@127.0.0.1:1/db`])).toMatch(
      /PGPASSWORD.*ZOHO_TOKEN_STORE_POSTGRES|ZOHO_TOKEN_STORE_POSTGRES.*PGPASSWORD/,
    );
    expect(await usageError(["verify", `--postgres=host=127.0.0.1 password=${PASSWORD} dbname=db`])).toContain("--postgres");
    expect(await usageError(["init", "--mysql", `mysql://app:${PASSWORD}@127.0.0.1:1/db`])).toContain("ZOHO_TOKEN_STORE_MYSQL");
    expect(await usageError(["copy", "--to-mysql", `mysql://app:${PASSWORD}@127.0.0.1:1/db`])).toContain("--to-mysql");
    expect(await usageError(["copy", "--to-postgres", `postgresql://app:${PASSWORD}@127.0.0.1:1/db`])).toContain("PGPASSWORD");
  });

  it("refuses two targets at once and server options without a server", async () => {
    expect(await usageError(["list", "--file", "s.enc", "--postgres", "postgres://app@127.0.0.1:1/db"])).toContain("two stores");
    expect(
      await usageError(["list"], { ZOHO_TOKEN_STORE_POSTGRES: "postgres://a@127.0.0.1:1/d", ZOHO_TOKEN_STORE_MYSQL: "mysql://a@127.0.0.1:1/d" }),
    ).toContain("both");
    expect(await usageError(["list", "--namespace", "x"])).toContain("server store");
    expect(await usageError(["list", "--mysql", "mysql://a@127.0.0.1:1/d", "--schema", "s"])).toContain("PostgreSQL");
    expect(await usageError(["copy", "--file", "s.enc"])).toContain("--to-file");
    expect(await usageError(["copy", "--to-env", "NOT_SET_HERE"])).toContain("not set");
  });

  it("lists the server options in every store command's help", async () => {
    for (const command of ["init", "list", "verify", "doctor", "import", "export", "copy", "rekey"]) {
      const help = await cli([command, "--help"]);
      expect(help.stdout).toContain("--postgres URL");
      expect(help.stdout).toContain("--mysql URL");
    }
  });
});
