/**
 * One token renewal per host also when one process holds several stores on the same
 * file: two SDK adapters (the typescript SDK and the nodejs SDK, each with its own
 * initializer and store), and two copies of this package loaded side by side (the
 * installed one and a bundled copy). Real SDKs, in this process, against the loopback
 * accounts server, which counts every refresh.
 */
import { afterAll, describe, expect, it } from "vitest";
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as library from "../src/index.js";
import { startZohoServer, type ZohoServer } from "../scripts/zoho-loopback-server.mjs";
import { runSdkClient, secretsInText, serverConfig } from "../scripts/sdk-scenario.mjs";
import { DIST, ROOT, tempDir } from "./helpers.js";

const require = createRequire(import.meta.url);
const TIMEOUT_MS = 180_000;
/** Token requests answer after this delay: the second store asks while the first renewal is in flight. */
const ACCOUNTS_LATENCY_MS = 1500;

type Sdk = library.ZohoSdkNamespace & Record<string, any>;
type Library = Pick<typeof library, "zohoTokenStore" | "EncryptedFileStore">;

const key = library.generateKey();
const servers: ZohoServer[] = [];
const outputs: string[] = [];
const copies: string[] = [];

afterAll(async () => {
  expect(secretsInText(outputs, [key, ...servers.flatMap((s) => s.secrets())])).toEqual([]);
  await Promise.all(servers.map((s) => s.close()));
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
});

async function loadSdks(): Promise<{ ts: Sdk; nodejs: Sdk }> {
  // The nodejs SDK ships no types; a computed specifier keeps the type checker out of it.
  const nodejsSdk: string = "@zohocrm/nodejs-sdk-8.0";
  return { ts: require("@zohocrm/typescript-sdk-8.0"), nodejs: await import(nodejsSdk) };
}

/**
 * A store holding one user's token (from a real grant exchange) whose access token has
 * expired. Each test has its own user: an SDK keeps its initializers per user for the
 * life of the process.
 */
async function expiredToken(s: ZohoServer, userName: string) {
  const path = join(tempDir(), "tokens.enc");
  const grantCode = s.issueGrantCode({ user: userName });
  const run = await runSdkClient({ ...serverConfig(s), store: "ours", sdk: "ts", calls: 1, path, userName, grantCode }, { ZOHO_TOKEN_STORE_KEY: key }, 120_000);
  outputs.push(run.stdout, run.stderr);
  expect(run.code, run.stderr).toBe(0);
  expect(run.result).toMatchObject({ ok: 1, failed: 0 });
  const store = await library.EncryptedFileStore.open({ path, key });
  await store.saveToken({ userName, expiryTime: String(Date.now() - 1000) });
  return { path, userName, grantCode };
}

/** Initialises `SDK` with `store` for the shared user and makes one API call; resolves to its HTTP status. */
async function callThrough(SDK: Sdk, store: unknown, s: ZohoServer, shared: { userName: string; grantCode: string }): Promise<number> {
  const environment = new SDK.Environment(s.apiUrl, s.accountsUrl, s.apiUrl);
  const token = new SDK.OAuthBuilder()
    .clientId(s.clientId)
    .clientSecret(s.clientSecret)
    .grantToken(shared.grantCode)
    .userSignature(new SDK.UserSignature(shared.userName))
    .build();
  const logger = new SDK.LogBuilder().level(SDK.Levels.OFF).build();
  await (await new SDK.InitializeBuilder()).environment(environment).token(token).store(store).logger(logger).initialize();
  const response = await new SDK.Org.OrgOperations().getOrganization();
  return response.getStatusCode();
}

/** Both SDKs at once, each through its own store on the same file: how many refreshes they made. */
async function renewTogether(s: ZohoServer, shared: Awaited<ReturnType<typeof expiredToken>>, first: Library, second: Library) {
  const sdks = await loadSdks();
  const a = await first.zohoTokenStore(sdks.ts, { path: shared.path, key });
  const b = await second.zohoTokenStore(sdks.nodejs, { path: shared.path, key });
  s.setLatency(ACCOUNTS_LATENCY_MS);
  const before = s.stats.refreshes;
  const statuses = await Promise.all([callThrough(sdks.ts, a, s, shared), callThrough(sdks.nodejs, b, s, shared)]);
  s.setLatency(0);
  expect(statuses.map((status) => status === 200 || status === 204)).toEqual([true, true]);
  const stored = await (await library.EncryptedFileStore.open({ path: shared.path, key })).findToken({ userName: shared.userName });
  expect(Number(stored!.expiryTime)).toBeGreaterThan(Date.now() + 60_000);
  expect(s.isLive(stored!.accessToken!)).toBe(true);
  return s.stats.refreshes - before;
}

/** A second copy of the built package, as a bundler or a second install leaves one: its own module instance. */
function copyOfPackage(): string {
  const dir = mkdtempSync(join(tmpdir(), "zefs-copy-"));
  copies.push(dir);
  cpSync(join(ROOT, "dist"), join(dir, "dist"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "bundled-copy", type: "module", private: true }));
  // Its dependencies, as in the application that bundled it.
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return join(dir, "dist", "index.js");
}

describe("several stores on one file in one process renew an expired token once", () => {
  it(
    "two SDK adapters (typescript SDK and nodejs SDK), each with its own store on the file: exactly one refresh",
    async () => {
      const s = await startZohoServer();
      servers.push(s);
      const shared = await expiredToken(s, "two-adapters@example.com");
      expect(await renewTogether(s, shared, library, library)).toBe(1);
    },
    TIMEOUT_MS,
  );

  it(
    "two copies of the package (the CommonJS entry of the build, and a bundled copy imported as ESM): exactly one refresh",
    async () => {
      const s = await startZohoServer();
      servers.push(s);
      const shared = await expiredToken(s, "two-copies@example.com");
      const installed = require(DIST.replace(/index\.js$/, "index.cjs")) as Library;
      const bundled = (await import(pathToFileURL(copyOfPackage()).href)) as Library;
      // Two module instances: nothing but what they share through globalThis is shared.
      expect(bundled.EncryptedFileStore).not.toBe(installed.EncryptedFileStore);
      expect(await renewTogether(s, shared, installed, bundled)).toBe(1);
    },
    TIMEOUT_MS,
  );
});
