/**
 * One token renewal per host also when one process holds several stores on the same
 * file: two SDK adapters (the typescript SDK and the nodejs SDK, each with its own
 * initializer and store), and two copies of this package loaded side by side (the
 * installed one and a bundled copy), and when one adapter serves concurrent API calls
 * (a failed refresh then ends the lease at once: the next caller renews without waiting
 * out the lease time). Real SDKs, in this process, against the loopback accounts server,
 * which counts every refresh.
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

/** Concurrent API calls through one adapter: how many there are in each test. */
const CALLS = 5;
/** A lease time no test may wait out: a claim that waits for it fails the test (see `within`). */
const HUGE_LEASE_MS = 600_000;

/**
 * `work`, or a failure that says what hung once it has not ended after 40 s (while the
 * lease time is 10 minutes): a claim that waits out the lease fails the test with this,
 * not by the test's own timeout.
 */
async function within<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after 40 s (the lease time is 10 minutes)`)), 40_000);
  });
  try {
    return await Promise.race([work, stuck]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One adapter with the SDK initialised for the shared user (the initialisation renews the
 * expired token once), whose token then expires again, in memory and in the store, as an
 * hour later: the next API calls all find it expiring.
 */
async function oneAdapterExpired(s: ZohoServer, sdkName: "ts" | "nodejs", userName: string, configured: "user" | "id" = "user") {
  const shared = await expiredToken(s, userName);
  const SDK = (await loadSdks())[sdkName];
  const store = await library.zohoTokenStore(SDK, { path: shared.path, key, refreshLeaseMs: HUGE_LEASE_MS });
  const environment = new SDK.Environment(s.apiUrl, s.accountsUrl, s.apiUrl);
  // Configured by user (the SDK calls findToken) or by the stored token's id (findTokenById;
  // the user name too, which the nodejs SDK needs to tell its initialisers apart).
  const builder = new SDK.OAuthBuilder().clientId(s.clientId).clientSecret(s.clientSecret).userSignature(new SDK.UserSignature(userName));
  const token = (configured === "user" ? builder.grantToken(shared.grantCode) : builder.id("1")).build();
  const logger = new SDK.LogBuilder().level(SDK.Levels.OFF).build();
  await (await new SDK.InitializeBuilder()).environment(environment).token(token).store(store).logger(logger).initialize();
  const past = String(Date.now() - 1000);
  token.setExpiresIn(past);
  await (await library.EncryptedFileStore.open({ path: shared.path, key })).saveToken({ userName, expiryTime: past });
  /** One API call through the SDK: its HTTP status, or "failed" when the SDK call rejected. */
  const call = (): Promise<number | "failed"> =>
    new SDK.Org.OrgOperations().getOrganization().then(
      (response: { getStatusCode(): number }) => response.getStatusCode(),
      () => "failed" as const,
    );
  return { ...shared, call };
}

const succeeded = (status: number | "failed") => status === 200 || status === 204;

describe.each(["ts", "nodejs"] as const)("concurrent API calls through one adapter (the %s SDK) renew an expired token once", (sdkName) => {
  it(
    `${CALLS} concurrent calls: exactly one refresh, and every call succeeds`,
    async () => {
      const s = await startZohoServer();
      servers.push(s);
      const { call } = await oneAdapterExpired(s, sdkName, `concurrent-${sdkName}@example.com`);
      s.setLatency(ACCOUNTS_LATENCY_MS);
      const before = { ...s.stats };
      const statuses = await within(Promise.all(Array.from({ length: CALLS }, call)), "concurrent calls");
      s.setLatency(0);
      expect(statuses.map(succeeded)).toEqual(Array(CALLS).fill(true));
      expect(s.stats.refreshes - before.refreshes).toBe(1);
      expect(s.stats.tokenRequestsReceived - before.tokenRequestsReceived).toBe(1);
    },
    TIMEOUT_MS,
  );

  it(
    `${CALLS} concurrent calls, the first refresh fails: one call fails, one waiting call renews at once (not after the lease time), the others use its token`,
    async () => {
      const s = await startZohoServer();
      servers.push(s);
      const { call } = await oneAdapterExpired(s, sdkName, `concurrent-failure-${sdkName}@example.com`);
      s.setLatency(ACCOUNTS_LATENCY_MS);
      s.failNextTokenRequests(1);
      const before = { ...s.stats };
      const statuses = await within(Promise.all(Array.from({ length: CALLS }, call)), "concurrent calls after a failed refresh");
      s.setLatency(0);
      expect(statuses.filter((status) => !succeeded(status))).toEqual(["failed"]);
      // Two token requests in all: the one that failed, and one refresh.
      expect(s.stats.tokenRequestsReceived - before.tokenRequestsReceived).toBe(2);
      expect(s.stats.refreshes - before.refreshes).toBe(1);
    },
    TIMEOUT_MS,
  );

  it(
    `${CALLS} concurrent calls with a token configured by its id (findTokenById): exactly one refresh; after a failed one, one more`,
    async () => {
      const s = await startZohoServer();
      servers.push(s);
      const { call, path, userName } = await oneAdapterExpired(s, sdkName, `by-id-${sdkName}@example.com`, "id");
      s.setLatency(ACCOUNTS_LATENCY_MS);
      let before = { ...s.stats };
      const statuses = await within(Promise.all(Array.from({ length: CALLS }, call)), "concurrent calls by id");
      expect(statuses.map(succeeded)).toEqual(Array(CALLS).fill(true));
      expect(s.stats.tokenRequestsReceived - before.tokenRequestsReceived).toBe(1);
      expect(s.stats.refreshes - before.refreshes).toBe(1);

      // Expired again (the SDK reads the token by id from the store on every call); the first refresh fails.
      await (await library.EncryptedFileStore.open({ path, key })).saveToken({ userName, expiryTime: String(Date.now() - 1000) });
      s.failNextTokenRequests(1);
      before = { ...s.stats };
      const again = await within(Promise.all(Array.from({ length: CALLS }, call)), "concurrent calls by id after a failed refresh");
      s.setLatency(0);
      expect(again.filter((status) => !succeeded(status))).toEqual(["failed"]);
      expect(s.stats.tokenRequestsReceived - before.tokenRequestsReceived).toBe(2);
      expect(s.stats.refreshes - before.refreshes).toBe(1);
    },
    TIMEOUT_MS,
  );

  it(
    "a call whose refresh failed, then a retry: the retry renews at once, not after the lease time",
    async () => {
      const s = await startZohoServer();
      servers.push(s);
      const { call } = await oneAdapterExpired(s, sdkName, `retry-${sdkName}@example.com`);
      s.failNextTokenRequests(1);
      const before = { ...s.stats };
      expect(await within(call(), "the first call")).toBe("failed");
      expect(succeeded(await within(call(), "the retry after a failed refresh"))).toBe(true);
      expect(s.stats.tokenRequestsReceived - before.tokenRequestsReceived).toBe(2);
      expect(s.stats.refreshes - before.refreshes).toBe(1);
    },
    TIMEOUT_MS,
  );
});

describe("a failed renewal in a process that lives on", () => {
  it(
    "ends its lease at once: another process waiting for the token renews without waiting out the lease time",
    async () => {
      const s = await startZohoServer();
      servers.push(s);
      const { call, path, userName, grantCode } = await oneAdapterExpired(s, "ts", "failed-then-other-process@example.com");
      s.setLatency(ACCOUNTS_LATENCY_MS);
      s.failNextTokenRequests(1);
      const before = { ...s.stats };
      // This process renews (its lease file names this process, which stays alive) and fails.
      const failing = call();
      while (s.stats.tokenRequestsReceived === before.tokenRequestsReceived) await new Promise((r) => setTimeout(r, 20));
      // Another process needs the same token meanwhile, with the same 10-minute lease time.
      const other = runSdkClient(
        { ...serverConfig(s), store: "ours", sdk: "ts", calls: 1, path, userName, grantCode, storeOptions: { refreshLeaseMs: HUGE_LEASE_MS } },
        { ZOHO_TOKEN_STORE_KEY: key },
        120_000,
      );
      expect(await within(failing, "the failing call")).toBe("failed");
      const run = await within(other, "the other process, after this one's refresh failed");
      s.setLatency(0);
      outputs.push(run.stdout, run.stderr);
      expect(run.code, run.stderr).toBe(0);
      expect(run.result).toMatchObject({ initialized: true, ok: 1, failed: 0 });
      expect(s.stats.tokenRequestsReceived - before.tokenRequestsReceived).toBe(2);
      expect(s.stats.refreshes - before.refreshes).toBe(1);
    },
    TIMEOUT_MS,
  );
});
