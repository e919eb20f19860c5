/**
 * The optional-driver cases both SQL stores run (test/postgres/optional-driver.test.ts and
 * test/mysql/optional-driver.test.ts): a store's driver is an optional peer dependency that
 * a file-store user (and a user of the other options given) loads nothing of, and that its
 * option loads (when, and only when, given). Run on the built package in a child process,
 * so that no other test's imports count.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect, it } from "vitest";
import { DIST, ROOT, runNode, tempDir } from "../helpers.js";
import { freePort } from "../servers/postgres.js";

export interface OptionalDriver {
  /** The driver's package name under node_modules (a regular expression's text). */
  driver: string;
  /** The store's option, also the scheme of its connection string. */
  option: "postgres" | "mysql";
  /** The first case's name. */
  withoutTitle: string;
  /** Options of other stores, tried after the file store: they must not load the driver either. */
  others: ("postgres" | "mysql")[];
  /** The second case's name. */
  withTitle: string;
}

export function optionalDriverSuite(d: OptionalDriver): void {
  function script(dir: string, body: string): string {
    const file = join(dir, "probe.mjs");
    writeFileSync(
      file,
      `import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(pathToFileURL(join(ROOT, "package.json")).href)});
const lib = await import(${JSON.stringify(pathToFileURL(DIST).href)});
const loaded = () => Object.keys(require.cache).some((path) => /[\\\\/]node_modules[\\\\/]${d.driver}[\\\\/]/.test(path));
${body}
`,
    );
    return file;
  }

  it(d.withoutTitle, async () => {
    const dir = tempDir();
    const port = await freePort();
    const others = d.others.map(
      (option) => `await lib.zohoTokenStore(sdk, { ${option}: "${option}://u@127.0.0.1:${port}/db", key }).catch(() => undefined);\n`,
    );
    const file = script(
      dir,
      `const key = lib.generateKey();
const store = await lib.EncryptedFileStore.open({ path: ${JSON.stringify(join(dir, "t.enc"))}, key });
await store.saveToken({ userName: "u", refreshToken: "1000.r" });
const sdk = require("@zohocrm/typescript-sdk-8.0");
const adapter = await lib.zohoTokenStore(sdk, { path: ${JSON.stringify(join(dir, "u.enc"))}, key });
await adapter.getTokens();
${others.join("")}console.log(JSON.stringify({ loaded: loaded() }));`,
    );
    const result = await runNode(file, []);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ loaded: false });
  });

  it(d.withTitle, async () => {
    const dir = tempDir();
    const port = await freePort();
    const file = script(
      dir,
      `const before = loaded();
const sdk = require("@zohocrm/typescript-sdk-8.0");
const error = await lib.zohoTokenStore(sdk, { ${d.option}: "${d.option}://u@127.0.0.1:${port}/db", key: lib.generateKey() }).catch((e) => e);
console.log(JSON.stringify({ before, after: loaded(), code: error.code }));`,
    );
    const result = await runNode(file, []);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ before: false, after: true, code: "UNAVAILABLE" });
  });
}
