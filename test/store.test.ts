import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import { join } from "node:path";
import { EncryptedFileStore, EncryptedTokenStore, MemoryBackend, generateKey, TokenStoreError } from "../src/index.js";
import { assertNoSecrets, sampleToken, secretsOf, tempDir } from "./helpers.js";

/**
 * The same tests run on the file backend and on the in-memory one: the token store knows
 * only the backend interface. `reopen` opens a second instance on the same stored bytes
 * (another process, for a file), `stored` reads the bytes as the backend holds them.
 */
const backends = [
  {
    name: "file",
    async open(key = generateKey()) {
      const path = join(tempDir(), "tokens.enc");
      return {
        store: await EncryptedFileStore.open({ path, key }),
        key,
        reopen: () => EncryptedFileStore.open({ path, key }),
        stored: () => readFileSync(path),
      };
    },
  },
  {
    name: "memory",
    async open(key = generateKey()) {
      const backend = new MemoryBackend();
      return {
        store: await EncryptedTokenStore.openBackend(backend, { key }),
        key,
        reopen: () => EncryptedTokenStore.openBackend(backend, { key }),
        stored: () => Buffer.from(backend.bytes!),
      };
    },
  },
];

describe.each(backends)("the six token operations ($name backend)", ({ open: openStore }) => {
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
    const bytes = stored();
    expect(await store.findTokenById("42")).toBeNull();
    expect(await store.deleteToken("42")).toBe(false);
    expect((await store.verify()).generation).toBe(before);
    expect(stored().equals(bytes)).toBe(true);
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
      const before = stored();
      const value = `1000.round-${round}-at`;
      let done = false;
      const saving = store.saveToken({ userName: "user-u3@example.com", accessToken: value }).finally(() => (done = true));
      while (!done) {
        const found = await store.findToken({ userName: "user-u3@example.com" });
        reads++;
        if (found!.accessToken === value && stored().equals(before)) seenEarly++;
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

describe.each(backends)("input validation ($name backend)", ({ open: openStore }) => {
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
