import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey, TokenStoreError } from "../src/index.js";
import { fixture, sampleToken, secretsOf, tempDir } from "./helpers.js";

const FIXTURE_KEY = "dGVzdC1maXh0dXJlLWtleS1ub3QtYS1zZWNyZXQtISE=";
const FIXTURE_PASSPHRASE = "correct horse battery staple";

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (!(error instanceof TokenStoreError)) throw error;
    return error.code;
  }
}

/** Opens `bytes` as a store file with `key` in a fresh directory and reads it. */
async function readBytes(bytes: Uint8Array, key: string): Promise<string> {
  const path = join(tempDir(), "t.enc");
  writeFileSync(path, bytes, { mode: 0o600 });
  return codeOf(EncryptedFileStore.open({ path, key }).then((store) => store.getTokens()));
}

async function sealedStore() {
  const path = join(tempDir(), "tokens.enc");
  const key = generateKey();
  const store = await EncryptedFileStore.open({ path, key });
  await store.saveToken(sampleToken("a"));
  await store.saveToken(sampleToken("b"));
  return { path, key, store, bytes: readFileSync(path) };
}

describe("format version 1 fixtures", () => {
  it("opens the committed raw-key file, forever", async () => {
    const path = join(tempDir(), "v1.enc");
    copyFileSync(fixture("v1-raw-key.enc"), path);
    chmodSync(path, 0o600);
    const store = await EncryptedFileStore.open({ path, key: FIXTURE_KEY });
    const tokens = (await store.getTokens()).map((t) => ({ ...t }));
    expect(tokens).toEqual([
      {
        id: "1",
        userName: "fixture@example.com",
        clientId: "1000.FIXTURECLIENT",
        clientSecret: "fixture-secret",
        refreshToken: "1000.fixture-refresh",
        accessToken: "1000.fixture-access",
        grantToken: null,
        expiryTime: "1764400000000",
        redirectUrl: "https://example.com/cb",
        apiDomain: "https://www.zohoapis.com",
      },
      {
        id: "3",
        userName: null,
        clientId: "c3",
        clientSecret: "s3",
        refreshToken: "1000.third",
        accessToken: null,
        grantToken: null,
        expiryTime: null,
        redirectUrl: null,
        apiDomain: null,
      },
    ]);
    expect(await store.verify()).toMatchObject({ generation: 4, tokens: 2, keySource: "raw" });
    // The next id continues after the deleted one.
    expect((await store.saveToken({ refreshToken: "new" })).id).toBe("4");
  });

  it("opens the committed passphrase file, forever", async () => {
    const path = join(tempDir(), "v1p.enc");
    copyFileSync(fixture("v1-passphrase.enc"), path);
    chmodSync(path, 0o600);
    const store = await EncryptedFileStore.open({ path, passphrase: FIXTURE_PASSPHRASE });
    expect((await store.findToken({ userName: "pass@example.com" }))?.refreshToken).toBe("1000.pass-refresh");
    expect(await store.verify()).toMatchObject({ keySource: "passphrase", currentKey: true });
  });
});

describe("the sealed file", () => {
  it("holds no plaintext, and every write uses a fresh nonce and a higher generation", async () => {
    const { path, store, bytes } = await sealedStore();
    const text = bytes.toString("latin1");
    for (const secret of [...secretsOf(sampleToken("a")), "user-a@example.com", "refreshToken"]) expect(text).not.toContain(secret);
    expect(bytes.subarray(0, 8).toString()).toBe("ZEFSTORE");
    const g1 = (await store.verify()).generation;
    await store.saveToken(sampleToken("a")); // same content
    const again = readFileSync(path);
    expect(again.length).toBe(bytes.length);
    expect(again.subarray(60, 88).equals(bytes.subarray(60, 88))).toBe(false);
    expect((await store.verify()).generation).toBe(g1 + 1);
  });

  it("refuses every single-byte change with DAMAGED_FILE", async () => {
    const { bytes, key } = await sealedStore();
    const codes = new Map<string, number>();
    for (let i = 0; i < bytes.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const copy = Buffer.from(bytes);
        copy[i]! ^= mask;
        const code = await readBytes(copy, key);
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    expect([...codes.keys()]).toEqual(["DAMAGED_FILE"]);
  });

  it("refuses truncation at every length, appended bytes, zeros, an empty file and a foreign header", async () => {
    const { bytes, key } = await sealedStore();
    for (let length = 0; length < bytes.length; length++) {
      expect(await readBytes(bytes.subarray(0, length), key), `length ${length}`).toBe("DAMAGED_FILE");
    }
    expect(await readBytes(Buffer.concat([bytes, Buffer.from([0])]), key)).toBe("DAMAGED_FILE");
    expect(await readBytes(Buffer.alloc(bytes.length), key)).toBe("DAMAGED_FILE");
    expect(await readBytes(Buffer.alloc(0), key)).toBe("DAMAGED_FILE");
    // Another file sealed with the same key: its header on this body.
    const other = await sealedStore();
    const otherWithSameKey = join(tempDir(), "o.enc");
    const store2 = await EncryptedFileStore.open({ path: otherWithSameKey, key });
    await store2.saveToken(sampleToken("z"));
    const foreign = Buffer.concat([readFileSync(otherWithSameKey).subarray(0, 96), bytes.subarray(96)]);
    expect(await readBytes(foreign, key)).toBe("DAMAGED_FILE");
    expect(other.bytes.length).toBeGreaterThan(0);
  });

  it("tells a newer format version apart from damage", async () => {
    const { bytes, key } = await sealedStore();
    const copy = Buffer.from(bytes);
    copy.writeUInt16BE(2, 8);
    createHash("sha256").update(copy.subarray(0, 88)).digest().copy(copy, 88, 0, 8);
    expect(await readBytes(copy, key)).toBe("UNSUPPORTED_VERSION");
  });

  it("reports a wrong key as WRONG_KEY, not damage", async () => {
    const { bytes } = await sealedStore();
    expect(await readBytes(bytes, generateKey())).toBe("WRONG_KEY");
  });

  it("never overwrites a damaged file on the next write", async () => {
    const { path, key, bytes } = await sealedStore();
    const damaged = Buffer.from(bytes);
    damaged[200]! ^= 0x10;
    writeFileSync(path, damaged);
    const store = await EncryptedFileStore.open({ path, key });
    await expect(store.saveToken(sampleToken("c"))).rejects.toMatchObject({ code: "DAMAGED_FILE" });
    await expect(store.deleteTokens()).rejects.toMatchObject({ code: "DAMAGED_FILE" });
    expect(readFileSync(path).equals(damaged)).toBe(true);
  });
});

describe("previous generation and recovery", () => {
  it("keeps the previous generation and recovers it only when asked", async () => {
    const { path, key, store } = await sealedStore();
    expect((await EncryptedFileStore.open({ path: `${path}.prev`, key }).then((s) => s.getTokens())).length).toBe(1);
    writeFileSync(path, "garbage");
    await expect(store.getTokens()).rejects.toMatchObject({ code: "DAMAGED_FILE" });
    const result = await store.recover();
    expect(result).toMatchObject({ restoredGeneration: 1, tokens: 1 });
    expect(result.generation).toBe(3);
    expect(result.generation).toBeGreaterThan(2);
    expect((await store.getTokens()).map((t) => t.userName)).toEqual(["user-a@example.com"]);
    const fresh = await EncryptedFileStore.open({ path, key });
    expect(await fresh.getTokens()).toHaveLength(1);
  });

  it("recovers the generation before the current one as it is when the lock is taken: a write just before is not dropped unseen", async () => {
    const path = join(tempDir(), "t.enc");
    const key = generateKey();
    const a = await EncryptedFileStore.open({ path, key });
    await a.saveToken(sampleToken("one"));
    await a.saveToken(sampleToken("two"));
    const r = await EncryptedFileStore.open({ path, key });
    const w = await EncryptedFileStore.open({ path, key });
    // Both at once: recover() takes the lock first; the save lands on what it restored.
    await Promise.all([r.recover(), w.saveToken(sampleToken("three"))]);
    const names = (await (await EncryptedFileStore.open({ path, key })).getTokens()).map((t) => t.userName);
    expect(names).toEqual(["user-one@example.com", "user-three@example.com"]);
  });

  it("recovering a damaged file never undoes a key rotation, even run by a process still on the old key", async () => {
    const path = join(tempDir(), "t.enc");
    const [k1, k2] = [generateKey(), generateKey()];
    const s1 = await EncryptedFileStore.open({ path, key: k1 });
    await s1.saveToken(sampleToken("a"));
    await s1.rekey(k2); // the current file is sealed with k2; its previous generation with k1
    const damaged = readFileSync(path);
    damaged[damaged.length - 1]! ^= 1; // the tag: the header, naming k2, stays intact
    writeFileSync(path, damaged);
    await (await EncryptedFileStore.open({ path, key: k1, previousKeys: [k2] })).recover();
    // Still sealed with the new key: a process that has only it opens the store.
    expect(await (await EncryptedFileStore.open({ path, key: k2 })).getTokens()).toHaveLength(1);
    // A process on the new key writes; the store must stay sealed with it.
    await (await EncryptedFileStore.open({ path, key: k2, previousKeys: [k1] })).saveToken(sampleToken("b"));
    expect((await (await EncryptedFileStore.open({ path, key: k2 })).getTokens()).map((t) => t.userName)).toEqual(["user-a@example.com", "user-b@example.com"]);
    await expect(EncryptedFileStore.open({ path, key: k1 })).rejects.toMatchObject({ code: "WRONG_KEY" });
  });

  it("numbers a recovered generation above a damaged file's intact header", async () => {
    const { path, key, store, bytes } = await sealedStore();
    await store.saveToken(sampleToken("c"));
    await store.saveToken(sampleToken("d")); // generation 4
    const damaged = readFileSync(path);
    damaged[damaged.length - 1]! ^= 1; // the tag: the header stays intact
    writeFileSync(path, damaged);
    const fresh = await EncryptedFileStore.open({ path, key }); // has seen nothing
    const result = await fresh.recover();
    expect(result).toMatchObject({ restoredGeneration: 3, generation: 5 });
    expect(bytes.length).toBeGreaterThan(0);
  });

  it("reports a deleted store file as FILE_MISSING instead of an empty store", async () => {
    const { path, key, store } = await sealedStore();
    const { rmSync } = await import("node:fs");
    rmSync(path);
    await expect(store.findToken({ userName: "user-a@example.com" })).rejects.toMatchObject({ code: "FILE_MISSING" });
    const other = await EncryptedFileStore.open({ path, key });
    await expect(other.saveToken(sampleToken("c"))).rejects.toMatchObject({ code: "FILE_MISSING" });
    await other.recover();
    expect(await other.getTokens()).toHaveLength(1);
  });

  it("detects an older generation copied over a newer one it has seen", async () => {
    const { path, store } = await sealedStore();
    copyFileSync(`${path}.prev`, path);
    await expect(store.getTokens()).rejects.toMatchObject({ code: "ROLLBACK_DETECTED" });
    await expect(store.saveToken(sampleToken("x"))).rejects.toMatchObject({ code: "ROLLBACK_DETECTED" });
  });
});
