import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../src/index.js";
import { assertNoSecrets, sampleToken, secretsOf, tempDir } from "./helpers.js";
import { cli, closedStdin, jsonOutput, jsonResult, sdkCsv, ttyStdin } from "./cli-helpers.js";

const modeOf = (path: string) => statSync(path).mode & 0o777;

/** A store with sample tokens "a" and "b", and the environment that names it and its key. */
async function setup(tags: string[] = ["a", "b"]) {
  const dir = tempDir();
  const file = join(dir, "tokens.enc");
  const key = generateKey();
  const store = await EncryptedFileStore.open({ path: file, key });
  for (const tag of tags) await store.saveToken(sampleToken(tag));
  return { dir, file, key, env: { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_KEY: key } };
}

describe("zoho-encrypted-filestore: help, version and usage", () => {
  it("--help lists every command and exits 0; each command has --help", async () => {
    const result = await cli(["--help"]);
    expect(result.code).toBe(0);
    for (const name of ["keygen", "init", "list", "show", "delete", "clear", "import", "export", "rekey", "verify", "recover", "doctor"]) {
      expect(result.stdout).toContain(`  ${name} `);
      const help = await cli([name, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: zoho-encrypted-filestore ${name} `));
      expect(help.stdout).toContain("--help");
    }
    expect((await cli(["help", "import"])).stdout).toContain("--from-csv");
  });

  it("--version prints the package version", async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8"));
    expect(await cli(["--version"])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
    for (const argv of [["-V"], ["version"], ["list", "--version"], ["list", "-V"], ["doctor", "--file", "x", "--version"], ["keygen", "-V"]]) {
      expect(await cli(argv), argv.join(" ")).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
    }
    expect((await cli(["list", "--help"])).stdout).toMatch(/-V, --version\s+print the version/);
  });

  it("an unknown command or option suggests the nearest one, only when close, never echoing a secret", async () => {
    const { env } = await setup([]);
    const cases: Array<[string[], RegExp]> = [
      [["lsit"], /unknown command 'lsit'; did you mean 'list'\? /],
      [["verfiy"], /unknown command 'verfiy'; did you mean 'verify'\? /],
      [["LIST"], /unknown command 'LIST'; did you mean 'list'\? /],
      [["imp"], /unknown command 'imp'; did you mean 'import'\? /],
      [["list", "--jsno"], /unknown option --jsno for 'list'; did you mean --json\? /],
      [["show", "1", "--revael"], /unknown option --revael for 'show'; did you mean --reveal\? /],
      [["import", "--from-cvs", "x"], /unknown option --from-cvs for 'import'; did you mean --from-csv\? /],
      [["doctor", "--fixx"], /did you mean --fix\? /],
    ];
    for (const [argv, message] of cases) {
      const result = await cli(argv, env);
      expect(result.code, argv.join(" ")).toBe(2);
      expect(result.stderr, argv.join(" ")).toMatch(message);
    }
    for (const argv of [["frobnicate"], ["list", "--bogus"], ["re"]]) {
      const result = await cli(argv, env);
      expect(result.code).toBe(2);
      expect(result.stderr, argv.join(" ")).not.toContain("did you mean");
    }
    const secret = "S3CRETabcdefghijklmnopqrstuvwxyz0123456789AB";
    for (const argv of [[secret], [`--${secret}`], ["list", `--${secret}`], ["list", `--${secret}=x`], ["list", "--sh0rt+/="]]) {
      const result = await cli(argv, env);
      expect(result.code, argv.join(" ")).toBe(2);
      expect(result.stdout + result.stderr).not.toContain("S3CRET");
      expect(result.stdout + result.stderr).not.toContain("sh0rt");
    }
  });

  it("bad usage exits 2 with one line on stderr", async () => {
    const { env } = await setup([]);
    const cases: string[][] = [
      [],
      ["frobnicate"],
      ["list", "--bogus"],
      ["show"],
      ["show", "1", "2"],
      ["list", "--file"],
      ["clear"],
      ["export"],
      ["import"],
      ["list", "--json=yes"],
    ];
    for (const argv of cases) {
      const result = await cli(argv, env);
      expect(result.code, argv.join(" ")).toBe(2);
      if (argv.length > 0) expect(result.stderr.trim().split("\n"), argv.join(" ")).toHaveLength(1);
      if (argv.length > 0) expect(result.stderr).toMatch(/^zoho-encrypted-filestore: error USAGE: /);
    }
  });

  it("no store file given: ./zoho-tokens.enc in the working directory, as configFromEnv() says; missing, FILE_MISSING says how to name one", async () => {
    const cwd = tempDir();
    const result = await cli(["list"], { ZOHO_TOKEN_STORE_KEY: generateKey() }, { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `error FILE_MISSING: ${join(cwd, "zoho-tokens.enc")} does not exist; check --file (or ZOHO_TOKEN_STORE_FILE; default ./zoho-tokens.enc)`,
    );
  });

  it("refuses a key or passphrase on the command line without repeating it", async () => {
    const { env } = await setup([]);
    for (const argv of [
      ["list", "--key", "S3CRETVALUE"],
      ["list", "--key=S3CRETVALUE"],
      ["init", "--passphrase=S3CRETVALUE"],
      ["rekey", "--new-key", "S3CRETVALUE"],
    ]) {
      const result = await cli(argv, env);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("never go on the command line");
      expect(result.stdout + result.stderr).not.toContain("S3CRETVALUE");
    }
    // A stray argument is not echoed either.
    const stray = await cli(["S3CRETVALUE+/abc="], env);
    expect(stray.code).toBe(2);
    expect(stray.stderr).not.toContain("S3CRETVALUE");
    const extra = await cli(["show", "1", "S3CRETVALUE"], env);
    expect(extra.stderr).not.toContain("S3CRETVALUE");
  });

  it("without a key and without a terminal: exit 2, never reads stdin", async () => {
    const { file } = await setup(["a"]);
    const result = await cli(["list", "--file", file], {}, { stdin: closedStdin() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /error NO_KEY: .* is sealed with a raw key, and no key was given: pass --key-file K or --key-file - \(the key on standard input\), or set ZOHO_TOKEN_STORE_KEY_FILE or ZOHO_TOKEN_STORE_KEY \(without them, \.\/zoho\.key is used when it exists\)/,
    );
  });

  it("--json errors also go to stdout as one object", async () => {
    const result = await cli(["show", "99", "--json"], (await setup()).env);
    expect(result.code).toBe(1);
    expect(jsonOutput(result.stdout)).toEqual({
      ok: false,
      command: "show",
      result: null,
      error: { code: "NOT_FOUND", message: expect.stringContaining("no token with id") },
    });
  });
});

describe("colour", () => {
  it("only on a terminal, and never with NO_COLOR", async () => {
    const { env } = await setup(["a"]);
    const plain = await cli(["list"], env);
    expect(plain.stdout).not.toContain("\u001b[");
    const tty = await cli(["list"], env, { tty: true });
    expect(tty.stdout).toContain("\u001b[");
    const noColor = await cli(["list"], { ...env, NO_COLOR: "1" }, { tty: true });
    expect(noColor.stdout).not.toContain("\u001b[");
    const error = await cli(["show", "99"], env, { tty: true });
    expect(error.stderr).toContain("\u001b[31m");
    expect((await cli(["show", "99"], { ...env, NO_COLOR: "1" }, { tty: true })).stderr).not.toContain("\u001b[");
  });

  it('FORCE_COLOR colours output that is not a terminal; "0" turns colour off; NO_COLOR wins', async () => {
    const { env, key } = await setup(["a"]);
    const forced = await cli(["list"], { ...env, FORCE_COLOR: "1" });
    expect(forced.stdout).toContain("\u001b[1mID\u001b[22m");
    expect((await cli(["show", "99"], { ...env, FORCE_COLOR: "3" })).stderr).toContain("\u001b[31merror NOT_FOUND");
    expect((await cli(["list"], { ...env, FORCE_COLOR: "" })).stdout).not.toContain("\u001b[");
    expect((await cli(["list"], { ...env, FORCE_COLOR: "0" }, { tty: true })).stdout).not.toContain("\u001b[");
    expect((await cli(["list"], { ...env, FORCE_COLOR: "1", NO_COLOR: "1" })).stdout).not.toContain("\u001b[");
    expect((await cli(["list"], { ...env, FORCE_COLOR: "1", NO_COLOR: "1" }, { tty: true })).stdout).not.toContain("\u001b[");
    expect((await cli(["list", "--json"], { ...env, FORCE_COLOR: "1" })).stdout).not.toContain("\u001b[");
    assertNoSecrets(forced.stdout + forced.stderr, [key, ...secretsOf(sampleToken("a"))]);
  });
});

describe("keygen", () => {
  it("prints a 32-byte base64 key", async () => {
    const result = await cli(["keygen"]);
    expect(result.code).toBe(0);
    expect(Buffer.from(result.stdout.trim(), "base64")).toHaveLength(32);
    expect(jsonResult((await cli(["keygen", "--json"])).stdout).key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it("--out writes a new 0600 file, prints no key, never overwrites", async () => {
    const path = join(tempDir(), "store.key");
    const result = await cli(["keygen", "--out", path]);
    expect(result.code).toBe(0);
    expect(modeOf(path)).toBe(0o600);
    const key = readFileSync(path, "utf8").trim();
    expect(Buffer.from(key, "base64")).toHaveLength(32);
    expect(result.stdout + result.stderr).not.toContain(key);
    const again = await cli(["keygen", "--out", path]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("error EXISTS");
    expect(readFileSync(path, "utf8").trim()).toBe(key);
  });
});

describe("init", () => {
  it("creates an empty store with a key file, and refuses an existing file", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "k");
    await cli(["keygen", "--out", keyFile]);
    const file = join(dir, "sub", "tokens.enc");
    // A directory that is not there is never created: it says how to create it.
    const noDirectory = await cli(["init", "--file", file, "--key-file", keyFile]);
    expect(noDirectory.code).toBe(1);
    expect(noDirectory.stderr).toContain("error INVALID_PATH");
    expect(noDirectory.stderr).toContain(`mkdir -m 700 '${join(dir, "sub")}'`);
    expect(existsSync(join(dir, "sub"))).toBe(false);
    mkdirSync(join(dir, "sub"), { mode: 0o700 });
    const result = await cli(["init", "--file", file, "--key-file", keyFile]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("created an empty store");
    expect(modeOf(file)).toBe(0o600);
    const list = await cli(["list", "--file", file, "--key-file", keyFile, "--json"]);
    expect(jsonResult(list.stdout).tokens).toEqual([]);
    const again = await cli(["init", "--file", file, "--key-file", keyFile]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("error EXISTS");
  });

  it("with a passphrase from the environment", async () => {
    const file = join(tempDir(), "tokens.enc");
    const env = { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_PASSPHRASE: "correct horse battery staple" };
    expect((await cli(["init"], env)).code).toBe(0);
    const verify = await cli(["verify", "--json"], env);
    expect(jsonResult(verify.stdout)).toMatchObject({ status: "ok", keySource: "passphrase", tokens: 0 });
    const wrong = await cli(["verify", "--json"], { ...env, ZOHO_TOKEN_STORE_PASSPHRASE: "wrong" });
    expect(jsonOutput(wrong.stdout)).toMatchObject({ ok: false, result: { status: "wrong-key" }, error: { code: "WRONG_KEY" } });
  });

  it("asks for a passphrase twice on a terminal, hidden, and restores the terminal", async () => {
    const file = join(tempDir(), "tokens.enc");
    const { stdin, state } = ttyStdin(["pass phrase 1", "pass phrase 1"]);
    const result = await cli(["init", "--file", file], {}, { stdin });
    expect(result.code).toBe(0);
    expect(state.prompts).toBe(2);
    expect(state.rawModes).toEqual([true, false, true, false]);
    expect(result.stderr).toContain("Passphrase: ");
    expect(result.stderr).not.toContain("pass phrase 1");
    const typed = ttyStdin(["pass phrase 1"]);
    expect((await cli(["verify", "--file", file], {}, { stdin: typed.stdin })).code).toBe(0);
    const mismatch = ttyStdin(["one", "two"]);
    const refused = await cli(["init", "--file", join(tempDir(), "x.enc")], {}, { stdin: mismatch.stdin });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("error CANCELLED: the passphrases differ");
    const interrupted = ttyStdin(["\u0003"]);
    const cancelled = await cli(["list", "--file", file], {}, { stdin: interrupted.stdin });
    expect(cancelled.code).toBe(130);
    expect(cancelled.stderr).toContain("error CANCELLED: interrupted at the passphrase prompt");
    expect(interrupted.state.rawModes).toEqual([true, false]);
  });
});

describe("list and show", () => {
  it("list shows id, user, short client id, which tokens, expiry; never a secret", async () => {
    const { env } = await setup(["a", "b"]);
    const store = await EncryptedFileStore.open({ path: env.ZOHO_TOKEN_STORE_FILE, key: env.ZOHO_TOKEN_STORE_KEY });
    await store.saveToken(sampleToken("c", { expiryTime: String(Date.now() - 7_200_000), accessToken: null }));
    const result = await cli(["list"], env);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^ID\s+USER\s+CLIENT\s+TOKENS\s+ACCESS TOKEN EXPIRES$/);
    expect(lines[1]).toMatch(/^1\s+user-a@example.com\s+1000\.CLIE…\s+secret refresh access\s+\d{4}-\d\d-\d\d \d\d:\d\dZ \(in (59|60) min\)$/);
    expect(lines[3]).toMatch(/^3\s+user-c@example.com\s+1000\.CLIE…\s+secret refresh\s+.*\(expired 2 h ago\)$/);
    expect(lines[4]).toContain("3 tokens in");
    const parsed = jsonResult((await cli(["list", "--json"], env)).stdout);
    expect(parsed.tokens[2]).toMatchObject({
      id: "3",
      userName: "user-c@example.com",
      clientId: "1000.CLIE…",
      present: { clientSecret: true, refreshToken: true, accessToken: false, grantToken: false },
      expired: true,
    });
  });

  it("list of a store file that does not exist: FILE_MISSING, and no directory is created", async () => {
    const dir = join(tempDir(), "typo");
    const result = await cli(["list", "--file", join(dir, "tokens.enc")], { ZOHO_TOKEN_STORE_KEY: generateKey() });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error FILE_MISSING: .* does not exist; check --file/);
    expect(existsSync(dir)).toBe(false);
  });

  it("show redacts secrets unless --reveal", async () => {
    const { env } = await setup(["a"]);
    const token = sampleToken("a");
    const shown = await cli(["show", "1"], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^refreshToken\s+\[redacted\]$/m);
    expect(shown.stdout).toMatch(/^clientId\s+1000\.CLIE…$/m);
    expect(shown.stdout).toMatch(/^grantToken\s+-$/m);
    expect(jsonResult((await cli(["show", "1", "--json"], env)).stdout)).toMatchObject({ id: "1", clientSecret: "[redacted]", grantToken: null });
    const revealed = await cli(["show", "1", "--reveal", "--json"], env);
    expect(jsonResult(revealed.stdout)).toMatchObject({ ...token, expiryTime: expect.any(String), id: "1", grantToken: null });
    expect((await cli(["show", "1", "--reveal"], env)).stdout).toContain(token.refreshToken);
    const missing = await cli(["show", "7"], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/error NOT_FOUND: no token with id "7"/);
  });
});

describe("delete and clear", () => {
  it("delete removes one record; an unknown id exits 1", async () => {
    const { env } = await setup(["a", "b"]);
    expect(await cli(["delete", "1"], env)).toMatchObject({ code: 0, stdout: expect.stringContaining("deleted token 1 (user-a@example.com)") });
    expect((await cli(["delete", "1"], env)).code).toBe(1);
    expect(jsonResult((await cli(["list", "--json"], env)).stdout).tokens.map((t: { id: string }) => t.id)).toEqual(["2"]);
  });

  it("clear needs --yes", async () => {
    const { env } = await setup(["a", "b"]);
    expect((await cli(["clear"], env)).code).toBe(2);
    expect(jsonResult((await cli(["list", "--json"], env)).stdout).tokens).toHaveLength(2);
    expect(jsonOutput((await cli(["clear", "--yes", "--json"], env)).stdout)).toEqual({ ok: true, command: "clear", result: { deleted: 2 }, error: null });
    expect(jsonResult((await cli(["list", "--json"], env)).stdout).tokens).toEqual([]);
  });
});

describe("control characters in stored values never reach the terminal raw", () => {
  const TITLE = "\u001b]0;owned\u0007";
  const FORGED = "\n2   admin@example.com  1000.ADMI…  secret refresh access  2099-01-01 00:00Z";
  const evil = { userName: `eve${TITLE}\r${FORGED}\u202e`, clientId: "1000.\u009b31mCLIENT", redirectUrl: "https://example.com/\u007f\u0085" };
  /** Our own colour codes taken out, nothing that acts on a terminal may be left. */
  const raw = (text: string) => text.replace(/\u001b\[\d+m/g, "").match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g) ?? [];

  it("list, show, delete, import and doctor print them as visible escapes; --json keeps them exact", async () => {
    const dir = join(tempDir(), `dir${TITLE}`);
    mkdirSync(dir, { mode: 0o700 });
    const file = join(dir, "tokens.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path: file, key });
    await store.saveToken(sampleToken("a", evil));
    const env = { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_KEY: key };
    const csv = join(dir, "sdk.csv");
    writeFileSync(csv, sdkCsv([sampleToken("b", { userName: `bob${TITLE}\r` })]));
    const secrets = [key, ...secretsOf(sampleToken("a", evil)), ...secretsOf(sampleToken("b"))];

    for (const tty of [false, true]) {
      const list = await cli(["list"], env, { tty });
      expect(list.code).toBe(0);
      expect(raw(list.stdout + list.stderr), "list").toEqual([]);
      const lines = list.stdout.trimEnd().split("\n");
      expect(lines).toHaveLength(3); // header, one row, the count: no forged row
      expect(lines[1]).toContain("eve\\x1b]0;owned\\x07\\r\\n2   admin@example.com");
      expect(lines[1]).toContain("\\u202e");
      expect(lines[2]).toContain("dir\\x1b]0;owned\\x07");
      assertNoSecrets(list.stdout + list.stderr, secrets);

      const show = await cli(["show", "1", "--reveal"], env, { tty });
      expect(raw(show.stdout + show.stderr), "show").toEqual([]);
      expect(show.stdout).toMatch(/^userName\s+eve\\x1b\]0;owned\\x07\\r\\n2 /m);
      expect(show.stdout).toMatch(/^clientId\s+1000\.\\x9b31mCLIENT$/m);
      expect(show.stdout).toMatch(/^redirectUrl\s+https:\/\/example\.com\/\\x7f\\x85$/m);

      const doctor = await cli(["doctor"], env, { tty });
      expect(raw(doctor.stdout + doctor.stderr), "doctor").toEqual([]);
      expect(doctor.stdout).toContain("dir\\x1b]0;owned\\x07");
      const missing = await cli(["list", "--file", join(dir, "nope.enc")], env, { tty });
      expect(missing.code).toBe(1);
      expect(raw(missing.stderr), "error line").toEqual([]);
    }

    const listed = JSON.parse((await cli(["list", "--json"], env)).stdout);
    expect(JSON.stringify(listed)).toContain(JSON.stringify(evil.userName));
    const shown = JSON.parse((await cli(["show", "1", "--reveal", "--json"], env)).stdout);
    expect(JSON.stringify(shown)).toContain(JSON.stringify(evil.clientId));

    const imported = await cli(["import", "--from-csv", csv], env, { tty: true });
    expect(imported.code).toBe(0);
    expect(raw(imported.stdout + imported.stderr), "import").toEqual([]);
    expect(imported.stdout).toContain("added token 2 (bob\\x1b]0;owned\\x07\\r)");
    expect(imported.stdout).toContain("shred -u $'");
    assertNoSecrets(imported.stdout + imported.stderr, secrets);

    const deleted = await cli(["delete", "2"], env, { tty: true });
    expect(raw(deleted.stdout + deleted.stderr), "delete").toEqual([]);
    expect(deleted.stdout).toContain("(bob\\x1b]0;owned\\x07\\r)");
  });
});
