/**
 * The options of a store, checked once, with messages that name the option and its
 * type and never repeat a value that could be a secret.
 */
import { resolve } from "node:path";
import { describeType, TokenStoreError } from "../errors.js";
import { currentKeySource, toKeySource, type KeyInput, type KeyOptions, type KeySource } from "../crypto/key-sources.js";
import { DEFAULT_SCRYPT } from "../crypto/keys.js";
import type { LockSettings } from "../backend/file/lock.js";

/** Options of a store over any backend: its keys and how it writes. */
export interface EncryptedTokenStoreOptions extends KeyOptions {
  /**
   * Other keys the store may open (and keep writing with) a file sealed with: the keys
   * of a rotation in progress. A write moves the file to the current key unless an
   * earlier rotation retired it.
   */
  previousKeys?: readonly KeyInput[];
  /** scrypt cost (log2 N) for new passphrase keys. Default 16 (64 MiB, ~0.3 s). Range 14..20. */
  scryptCost?: number;
  /** Keep the previous generation for recover(). Default true. */
  keepPrevious?: boolean;
}

/** Options of {@link EncryptedFileStore.open}. */
export interface EncryptedFileStoreOptions extends EncryptedTokenStoreOptions {
  /**
   * Path of the store file, in a directory that exists: nothing creates a directory (a
   * missing one is INVALID_PATH, so that a store moved away never comes back empty). The
   * file is created, mode 0600, by the first write. The directory and every directory
   * above it must pass the permission policy (see docs/api.md).
   */
  path: string;
  /** A lock not refreshed for this long is taken over (its holder died). Default 10000 ms; at least 2000. */
  lockStaleMs?: number;
  /** Longest wait for the lock before LOCK_TIMEOUT. Default lockStaleMs + 5000 ms. */
  lockWaitMs?: number;
}

/** Longest accepted store path (Linux's PATH_MAX). */
const MAX_PATH_LENGTH = 4096;

const STORE_OPTIONS = ["key", "keyFile", "passphrase", "keychain", "keySource", "previousKeys", "scryptCost", "keepPrevious"] as const;
const FILE_OPTIONS = ["path", ...STORE_OPTIONS, "lockStaleMs", "lockWaitMs"] as const;

export interface StoreSettings {
  key: KeySource;
  previousKeys: KeySource[];
  scryptCost: number;
  keepPrevious: boolean;
}

export interface FileStoreSettings extends StoreSettings {
  path: string;
  lock: LockSettings;
}

/** Checks the options of a store over any backend. */
export function parseStoreOptions(options: EncryptedTokenStoreOptions, known: readonly string[] = STORE_OPTIONS): StoreSettings {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TokenStoreError("INVALID_OPTION", `options must be an object, got ${describeType(options)}`);
  }
  for (const name of Reflect.ownKeys(options)) {
    if (typeof name !== "string" || !known.includes(name)) {
      throw new TokenStoreError("INVALID_OPTION", `unknown option ${JSON.stringify(String(name)).slice(0, 40)}; known options: ${known.join(", ")}`);
    }
  }
  const previousKeys = options.previousKeys ?? [];
  if (!Array.isArray(previousKeys)) {
    throw new TokenStoreError("INVALID_OPTION", `previousKeys must be an array, got ${describeType(previousKeys)}`);
  }
  if (options.keepPrevious !== undefined && typeof options.keepPrevious !== "boolean") {
    throw new TokenStoreError("INVALID_OPTION", `keepPrevious must be a boolean, got ${describeType(options.keepPrevious)}`);
  }
  return {
    key: currentKeySource(options),
    previousKeys: previousKeys.map((input: KeyInput, index: number) => toKeySource(input, `previousKeys[${index}]`)),
    scryptCost: integerOption("scryptCost", options.scryptCost, DEFAULT_SCRYPT.log2N, 14, 20),
    keepPrevious: options.keepPrevious ?? true,
  };
}

/** Checks the options of a file store. */
export function parseFileStoreOptions(options: EncryptedFileStoreOptions): FileStoreSettings {
  const store = parseStoreOptions(options, FILE_OPTIONS);
  const { path } = options;
  if (typeof path !== "string" || path.trim().length === 0 || path.includes("\0")) {
    throw new TokenStoreError("INVALID_OPTION", `path must be a non-empty file path string, got ${describeType(path)}`);
  }
  if (path.length > MAX_PATH_LENGTH) {
    // Longer than any OS accepts; refused here so that no message repeats it.
    throw new TokenStoreError("INVALID_OPTION", `path is longer than ${MAX_PATH_LENGTH} characters`);
  }
  const staleMs = integerOption("lockStaleMs", options.lockStaleMs, 10_000, 2_000, 600_000);
  const waitMs = integerOption("lockWaitMs", options.lockWaitMs, staleMs + 5_000, 0, 3_600_000);
  return { ...store, path: resolve(path), lock: { staleMs, waitMs } };
}

function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new TokenStoreError(
      "INVALID_OPTION",
      `${name} must be an integer from ${min} to ${max}, got ${typeof value === "number" ? value : describeType(value)}`,
    );
  }
  return value;
}
