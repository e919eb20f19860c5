/**
 * End to end through the real, unmodified Zoho CRM SDKs: each SDK client runs in its
 * own process (test/fixtures/sdk-client.mjs, using this package from dist/), against
 * a loopback server on 127.0.0.1 that plays Zoho's accounts server and CRM API with
 * Zoho's token rules (scripts/zoho-loopback-server.mjs).
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EncryptedFileStore, generateKey, zohoTokenStore, type ZohoOAuthToken, type ZohoSdkNamespace } from "../src/index.js";
import { startZohoServer, type ZohoServer, type ZohoServerOptions } from "../scripts/zoho-loopback-server.mjs";
import {
  runConcurrentClients,
  runSdkClient,
  secretsInFiles,
  secretsInText,
  serverConfig,
  storeFiles,
  type SdkClientConfig,
  type SdkClientResult,
} from "../scripts/sdk-scenario.mjs";
import { sized } from "./faults/support.js";

const require = createRequire(import.meta.url);
const SDKS = ["ts", "nodejs"] as const;
type Sdk = (typeof SDKS)[number];

/**
 * The SDKs refresh when fewer than 5 s are left: a 9 s lifetime leaves 4 s of use per
 * token (room for a loaded machine between the SDK's check and the server's), and a
 * token is due for refresh after a 4.3 s wait.
 */
const SHORT_LIFETIME_MS = 9_000;
const UNTIL_EXPIRING_MS = 4_300;
/**
 * Each child process loads a whole SDK (1.5 to 2.5 s of CPU). On an idle 2-core machine
 * a test takes 5 to 25 s; the limits leave room for a machine busy with other work.
 */
const CHILD_TIMEOUT_MS = 150_000;
/** SDK clients run at once in the concurrency test: 8 under `npm run stress`. */
const CONCURRENT = sized(4, 8);
const TEST_TIMEOUT_MS = 240_000;

async function loadSdk(sdk: Sdk): Promise<ZohoSdkNamespace & Record<string, any>> {
  // The nodejs SDK ships no types; a computed specifier keeps the type checker out of it.
  const nodejsSdk: string = "@zohocrm/nodejs-sdk-8.0";
  return sdk === "ts" ? require("@zohocrm/typescript-sdk-8.0") : await import(nodejsSdk);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(SDKS)("through the real %s SDK", (sdk) => {
  const key = generateKey();
  const env = { ZOHO_TOKEN_STORE_KEY: key };
  const servers: ZohoServer[] = [];
  const outputs: string[] = [];
  // One directory per SDK, removed at the end: the tests of a file run concurrently.
  const root = mkdtempSync(join(tmpdir(), `zefs-e2e-${sdk}-`));
  let dirs = 0;
  const tempDir = () => mkdtempSync(join(root, `t${++dirs}-`));

  async function server(options: ZohoServerOptions = {}): Promise<ZohoServer> {
    const started = await startZohoServer(options);
    servers.push(started);
    return started;
  }

  /** Runs one client process with this package's store and checks it exited cleanly. */
  async function client(s: ZohoServer, config: Partial<SdkClientConfig> & { path: string }): Promise<SdkClientResult> {
    const run = await runSdkClient({ ...serverConfig(s), sdk, store: "ours", calls: 2, ...config }, env, CHILD_TIMEOUT_MS);
    outputs.push(run.stdout, run.stderr);
    expect(run.code, run.stderr).toBe(0);
    expect(run.result).not.toBeNull();
    return run.result!;
  }

  const open = (path: string) => EncryptedFileStore.open({ path, key });

  afterAll(async () => {
    // No child wrote a token, secret, client id or the key to its output.
    const secrets = [key, ...servers.flatMap((s) => s.secrets())];
    expect(secretsInText(outputs, secrets)).toEqual([]);
    await Promise.all(servers.map((s) => s.close()));
    rmSync(root, { recursive: true, force: true });
  });

  it.concurrent(
    "the first process exchanges the grant code and saves the token; a new process reuses it with no new grant",
    async () => {
      const s = await server();
      const path = join(tempDir(), "tokens.enc");
      const userName = "ana@example.com";
      const config = { path, userName, grantCode: s.issueGrantCode({ user: userName }) };

      const first = await client(s, config);
      expect(first).toMatchObject({ initialized: true, ok: 2, failed: 0, errors: [], tokenId: "1" });
      expect(s.stats).toMatchObject({ grantsExchanged: 1, grantFailures: 0, refreshes: 0 });
      const stored = await (await open(path)).findToken({ userName });
      expect(stored).toMatchObject({ id: "1", userName, clientId: s.clientId, clientSecret: s.clientSecret, apiDomain: s.url });
      expect(stored!.refreshToken).toBe(s.refreshTokensOf(userName)[0]);
      expect(s.isLive(stored!.accessToken!)).toBe(true);
      expect(Number(stored!.expiryTime)).toBeGreaterThan(Date.now() + 3_000_000);

      // The same configuration again (the grant code is spent): the stored token is used.
      const second = await client(s, config);
      expect(second).toMatchObject({ initialized: true, ok: 2, failed: 0, errors: [], tokenId: "1" });
      expect(s.stats).toMatchObject({ grantsExchanged: 1, grantFailures: 0, refreshes: 0, tokenRequests: 1, apiCallsFailed: 0 });
      expect(await (await open(path)).getTokens()).toHaveLength(1);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "an expired access token is refreshed and the new one saved",
    async () => {
      const s = await server({ accessTokenLifetimeMs: SHORT_LIFETIME_MS });
      const path = join(tempDir(), "tokens.enc");
      const userName = "ben@example.com";
      const config = { path, userName, grantCode: s.issueGrantCode({ user: userName }), calls: 1 };
      await client(s, config);
      const before = (await (await open(path)).findToken({ userName }))!;

      await sleep(UNTIL_EXPIRING_MS);
      const result = await client(s, config);
      expect(result).toMatchObject({ initialized: true, ok: 1, failed: 0, errors: [] });
      expect(s.stats.grantsExchanged).toBe(1);
      expect(s.stats.refreshes).toBeGreaterThanOrEqual(1);
      expect(s.stats.refreshRefusals + s.stats.refreshFailures).toBe(0);
      const after = (await (await open(path)).findToken({ userName }))!;
      expect(after.id).toBe(before.id);
      expect(after.refreshToken).toBe(before.refreshToken);
      expect(after.accessToken).not.toBe(before.accessToken);
      expect(Number(after.expiryTime)).toBeGreaterThan(Number(before.expiryTime));
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "token.remove() deletes the stored token; the adapter then reports NOT_FOUND for its id",
    async () => {
      const s = await server();
      const path = join(tempDir(), "tokens.enc");
      const userName = "cleo@example.com";
      // One process: exchanges the grant, saves the token, makes a call, then removes the token.
      const result = await client(s, { path, userName, grantCode: s.issueGrantCode({ user: userName }), calls: 1, remove: true });
      expect(result).toMatchObject({ initialized: true, ok: 1, tokenId: "1", removed: true, errors: [] });
      expect(s.stats.grantsExchanged).toBe(1);
      expect(await (await open(path)).getTokens()).toEqual([]);

      const store = await zohoTokenStore(await loadSdk(sdk), { path, key });
      await expect(store.findTokenById("1")).rejects.toMatchObject({ name: "TokenStoreError", code: "NOT_FOUND" });
      await expect(store.deleteToken("1")).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await store.getTokens()).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "several users in one file stay separate",
    async () => {
      const s = await server();
      const path = join(tempDir(), "tokens.enc");
      const users = ["dan@example.com", "eve@example.com", "fay@example.com"];
      const configs = users.map((userName) => ({ path, userName, grantCode: s.issueGrantCode({ user: userName }), calls: 1 }));
      // The typescript SDK is CommonJS: its users load this package with require().
      const importCjs = sdk === "ts";
      for (const result of await Promise.all(configs.map((config) => client(s, { ...config, importCjs })))) {
        expect(result).toMatchObject({ initialized: true, ok: 1, failed: 0 });
      }
      const again = await client(s, { ...configs[1]!, getTokens: true });
      expect(again).toMatchObject({ ok: 1, failed: 0, tokens: 3, tokenClasses: ["OAuthToken"] });
      expect(again.userNames!.slice().sort()).toEqual(users);
      expect(s.stats).toMatchObject({ grantsExchanged: 3, grantFailures: 0, refreshes: 0 });

      const records = await (await open(path)).getTokens();
      expect(records.map((r) => r.userName).sort()).toEqual(users);
      for (const record of records) expect(record.refreshToken).toBe(s.refreshTokensOf(record.userName!)[0]);
      expect(new Set(records.map((r) => r.id)).size).toBe(3);

      // getTokens and findTokenById build the SDK's own OAuthToken, with a UserSignature.
      const ZOHOCRMSDK = await loadSdk(sdk);
      const store = await zohoTokenStore(ZOHOCRMSDK, { path, key });
      for (const record of records) {
        const token = (await store.findTokenById(record.id)) as ZohoOAuthToken;
        expect(token).toBeInstanceOf(ZOHOCRMSDK.OAuthToken);
        expect(token.getUserSignature()).toBeInstanceOf(ZOHOCRMSDK.UserSignature);
        expect(token.getUserSignature()!.getName()).toBe(record.userName);
        expect(token.getRefreshToken()).toBe(record.refreshToken);
        expect(String(token.getId())).toBe(record.id);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it.concurrent(
    "a user name and tokens with commas, quotes and newlines round-trip, and the refresh still works",
    async () => {
      const s = await server({
        accessTokenLifetimeMs: SHORT_LIFETIME_MS,
        refreshTokenSuffix: ",\"quoted\" 'single'\nsecond line,",
        accessTokenSuffix: ",\"q\"'s'",
      });
      const path = join(tempDir(), "tokens.enc");
      const userName = 'O\'Brien, "the boss"\nsecond line@example.com';
      const config = { path, userName, grantCode: s.issueGrantCode({ user: userName }), calls: 1 };
      expect(await client(s, config)).toMatchObject({ initialized: true, ok: 1, failed: 0 });
      const first = (await (await open(path)).findToken({ userName }))!;
      expect(first.userName).toBe(userName);
      expect(first.refreshToken).toBe(s.refreshTokensOf(userName)[0]);
      expect(first.refreshToken).toContain("\n");
      expect(s.secrets()).toContain(first.accessToken);

      await sleep(UNTIL_EXPIRING_MS);
      expect(await client(s, { ...config, getTokens: true })).toMatchObject({ ok: 1, failed: 0, tokens: 1 });
      expect(s.stats).toMatchObject({ grantsExchanged: 1, refreshFailures: 0, refreshRefusals: 0 });
      expect(s.stats.refreshes).toBeGreaterThanOrEqual(1);
      const after = (await (await open(path)).getTokens())[0]!;
      expect(after.userName).toBe(userName);
      expect(after.refreshToken).toBe(first.refreshToken);
      expect(after.accessToken).not.toBe(first.accessToken);
      expect(after.accessToken).toContain(",\"q\"'s'");
    },
    TEST_TIMEOUT_MS,
  );

  it(
    `${CONCURRENT} processes at once, each a real SDK client with its own user: no call fails, no token lost, no plaintext`,
    async () => {
      // Tokens expire during the run, so the processes also refresh and save concurrently.
      const s = await server({ accessTokenLifetimeMs: SHORT_LIFETIME_MS });
      const path = join(tempDir(), "tokens.enc");
      const summary = await runConcurrentClients({
        server: s,
        sdk,
        store: "ours",
        path,
        processes: CONCURRENT,
        calls: 8,
        delayMs: 600,
        env,
        timeoutMs: CHILD_TIMEOUT_MS,
      });
      for (const run of summary.runs) outputs.push(run.stdout, run.stderr);
      expect(summary.errors).toEqual([]);
      expect(summary).toMatchObject({ callsOk: CONCURRENT * 8, callsFailed: 0, initFailures: 0 });
      expect(s.stats).toMatchObject({ grantsExchanged: CONCURRENT, grantFailures: 0, refreshRefusals: 0, refreshFailures: 0, apiCallsFailed: 0 });
      expect(s.stats.refreshes).toBeGreaterThanOrEqual(CONCURRENT);

      const records = await (await open(path)).getTokens();
      expect(records.map((r) => r.userName).sort()).toEqual([...summary.users].sort());
      for (const record of records) {
        expect(record.refreshToken).toBe(s.refreshTokensOf(record.userName!)[0]);
        expect(s.secrets()).toContain(record.accessToken);
      }
      // The bytes on disk hold no token, secret or client id.
      const files = storeFiles(path);
      expect(files.length).toBeGreaterThan(0);
      expect(secretsInFiles(files, [...s.secrets(), s.clientId, s.clientSecret])).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});
