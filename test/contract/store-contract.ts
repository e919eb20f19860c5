/**
 * The token store's shared suite, over any backend: `describeStoreContract(name, factory)`
 * registers it for one. The factory makes a fresh, empty store; `open(key)` opens another
 * instance over it (another process or host), `stored()` returns everything the backend
 * holds for it as bytes (compared to tell that nothing was written, and scanned for
 * secrets).
 *
 * What it checks: the six operations and the SDK FileStore's matching rules (examples,
 * then the model check of test/contract/model.ts over two instances), hostile input
 * (INVALID_TOKEN, nothing written, no secret in the message), and no leaks (records, the
 * store's inspect and JSON, and the stored bytes in common encodings).
 */
import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { inspect } from "node:util";
import { generateKey, TokenStoreError, type EncryptedTokenStore, type StorageBackend } from "../../src/index.js";
import { inspectStore, readStoredHeader, storePresence } from "../../src/store/inspect.js";
import { assertNoSecrets, sampleToken, secretsOf } from "../helpers.js";
import { commandArb, runModelSequence } from "./model.js";

export interface StoreFixture {
  /** A new instance over this fixture's store, opened with `key`. */
  open(key: string): Promise<EncryptedTokenStore>;
  /** A backend instance over this fixture's store, for key-free inspection (it must create nothing). */
  backend(): StorageBackend;
  /** Everything the backend holds for this store, as bytes. */
  stored(): Promise<Uint8Array>;
  /** Called after the test. */
  cleanup?(): Promise<void>;
}

export interface StoreContractOptions {
  /** Random sequences of the model check (default 25). */
  modelRuns?: number;
}

export function describeStoreContract(name: string, factory: () => Promise<StoreFixture>, options: StoreContractOptions = {}): void {
  describe(`store contract (${name})`, () => {
    const fixtures: StoreFixture[] = [];
    const stores: EncryptedTokenStore[] = [];
    afterEach(async () => {
      for (const store of stores.splice(0)) await store.close();
      for (const fixture of fixtures.splice(0)) await fixture.cleanup?.();
    });
    const fresh = async () => {
      const fixture = await factory();
      fixtures.push(fixture);
      return fixture;
    };
    async function openStore(key = generateKey()) {
      const fixture = await fresh();
      const reopen = async () => {
        const store = await fixture.open(key);
        stores.push(store);
        return store;
      };
      return { store: await reopen(), key, reopen, stored: () => fixture.stored(), fixture };
    }
    async function openStoreWithBackend() {
      const opened = await openStore();
      return { ...opened, backend: opened.fixture.backend() };
    }

    describe("the six token operations", () => {
      it("saves, finds by user name, by id, lists and deletes", async () => {
        const { store } = await openStore();
        expect(await store.getTokens()).toEqual([]);
        const saved = await store.saveToken(sampleToken("a"));
        expect(saved.id).toBe("1");
        expect({ ...(await store.findToken({ userName: "user-a@example.com" })) }).toEqual({ ...saved });
        expect({ ...(await store.findTokenById("1")) }).toEqual({ ...saved });
        await store.saveToken(sampleToken("b"));
        expect((await store.getTokens()).map((t) => t.userName)).toEqual(["user-a@example.com", "user-b@example.com"]);
        expect(await store.deleteToken("1")).toBe(true);
        expect(await store.findTokenById("1")).toBeNull();
        await store.deleteTokens();
        expect(await store.getTokens()).toEqual([]);
      });

      it("returns null for an unknown id and false when deleting one, writing nothing", async () => {
        const { store, stored } = await openStore();
        await store.saveToken(sampleToken("a"));
        const before = (await store.verify()).generation;
        const bytes = await stored();
        expect(await store.findTokenById("42")).toBeNull();
        expect(await store.deleteToken("42")).toBe(false);
        expect((await store.verify()).generation).toBe(before);
        expect(Buffer.from(await stored()).equals(Buffer.from(bytes))).toBe(true);
      });

      it("never reuses an id, even after deletes and deleteTokens, across instances", async () => {
        const { store, reopen } = await openStore();
        const a = await store.saveToken(sampleToken("a"));
        const b = await store.saveToken(sampleToken("b"));
        await store.deleteToken(b.id);
        const c = await store.saveToken(sampleToken("c"));
        await store.deleteTokens();
        const other = await reopen();
        const d = await other.saveToken(sampleToken("d"));
        expect(new Set([a.id, b.id, c.id, d.id]).size).toBe(4);
        expect(Number(d.id)).toBeGreaterThan(Number(c.id));
      });

      it("upserts by user name: given fields replace, missing ones are kept", async () => {
        const { store } = await openStore();
        const first = await store.saveToken(sampleToken("a"));
        const updated = await store.saveToken({ userName: "user-a@example.com", accessToken: "1000.new-at", expiryTime: "999" });
        expect(updated.id).toBe(first.id);
        expect(updated.accessToken).toBe("1000.new-at");
        expect(updated.refreshToken).toBe(first.refreshToken);
        expect(updated.clientSecret).toBe(first.clientSecret);
        expect(await store.getTokens()).toHaveLength(1);
      });

      it("follows the SDK FileStore's matching precedence", async () => {
        const { store } = await openStore();
        const a = await store.saveToken(sampleToken("a", { grantToken: "grant-a" }));
        const b = await store.saveToken(sampleToken("b", { userName: null }));
        // 1. A user name decides alone: a different user with a's tokens does not match a.
        expect(await store.findToken({ userName: "nobody", refreshToken: a.refreshToken })).toBeNull();
        // 2. Access token without client credentials.
        expect((await store.findToken({ accessToken: b.accessToken }))?.id).toBe(b.id);
        expect(await store.findToken({ accessToken: b.accessToken, clientId: "x" })).toBeNull();
        // 3. Grant token (with client id and secret) before refresh token.
        expect((await store.findToken({ grantToken: "grant-a", clientId: "c", clientSecret: "s", refreshToken: b.refreshToken }))?.id).toBe(a.id);
        expect((await store.findToken({ grantToken: "unknown", clientId: "c", clientSecret: "s", refreshToken: b.refreshToken }))?.id).toBe(b.id);
        // A grant token without client credentials matches nothing.
        expect(await store.findToken({ grantToken: "grant-a" })).toBeNull();
        expect((await store.findToken({ refreshToken: b.refreshToken }))?.id).toBe(b.id);
        // Nothing to match on.
        expect(await store.findToken({ clientId: "c" })).toBeNull();
      });

      it("updates the record with the given id, and inserts under a new id given by the caller", async () => {
        const { store } = await openStore();
        const a = await store.saveToken(sampleToken("a"));
        const renamed = await store.saveToken({ id: a.id, userName: "renamed", accessToken: "1000.x" });
        expect(renamed.id).toBe(a.id);
        expect(renamed.refreshToken).toBe(a.refreshToken);
        const chosen = await store.saveToken({ id: "7", refreshToken: "1000.r7" });
        expect(chosen.id).toBe("7");
        expect((await store.saveToken({ refreshToken: "1000.r8", clientId: "x" })).id).toBe("8");
      });

      it("refuses a new record without any token, with INVALID_TOKEN, and writes nothing", async () => {
        const { store } = await openStore();
        await expect(store.saveToken({ userName: "x" })).rejects.toMatchObject({ code: "INVALID_TOKEN" });
        await expect(store.saveToken({ id: "5", clientId: "x" })).rejects.toMatchObject({ code: "INVALID_TOKEN" });
        expect((await store.verify()).exists).toBe(false);
      });

      it("stores any character in any field", async () => {
        const { store, reopen } = await openStore();
        const nasty = {
          userName: 'a,b"c\nd\r\ne\u0000f\u2028g — ü 🔑',
          clientId: "1000.,\"'\n",
          clientSecret: '\\,"\n\t',
          refreshToken: "rt,with,commas\nand\nnewlines",
          accessToken: '"quoted"',
          grantToken: "\ud83d\ude00",
          expiryTime: "not a number",
          redirectUrl: "https://x/?a=1,2",
          apiDomain: "   ",
        };
        const saved = await store.saveToken(nasty);
        const reopened = await reopen();
        expect({ ...(await reopened.findTokenById(saved.id)) }).toEqual({ id: saved.id, ...nasty });
        expect((await reopened.findToken({ userName: nasty.userName }))?.id).toBe(saved.id);
      });

      it("treats empty strings as not given", async () => {
        const { store } = await openStore();
        const saved = await store.saveToken({ userName: "u", refreshToken: "r", accessToken: "" });
        expect(saved.accessToken).toBeNull();
      });

      it("hands out copies: changing a returned record changes nothing stored", async () => {
        const { store } = await openStore();
        const saved = await store.saveToken(sampleToken("a"));
        saved.refreshToken = "tampered";
        const found = (await store.findToken({ userName: "user-a@example.com" }))!;
        expect(found.refreshToken).toBe("1000.refresh-a-rt");
        found.accessToken = "tampered";
        (await store.getTokens())[0]!.clientSecret = "tampered";
        const again = (await store.findTokenById(saved.id))!;
        expect(again.accessToken).toBe("1000.access-a-at");
        expect(again.clientSecret).toBe("secret-a-s3cr3t");
      });

      it("readers in the same process never see a change before its file is in place", async () => {
        const { store, stored } = await openStore();
        // Enough records that sealing goes through WebCrypto, which yields to the event loop.
        await Promise.all(Array.from({ length: 20 }, (_, i) => store.saveToken(sampleToken(`u${i}`))));
        let seenEarly = 0;
        let reads = 0;
        for (let round = 0; round < 30; round++) {
          const before = Buffer.from(await stored());
          const value = `1000.round-${round}-at`;
          let done = false;
          const saving = store.saveToken({ userName: "user-u3@example.com", accessToken: value }).finally(() => (done = true));
          while (!done) {
            const found = await store.findToken({ userName: "user-u3@example.com" });
            reads++;
            if (found!.accessToken === value && Buffer.from(await stored()).equals(before)) seenEarly++;
            await new Promise((resolve) => setImmediate(resolve));
          }
          await saving;
        }
        expect(reads).toBeGreaterThan(30);
        expect(seenEarly).toBe(0);
        expect((await store.findToken({ userName: "user-u3@example.com" }))!.accessToken).toBe("1000.round-29-at");
      });

      it("keeps secrets out of util.inspect and JSON of records and the store", async () => {
        const { store, key } = await openStore();
        const token = sampleToken("leak", { grantToken: "grant-leak-gt" });
        const saved = await store.saveToken(token);
        const text = [
          inspect(saved),
          JSON.stringify(saved),
          inspect(await store.getTokens()),
          inspect(store, { showHidden: true, depth: 10 }),
          JSON.stringify(store),
          String(saved),
        ].join("\n");
        assertNoSecrets(text, [...secretsOf(token), key]);
        expect(text).toContain("[redacted]");
        expect(text).toContain("user-leak@example.com");
      });
    });

    describe("hostile input", () => {
      it("refuses malformed tokens with INVALID_TOKEN and no secret in the message", async () => {
        const { store } = await openStore();
        const secret = "1000.do-not-print-me";
        const bad: unknown[] = [
          null,
          undefined,
          42,
          "str",
          [],
          new Date(),
          { refreshToken: 42 },
          { refreshToken: { secret } },
          { refresh_token: secret },
          { id: 5, refreshToken: secret },
          { userName: "x".repeat(20_000), refreshToken: secret },
          JSON.parse(`{"__proto__": {"x": 1}, "refreshToken": "${secret}"}`),
        ];
        for (const value of bad) {
          const error = await store.saveToken(value as never).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error, inspect(value).slice(0, 60)).toBeInstanceOf(TokenStoreError);
          expect((error as TokenStoreError).code).toBe("INVALID_TOKEN");
          assertNoSecrets(`${(error as Error).message} ${inspect(error)}`, [secret]);
        }
        await expect(store.findTokenById(7 as never)).rejects.toMatchObject({ code: "INVALID_TOKEN" });
        await expect(store.deleteToken(null as never)).rejects.toMatchObject({ code: "INVALID_TOKEN" });
        expect((await store.verify()).exists).toBe(false);
      });
    });

    describe("no leaks", () => {
      it("the stored bytes hold no token, secret, client id or user name in any common encoding", async () => {
        const { store, stored, key } = await openStore();
        const tokens = [sampleToken("stored-a", { grantToken: "grant-stored-gt" }), sampleToken("stored-b")];
        for (const token of tokens) await store.saveToken(token);
        await store.saveToken({ userName: "user-stored-a@example.com", accessToken: "1000.access-stored-second" });
        const bytes = Buffer.from(await stored());
        expect(bytes.length).toBeGreaterThan(0);
        const secrets = [...tokens.flatMap((token) => [...secretsOf(token), token.userName]), "1000.access-stored-second", key];
        for (const encoding of ["utf8", "latin1", "utf16le", "base64", "hex"] as const) {
          const text = bytes.toString(encoding);
          for (const secret of secrets) {
            if (text.includes(secret) || text.includes(Buffer.from(secret).toString(encoding))) throw new Error(`the stored bytes hold a secret (${encoding})`);
          }
        }
      });

      it("close() waits for queued changes; a closed store refuses with CLOSED and says nothing secret", async () => {
        const { store, reopen } = await openStore();
        const saving = store.saveToken(sampleToken("closing"));
        await store.close();
        expect((await saving).userName).toBe("user-closing@example.com");
        const error = await store.getTokens().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect((error as TokenStoreError).code).toBe("CLOSED");
        await expect(store.saveToken(sampleToken("late"))).rejects.toMatchObject({ code: "CLOSED" });
        await store.close();
        assertNoSecrets(`${(error as Error).message} ${inspect(error)}`, secretsOf(sampleToken("closing")));
        expect((await (await reopen()).getTokens()).map((t) => t.userName)).toEqual(["user-closing@example.com"]);
      });
    });

    describe("refresh coordination", () => {
      const settle = () => new Promise((resolve) => setTimeout(resolve, 200));
      it("one renewal per token among the store's coordinators and their concurrent callers", async () => {
        const { store } = await openStore();
        const first = store.refreshCoordinator({ leaseMs: 600_000 });
        const second = store.refreshCoordinator({ leaseMs: 600_000 });
        let renewed = false;
        const satisfied = async () => renewed;
        expect(await first.claim("token-a", satisfied)).toBe("acquired");
        const outcomes: string[] = [];
        const waiting = [first.claim("token-a", satisfied), second.claim("token-a", satisfied)].map((claim) =>
          claim.then((outcome) => {
            outcomes.push(outcome);
            return outcome;
          }),
        );
        // Another token is not held up by the first one's renewal.
        expect(await second.claim("token-b", satisfied)).toBe("acquired");
        await second.release("token-b");
        await settle();
        expect(outcomes).toEqual([]);
        renewed = true;
        await first.release("token-a");
        expect(await Promise.all(waiting)).toEqual(["satisfied", "satisfied"]);
      });

      it("a renewal that ends without a save hands the lease on at once", async () => {
        const { store } = await openStore();
        const first = store.refreshCoordinator({ leaseMs: 600_000 });
        const second = store.refreshCoordinator({ leaseMs: 600_000 });
        const satisfied = async () => false;
        expect(await first.claim("token-a", satisfied)).toBe("acquired");
        const next = second.claim("token-a", satisfied);
        await settle();
        await first.release("token-a");
        expect(await next).toBe("acquired");
        await second.release("token-a");
      });
    });

    describe("provisioning and key-free inspection", () => {
      it("create() provisions idempotently: the first generation of an empty store once, then nothing", async () => {
        const { store, stored, reopen } = await openStore();
        expect(await store.create()).toEqual({ created: true });
        const status = await store.verify();
        expect(status).toMatchObject({ exists: true, generation: 1, tokens: 0, currentKey: true });
        const bytes = Buffer.from(await stored());
        const other = await reopen();
        expect(await other.create()).toEqual({ created: false });
        expect(Buffer.from(await stored()).equals(bytes)).toBe(true);
        await other.saveToken(sampleToken("after-create"));
        expect(await store.create()).toEqual({ created: false });
        expect((await store.verify()).generation).toBe(2);
      });

      it("what is stored, how it is keyed and its generation are read through the backend without the key", async () => {
        const { store, backend } = await openStoreWithBackend();
        expect(await storePresence(backend)).toEqual({ stored: false, previous: false });
        expect(await readStoredHeader(backend)).toBeUndefined();
        await store.saveToken(sampleToken("inspected"));
        await store.saveToken(sampleToken("inspected-2"));
        expect(await storePresence(backend)).toEqual({ stored: true, previous: true });
        expect(await readStoredHeader(backend)).toEqual({ formatVersion: 1, generation: 2, keySource: "raw" });
        expect(await readStoredHeader(backend, { previous: true })).toEqual({ formatVersion: 1, generation: 1, keySource: "raw" });
        const checks = await inspectStore(backend);
        expect(checks.length).toBeGreaterThan(0);
        for (const check of checks) expect(["ok", "info", "warn", "problem", "fixed"]).toContain(check.status);
        const text = JSON.stringify(checks);
        assertNoSecrets(text, [...secretsOf(sampleToken("inspected")), "user-inspected@example.com"]);
      });
    });

    describe("model check against the SDK FileStore's rules", () => {
      it(`${options.modelRuns ?? 25} random sequences of the six operations over two instances`, async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 20 }), async (commands) => {
            const fixture = await fresh();
            const key = generateKey();
            const opened: EncryptedTokenStore[] = [];
            try {
              await runModelSequence(commands, async () => {
                const store = await fixture.open(key);
                opened.push(store);
                return store;
              });
            } finally {
              for (const store of opened) await store.close();
            }
          }),
          { numRuns: options.modelRuns ?? 25 },
        );
      }, 120_000);
    });
  });
}
