import { describe, expect, it } from "vitest";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { HEADER_BYTES, TAG_BYTES, readHeader, seal, unseal } from "../src/crypto/envelope.js";
import { rawMasterKey, subkeyFor } from "../src/crypto/keys.js";

// The sealed file's cipher is @noble/ciphers' AES-256-GCM (pure JS below 2 KiB, WebCrypto
// above); an independent implementation (node:crypto, OpenSSL) must open what it seals
// and produce what it opens, at sizes on both sides of every boundary that matters.
const SIZES = [0, 1, 15, 16, 17, 2047, 2048, 4096, 8191, 8192, 65_537, 1_000_003];

describe("AES-256-GCM of the sealed file", () => {
  const master = rawMasterKey(new Uint8Array(randomBytes(32)));

  it.each(SIZES)("an independent GCM opens what seal() wrote (%i bytes)", async (size) => {
    const plaintext = new Uint8Array(randomBytes(size));
    const file = await seal(plaintext, master, 7);
    expect(file.length).toBe(HEADER_BYTES + size + TAG_BYTES);
    expect(readHeader(file, "t").generation).toBe(7);
    const subkey = subkeyFor(master.key, file.subarray(60, 76));
    const decipher = createDecipheriv("aes-256-gcm", subkey, file.subarray(76, 88));
    decipher.setAAD(file.subarray(0, HEADER_BYTES));
    decipher.setAuthTag(file.subarray(file.length - TAG_BYTES));
    const opened = Buffer.concat([decipher.update(file.subarray(HEADER_BYTES, file.length - TAG_BYTES)), decipher.final()]);
    expect(Buffer.from(opened).equals(Buffer.from(plaintext))).toBe(true);
    expect(Buffer.from(await unseal(file, master, "t")).equals(Buffer.from(plaintext))).toBe(true);
  });

  it.each(SIZES)("unseal() opens what an independent GCM wrote (%i bytes)", async (size) => {
    const plaintext = new Uint8Array(randomBytes(size));
    // Take a real header (salt, nonce, check) and re-encrypt the body independently.
    const file = await seal(new Uint8Array(size), master, 3);
    const header = file.subarray(0, HEADER_BYTES);
    const subkey = subkeyFor(master.key, file.subarray(60, 76));
    const cipher = createCipheriv("aes-256-gcm", subkey, file.subarray(76, 88));
    cipher.setAAD(header);
    const foreign = Buffer.concat([header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    expect(Buffer.from(await unseal(foreign, master, "t")).equals(Buffer.from(plaintext))).toBe(true);
  });

  it("refuses a changed tag, body or header byte", async () => {
    const file = Buffer.from(await seal(new Uint8Array(randomBytes(100)), master, 1));
    for (const at of [0, 60, 76, HEADER_BYTES, file.length - 1]) {
      const bad = Buffer.from(file);
      bad[at]! ^= 1;
      await expect(unseal(bad, master, "t")).rejects.toMatchObject({ code: "DAMAGED_FILE" });
    }
  });
});
