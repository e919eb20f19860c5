/**
 * The options of a store over any backend, checked once, with messages that name the option and its
 * type and never repeat a value that could be a secret.
 */
import { describeType, TokenStoreError } from "../errors.js";
import { currentKeySource, toKeySource, type KeyInput, type KeyOptions, type KeySource } from "../crypto/key-sources.js";
import { DEFAULT_SCRYPT } from "../crypto/keys.js";

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

/** The names of the options every store has; a backend's options come beside them. */
export const STORE_OPTIONS = ["key", "keyFile", "passphrase", "keychain", "keySource", "previousKeys", "scryptCost", "keepPrevious"] as const;

export interface StoreSettings {
  key: KeySource;
  previousKeys: KeySource[];
  scryptCost: number;
  keepPrevious: boolean;
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

/** An integer option within bounds, or its default. */
export function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new TokenStoreError(
      "INVALID_OPTION",
      `${name} must be an integer from ${min} to ${max}, got ${typeof value === "number" ? value : describeType(value)}`,
    );
  }
  return value;
}
