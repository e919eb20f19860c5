/**
 * The fault cases both SQL stores run (test/postgres/faults.test.ts and
 * test/mysql/faults.test.ts): a lease holder killed mid-refresh holds the others up no
 * longer than its lease; a row put back to an older sealed copy is refused by a process that
 * saw the newer one (and, as documented, not by one that never did). A dialect gives its
 * server, its store, its lease-holder fixture and the SQL that puts the older row back.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EncryptedTokenStore, generateKey, isTokenStoreError } from "../../src/index.js";
import { fixture, sampleToken } from "../helpers.js";

export interface FaultsServer {
  createDatabase(): Promise<{ name: string; url: string }>;
  stop(): Promise<void>;
}

export interface FaultsDialect<S extends FaultsServer> {
  /** The describe block's name (none: the cases stand at the file's top level). */
  title?: string;
  /** True when the suite is not run (its NOT RUN notice already printed); default false. */
  skip?: boolean;
  start(): Promise<S>;
  open(url: string, key: string): Promise<EncryptedTokenStore>;
  /** The lease-holder fixture: `node <it> <url> <name> <leaseMs>` prints "acquired" and holds the lease. */
  leaseHolder: string;
  /** How many lease rows `database` holds (checked before and after the takeover), when the dialect checks it. */
  leaseRows?(server: S, database: string): Promise<number>;
  /** Also check that the takeover came before the waiter's own 20 s lease was up (by the test's clock). */
  timed?: boolean;
  /** The sealed bytes of row r.1. */
  sealedOfFirst(server: S, database: string): Promise<unknown>;
  /** Puts `sealed` back into row r.1, marking the row (and the head's version, not its row) changed. */
  putBack(server: S, database: string, sealed: unknown): Promise<void>;
  /** Marks the head row changed too, its bytes as they were. */
  markHead(server: S, database: string): Promise<void>;
}

export function faultsSuite<S extends FaultsServer>(d: FaultsDialect<S>): void {
  let server: S;
  beforeAll(async () => {
    if (!d.skip) server = await d.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const cases = () => {
    it("a lease holder killed mid-refresh holds the others up no longer than its lease", async () => {
      const { url, name } = await server.createDatabase();
      const key = generateKey();
      const holder = spawn(process.execPath, [fixture(d.leaseHolder), url, "renewal-key", "1500"], {
        env: { ...process.env, ZOHO_TOKEN_STORE_KEY: key },
        stdio: ["ignore", "pipe", "inherit"],
      });
      const outcome = await new Promise<string>((resolve) => holder.stdout.on("data", (chunk: Buffer) => resolve(chunk.toString().trim())));
      expect(outcome).toBe("acquired");
      holder.kill("SIGKILL");
      await new Promise((resolve) => holder.on("close", resolve));
      // The killed holder's row is still there.
      if (d.leaseRows) expect(await d.leaseRows(server, name)).toBe(1);
      const store = await d.open(url, key);
      try {
        const coordinator = store.refreshCoordinator({ leaseMs: 20_000 });
        const started = Date.now();
        // A waiter waits for it to expire on the server's clock, then takes it over (before its own 20 s are up).
        expect(await coordinator.claim("renewal-key", async () => false)).toBe("acquired");
        if (d.timed) expect(Date.now() - started).toBeLessThan(20_000);
        await coordinator.release("renewal-key");
        if (d.leaseRows) expect(await d.leaseRows(server, name)).toBe(0);
      } finally {
        await store.close();
      }
    }, 60_000);

    it("a row put back to an older copy: ROLLBACK_DETECTED for a process that saw the newer one", async () => {
      const { url, name } = await server.createDatabase();
      const key = generateKey();
      const store = await d.open(url, key);
      try {
        await store.saveToken(sampleToken("a"));
        await store.saveToken(sampleToken("b"));
        const old = await d.sealedOfFirst(server, name);
        await store.saveToken({ userName: "user-a@example.com", accessToken: "1000.access-a-newer" });
        expect((await store.findTokenById("1"))?.accessToken).toBe("1000.access-a-newer");
        // Someone with write access puts the older sealed row back (and marks it changed).
        await d.putBack(server, name, old);
        // A change without the head (which every write rewrites) is not a write of the store.
        expect(isTokenStoreError(await store.findTokenById("1").catch((e) => e), "DAMAGED_FILE")).toBe(true);
        // With the head marked changed too (its bytes as they were), the older row is seen for what it is.
        await d.markHead(server, name);
        expect(isTokenStoreError(await store.findTokenById("1").catch((e) => e), "ROLLBACK_DETECTED")).toBe(true);
        // A process that never saw the newer row cannot tell (the store's docs say so).
        const fresh = await d.open(url, key);
        expect((await fresh.findTokenById("1"))?.accessToken).toBe("1000.access-a-at");
        await fresh.close();
      } finally {
        await store.close();
      }
    });
  };
  if (d.title === undefined) cases();
  else describe.skipIf(d.skip === true)(d.title, cases);
}
