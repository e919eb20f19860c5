/**
 * One token renewal at a time across processes: real SDK clients in their own
 * processes (test/fixtures/sdk-client.mjs) share one store file and one token, against
 * the loopback accounts server, which counts every grant exchange and refresh.
 */
import { afterAll, describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey } from "../src/index.js";
import { startZohoServer, type ZohoServer } from "../scripts/zoho-loopback-server.mjs";
import { runSdkClient, secretsInText, serverConfig, type SdkClientConfig, type SdkClientResult } from "../scripts/sdk-scenario.mjs";
import { tempDir } from "./helpers.js";
import { sized } from "./faults/support.js";

/** Processes sharing a token: 8 under `npm run stress` (each loads a whole SDK, ~2 s of CPU). */
const PROCESSES = sized(4, 8);
const TIMEOUT_MS = 180_000;
const key = generateKey();
const env = { ZOHO_TOKEN_STORE_KEY: key };
const servers: ZohoServer[] = [];
const outputs: string[] = [];

afterAll(async () => {
  expect(secretsInText(outputs, [key, ...servers.flatMap((s) => s.secrets())])).toEqual([]);
  await Promise.all(servers.map((s) => s.close()));
});

async function server(options = {}): Promise<ZohoServer> {
  const s = await startZohoServer(options);
  servers.push(s);
  return s;
}

async function run(s: ZohoServer, config: Partial<SdkClientConfig> & { path: string }): Promise<SdkClientResult> {
  const result = await runSdkClient({ ...serverConfig(s), store: "ours", sdk: "ts", calls: 2, ...config }, env, 120_000);
  outputs.push(result.stdout, result.stderr);
  expect(result.code, result.stderr).toBe(0);
  return result.result!;
}

/**
 * Token requests answer after this delay, so that processes starting together all reach
 * the accounts server while the first renewal is still in flight: without leases, each
 * of them would renew.
 */
const ACCOUNTS_LATENCY_MS = 1500;

/** A store holding one user's token whose access token the store says has expired. */
async function expiredToken(s: ZohoServer, sdk: "ts" | "nodejs") {
  const path = join(tempDir(), "tokens.enc");
  const userName = "shared@example.com";
  const grantCode = s.issueGrantCode({ user: userName });
  expect(await run(s, { path, userName, grantCode, sdk, calls: 1 })).toMatchObject({ ok: 1, failed: 0 });
  const store = await EncryptedFileStore.open({ path, key });
  await store.saveToken({ userName, expiryTime: String(Date.now() - 1000) });
  s.setLatency(ACCOUNTS_LATENCY_MS);
  return { path, userName, grantCode };
}

function refreshesSince(s: ZohoServer, before: ZohoServer["stats"]) {
  return {
    refreshes: s.stats.refreshes - before.refreshes,
    refused: s.stats.refreshRefusals - before.refreshRefusals,
    grants: s.stats.grantsExchanged - before.grantsExchanged,
    grantFailures: s.stats.grantFailures - before.grantFailures,
  };
}

describe.each(["ts", "nodejs"] as const)("refresh leases through the real %s SDK", (sdk) => {
  it(
    `${PROCESSES} processes sharing one expired token make exactly one refresh`,
    async () => {
      const s = await server();
      const shared = await expiredToken(s, sdk);
      const before = { ...s.stats };
      const results = await Promise.all(Array.from({ length: PROCESSES }, () => run(s, { ...shared, sdk })));
      expect(results.map((r) => r.failed)).toEqual(Array(PROCESSES).fill(0));
      expect(results.reduce((sum, r) => sum + r.ok, 0)).toBe(PROCESSES * 2);
      expect(refreshesSince(s, before)).toEqual({ refreshes: 1, refused: 0, grants: 0, grantFailures: 0 });
    },
    TIMEOUT_MS,
  );

  it(
    `${PROCESSES} processes given the same new grant code make one exchange, and all their calls succeed`,
    async () => {
      const s = await server({ latencyMs: ACCOUNTS_LATENCY_MS });
      const path = join(tempDir(), "tokens.enc");
      const userName = "fresh@example.com";
      const grantCode = s.issueGrantCode({ user: userName });
      const results = await Promise.all(Array.from({ length: PROCESSES }, () => run(s, { path, userName, grantCode, sdk })));
      expect(
        results.map((r) => [r.initialized, r.failed]),
        JSON.stringify(results.map((r) => r.errors)),
      ).toEqual(Array(PROCESSES).fill([true, 0]));
      expect(s.stats).toMatchObject({ grantsExchanged: 1, grantFailures: 0, refreshes: 0 });
      expect(await (await EncryptedFileStore.open({ path, key })).getTokens()).toHaveLength(1);
    },
    TIMEOUT_MS,
  );
});

describe("refresh leases: other ways to name the token", () => {
  it(
    `${PROCESSES} processes configured with the token's id make exactly one refresh`,
    async () => {
      const s = await server();
      const shared = await expiredToken(s, "ts");
      const before = { ...s.stats };
      const results = await Promise.all(Array.from({ length: PROCESSES }, () => run(s, { path: shared.path, tokenId: "1", calls: 1 })));
      expect(results.map((r) => [r.initialized, r.failed])).toEqual(Array(PROCESSES).fill([true, 0]));
      expect(refreshesSince(s, before)).toEqual({ refreshes: 1, refused: 0, grants: 0, grantFailures: 0 });
    },
    TIMEOUT_MS,
  );
});

describe("refresh leases: failures", () => {
  it(
    "with leases turned off, the same processes each refresh on their own",
    async () => {
      const s = await server();
      const shared = await expiredToken(s, "ts");
      const before = { ...s.stats };
      const results = await Promise.all(Array.from({ length: 4 }, () => run(s, { ...shared, storeOptions: { refreshLeaseMs: 0 } })));
      expect(results.map((r) => r.failed)).toEqual([0, 0, 0, 0]);
      expect(refreshesSince(s, before).refreshes).toBeGreaterThan(1);
    },
    TIMEOUT_MS,
  );

  it(
    "a holder killed during its refresh holds the others up far less than the lease timeout",
    async () => {
      const s = await server();
      const shared = await expiredToken(s, "ts");
      const leaseMs = 60_000;
      s.setLatency(1_000_000); // the first refresh never answers: its holder is killed while waiting
      const storeOptions = { refreshLeaseMs: leaseMs };
      const dir = join(shared.path, "..");
      const received = s.stats.tokenRequestsReceived;
      const holder = runSdkClient({ ...serverConfig(s), store: "ours", sdk: "ts", calls: 1, ...shared, storeOptions }, env, 120_000);
      while (s.stats.tokenRequestsReceived === received) await new Promise((r) => setTimeout(r, 20));
      s.setLatency(0);
      const leaseFile = readdirSync(dir).find((name) => name.startsWith("tokens.enc.lease-"));
      expect(leaseFile).toBeDefined();
      const { pid } = JSON.parse(readFileSync(join(dir, leaseFile!), "utf8")) as { pid: number };
      const started = Date.now();
      const others = Promise.all(Array.from({ length: 3 }, () => run(s, { ...shared, storeOptions })));
      await new Promise((r) => setTimeout(r, 300));
      process.kill(pid, "SIGKILL");
      await holder;
      const results = await others;
      expect(results.map((r) => r.failed)).toEqual([0, 0, 0]);
      expect(Date.now() - started).toBeLessThan(leaseMs / 2);
      expect(s.stats.refreshes).toBe(1);
    },
    TIMEOUT_MS,
  );

  it(
    "a failed refresh is retried by the next caller",
    async () => {
      const s = await server();
      const shared = await expiredToken(s, "ts");
      s.failNextTokenRequests(1);
      s.setLatency(0);
      const first = await run(s, { ...shared, calls: 1, storeOptions: { refreshLeaseMs: 2_000 } });
      // The SDK renews while initialising: the failure stops it there.
      expect(first.initialized && first.failed === 0).toBe(false);
      const second = await run(s, { ...shared, calls: 1, storeOptions: { refreshLeaseMs: 2_000 } });
      expect(second).toMatchObject({ ok: 1, failed: 0 });
      expect(s.stats.refreshes, JSON.stringify([second, s.stats])).toBe(1);
    },
    TIMEOUT_MS,
  );
});
