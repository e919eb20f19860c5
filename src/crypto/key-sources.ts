/**
 * Where a key comes from. A {@link KeySource} produces key material asynchronously, so
 * an OS keychain or a cloud KMS is one more implementation of one interface; the ones
 * here are raw bytes, base64 text, a key file, a passphrase, an OS keychain entry
 * (keychain.ts) and an environment variable. The package reads the environment only
 * through {@link environmentKey}.
 *
 * The rule that a store is given exactly one key (`key`, `keyFile`, `passphrase`,
 * `keychain` or `keySource`, else the environment variable) is checked in one place:
 * {@link currentKeySource}.
 */
import { describeType, TokenStoreError } from "../errors.js";
import { readBounded } from "../fs/private-files.js";
import { ancestorProblems, privateFileProblem, refuse } from "../fs/permissions.js";
import { statSync, type Stats } from "node:fs";
import { parseKey } from "./keys.js";
import { keychainKeySource as keychainSource, type KeychainOptions } from "./keychain.js";

/** The environment variable read for the key when a store is given no key option. */
export const KEY_ENV = "ZOHO_TOKEN_STORE_KEY";

/** Key material: 32 raw key bytes, or a passphrase to stretch with the store's KDF. */
export type KeyMaterial = { kind: "raw"; key: Uint8Array } | { kind: "passphrase"; passphrase: string };

/** Where one key comes from. */
export interface KeySource {
  /** What the key is, for messages and the command line's "key from ...": never the key itself. */
  readonly description: string;
  /** Produces the key material. Throws a TokenStoreError (INVALID_OPTION, IO_ERROR, ...) when it cannot. */
  load(): Promise<KeyMaterial>;
}

/** A key as a caller gives it: raw bytes, base64 text, a key file, a passphrase, an OS keychain entry, or any key source. */
export type KeyInput =
  | Uint8Array
  | string
  | { key: Uint8Array | string }
  | { keyFile: string }
  | { passphrase: string }
  | { keychain: KeychainOptions }
  | KeySource;

/** Largest key file read: a base64 key is 44 characters; anything this big is the wrong file. */
const MAX_KEY_FILE_BYTES = 4096;
/** Longest accepted key file path (Linux's PATH_MAX). */
const MAX_PATH_LENGTH = 4096;

/** A raw 32-byte key, as bytes or as base64 text. */
export function rawKey(key: Uint8Array | string, description = "key"): KeySource {
  // Checked (and copied) now, so a malformed key is refused where it is given.
  const bytes = parseKey(key, description);
  return { description, load: async () => ({ kind: "raw", key: Uint8Array.from(bytes) }) };
}

/**
 * A file holding a base64 key. Refused when other users can access it (whoever reads it
 * can read every token), with the same policy as the store file, and when a directory
 * above it lets another user replace it (the rule for the directories above a store).
 */
export function keyFile(path: string): KeySource {
  if (typeof path !== "string" || path.length === 0 || path.includes("\0")) {
    throw new TokenStoreError("INVALID_OPTION", `keyFile must be a non-empty path string, got ${describeType(path)}`);
  }
  if (path.length > MAX_PATH_LENGTH) {
    // Longer than any OS accepts; refused here so that no message repeats it.
    throw new TokenStoreError("INVALID_OPTION", `keyFile is longer than ${MAX_PATH_LENGTH} characters`);
  }
  const description = `key file ${path}`;
  return {
    description,
    load: async () => {
      let stats: Stats;
      try {
        stats = statSync(path);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? "error";
        const missing = code === "ENOENT";
        throw new TokenStoreError("IO_ERROR", `cannot read ${description}: ${code}${missing ? " (no such file, or a dangling symbolic link)" : ""}`, {
          path,
          cause: error,
          // A key file that is not there yet is made, not repaired.
          ...(missing
            ? {
                action: "create-key" as const,
                advice: `create it with 'npx zoho-encrypted-filestore keygen --out ${path}' (or write generateKey() to it, mode 600)`,
              }
            : {}),
        });
      }
      if (!stats.isFile()) throw new TokenStoreError("INVALID_OPTION", `${description} is not a regular file`, { path });
      const problem = privateFileProblem(path, stats);
      if (problem) refuse(problem, "key file");
      // Whoever may rename entries in a directory above the key may put their own key in
      // its place, and a store then sealed with it is theirs to read.
      const [above] = ancestorProblems(path, "the key file");
      if (above) refuse(above, "the directory above the key file");
      return { kind: "raw", key: parseKey(readBounded(path, MAX_KEY_FILE_BYTES, description).toString("utf8"), description) };
    },
  };
}

/** A passphrase, stretched with scrypt (the salt and parameters live in the store's header). */
export function passphrase(text: string, description = "passphrase"): KeySource {
  if (typeof text !== "string" || text.length === 0) {
    throw new TokenStoreError("INVALID_OPTION", `${description} must be a non-empty string, got ${describeType(text)}`);
  }
  return { description, load: async () => ({ kind: "passphrase", passphrase: text }) };
}

/**
 * A base64 key in an environment variable (default `ZOHO_TOKEN_STORE_KEY`). Read and
 * checked when the source is made, so a missing or malformed key is refused before the
 * store touches the disk.
 */
export function environmentKey(name: string = KEY_ENV): KeySource {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new TokenStoreError(
      "INVALID_OPTION",
      `no key: pass key, keyFile, passphrase, keychain or keySource, or set ${name} to a base64 key (generateKey() makes one)`,
    );
  }
  return rawKey(value, `$${name}`);
}

function isKeySource(value: unknown): value is KeySource {
  return typeof value === "object" && value !== null && typeof (value as KeySource).load === "function" && typeof (value as KeySource).description === "string";
}

/** The key source for a key given as {@link KeyInput} (`what` names it in messages). */
export function toKeySource(input: KeyInput, what: string): KeySource {
  if (input instanceof Uint8Array || typeof input === "string") return rawKey(input, what);
  if (isKeySource(input)) return input;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new TokenStoreError(
      "INVALID_OPTION",
      `${what} must be a key (Uint8Array or base64), { keyFile }, { passphrase }, { keychain } or a key source, got ${describeType(input)}`,
    );
  }
  const keys = Object.keys(input);
  if (keys.length !== 1) throw new TokenStoreError("INVALID_OPTION", `${what} must have exactly one of key, keyFile, passphrase, keychain`);
  if ("key" in input) return rawKey(input.key, what);
  if ("keyFile" in input) return keyFile(input.keyFile);
  if ("passphrase" in input) return passphrase(input.passphrase, `${what}.passphrase`);
  if ("keychain" in input) return keychainSource(input.keychain, `${what}.keychain`);
  throw new TokenStoreError("INVALID_OPTION", `${what} must have exactly one of key, keyFile, passphrase, keychain`);
}

/** The key options of a store. */
export interface KeyOptions {
  /** 32-byte key as bytes or base64. */
  key?: Uint8Array | string;
  /** A file holding the base64 key; refused when other users can access it. */
  keyFile?: string;
  /** A passphrase, stretched with scrypt once per process. */
  passphrase?: string;
  /**
   * An entry of the OS keychain holding the key (`{}` for the default entry); needs the
   * optional package `@napi-rs/keyring`, loaded only when this is used.
   */
  keychain?: KeychainOptions;
  /** Any other source of the key (a KMS, ...). */
  keySource?: KeySource;
}

/** The store's current key: exactly one of the key options, or else the environment variable. */
export function currentKeySource(options: KeyOptions): KeySource {
  const given = (["key", "keyFile", "passphrase", "keychain", "keySource"] as const).filter((name) => options[name] !== undefined);
  if (given.length > 1) {
    throw new TokenStoreError("INVALID_OPTION", `give only one of key, keyFile, passphrase, keychain, keySource (got ${given.join(" and ")})`);
  }
  if (options.key !== undefined) return rawKey(options.key);
  if (options.keyFile !== undefined) return keyFile(options.keyFile);
  if (options.passphrase !== undefined) return passphrase(options.passphrase);
  if (options.keychain !== undefined) return keychainSource(options.keychain, "keychain");
  if (options.keySource !== undefined) {
    if (!isKeySource(options.keySource)) {
      throw new TokenStoreError("INVALID_OPTION", `keySource must be an object with a description and a load() method, got ${describeType(options.keySource)}`);
    }
    return options.keySource;
  }
  return environmentKey();
}
