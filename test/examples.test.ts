/**
 * The programs in examples/ run as their top comments say: the TypeScript one compiled
 * with `tsc -p examples` (which also type-checks the others), each run as a child process
 * against the loopback Zoho server (scripts/zoho-loopback-server.mjs) with the real SDKs,
 * a first run with a grant code and a restart that finds the stored token. Their output
 * holds no token, secret, client id or key. And the code blocks of the README and docs/ are excerpts of them, so they stay in sync.
 */
import { afterAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../src/index.js";
import { startZohoServer, type ZohoServer } from "../scripts/zoho-loopback-server.mjs";
import { ROOT, runCommand, tempDir, type ChildResult } from "./helpers.js";
import { TSC } from "./consumer.js";

const EXAMPLES = join(ROOT, "examples");
/** Where this test compiles the TypeScript example (the top comment says .tmp/examples). */
const OUT_DIR = join(ROOT, ".tmp", `examples-test-${process.pid}`);
const CHILD_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 300_000;
/** The organization call the SDK examples make answers 204 on the loopback server. */
const SDK_OUTPUT = (user: string) => `${user}: stored token 1, organization API answered HTTP 204\n`;

const servers: ZohoServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(OUT_DIR, { recursive: true, force: true });
});

/** Runs `node script` in `cwd` with only PATH and `env` as its environment, and no arguments. */
function runExample(script: string, env: Record<string, string>, cwd: string): Promise<ChildResult> {
  return runCommand(process.execPath, [script], { cwd, env: { PATH: process.env.PATH ?? "", ...env }, timeoutMs: CHILD_TIMEOUT_MS });
}

/** A directory with a key file, as `zoho-encrypted-filestore keygen --out` makes it. */
function withKeyFile(): { dir: string; key: string; keyFile: string } {
  const dir = tempDir();
  const key = generateKey();
  const keyFile = join(dir, "zoho.key");
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  return { dir, key, keyFile };
}

let compiled: Promise<ChildResult> | undefined;
/** `tsc -p examples`, as the TypeScript example's top comment says, into this test's own directory. */
function compileExamples(): Promise<ChildResult> {
  compiled ??= new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSC, "-p", EXAMPLES, "--outDir", OUT_DIR, "--pretty", "false"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout: output, stderr: "" }));
  });
  return compiled;
}

describe("examples/", () => {
  it(
    "tsc -p examples type-checks them (strict, checkJs) and compiles the TypeScript one",
    async () => {
      expect(existsSync(join(ROOT, "dist", "index.d.ts")), "run `npm run build` first").toBe(true);
      const result = await compileExamples();
      expect(result.stdout).toBe("");
      expect(result.code).toBe(0);
      expect(existsSync(join(OUT_DIR, "typescript-sdk.js"))).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  const sdkExamples = [
    { name: "typescript-sdk.ts (ES module, typescript SDK)", script: () => join(OUT_DIR, "typescript-sdk.js"), storeInCwd: true },
    { name: "nodejs-sdk.cjs (CommonJS, nodejs SDK)", script: () => join(EXAMPLES, "nodejs-sdk.cjs"), storeInCwd: false },
  ];

  it.each(sdkExamples)(
    "$name: the first run exchanges the grant code; a restart with the user's name alone uses the stored token",
    async ({ script, storeInCwd }) => {
      expect((await compileExamples()).code).toBe(0);
      const server = await startZohoServer();
      servers.push(server);
      const { dir, key, keyFile } = withKeyFile();
      const user = "ana@example.com";
      // One example with the default file names in its working directory, one with both named.
      const files: Record<string, string> = storeInCwd ? {} : { ZOHO_TOKEN_STORE_FILE: join(dir, "store", "crm.enc"), ZOHO_TOKEN_STORE_KEY_FILE: keyFile };
      const cwd = storeInCwd ? dir : join(dir, "elsewhere");
      mkdirSync(cwd, { recursive: true });
      // The store's directory exists: opening a store never creates one.
      if (!storeInCwd) mkdirSync(join(dir, "store"), { mode: 0o700 });
      const env = { ZOHO_USER: user, ZOHO_API_URL: server.apiUrl, ZOHO_ACCOUNTS_URL: server.url, ZOHO_FILE_UPLOAD_URL: server.apiUrl, ...files };

      const first = await runExample(
        script(),
        {
          ...env,
          ZOHO_CLIENT_ID: server.clientId,
          ZOHO_CLIENT_SECRET: server.clientSecret,
          ZOHO_GRANT_CODE: server.issueGrantCode({ user }),
        },
        cwd,
      );
      expect(first.stderr).toBe("");
      expect(first.stdout).toBe(SDK_OUTPUT(user));
      expect(first.code).toBe(0);
      expect(server.stats).toMatchObject({ grantsExchanged: 1, grantFailures: 0, tokenRequestsReceived: 1, apiCallsOk: 1, apiCallsFailed: 0 });
      const path = storeInCwd ? join(dir, "zoho-tokens.enc") : join(dir, "store", "crm.enc");
      const stored = await (await EncryptedFileStore.open({ path, key })).findToken({ userName: user });
      expect(stored).toMatchObject({ id: "1", userName: user, clientId: server.clientId, clientSecret: server.clientSecret });
      expect(stored!.refreshToken).toBe(server.refreshTokensOf(user)[0]);

      // The restart: no client, no grant code; the accounts server hears nothing.
      const second = await runExample(script(), env, cwd);
      expect(second.stderr).toBe("");
      expect(second.stdout).toBe(SDK_OUTPUT(user));
      expect(second.code).toBe(0);
      expect(server.stats).toMatchObject({ grantsExchanged: 1, refreshes: 0, tokenRequestsReceived: 1, apiCallsOk: 2, apiCallsFailed: 0 });
      expect(readdirSync(cwd).filter((name) => name.endsWith(".enc") || name.endsWith(".csv"))).toEqual(storeInCwd ? ["zoho-tokens.enc"] : []);

      const secrets = [key, server.clientId, ...server.secrets()];
      expect(secrets.length).toBeGreaterThanOrEqual(5);
      expect(secrets.filter((secret) => [first, second].some((run) => (run.stdout + run.stderr).includes(secret)))).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "plain-records.mjs saves a record from the environment; a second run finds it",
    async () => {
      const { dir, key } = withKeyFile();
      const secrets = {
        ZOHO_CLIENT_ID: "1000.PLAINEXAMPLECLIENTID",
        ZOHO_CLIENT_SECRET: "plain-example-client-secret",
        ZOHO_REFRESH_TOKEN: "1000.plain-example-refresh-token",
      };
      const script = join(EXAMPLES, "plain-records.mjs");

      const first = await runExample(script, { ZOHO_USER: "ben@example.com", ...secrets }, dir);
      expect(first.stderr).toBe("");
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^saved the token of ben@example\.com as id 1\nTokenRecord \{/);
      expect(first.stdout).toContain("refreshToken: '[redacted]'");

      const second = await runExample(script, { ZOHO_USER: "ben@example.com" }, dir);
      expect(second.code).toBe(0);
      expect(second.stdout).toMatch(/^TokenRecord \{\n {2}id: '1',\n {2}userName: 'ben@example\.com',/);
      const third = await runExample(script, { ZOHO_USER: "nobody@example.com" }, dir);
      expect(third.stdout).toBe("no token stored for nobody@example.com\n");

      const stored = await (await EncryptedFileStore.open({ path: join(dir, "zoho-tokens.enc"), key })).findToken({ userName: "ben@example.com" });
      expect(stored).toMatchObject({ clientId: secrets.ZOHO_CLIENT_ID, clientSecret: secrets.ZOHO_CLIENT_SECRET, refreshToken: secrets.ZOHO_REFRESH_TOKEN });
      for (const secret of [key, ...Object.values(secrets)]) {
        for (const run of [first, second, third]) expect(run.stdout + run.stderr).not.toContain(secret);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "memory-backend.mjs runs the store on the in-memory backend",
    async () => {
      const result = await runExample(join(EXAMPLES, "memory-backend.mjs"), {}, tempDir());
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^TokenRecord \{\n {2}id: '1',\n {2}userName: 'me@example\.com',/);
      expect(result.stdout).toContain("refreshToken: '[redacted]'");
      expect(result.stdout).toMatch(/\n\d+ sealed bytes in memory\n$/);
      expect(result.stdout).not.toContain("1000.made-up-refresh-token");
    },
    TEST_TIMEOUT_MS,
  );
});

/** The ```lang blocks of a Markdown text, with the line before each (for the marker). */
function codeBlocks(markdown: string): { lang: string; code: string[]; line: number; before: string }[] {
  const lines = markdown.split("\n");
  const blocks: { lang: string; code: string[]; line: number; before: string }[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((line, j) => j > i && /^```\s*$/.test(line));
    if (end === -1) throw new Error(`README.md: the block at line ${i + 1} is never closed`);
    const before =
      lines
        .slice(0, i)
        .reverse()
        .find((line) => line.trim() !== "") ?? "";
    blocks.push({ lang: open[1]!, code: lines.slice(i + 1, end), line: i + 1, before: before.trim() });
    i = end;
  }
  return blocks;
}

/** True when `code` is a run of consecutive lines of `text`, leading indentation aside. */
function isExcerpt(code: string[], text: string): boolean {
  const norm = (line: string) => line.trimStart();
  const lines = text.split("\n").map(norm);
  const wanted = code.map(norm);
  if (wanted.length === 0) return false;
  return lines.some((_, start) => wanted.every((line, k) => lines[start + k] === line));
}

const NOT_AN_EXAMPLE = "<!-- not-an-example -->";
const CHECKED_LANGS = new Set(["ts", "js", "typescript", "javascript", "mjs", "cjs", "mts", "cts", "tsx", "jsx"]);

/** The Markdown files whose code blocks must be excerpts of examples/: the README and the documentation. */
const MARKDOWN = [
  "README.md",
  "SECURITY.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

describe("README.md and docs/", () => {
  const examples = readdirSync(EXAMPLES)
    .filter((name) => /\.(ts|mts|cts|js|mjs|cjs)$/.test(name))
    .map((name) => ({ name, text: readFileSync(join(EXAMPLES, name), "utf8") }));

  it.each(MARKDOWN)(`every ts/js block of %s is an excerpt of a file in examples/, or marked ${NOT_AN_EXAMPLE}`, (file) => {
    const blocks = codeBlocks(readFileSync(join(ROOT, file), "utf8")).filter((block) => CHECKED_LANGS.has(block.lang));
    if (file === "README.md") expect(blocks.length).toBeGreaterThanOrEqual(2);
    const stray = blocks
      .filter((block) => block.before !== NOT_AN_EXAMPLE)
      .filter((block) => !examples.some((example) => isExcerpt(block.code, example.text)))
      .map((block) => `line ${block.line}: ${block.code[0]}`);
    expect(stray).toEqual([]);
  });

  it("the excerpt check tells a changed line, a gap and a reordering from an excerpt", () => {
    const file = "a();\n  b(1);\n  c();\nd();\n";
    expect(isExcerpt(["b(1);", "c();"], file)).toBe(true);
    expect(isExcerpt(["    b(1);", "c();", "d();"], file)).toBe(true);
    expect(isExcerpt(["b(2);", "c();"], file)).toBe(false);
    expect(isExcerpt(["a();", "c();"], file)).toBe(false);
    expect(isExcerpt(["c();", "b(1);"], file)).toBe(false);
    expect(isExcerpt([], file)).toBe(false);
    const marked = codeBlocks(`text\n\n${NOT_AN_EXAMPLE}\n\`\`\`ts\nx();\n\`\`\`\n\`\`\`js\ny();\n\`\`\`\n`);
    expect(marked.map((block) => [block.lang, block.before, block.code])).toEqual([
      ["ts", NOT_AN_EXAMPLE, ["x();"]],
      ["js", "```", ["y();"]],
    ]);
  });
});
