/**
 * The sealed store file, format version 1.
 *
 * A fixed 96-byte plaintext header, then the AES-256-GCM ciphertext of the UTF-8 JSON
 * document, then the 16-byte GCM tag. The whole header is the cipher's associated
 * data, so no byte of it can change without the tag failing. Integers are big-endian.
 *
 * A file is at most {@link MAX_FILE_BYTES} long: writers refuse a larger document
 * (LIMIT_EXCEEDED), and readers check the header and the length before reading the rest.
 *
 * | offset | bytes | field                                                              |
 * |-------:|------:|--------------------------------------------------------------------|
 * |      0 |     8 | magic, ASCII `ZEFSTORE`                                            |
 * |      8 |     2 | format version, 1                                                  |
 * |     10 |     2 | header length, 96 (where the ciphertext starts)                    |
 * |     12 |     1 | key source: 1 = raw key, 2 = passphrase                            |
 * |     13 |     1 | KDF: 0 = none (raw key), 1 = scrypt                                |
 * |     14 |     1 | scrypt log2(N) (0 for a raw key)                                   |
 * |     15 |     1 | scrypt r (0 for a raw key)                                         |
 * |     16 |     1 | scrypt p (0 for a raw key)                                         |
 * |     17 |     3 | reserved, zero                                                     |
 * |     20 |    16 | KDF salt (zero for a raw key)                                      |
 * |     36 |    16 | key id: HKDF-SHA256(master key, info "...v1 key id"), 16 bytes     |
 * |     52 |     8 | generation: 1 for the first write, +1 on every write               |
 * |     60 |    16 | write salt, random per write: AES key = HKDF(master, salt, info)   |
 * |     76 |    12 | GCM nonce, random per write                                        |
 * |     88 |     8 | header check: first 8 bytes of SHA-256 of bytes 0..87              |
 * |     96 |     n | ciphertext (n = length of the JSON document)                       |
 * |   96+n |    16 | GCM tag over the ciphertext with bytes 0..95 as associated data    |
 *
 * A sealed record of a store kept as several records (a server backend) is the same
 * format, with a context the reader supplies appended to the associated data: the place
 * the record belongs to (table, namespace, record id). It is not stored; a record read
 * anywhere else fails authentication.
 *
 * The header check is not a security measure (the GCM tag is); it lets a reader
 * report a damaged header as "damaged" rather than "wrong key". Every version keeps
 * bytes 0..11 and the check as the last 8 header bytes, so a reader can tell an
 * intact file of a newer version from a damaged one.
 */
import { createHash, randomBytes } from "node:crypto";
import { gcm as gcmSync } from "@noble/ciphers/aes.js";
import { gcm as gcmNative } from "@noble/ciphers/webcrypto.js";
import { TokenStoreError } from "../errors.js";
import { subkeyFor, type MasterKey, type ScryptParams } from "./keys.js";

const MAGIC = Buffer.from("ZEFSTORE", "ascii");
const FORMAT_VERSION = 1;
export const HEADER_BYTES = 96;
export const TAG_BYTES = 16;
/** Largest document sealed: 64 MiB of JSON, some 150,000 tokens. */
export const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;
/** Largest store file: the header, the largest document and the tag. */
export const MAX_FILE_BYTES = HEADER_BYTES + MAX_DOCUMENT_BYTES + TAG_BYTES;
const CHECK_BYTES = 8;
const PREFIX_BYTES = 12;

const KEY_SOURCE_RAW = 1;
const KEY_SOURCE_PASSPHRASE = 2;
const KDF_NONE = 0;
const KDF_SCRYPT = 1;

/**
 * AES-256-GCM (NIST SP 800-38D, 96-bit nonce, 128-bit tag) from @noble/ciphers: its
 * WebCrypto-backed `gcm` runs at native speed but costs a key import and a promise per
 * call, which dominates for small documents; its pure-JS `gcm` is faster there. Both
 * produce the same bytes (and the same as node:crypto: see test/cipher.test.ts).
 */
const NATIVE_CIPHER_MIN_BYTES = 2 * 1024;

/** What the plaintext header says, after it has been checked. */
export interface Header {
  version: number;
  keyId: Uint8Array;
  generation: number;
  /** Present when the key came from a passphrase. */
  kdf: { salt: Uint8Array; params: ScryptParams } | undefined;
}

/**
 * Reads and checks the header of a sealed file, without any key. Throws DAMAGED_FILE
 * for anything that is not an intact store file and UNSUPPORTED_VERSION for an
 * intact file of another format version. `fileLength` is the length of the whole file
 * when `file` holds only its start.
 */
export function readHeader(file: Uint8Array, path: string, fileLength = file.length): Header {
  const damaged = (why: string) => damagedFile(path, `is damaged or is not a token store file (${why})`);
  if (file.length < PREFIX_BYTES || !MAGIC.equals(file.subarray(0, MAGIC.length))) {
    throw damaged(file.length === 0 ? "empty file" : "no store header");
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = view.getUint16(8);
  const headerBytes = view.getUint16(10);
  if (headerBytes < PREFIX_BYTES + CHECK_BYTES || headerBytes + TAG_BYTES > fileLength || headerBytes > file.length) {
    throw damaged("truncated");
  }
  const check = sha256(file.subarray(0, headerBytes - CHECK_BYTES)).subarray(0, CHECK_BYTES);
  if (!check.equals(file.subarray(headerBytes - CHECK_BYTES, headerBytes))) {
    throw damaged("header check failed");
  }
  if (version !== FORMAT_VERSION) {
    throw new TokenStoreError(
      "UNSUPPORTED_VERSION",
      `${path} uses store format version ${version}; this version of zoho-encrypted-filestore reads version ${FORMAT_VERSION}`,
      version > FORMAT_VERSION ? { path, action: "upgrade", advice: "upgrade the package" } : { path },
    );
  }
  if (headerBytes !== HEADER_BYTES) throw damaged("bad header length");
  if (fileLength > MAX_FILE_BYTES) throw damaged(`${fileLength} bytes, more than any store file holds`);
  const generation = view.getBigUint64(52);
  // Writers never go past 2^53 - 1 (see sealParts); a larger number was not written by one.
  if (generation > BigInt(Number.MAX_SAFE_INTEGER)) throw damaged("bad generation");
  const keySource = file[12];
  const kdf = file[13];
  let kdfInfo: Header["kdf"];
  if (keySource === KEY_SOURCE_RAW && kdf === KDF_NONE) {
    kdfInfo = undefined;
  } else if (keySource === KEY_SOURCE_PASSPHRASE && kdf === KDF_SCRYPT) {
    const params = { log2N: file[14]!, r: file[15]!, p: file[16]! };
    // Bounded so that a planted header cannot make a reader spend more than 1 GiB or minutes.
    if (params.log2N < 10 || params.r < 1 || params.p < 1 || params.p > 16 || 128 * 2 ** params.log2N * params.r > 2 ** 30) {
      throw damaged("bad KDF parameters");
    }
    kdfInfo = { salt: Uint8Array.from(file.subarray(20, 36)), params };
  } else {
    throw damaged("unknown key source");
  }
  return {
    version,
    kdf: kdfInfo,
    keyId: Uint8Array.from(file.subarray(36, 52)),
    generation: Number(generation),
  };
}

/** Seals `plaintext` as generation `generation` under `master`: the bytes of the file. */
export async function seal(plaintext: Uint8Array, master: MasterKey, generation: number): Promise<Uint8Array> {
  const [header, body] = await sealParts(plaintext, master, generation);
  const file = new Uint8Array(header.length + body.length);
  file.set(header, 0);
  file.set(body, header.length);
  return file;
}

/**
 * Seals `plaintext` as generation `generation` under `master`, with a fresh salt and
 * nonce: the file as its two parts, the header and the ciphertext with its tag, which
 * are written one after the other. Joining them would copy the whole document once
 * more, into freshly allocated memory: at a few MB that costs more than the cipher.
 */
export async function sealParts(plaintext: Uint8Array, master: MasterKey, generation: number, context?: Uint8Array): Promise<[Uint8Array, Uint8Array]> {
  if (plaintext.length > MAX_DOCUMENT_BYTES) {
    throw new TokenStoreError(
      "LIMIT_EXCEEDED",
      `the document is ${plaintext.length} bytes, more than the ${MAX_DOCUMENT_BYTES} a store file holds; nothing was changed. Move some tokens to another store`,
    );
  }
  if (!Number.isSafeInteger(generation) || generation < 1) {
    throw new TokenStoreError("LIMIT_EXCEEDED", `generation ${generation} is past the largest a store file counts; nothing was changed`);
  }
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt16BE(FORMAT_VERSION, 8);
  header.writeUInt16BE(HEADER_BYTES, 10);
  if (master.kdf) {
    header[12] = KEY_SOURCE_PASSPHRASE;
    header[13] = KDF_SCRYPT;
    header[14] = master.kdf.params.log2N;
    header[15] = master.kdf.params.r;
    header[16] = master.kdf.params.p;
    header.set(master.kdf.salt, 20);
  } else {
    header[12] = KEY_SOURCE_RAW;
    header[13] = KDF_NONE;
  }
  header.set(master.keyId, 36);
  header.writeBigUInt64BE(BigInt(generation), 52);
  const writeSalt = randomBytes(16);
  const nonce = randomBytes(12);
  writeSalt.copy(header, 60);
  nonce.copy(header, 76);
  sha256(header.subarray(0, HEADER_BYTES - CHECK_BYTES)).copy(header, HEADER_BYTES - CHECK_BYTES, 0, CHECK_BYTES);

  const subkey = subkeyFor(master.key, writeSalt);
  const aad = associatedData(header, context);
  try {
    const sealed =
      plaintext.length < NATIVE_CIPHER_MIN_BYTES ? gcmSync(subkey, nonce, aad).encrypt(plaintext) : await gcmNative(subkey, nonce, aad).encrypt(plaintext);
    return [header, sealed];
  } finally {
    subkey.fill(0);
  }
}

/**
 * Opens a sealed file whose header has been read with {@link readHeader} and whose key
 * id matched `master`. A failed tag means the file was changed: DAMAGED_FILE.
 */
export async function unseal(file: Uint8Array, master: MasterKey, path: string, context?: Uint8Array): Promise<Uint8Array> {
  const header = associatedData(file.subarray(0, HEADER_BYTES), context);
  const subkey = subkeyFor(master.key, file.subarray(60, 76));
  const nonce = file.subarray(76, 88);
  try {
    const sealed = file.subarray(HEADER_BYTES);
    return sealed.length - TAG_BYTES < NATIVE_CIPHER_MIN_BYTES
      ? gcmSync(subkey, nonce, header).decrypt(sealed)
      : await gcmNative(subkey, nonce, header).decrypt(sealed);
  } catch {
    // The cipher's own error says only that authentication failed; it is not kept as `cause`.
    throw damagedFile(
      path,
      context
        ? "failed authentication: it was changed or damaged after it was written, or copied from another table, namespace or record"
        : "failed authentication: it was changed or damaged after it was written",
    );
  } finally {
    subkey.fill(0);
  }
}

/** The header, then the context of a record (see the top of this file). */
function associatedData(header: Uint8Array, context: Uint8Array | undefined): Uint8Array {
  if (!context || context.length === 0) return header;
  const aad = new Uint8Array(header.length + context.length);
  aad.set(header, 0);
  aad.set(context, header.length);
  return aad;
}

/** DAMAGED_FILE for `path`: nothing was changed, and the previous generation may restore it. */
function damagedFile(path: string, what: string): TokenStoreError {
  return new TokenStoreError("DAMAGED_FILE", `${path} ${what}; nothing was changed`, {
    path,
    action: "recover",
    advice: "if a previous generation was kept, recover() restores it",
  });
}

function sha256(data: Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}
