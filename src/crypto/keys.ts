/**
 * Key input: where the 32-byte master key comes from, and what is derived from it.
 *
 * - A raw key is 32 random bytes, given as a `Uint8Array` or as base64 text.
 * - A passphrase is stretched with scrypt (memory-hard); the parameters and the salt
 *   live in the file's header, so any process can derive the same key. Derivation is
 *   slow on purpose (about 0.3 s), so each process derives a given (passphrase, salt)
 *   once and keeps the result; it never happens while the lock is held.
 *
 * From the master key two independent values are derived (RFC 5869 HKDF-SHA256):
 * a 16-byte key identifier written in the header, which lets a reader tell "this file
 * was sealed with another key" from "this file is damaged" without revealing anything
 * about the key, and a fresh AES-256 subkey for every write (salted with 16 random
 * bytes from the header), so the 96-bit random nonce is never reused under one key.
 */
import { hkdfSync, randomBytes, scrypt as scryptCallback, timingSafeEqual } from "node:crypto";
import { describeType, TokenStoreError } from "../errors.js";

const KEY_BYTES = 32;
const KEY_ID_BYTES = 16;
const KDF_SALT_BYTES = 16;

/** scrypt parameters as stored in the header: N = 2^log2N. */
export interface ScryptParams {
  log2N: number;
  r: number;
  p: number;
}

/** Default scrypt cost: N = 2^16 (64 MiB of memory), r = 8, p = 1; ~0.3 s on a laptop core. */
export const DEFAULT_SCRYPT: ScryptParams = { log2N: 16, r: 8, p: 1 };

/** One key ready to use: the master key and its identifier. */
export interface MasterKey {
  key: Uint8Array;
  keyId: Uint8Array;
  /** Present for passphrase keys: the salt and parameters the key was derived with. */
  kdf?: { salt: Uint8Array; params: ScryptParams };
}

const KEY_ID_INFO = "zoho-encrypted-filestore v1 key id";
const SUBKEY_INFO = "zoho-encrypted-filestore v1 aes-256-gcm";
const LEASE_NAME_INFO = "zoho-encrypted-filestore v1 lease names";

/** Returns a new random key, base64 encoded (32 bytes of entropy). */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString("base64");
}

/**
 * Decodes a key given as bytes or base64 text. Strict: the text must be canonical
 * base64 of exactly 32 bytes, so a truncated or mistyped key is refused here rather
 * than reported later as "wrong key".
 */
export function parseKey(value: unknown, what: string): Uint8Array {
  if (value instanceof Uint8Array) {
    if (value.length !== KEY_BYTES) {
      throw new TokenStoreError("INVALID_OPTION", `${what} must be ${KEY_BYTES} bytes, got ${value.length} bytes`);
    }
    return Uint8Array.from(value);
  }
  if (typeof value !== "string") {
    throw new TokenStoreError("INVALID_OPTION", `${what} must be a Uint8Array or a base64 string, got ${describeType(value)}`);
  }
  const text = value.trim();
  const bytes = Buffer.from(text, "base64");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || bytes.toString("base64") !== text) {
    throw new TokenStoreError("INVALID_OPTION", `${what} is not valid base64 (expected 32 random bytes, base64 encoded, as printed by generateKey())`);
  }
  if (bytes.length !== KEY_BYTES) {
    throw new TokenStoreError("INVALID_OPTION", `${what} must decode to ${KEY_BYTES} bytes, got ${bytes.length} bytes`);
  }
  return new Uint8Array(bytes);
}

/** The header's key identifier for a master key. */
function keyIdOf(key: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", key, new Uint8Array(0), KEY_ID_INFO, KEY_ID_BYTES));
}

/** The AES-256 key for one write, bound to that write's random salt. */
export function subkeyFor(key: Uint8Array, writeSalt: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", key, writeSalt, SUBKEY_INFO, KEY_BYTES));
}

/**
 * A secret for naming refresh leases: processes that share the store's key agree on it,
 * and someone who can only list the directory cannot test a guessed token against a
 * lease file's name.
 */
export function leaseNameKey(key: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", key, new Uint8Array(0), LEASE_NAME_INFO, KEY_BYTES));
}

/** Constant-time comparison of two key identifiers. */
export function sameKeyId(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function rawMasterKey(key: Uint8Array): MasterKey {
  return { key, keyId: keyIdOf(key) };
}

/** Stretches a passphrase with scrypt (node:crypto, off the main thread). */
export async function derivePassphraseKey(passphrase: string, salt: Uint8Array, params: ScryptParams): Promise<MasterKey> {
  const N = 2 ** params.log2N;
  const maxmem = 128 * N * params.r * params.p + 32 * 1024 * 1024;
  const key = await new Promise<Uint8Array>((resolve, reject) => {
    scryptCallback(passphrase.normalize("NFC"), salt, KEY_BYTES, { N, r: params.r, p: params.p, maxmem }, (error, derived) =>
      error ? reject(error) : resolve(new Uint8Array(derived)),
    );
  }).catch((error: unknown) => {
    throw new TokenStoreError("INVALID_OPTION", "cannot derive a key from the passphrase with the stored scrypt parameters", {
      cause: error,
    });
  });
  return { key, keyId: keyIdOf(key), kdf: { salt: Uint8Array.from(salt), params: { ...params } } };
}

export function newKdfSalt(): Uint8Array {
  return new Uint8Array(randomBytes(KDF_SALT_BYTES));
}
