import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { inspect } from "node:util";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey, KEY_ENV, TokenStoreError } from "../src/index.js";
import { assertNoSecrets, sampleToken, tempDir } from "./helpers.js";

const FAST = { scryptCost: 14 };

async function failure(promise: Promise<unknown>): Promise<TokenStoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenStoreError);
  return error as TokenStoreError;
}

afterEach(() => {
  delete process.env[KEY_ENV];
});

describe("key options", () => {
  it("generateKey makes distinct 32-byte base64 keys", () => {
    const a = generateKey();
    expect(Buffer.from(a, "base64")).toHaveLength(32);
    expect(generateKey()).not.toBe(a);
  });

  it("accepts a key as bytes or base64, and the same key opens the file either way", async () => {
    const path = join(tempDir(), "t.enc");
    const key = generateKey();
    await (await EncryptedFileStore.open({ path, key })).saveToken(sampleToken("a"));
    const bytes = new Uint8Array(Buffer.from(key, "base64"));
    expect(await (await EncryptedFileStore.open({ path, key: bytes })).getTokens()).toHaveLength(1);
  });

  it("takes the key from ZOHO_TOKEN_STORE_KEY when no key option is given", async () => {
    const path = join(tempDir(), "t.enc");
    process.env[KEY_ENV] = generateKey();
    await (await EncryptedFileStore.open({ path })).saveToken(sampleToken("a"));
    expect(await (await EncryptedFileStore.open({ path, key: process.env[KEY_ENV] })).getTokens()).toHaveLength(1);
  });

  it("refuses no key, two keys, and keys of the wrong size or encoding, without echoing them", async () => {
    const path = join(tempDir(), "t.enc");
    const key = generateKey();
    const short = Buffer.from(key, "base64").subarray(0, 31);
    const cases: Array<[object, string]> = [
      [{ path }, "INVALID_OPTION"],
      [{ path, key, passphrase: "x" }, "INVALID_OPTION"],
      [{ path, key, keyFile: "/nonexistent" }, "INVALID_OPTION"],
      [{ path, key: short.toString("base64") }, "INVALID_OPTION"],
      [{ path, key: new Uint8Array(short) }, "INVALID_OPTION"],
      [{ path, key: key.slice(0, -4) }, "INVALID_OPTION"],
      [{ path, key: `${key}AAAA` }, "INVALID_OPTION"],
      [{ path, key: key.replace(/.$/, "!") }, "INVALID_OPTION"],
      [{ path, key: 42 }, "INVALID_OPTION"],
      [{ path, passphrase: "" }, "INVALID_OPTION"],
      [{ path, key, previousKeys: "nope" }, "INVALID_OPTION"],
      [{ path, key, previousKeys: [short.toString("base64")] }, "INVALID_OPTION"],
      [{ path, key, lockStaleMs: 10 }, "INVALID_OPTION"],
      [{ path, key, lockWaitMs: -1 }, "INVALID_OPTION"],
      [{ path, key, keyfile: "x" }, "INVALID_OPTION"],
      [{ path: "", key }, "INVALID_OPTION"],
      [{ path: "a\0b", key }, "INVALID_OPTION"],
      [{ path: 12, key }, "INVALID_OPTION"],
    ];
    for (const [options, code] of cases) {
      const error = await failure(EncryptedFileStore.open(options as never));
      expect(error.code, inspect(Object.keys(options))).toBe(code);
      assertNoSecrets(`${error.message}\n${inspect(error)}`, [key, key.slice(0, 20), short.toString("base64")]);
    }
  });

  it("reads a key file, and refuses one that other users can read", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "store.key");
    const key = generateKey();
    writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    const path = join(dir, "t.enc");
    await (await EncryptedFileStore.open({ path, keyFile })).saveToken(sampleToken("a"));
    expect(await (await EncryptedFileStore.open({ path, key })).getTokens()).toHaveLength(1);
    chmodSync(keyFile, 0o644);
    const error = await failure(EncryptedFileStore.open({ path, keyFile }));
    expect(error.code).toBe("INSECURE_PERMISSIONS");
    expect(error.message).toContain("chmod 600");
    assertNoSecrets(error.message, [key]);
  });
});

describe("passphrases", () => {
  it("derives the same key in another process from the header's salt; a typo is WRONG_KEY", async () => {
    const path = join(tempDir(), "t.enc");
    const store = await EncryptedFileStore.open({ path, passphrase: "tr0ub4dor&3", ...FAST });
    await store.saveToken(sampleToken("a"));
    const other = await EncryptedFileStore.open({ path, passphrase: "tr0ub4dor&3" });
    expect(await other.getTokens()).toHaveLength(1);
    expect(await other.verify()).toMatchObject({ keySource: "passphrase", currentKey: true });
    const typo = await failure(EncryptedFileStore.open({ path, passphrase: "tr0ub4dor&4" }));
    expect(typo.code).toBe("WRONG_KEY");
    assertNoSecrets(inspect(typo), ["tr0ub4dor"]);
    const raw = await failure(EncryptedFileStore.open({ path, key: generateKey() }));
    expect(raw.code).toBe("WRONG_KEY");
  });
});

describe("key rotation", () => {
  it("reads with an older key, and the next write re-encrypts with the current one", async () => {
    const path = join(tempDir(), "t.enc");
    const oldKey = generateKey();
    const newKey = generateKey();
    await (await EncryptedFileStore.open({ path, key: oldKey })).saveToken(sampleToken("a"));
    const rotated = await EncryptedFileStore.open({ path, key: newKey, previousKeys: [oldKey] });
    expect(await rotated.getTokens()).toHaveLength(1);
    expect((await rotated.verify()).currentKey).toBe(false);
    await rotated.saveToken(sampleToken("b"));
    expect((await rotated.verify()).currentKey).toBe(true);
    expect((await failure(EncryptedFileStore.open({ path, key: oldKey }))).code).toBe("WRONG_KEY");
    expect(await (await EncryptedFileStore.open({ path, key: newKey })).getTokens()).toHaveLength(2);
  });

  it("rotates from a passphrase to a key file and back with previousKeys", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    await (await EncryptedFileStore.open({ path, passphrase: "first pass", ...FAST })).saveToken(sampleToken("a"));
    const key = generateKey();
    const toKey = await EncryptedFileStore.open({ path, key, previousKeys: [{ passphrase: "first pass" }] });
    await toKey.saveToken(sampleToken("b"));
    const toPass = await EncryptedFileStore.open({ path, passphrase: "second pass", previousKeys: [key], ...FAST });
    await toPass.deleteToken("1");
    expect((await (await EncryptedFileStore.open({ path, passphrase: "second pass" })).getTokens()).map((t) => t.id)).toEqual(["2"]);
  });

  it("a rekey whose new file is in place but whose last step failed leaves this process able to open its own store", async () => {
    const path = join(tempDir(), "t.enc");
    const store = await EncryptedFileStore.open({ path, key: generateKey() });
    await store.saveToken(sampleToken("a"));
    const original = fs.fsyncSync;
    // The directory's fsync fails: the rename happened, the rekey reports IO_ERROR.
    (fs as { fsyncSync: typeof fs.fsyncSync }).fsyncSync = (fd) => {
      if (fs.fstatSync(fd).isDirectory()) throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
      return original(fd);
    };
    syncBuiltinESMExports();
    try {
      await expect(store.rekey(generateKey())).rejects.toMatchObject({ code: "IO_ERROR" });
    } finally {
      (fs as { fsyncSync: typeof fs.fsyncSync }).fsyncSync = original;
      syncBuiltinESMExports();
    }
    expect((await store.getTokens()).map((t) => t.userName)).toEqual(["user-a@example.com"]);
    await store.saveToken(sampleToken("b"));
    expect(await store.getTokens()).toHaveLength(2);
  });

  it("rekey re-encrypts in place under the lock; the old key stops working", async () => {
    const path = join(tempDir(), "t.enc");
    const oldKey = generateKey();
    const store = await EncryptedFileStore.open({ path, key: oldKey });
    await store.saveToken(sampleToken("a"));
    const newKey = generateKey();
    await store.rekey(newKey);
    expect(await store.getTokens()).toHaveLength(1);
    expect((await failure(EncryptedFileStore.open({ path, key: oldKey }))).code).toBe("WRONG_KEY");
    const reopened = await EncryptedFileStore.open({ path, key: newKey });
    expect((await reopened.getTokens())[0]?.refreshToken).toBe("1000.refresh-a-rt");
    await reopened.rekey({ passphrase: "now a passphrase" });
    expect(await (await EncryptedFileStore.open({ path, passphrase: "now a passphrase" })).getTokens()).toHaveLength(1);
    expect((await failure(reopened.rekey("not base64!"))).code).toBe("INVALID_OPTION");
  });
});
