/**
 * `mysql2` is an optional peer dependency: a file-store user (and a PostgreSQL one) loads
 * nothing of it, and the MySQL store loads it when (and only when) the `mysql` option is
 * given. Run on the built package in a child process, so that no other test's imports count.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect, it } from "vitest";
import { DIST, ROOT, runNode, tempDir } from "../helpers.js";
import { freePort } from "../servers/postgres.js";

function script(dir: string, body: string): string {
  const file = join(dir, "probe.mjs");
  writeFileSync(
    file,
    `import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(pathToFileURL(join(ROOT, "package.json")).href)});
const lib = await import(${JSON.stringify(pathToFileURL(DIST).href)});
const loaded = () => Object.keys(require.cache).some((path) => /[\\\\/]node_modules[\\\\/]mysql2[\\\\/]/.test(path));
${body}
`,
  );
  return file;
}

it("a file store, its SDK adapter and the postgres option load no MySQL driver", async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = script(
    dir,
    `const key = lib.generateKey();
const store = await lib.EncryptedFileStore.open({ path: ${JSON.stringify(join(dir, "t.enc"))}, key });
await store.saveToken({ userName: "u", refreshToken: "1000.r" });
const sdk = require("@zohocrm/typescript-sdk-8.0");
const adapter = await lib.zohoTokenStore(sdk, { path: ${JSON.stringify(join(dir, "u.enc"))}, key });
await adapter.getTokens();
await lib.zohoTokenStore(sdk, { postgres: "postgres://u@127.0.0.1:${port}/db", key }).catch(() => undefined);
console.log(JSON.stringify({ loaded: loaded() }));`,
  );
  const result = await runNode(file, []);
  expect(result.code, result.stderr).toBe(0);
  expect(JSON.parse(result.stdout)).toEqual({ loaded: false });
});

it("the mysql option loads the driver (and a server that is not there is UNAVAILABLE)", async () => {
  const dir = tempDir();
  const port = await freePort();
  const file = script(
    dir,
    `const before = loaded();
const sdk = require("@zohocrm/typescript-sdk-8.0");
const error = await lib.zohoTokenStore(sdk, { mysql: "mysql://u@127.0.0.1:${port}/db", key: lib.generateKey() }).catch((e) => e);
console.log(JSON.stringify({ before, after: loaded(), code: error.code }));`,
  );
  const result = await runNode(file, []);
  expect(result.code, result.stderr).toBe(0);
  expect(JSON.parse(result.stdout)).toEqual({ before: false, after: true, code: "UNAVAILABLE" });
});
