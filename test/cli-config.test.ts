/**
 * One configuration for applications and the command-line tool: the built executable,
 * run as a child process in a fresh directory, and a program that opens its store with
 * `configFromEnv()` find the same store with the same key, from the defaults
 * (./zoho-tokens.enc, ./zoho.key) or from ZOHO_TOKEN_STORE_FILE and
 * ZOHO_TOKEN_STORE_KEY_FILE. Every "Next: ..." line the tool prints runs as pasted, in the
 * shell that printed it. A missing key file points to `keygen`, and Ctrl-C while the key
 * is read from a pipe exits 130 with a word.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configFromEnv, EncryptedFileStore, TokenStoreError } from "../src/index.js";
import { invocation } from "../src/cli/invocation.js";
import { assertNoSecrets, DIST, ROOT, runCommand, tempDir, type ChildResult } from "./helpers.js";

const CLI = join(ROOT, "dist", "cli.js");
const BIN = "zoho-encrypted-filestore";

/** A shell environment with only PATH (plus `extra`), as a fresh terminal has. */
function shellEnv(extra: Record<string, string> = {}, path = process.env.PATH ?? ""): Record<string, string> {
  return { PATH: path, HOME: tempDir(), NO_COLOR: "1", ...extra };
}

/** Runs a command line in `sh`, as a person pastes it. */
function sh(line: string, cwd: string, env: Record<string, string>): Promise<ChildResult> {
  return runCommand("sh", ["-c", line], { cwd, env });
}

/** The commands of the "Next: <command>  # why" lines in `output`. */
function nextCommands(output: string): string[] {
  return [...output.matchAll(/^Next: (.+)$/gm)].map((match) => match[1]!);
}

/** A made-up SDK FileStore CSV (the 10-column layout) with one token. */
const CSV_SECRETS = ["1000.config-test-secret", "1000.config-test-refresh"];
const CSV = `id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain
1,csv@example.com,1000.CONFIGTESTCLIENT,${CSV_SECRETS[0]},${CSV_SECRETS[1]},,,,https://example.com/cb,https://www.zohoapis.com
`;

/** A program that opens its store the way the examples do, saves `user` and prints the users stored. */
const APP = `import { configFromEnv, EncryptedFileStore } from ${JSON.stringify(DIST)};
const store = await EncryptedFileStore.open(configFromEnv());
if (process.argv[2]) await store.saveToken({ userName: process.argv[2], refreshToken: "1000.app-refresh-" + process.argv[2] });
console.log((await store.getTokens()).map((token) => token.userName).join(","));
`;

describe("one configuration for the tool and configFromEnv()", () => {
  it("configFromEnv: the defaults, the two variables, and a key in ZOHO_TOKEN_STORE_KEY", () => {
    expect(configFromEnv({})).toEqual({ path: "./zoho-tokens.enc", keyFile: "./zoho.key" });
    expect(configFromEnv({ ZOHO_TOKEN_STORE_FILE: "/s/t.enc", ZOHO_TOKEN_STORE_KEY_FILE: "/s/k" })).toEqual({ path: "/s/t.enc", keyFile: "/s/k" });
    expect(configFromEnv({ ZOHO_TOKEN_STORE_KEY: "x" })).toEqual({ path: "./zoho-tokens.enc" });
    const both = (() => {
      try {
        return configFromEnv({ ZOHO_TOKEN_STORE_KEY: "x", ZOHO_TOKEN_STORE_KEY_FILE: "/s/k" });
      } catch (error) {
        return error;
      }
    })();
    expect(both).toBeInstanceOf(TokenStoreError);
    expect((both as TokenStoreError).code).toBe("INVALID_OPTION");
  });

  it.each([
    { name: "the defaults in the working directory", files: (_dir: string): Record<string, string> => ({}) },
    {
      name: "ZOHO_TOKEN_STORE_FILE and ZOHO_TOKEN_STORE_KEY_FILE",
      files: (dir: string): Record<string, string> => ({
        ZOHO_TOKEN_STORE_FILE: join(dir, "store", "crm.enc"),
        ZOHO_TOKEN_STORE_KEY_FILE: join(dir, "keys", "crm.key"),
      }),
    },
  ])("$name: keygen, init and list with no flags, and a program using configFromEnv(), share one store", async ({ files }) => {
    const dir = tempDir();
    const cwd = join(dir, "app");
    mkdirSync(cwd);
    const env = shellEnv(files(dir));
    const keyOut = env.ZOHO_TOKEN_STORE_KEY_FILE ?? "./zoho.key";
    // Nothing creates a missing directory: the store's and the key's are made first.
    if (env.ZOHO_TOKEN_STORE_KEY_FILE) mkdirSync(join(dir, "keys"), { mode: 0o700 });
    if (env.ZOHO_TOKEN_STORE_FILE) mkdirSync(join(dir, "store"), { mode: 0o700 });
    writeFileSync(join(cwd, "app.mjs"), APP);

    expect((await runCommand(process.execPath, [CLI, "keygen", "--out", keyOut], { cwd, env })).code).toBe(0);
    const init = await runCommand(process.execPath, [CLI, "init"], { cwd, env });
    expect(init.stderr + init.stdout).toContain("created an empty store");
    expect(init.code).toBe(0);
    const app = await runCommand(process.execPath, [join(cwd, "app.mjs"), "app@example.com"], { cwd, env });
    expect(app.stderr).toBe("");
    expect(app.stdout).toBe("app@example.com\n");
    const list = await runCommand(process.execPath, [CLI, "list", "--json"], { cwd, env });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).result.tokens.map((token: { userName: string }) => token.userName)).toEqual(["app@example.com"]);
    const path = env.ZOHO_TOKEN_STORE_FILE ?? join(cwd, "zoho-tokens.enc");
    expect(JSON.parse(list.stdout).result.path).toBe(path);
    // doctor, which never prompts, decrypts with that key too.
    const doctor = await runCommand(process.execPath, [CLI, "doctor"], { cwd, env });
    expect(doctor.code, doctor.stdout).toBe(0);
    expect(doctor.stdout).toMatch(/ok +decrypts: opens and authenticates with the key given \(.*; 1 token\)/);
    const key = readFileSync(env.ZOHO_TOKEN_STORE_KEY_FILE ?? join(cwd, "zoho.key"), "utf8").trim();
    assertNoSecrets(init.stdout + init.stderr + list.stdout + list.stderr + app.stdout + doctor.stdout + doctor.stderr, [key]);
  });
});

describe('every "Next: ..." line runs as pasted in the shell that printed it', () => {
  const started = [
    { name: "started as node dist/cli.js", prefix: (_bin: string) => `${process.execPath} ${CLI}`, onPath: false },
    { name: `started as ${BIN} on PATH`, prefix: (_bin: string) => BIN, onPath: true },
  ];

  it.each(started)("$name: keygen's hint, then init's hints (import a CSV, list)", async ({ prefix, onPath }) => {
    const dir = tempDir();
    const cwd = join(dir, "work");
    mkdirSync(cwd);
    const bin = join(dir, "bin");
    mkdirSync(bin);
    symlinkSync(CLI, join(bin, BIN));
    const env = shellEnv({}, onPath ? `${bin}:${process.env.PATH}` : process.env.PATH);
    writeFileSync(join(cwd, "tokens.csv"), CSV, { mode: 0o600 });

    const keygen = await sh(`${prefix(bin)} keygen --out ../secret.key`, cwd, env);
    expect(keygen.code, keygen.stderr).toBe(0);
    const [initLine, ...none] = nextCommands(keygen.stderr);
    expect(none).toEqual([]);
    expect(initLine).toMatch(onPath ? new RegExp(`^${BIN} init `) : /^\/\S+ \S+cli\.js init /);

    const init = await sh(initLine!, cwd, env);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain("created an empty store");
    const hints = nextCommands(init.stderr);
    expect(hints.map((line) => line.split(" ").find((word) => ["import", "list"].includes(word)))).toEqual(["import", "list"]);
    const outputs: string[] = [keygen.stdout + keygen.stderr, init.stdout + init.stderr];
    for (const hint of hints) {
      const result = await sh(hint, cwd, env);
      expect(result.code, `${hint}\n${result.stderr}`).toBe(0);
      outputs.push(result.stdout + result.stderr);
    }
    expect(outputs.at(-1)).toContain("csv@example.com");
    assertNoSecrets(outputs.join("\n"), [readFileSync(join(dir, "secret.key"), "utf8").trim(), ...CSV_SECRETS]);
  });

  it("a key file named on the command line is repeated in the hint; one read from a pipe gives no hint a paste could not repeat", async () => {
    const dir = tempDir();
    const env = shellEnv();
    expect((await runCommand(process.execPath, [CLI, "keygen", "--out", join(dir, "k")], { cwd: dir, env })).code).toBe(0);
    const named = await runCommand(process.execPath, [CLI, "init", "--file", "a.enc", "--key-file", "k"], { cwd: dir, env });
    expect(nextCommands(named.stderr).every((line) => line.includes(`--file ${join(dir, "a.enc")} --key-file ${join(dir, "k")}`))).toBe(true);
    expect(nextCommands(named.stderr)).toHaveLength(2);
    const piped = await sh(`${process.execPath} ${CLI} init --file b.enc --key-file - < k`, dir, env);
    expect(piped.code, piped.stderr).toBe(0);
    expect(nextCommands(piped.stderr)).toEqual([]);
    // A new key beside an existing store (a rotation): init would refuse, so keygen suggests nothing.
    const rotation = await runCommand(process.execPath, [CLI, "keygen", "--out", "k2"], { cwd: dir, env: { ...env, ZOHO_TOKEN_STORE_FILE: "a.enc" } });
    expect(rotation.code).toBe(0);
    expect(nextCommands(rotation.stderr)).toEqual([]);
  });

  it("the invocation: npx under npx, the bare name only when PATH finds this very file, else node and the script", () => {
    expect(invocation({ npm_lifecycle_event: "npx", PATH: "" }, CLI, "/usr/bin/node")).toBe(`npx ${BIN}`);
    expect(invocation({ PATH: "" }, CLI, "/usr/bin/node")).toBe(`/usr/bin/node ${CLI}`);
    const bin = tempDir();
    symlinkSync(join(ROOT, "package.json"), join(bin, BIN));
    expect(invocation({ PATH: bin }, CLI, "/usr/bin/node")).toBe(`/usr/bin/node ${CLI}`);
  });
});

describe("missing pieces say what to do", () => {
  it("a key file that does not exist: IO_ERROR whose advice is the keygen command that creates it, which runs as pasted", async () => {
    const dir = tempDir();
    const env = shellEnv({ ZOHO_TOKEN_STORE_KEY_FILE: "./keys/app.key" });
    mkdirSync(join(dir, "keys"), { mode: 0o700 });
    const list = await runCommand(process.execPath, [CLI, "init", "--file", "t.enc"], { cwd: dir, env });
    expect(list.code).toBe(1);
    const advice = /error IO_ERROR: cannot read key file .*app\.key: ENOENT .*; create it with: (.+)$/m.exec(list.stderr);
    expect(advice, list.stderr).not.toBeNull();
    expect(advice![1]).toBe(`${process.execPath} ${CLI} keygen --out ${join(dir, "keys", "app.key")}`);
    expect((await sh(advice![1]!, dir, env)).code).toBe(0);
    expect((await runCommand(process.execPath, [CLI, "init", "--file", "t.enc"], { cwd: dir, env })).code).toBe(0);

    // The library says the same to a program, as data and in words.
    const error = await EncryptedFileStore.open({ path: join(dir, "u.enc"), keyFile: join(dir, "absent.key") }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(TokenStoreError);
    expect((error as TokenStoreError).code).toBe("IO_ERROR");
    expect((error as TokenStoreError).action).toBe("create-key");
    expect((error as TokenStoreError).message).toContain(`keygen --out ${join(dir, "absent.key")}`);
  });

  it("Ctrl-C (SIGINT) while the key is read from a pipe: exit 130, one line saying so, no stack", async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, [CLI, "init", "--file", join(dir, "t.enc"), "--key-file", "-"], {
      cwd: dir,
      env: shellEnv(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("close", (code, signal) => resolve({ code, signal })),
    );
    // Interrupt once the tool waits for the key, seen from the kernel's side of the
    // process, so a slow start cannot race the signal.
    await waitFor(() => readsStdin(child.pid!), 60_000);
    child.kill("SIGINT");
    const { code, signal } = await closed;
    expect(signal).toBeNull();
    expect(code).toBe(130);
    expect(stdout).toBe("");
    expect(stderr).toBe(`${BIN}: error CANCELLED: interrupted while reading the key from standard input (--key-file -); nothing was done\n`);
    expect(readdirSync(dir)).toEqual([]);
  });
});

/**
 * Whether the process `pid` is waiting to read its standard input: fd 0 is in one of its
 * epoll sets (Linux /proc fdinfo "tfd: 0"). Node adds it only once the stream is read,
 * which the tool does after it starts catching SIGINT.
 */
function readsStdin(pid: number): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      return /^tfd:\s+0\s/m.test(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
    } catch {
      return false;
    }
  });
}

async function waitFor(condition: () => boolean, limitMs: number): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > limitMs) throw new Error(`not reached within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
