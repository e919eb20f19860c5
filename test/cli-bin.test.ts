/** The built executable, run as a user would: `node dist/cli.js ...` and through its shebang. */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertNoSecrets, ROOT, sampleToken, secretsOf, tempDir } from "./helpers.js";
import { sdkCsv } from "./cli-helpers.js";

const CLI = join(ROOT, "dist", "cli.js");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the tool with only PATH and `env` in its environment, stdin a pipe (not a terminal). */
function tool(args: string[], env: Record<string, string> = {}, { direct = false, input = "" } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const [command, argv] = direct ? [CLI, args] : [process.execPath, [CLI, ...args]];
    const child = spawn(command, argv, { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

describe("dist/cli.js", () => {
  it("is an executable with a shebang, named as the package's bin, sharing the library's chunk", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(pkg.bin).toEqual({ "zoho-encrypted-filestore": "dist/cli.js" });
    const text = readFileSync(CLI, "utf8");
    expect(text.startsWith("#!/usr/bin/env node\n")).toBe(true);
    expect(statSync(CLI).mode & 0o111).not.toBe(0);
    const dist = join(ROOT, "dist");
    const copies = readdirSync(dist)
      .filter((name) => name.endsWith(".js"))
      .filter((name) => readFileSync(join(dist, name), "utf8").includes("var EncryptedFileStore = class"));
    expect(copies).toHaveLength(1);
    expect(copies[0]).not.toBe("cli.js");
    expect(text).toContain(`from "./${copies[0]}"`);
  });

  it("--help, --version and bad usage, run directly through the shebang", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    const version = await tool(["--version"], {}, { direct: true });
    expect(version).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
    const help = await tool(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: zoho-encrypted-filestore <command> [options]");
    const bad = await tool(["nonsense"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("zoho-encrypted-filestore: error USAGE: unknown command 'nonsense'; 'zoho-encrypted-filestore --help' lists the commands\n");
  });

  it("without a key, and stdin not a terminal: exit 2 at once, no prompt", async () => {
    const dir = tempDir();
    const result = await tool(["list", "--file", join(dir, "t.enc")], {}, { input: "typed passphrase\n" });
    expect(result.code).toBe(1); // no such store file: checked before the key
    const init = await tool(["init", "--file", join(dir, "t.enc")], {}, { input: "typed passphrase\n" });
    expect(init.code).toBe(2);
    expect(init.stderr).toContain("error NO_KEY");
    expect(init.stderr).not.toContain("Passphrase:");
  });

  it("a session: keygen, init, import, list, show, verify, export; exit codes and no secrets", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "store.key");
    const file = join(dir, "tokens.enc");
    const tokens = [sampleToken("a"), sampleToken("b")];
    const csv = join(dir, "tokens.csv");
    writeFileSync(csv, sdkCsv(tokens));
    const env = { ZOHO_TOKEN_STORE_FILE: file };

    const outputs: Result[] = [];
    const step = async (args: string[], expected: number, extraEnv: Record<string, string> = {}) => {
      const result = await tool(args, { ...env, ...extraEnv });
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(expected);
      outputs.push(result);
      return result;
    };
    await step(["keygen", "--out", keyFile], 0);
    const key = readFileSync(keyFile, "utf8").trim();
    await step(["init", "--key-file", keyFile], 0);
    const imported = await step(["import", "--key-file", keyFile, "--from-csv", csv, "--json"], 0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ ok: true, command: "import", result: { added: 2, writes: 1 }, error: null });
    const list = await step(["list"], 0, { ZOHO_TOKEN_STORE_KEY: key });
    expect(list.stdout).toMatch(/^1\s+user-a@example.com\s+1000\.CLIE…\s+secret refresh access/m);
    await step(["show", "2", "--key-file", keyFile], 0);
    await step(["verify", "--key-file", keyFile], 0);
    await step(["verify"], 1, { ZOHO_TOKEN_STORE_KEY: Buffer.alloc(32, 7).toString("base64") });
    await step(["show", "3", "--key-file", keyFile], 1);
    await step(["export", "--key-file", keyFile, "--out", "-"], 2);
    await step(["doctor", "--key-file", keyFile], 0);
    for (const result of outputs) assertNoSecrets(result.stdout + result.stderr, [...tokens.flatMap((token) => secretsOf(token)), key]);
    expect(outputs.every((result) => !result.stdout.includes("\u001b["))).toBe(true);
  });

  it("the CommonJS entry still loads the library", async () => {
    const result = await new Promise<Result>((resolve) => {
      const child = spawn(process.execPath, [
        "-e",
        `const m = require(${JSON.stringify(join(ROOT, "dist", "index.cjs"))}); console.log(typeof m.EncryptedFileStore.open)`,
      ]);
      let stdout = "";
      child.stdout.on("data", (chunk) => (stdout += chunk));
      child.on("close", (code) => resolve({ code, stdout, stderr: "" }));
    });
    expect(result).toMatchObject({ code: 0, stdout: "function\n" });
  });
});
