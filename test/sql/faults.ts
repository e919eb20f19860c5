/**
 * The fault cases both SQL stores run (test/postgres/faults.test.ts and
 * test/mysql/faults.test.ts): a lease holder killed mid-refresh holds the others up no
 * longer than its lease; a row put back to an older sealed copy is refused by a process that
 * saw the newer one (and, as documented, not by one that never did); a server that stops
 * answering (SIGSTOP) fails every kind of call as UNAVAILABLE instead of hanging it, and the
 * store goes on once it answers again; a writer stalled mid-transaction holds the others up
 * no longer than the server's idle limit. A dialect gives its server, its store, its
 * lease-holder fixture and the SQL that puts the older row back.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EncryptedTokenStore, generateKey, isTokenStoreError } from "../../src/index.js";
import type { SqlBackend } from "../../src/backend/sql/backend.js";
import { fixture, sampleToken, secretsOf } from "../helpers.js";
import { notRun } from "../servers/postgres.js";

export interface FaultsServer {
  /** True for a server the test started (it can be stopped with SIGSTOP). */
  readonly managed: boolean;
  /** The password in the connection strings: never in a message. */
  readonly password: string;
  createDatabase(): Promise<{ name: string; url: string }>;
  /** SIGSTOP: the server hangs. */
  suspend(): void;
  /** SIGCONT. */
  resume(): void;
  stop(): Promise<void>;
}

/** Backend options of the timeout cases. */
export interface TimeoutOptions {
  lockTimeoutMs?: number;
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
}

export interface FaultsDialect<S extends FaultsServer> {
  /** The describe block's name (none: the cases stand at the file's top level). */
  title?: string;
  /** True when the suite is not run (its NOT RUN notice already printed); default false. */
  skip?: boolean;
  start(): Promise<S>;
  open(url: string, key: string, options?: TimeoutOptions): Promise<EncryptedTokenStore>;
  openBackend(url: string, options?: TimeoutOptions): Promise<SqlBackend>;
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
  /** Runs SQL as an administrator in `database`; the rows. */
  sql(server: S, database: string, text: string): Promise<Array<Record<string, unknown>>>;
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
  const hangs = () => {
    // A server of its own: stopped, it would hold up any other case using it.
    let hung: S | undefined;
    beforeAll(async () => {
      if (d.skip) return;
      const started = await d.start();
      if (started.managed) hung = started;
      else {
        await started.stop();
        notRun("the stopped-server case of the SQL fault suite", "the server is an existing one: the tests do not stop it");
      }
    });
    afterAll(async () => {
      hung?.resume();
      await hung?.stop();
    });

    it("a server that stops answering (SIGSTOP): a read, a write, a lease and an open each fail as UNAVAILABLE, not hang; after SIGCONT the next call works, nothing half-written", async (context) => {
      if (!hung) return context.skip();
      const server = hung;
      const { url } = await server.createDatabase();
      const key = generateKey();
      const timeouts: TimeoutOptions = { lockTimeoutMs: 1_000, connectTimeoutMs: 1_500, queryTimeoutMs: 1_500 };
      const store = await d.open(url, key, timeouts);
      const stored = sampleToken("kept");
      const unsaved = sampleToken("unsaved");
      try {
        await store.saveToken(stored);
        // Warm: the pool holds an open connection, which the stopped server never answers.
        expect((await store.findToken({ userName: stored.userName }))?.accessToken).toBe(stored.accessToken);
        const coordinator = store.refreshCoordinator({ leaseMs: 5_000 });
        const failures: unknown[] = [];
        server.suspend();
        try {
          failures.push(
            await store.findToken({ userName: stored.userName }).then(
              () => "found",
              (error: unknown) => error,
            ),
          );
          failures.push(
            await store.saveToken(unsaved).then(
              () => "saved",
              (error: unknown) => error,
            ),
          );
          // No connection at all yet: a new one's handshake is never answered.
          failures.push(
            await d.open(url, key, timeouts).then(
              async (opened) => (await opened.close(), "opened"),
              (error: unknown) => error,
            ),
          );
          // A lease the server cannot be asked for: the claim goes ahead without one (leases never fail a refresh).
          expect(await coordinator.claim("renewal-key", async () => false)).toBe("timeout");
        } finally {
          server.resume();
        }
        for (const failure of failures) {
          expect(isTokenStoreError(failure, "UNAVAILABLE"), String(failure)).toBe(true);
          const error = failure as Error;
          // The driver's error as the cause; no password, token or secret in the message.
          expect(error.cause).toBeDefined();
          expect(error.message).not.toContain(server.password);
          for (const secret of [...secretsOf(stored), ...secretsOf(unsaved)]) expect(error.message).not.toContain(secret);
        }
        // Answering again: the next calls work, the write that failed left nothing.
        expect((await store.findToken({ userName: stored.userName }))?.accessToken).toBe(stored.accessToken);
        expect(await store.findToken({ userName: unsaved.userName })).toBeNull();
        await store.saveToken(sampleToken("after"));
        expect(await coordinator.claim("renewal-key", async () => false)).toBe("acquired");
        await coordinator.release("renewal-key");
        const fresh = await d.open(url, key, timeouts);
        try {
          expect((await fresh.getTokens()).map((token) => token.userName).sort()).toEqual(["user-after@example.com", "user-kept@example.com"]);
          expect((await fresh.verify()).tokens).toBe(2);
        } finally {
          await fresh.close();
        }
      } finally {
        await store.close();
      }
    }, 120_000);
  };

  const tombstones = () => {
    const count = async (name: string, where: string) => Number((await d.sql(server, name, `SELECT COUNT(*) AS n FROM zoho_tokens WHERE ${where}`))[0]!.n);

    it("tombstones of removed tokens are pruned by later writes; a reader holding an older version still learns of the removals", async () => {
      const { url, name } = await server.createDatabase();
      const key = generateKey();
      const writer = await d.open(url, key);
      const reader = await d.open(url, key);
      try {
        const [a, b, c] = await Promise.all(["a", "b", "c"].map((tag) => writer.saveToken(sampleToken(tag))));
        // The reader holds this version, before the removals.
        expect((await reader.getTokens()).length).toBe(3);
        expect(await writer.deleteToken(b!.id)).toBe(true);
        expect(await writer.deleteToken(c!.id)).toBe(true);
        expect(await count(name, "sealed IS NULL")).toBe(2);
        // Enough writes for the tombstones to be old enough, and for a write to prune them.
        for (let n = 0; ; n++) {
          const [head] = await d.sql(server, name, "SELECT version FROM zoho_tokens_heads");
          if (Number(head!.version) >= 200) break;
          await writer.saveToken({ userName: "user-a@example.com", accessToken: `1000.access-a-${n}` });
        }
        expect(await count(name, "sealed IS NULL AND id <> '~pruned'")).toBe(0);
        expect(await count(name, "id = '~pruned'")).toBe(1);
        // The reader's delta no longer holds the removals: the marker makes it read everything.
        expect((await reader.getTokens()).map((token) => token.id)).toEqual([a!.id]);
        expect(await reader.findToken({ userName: "user-b@example.com" })).toBeNull();
        const fresh = await d.open(url, key);
        try {
          expect((await fresh.getTokens()).map((token) => token.id)).toEqual([a!.id]);
          expect((await fresh.verify()).tokens).toBe(1);
          // Ids are never reused.
          expect(Number((await fresh.saveToken(sampleToken("d"))).id)).toBeGreaterThan(Number(c!.id));
        } finally {
          await fresh.close();
        }
      } finally {
        await reader.close();
        await writer.close();
      }
    }, 120_000);

    it("a version 1 schema is moved to version 2 on open, and its tokens read as before", async () => {
      const { url, name } = await server.createDatabase();
      const key = generateKey();
      const first = await d.open(url, key);
      await first.saveToken(sampleToken("a"));
      await first.close();
      await d.sql(server, name, "UPDATE zoho_tokens_schema SET version = 1");
      const store = await d.open(url, key);
      try {
        expect(Number((await d.sql(server, name, "SELECT version FROM zoho_tokens_schema"))[0]!.version)).toBe(2);
        expect((await store.findToken({ userName: "user-a@example.com" }))?.accessToken).toBe("1000.access-a-at");
      } finally {
        await store.close();
      }
    });
  };

  const stalled = () => {
    it("a writer stalled mid-transaction: another gets LOCK_TIMEOUT, the server ends the stalled session after its idle limit, then writes go on", async () => {
      const { url } = await server.createDatabase();
      const key = generateKey();
      const store = await d.open(url, key, { lockTimeoutMs: 1_000 });
      const holder = await d.openBackend(url, { lockTimeoutMs: 1_000 });
      try {
        await store.saveToken(sampleToken("a"));
        // The holder locks the namespace and never goes on (as a process stopped mid-write would).
        let locked!: () => void;
        const isLocked = new Promise<void>((resolve) => (locked = resolve));
        let wake!: () => void;
        const stall = new Promise<void>((resolve) => (wake = resolve));
        const section = holder
          .exclusive(async (session) => {
            await session.currentVersion();
            locked();
            await stall;
          })
          .then(
            () => "committed",
            (error: unknown) => error,
          );
        await isLocked;
        expect(isTokenStoreError(await store.saveToken(sampleToken("b")).catch((error: unknown) => error), "LOCK_TIMEOUT")).toBe(true);
        // The server ends the stalled session (its idle limit: max(lockTimeoutMs, 5 s)), which frees the lock.
        const deadline = Date.now() + 60_000;
        for (;;) {
          const outcome = await store.saveToken(sampleToken("b")).then(
            () => "saved",
            (error: unknown) => error,
          );
          if (outcome === "saved") break;
          expect(isTokenStoreError(outcome, "LOCK_TIMEOUT"), String(outcome)).toBe(true);
          if (Date.now() > deadline) throw new Error("the stalled transaction was never ended by the server");
        }
        // The holder, going on, learns that its transaction is gone.
        wake();
        expect(isTokenStoreError(await section, "UNAVAILABLE"), String(await section)).toBe(true);
        expect((await store.getTokens()).map((token) => token.userName).sort()).toEqual(["user-a@example.com", "user-b@example.com"]);
      } finally {
        await holder.close();
        await store.close();
      }
    }, 90_000);
  };

  if (d.title === undefined) {
    cases();
    tombstones();
    stalled();
    describe("a server that stops answering", hangs);
  } else {
    describe.skipIf(d.skip === true)(d.title, () => {
      cases();
      tombstones();
      stalled();
      describe("a server that stops answering", hangs);
    });
  }
}
