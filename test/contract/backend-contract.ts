/**
 * The contract every storage backend keeps (src/backend/types.ts), as one suite:
 * `describeBackendContract(name, factory)` registers it for one backend. The factory
 * makes a fresh, empty store and opens instances over it, each standing for another
 * process (or host) sharing that store.
 *
 * What it checks, through the interface only: reads ("missing", "unchanged", snapshots,
 * deltas for granularity "records", head checks); a stale compare-and-set writes nothing;
 * two instances never overlap inside `exclusive`; a throw of any value propagates
 * unchanged and writes nothing; `keepPrevious`; provisioning and key-free peeks; `close`;
 * and, for a backend with a refresh coordinator, the lease rules (one acquirer, waiters
 * satisfied, expiry, a stale release cannot end a newer lease).
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  DOCUMENT_RECORD,
  HEAD_RECORD,
  isTokenStoreError,
  type ExclusiveSession,
  type ReadResult,
  type RecordId,
  type Replacement,
  type Snapshot,
  type StorageBackend,
  type Version,
} from "../../src/index.js";

export interface BackendFixture {
  /** A new instance over this fixture's store (another process, or host, sharing it). */
  open(): Promise<StorageBackend>;
  /** Called after the test (the instances opened are closed before it). */
  cleanup?(): Promise<void>;
}

export interface BackendContractOptions {
  /** Lease time for the lease rules' short leases (default 400 ms). */
  shortLeaseMs?: number;
  /**
   * Whether the backend has a refresh coordinator of its own (default true): the lease
   * rules run on it. False: the suite checks that it has none (the store's single-process
   * coordinator then serves it).
   */
  leases?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The records of a snapshot (applied to `held` when it is a delta), as id -> text. */
export function applySnapshot(held: ReadonlyMap<RecordId, string>, snapshot: Snapshot): Map<RecordId, string> {
  const next = snapshot.complete ? new Map<RecordId, string>() : new Map(held);
  for (const id of snapshot.removed) next.delete(id);
  for (const record of snapshot.records) next.set(record.id, decoder.decode(record.bytes));
  return next;
}

/** A whole replacement (the document record for a "document" backend). */
function whole(backend: StorageBackend, records: Record<RecordId, string>): Replacement {
  const entries = backend.granularity === "document" ? [[DOCUMENT_RECORD, Object.values(records).join("|")] as const] : Object.entries(records);
  return { whole: true, put: entries.map(([id, text]) => ({ id, parts: split(text) })), remove: [] };
}

/** Text as two parts, as the store writes a header and a body. */
function split(text: string): Uint8Array[] {
  const bytes = encoder.encode(text);
  const cut = Math.floor(bytes.length / 2);
  return [bytes.subarray(0, cut), bytes.subarray(cut)];
}

async function contents(backend: StorageBackend): Promise<Map<RecordId, string> | undefined> {
  const result = await backend.read();
  if (result.kind === "missing") return undefined;
  expect(result.kind).toBe("snapshot");
  const snapshot = result as Snapshot;
  expect(snapshot.complete).toBe(true);
  return applySnapshot(new Map(), snapshot);
}

/** Writes `records` whole, with compare-and-set on what is stored now. */
async function put(backend: StorageBackend, records: Record<RecordId, string>, keepPrevious = true): Promise<Version> {
  return backend.exclusive(async (session) => session.replace(whole(backend, records), await session.currentVersion(), { keepPrevious }));
}

function expected(backend: StorageBackend, records: Record<RecordId, string>): Map<RecordId, string> {
  return backend.granularity === "document" ? new Map([[DOCUMENT_RECORD, Object.values(records).join("|")]]) : new Map(Object.entries(records));
}

/** What `run` rejects (or throws: a backend's read may answer synchronously) with. */
async function rejection(run: Promise<unknown> | (() => unknown)): Promise<unknown> {
  return (typeof run === "function" ? Promise.resolve().then(run) : run).then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

const ticks = (n: number) => new Promise<void>((resolve) => setTimeout(resolve, n));

export function describeBackendContract(name: string, factory: () => Promise<BackendFixture>, options: BackendContractOptions = {}): void {
  const shortLeaseMs = options.shortLeaseMs ?? 400;

  describe(`backend contract (${name})`, () => {
    let opened: StorageBackend[] = [];
    let fixture: BackendFixture | undefined;
    const open = async (): Promise<StorageBackend> => {
      fixture ??= await factory();
      const backend = await fixture.open();
      opened.push(backend);
      return backend;
    };
    afterEach(async () => {
      for (const backend of opened) await backend.close();
      opened = [];
      await fixture?.cleanup?.();
      fixture = undefined;
    });

    it("says where it is without a secret, and its granularity", async () => {
      const backend = await open();
      expect(typeof backend.location).toBe("string");
      expect(backend.location.length).toBeGreaterThan(0);
      expect(backend.location).not.toMatch(/:[^/@:]+@/); // no password in a URL
      expect(["document", "records"]).toContain(backend.granularity);
    });

    it("provisions idempotently, then reads nothing stored as missing", async () => {
      const backend = await open();
      await backend.create();
      expect(await backend.create()).toEqual({ created: false });
      expect(await backend.read()).toEqual({ kind: "missing" });
      expect(await backend.hasPrevious()).toBe(false);
      expect(await backend.readPrevious()).toBeUndefined();
      expect(await backend.peek({ headBytes: 4 })).toBeUndefined();
      expect(Array.isArray(await backend.inspect())).toBe(true);
    });

    it("stores what a replacement writes; every instance reads it; a held version reads as unchanged in one call", async () => {
      const a = await open();
      await a.create();
      const b = await open();
      const version = await put(a, { head: "h1", t1: "one" });
      expect(await contents(b)).toEqual(expected(a, { head: "h1", t1: "one" }));
      expect(await b.read({ since: version })).toEqual({ kind: "unchanged" });
      expect(await a.read({ since: version })).toEqual({ kind: "unchanged" });
      const newer = await put(b, { head: "h2", t1: "one!" });
      const changed = (await a.read({ since: version })) as Snapshot;
      expect(changed.kind).toBe("snapshot");
      expect(applySnapshot(expected(a, { head: "h1", t1: "one" }), changed)).toEqual(expected(a, { head: "h2", t1: "one!" }));
      expect(await a.read({ since: changed.version })).toEqual({ kind: "unchanged" });
      expect(await a.read({ since: newer })).toEqual({ kind: "unchanged" });
    });

    it("peeks at a stored record's first bytes without reading it", async () => {
      const backend = await open();
      await backend.create();
      await put(backend, { head: "0123456789" });
      const id = backend.granularity === "document" ? DOCUMENT_RECORD : HEAD_RECORD;
      const peek = await backend.peek({ headBytes: 4, id });
      expect(peek && decoder.decode(peek.head)).toBe("0123");
      expect(peek?.length).toBe(10);
    });

    it("applies the head check to every record before reading it whole, and rejects with what it throws", async () => {
      const backend = await open();
      await backend.create();
      await put(backend, { head: "HEADER-and-body" });
      const seen: Array<[string, number]> = [];
      await backend.read({ check: { headBytes: 6, check: (head, length) => void seen.push([decoder.decode(head), length]) } });
      expect(seen).toEqual([["HEADER", 15]]);
      const refusal = new Error("refused");
      expect(
        await rejection(() =>
          backend.read({
            check: {
              headBytes: 6,
              check: () => {
                throw refusal;
              },
            },
          }),
        ),
      ).toBe(refusal);
    });

    it("a stale compare-and-set writes nothing: WRITE_CONFLICT, and what the other instance wrote stays", async () => {
      const a = await open();
      await a.create();
      const b = await open();
      const first = await put(a, { head: "first" });
      await put(b, { head: "second" });
      const error = await rejection(a.exclusive((session) => session.replace(whole(a, { head: "stale" }), first, { keepPrevious: true })));
      expect(isTokenStoreError(error, "WRITE_CONFLICT")).toBe(true);
      expect(await contents(a)).toEqual(expected(a, { head: "second" }));
      // Writing into a store that exists as if it were empty is stale too.
      const none = await rejection(a.exclusive((session) => session.replace(whole(a, { head: "stale" }), undefined, { keepPrevious: true })));
      expect(isTokenStoreError(none, "WRITE_CONFLICT")).toBe(true);
      expect(await contents(b)).toEqual(expected(a, { head: "second" }));
    });

    it("two instances never overlap inside exclusive, and no write is lost", async () => {
      const instances = [await open(), await open(), await open()];
      await instances[0]!.create();
      await put(instances[0]!, { head: "0" });
      const events: string[] = [];
      const rounds = 8;
      await Promise.all(
        instances.map(async (backend, who) => {
          for (let round = 0; round < rounds; round++) {
            await backend.exclusive(async (session) => {
              events.push(`<${who}`);
              const result = await session.read();
              const count = Number(
                applySnapshot(new Map(), result as Snapshot)
                  .values()
                  .next()
                  .value?.split("|")[0],
              );
              await ticks(2);
              await session.replace(whole(backend, { head: String(count + 1) }), (result as Snapshot).version, { keepPrevious: false });
              events.push(`>${who}`);
            });
          }
        }),
      );
      for (let i = 0; i < events.length; i += 2) {
        expect(events[i]!.startsWith("<")).toBe(true);
        expect(events[i + 1]).toBe(`>${events[i]!.slice(1)}`);
      }
      expect(await contents(instances[1]!)).toEqual(expected(instances[1]!, { head: String(instances.length * rounds) }));
    });

    it("a change that throws anything is rethrown unchanged, writes nothing, and ends the section", async () => {
      const backend = await open();
      await backend.create();
      await put(backend, { head: "kept" });
      for (const thrown of [new Error("boom"), { not: "an error" }, Symbol("thrown"), "text", undefined]) {
        const error = await rejection(
          backend.exclusive(async (session) => {
            await session.read();
            throw thrown;
          }),
        );
        expect(error).toBe(thrown);
      }
      expect(await contents(backend)).toEqual(expected(backend, { head: "kept" }));
      // The section ended: the next change runs.
      await put(backend, { head: "after" });
      expect(await contents(backend)).toEqual(expected(backend, { head: "after" }));
    });

    it("resolves to what the change resolves to, and the session reads the current version", async () => {
      const backend = await open();
      await backend.create();
      const version = await put(backend, { head: "v" });
      const seen = await backend.exclusive(async (session: ExclusiveSession) => ({
        current: await session.currentVersion(),
        read: (await session.read({ since: version })).kind,
      }));
      expect(seen.read).toBe("unchanged");
      expect(await backend.read({ since: seen.current })).toEqual({ kind: "unchanged" });
    });

    it("keepPrevious keeps the state replaced as the previous generation; without it the previous generation stays", async () => {
      const a = await open();
      await a.create();
      const b = await open();
      await put(a, { head: "g1", t: "x" });
      expect(await b.hasPrevious()).toBe(false);
      await put(a, { head: "g2", t: "y" }, true);
      expect(await b.hasPrevious()).toBe(true);
      const previous = await b.readPrevious();
      expect(previous && applySnapshot(new Map(), previous)).toEqual(expected(a, { head: "g1", t: "x" }));
      await put(a, { head: "g3", t: "z" }, false);
      const still = await b.readPrevious();
      expect(still && applySnapshot(new Map(), still)).toEqual(expected(a, { head: "g1", t: "x" }));
      const peek = await b.peek({ headBytes: 2, id: a.granularity === "document" ? DOCUMENT_RECORD : HEAD_RECORD, previous: true });
      expect(peek && decoder.decode(peek.head)).toBe("g1");
    });

    it("closes idempotently; every later call rejects CLOSED", async () => {
      const backend = await open();
      await backend.create();
      await backend.close();
      await backend.close();
      expect(isTokenStoreError(await rejection(() => backend.read()), "CLOSED")).toBe(true);
      expect(isTokenStoreError(await rejection(backend.exclusive(async () => 1)), "CLOSED")).toBe(true);
      // Other instances are not affected.
      const other = await open();
      expect((await other.read()).kind).toBe("missing");
    });

    it("granularity records: a delta keeps the records it does not name, and a read since a version brings what changed (document: a delta is refused)", async () => {
      const a = await open();
      await a.create();
      if (a.granularity === "document") {
        const v1 = await put(a, { head: "h1" });
        const refused = await rejection(a.exclusive((session) => session.replace({ whole: false, put: [], remove: ["x"] }, v1, { keepPrevious: true })));
        expect(refused).toBeInstanceOf(Error);
        expect(await contents(a)).toEqual(expected(a, { head: "h1" }));
        return;
      }
      const b = await open();
      const v1 = await put(a, { head: "h1", t1: "one", t2: "two" });
      const held = (await contents(b))!;
      await a.exclusive(async (session) =>
        session.replace(
          {
            whole: false,
            put: [
              { id: "head", parts: split("h2") },
              { id: "t3", parts: split("three") },
            ],
            remove: ["t1"],
          },
          v1,
          { keepPrevious: true },
        ),
      );
      const after = new Map([
        ["head", "h2"],
        ["t2", "two"],
        ["t3", "three"],
      ]);
      expect(await contents(b)).toEqual(after);
      const delta = (await b.read({ since: v1 })) as ReadResult & Snapshot;
      expect(delta.kind).toBe("snapshot");
      expect(applySnapshot(held, delta)).toEqual(after);
      // The previous generation is the whole state before the delta.
      const previous = await b.readPrevious();
      expect(previous && applySnapshot(new Map(), previous)).toEqual(
        new Map([
          ["head", "h1"],
          ["t1", "one"],
          ["t2", "two"],
        ]),
      );
    });

    if (options.leases === false) {
      it("has no refresh coordinator of its own", async () => {
        expect((await open()).refreshCoordinator).toBeUndefined();
      });
      return;
    }

    describe("lease rules", () => {
      const nameKey = () => new Uint8Array(32).fill(7);

      it("one acquirer at a time; a waiter is satisfied once the token is renewed", async () => {
        const a = await open();
        if (!a.refreshCoordinator) throw new Error(`${name} has no refresh coordinator; pass { leases: false }`);
        await a.create();
        const b = await open();
        const first = a.refreshCoordinator({ leaseMs: 30_000, nameKey });
        const second = b.refreshCoordinator!({ leaseMs: 30_000, nameKey });
        let renewed = false;
        expect(await first.claim("token-1", async () => renewed)).toBe("acquired");
        const waiting = second.claim("token-1", async () => renewed);
        await ticks(100);
        renewed = true;
        await first.release("token-1");
        expect(await waiting).toBe("satisfied");
        // Another key is independent.
        expect(await second.claim("token-2", async () => false)).toBe("acquired");
        await second.release("token-2");
      });

      it("a waiter does not acquire while the holder holds, and acquires once it released without renewing", async () => {
        const a = await open();
        if (!a.refreshCoordinator) throw new Error(`${name} has no refresh coordinator; pass { leases: false }`);
        await a.create();
        const b = await open();
        const first = a.refreshCoordinator({ leaseMs: 30_000, nameKey });
        const second = b.refreshCoordinator!({ leaseMs: 30_000, nameKey });
        expect(await first.claim("token", async () => false)).toBe("acquired");
        let released = false;
        const waiting = second.claim("token", async () => false).then((outcome) => ({ outcome, released }));
        await ticks(150);
        released = true;
        await first.release("token");
        expect(await waiting).toEqual({ outcome: "acquired", released: true });
        await second.release("token");
      });

      it("callers of one coordinator (concurrent calls through one adapter) wait for each other too", async () => {
        const a = await open();
        if (!a.refreshCoordinator) throw new Error(`${name} has no refresh coordinator; pass { leases: false }`);
        await a.create();
        const leases = a.refreshCoordinator({ leaseMs: 30_000, nameKey });
        expect(await leases.claim("token", async () => false)).toBe("acquired");
        // A second call while the first one renews: it waits, then takes the lease at once
        // when the first releases without renewing (its renewal failed).
        let released = false;
        const retry = leases.claim("token", async () => false).then((outcome) => ({ outcome, released }));
        await ticks(150);
        released = true;
        await leases.release("token");
        expect(await retry).toEqual({ outcome: "acquired", released: true });
        // And a third waits for that renewal, and is satisfied by it.
        let renewed = false;
        const third = leases.claim("token", async () => renewed).then((outcome) => ({ outcome, renewed }));
        await ticks(150);
        renewed = true;
        await leases.release("token");
        expect(await third).toEqual({ outcome: "satisfied", renewed: true });
      });

      it("a lease older than its time no longer holds others up", async () => {
        const a = await open();
        if (!a.refreshCoordinator) throw new Error(`${name} has no refresh coordinator; pass { leases: false }`);
        await a.create();
        const b = await open();
        const holder = a.refreshCoordinator({ leaseMs: shortLeaseMs, nameKey });
        const waiter = b.refreshCoordinator!({ leaseMs: shortLeaseMs, nameKey });
        expect(await holder.claim("token", async () => false)).toBe("acquired");
        // The holder never releases: the waiter goes ahead (with the lease, or without it).
        expect(["acquired", "timeout"]).toContain(await waiter.claim("token", async () => false));
        await waiter.release("token");
      });

      it("a stale release cannot end a newer holder's lease", async () => {
        const a = await open();
        if (!a.refreshCoordinator) throw new Error(`${name} has no refresh coordinator; pass { leases: false }`);
        await a.create();
        const b = await open();
        const c = await open();
        const stale = a.refreshCoordinator({ leaseMs: shortLeaseMs, nameKey });
        const newer = b.refreshCoordinator!({ leaseMs: 30_000, nameKey });
        const third = c.refreshCoordinator!({ leaseMs: 30_000, nameKey });
        expect(await stale.claim("token", async () => false)).toBe("acquired");
        // Its lease expires; the next caller takes it.
        expect(await newer.claim("token", async () => false)).toBe("acquired");
        await stale.release("token");
        let released = false;
        const waiting = third.claim("token", async () => released).then((outcome) => ({ outcome, released }));
        await ticks(150);
        released = true;
        await newer.release("token");
        expect(await waiting).toEqual({ outcome: "satisfied", released: true });
      });
    });
  });
}
