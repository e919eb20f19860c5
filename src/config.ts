/**
 * The one configuration applications and the command-line tool share: the environment
 * variables that name the store file and its key file, and their defaults. An
 * application that opens its store with `configFromEnv()` and the tool run in the same
 * directory with the same environment open the same store with the same key.
 *
 * - `ZOHO_TOKEN_STORE_FILE`: the store file; default `./zoho-tokens.enc`.
 * - `ZOHO_TOKEN_STORE_KEY_FILE`: the file holding the base64 key; default `./zoho.key`
 *   (`zoho-encrypted-filestore keygen --out ./zoho.key` makes one). Not used when
 *   `ZOHO_TOKEN_STORE_KEY` holds the key itself.
 * - `ZOHO_TOKEN_STORE_KEY`: the base64 key itself (see {@link KEY_ENV}).
 */
import { TokenStoreError } from "./errors.js";
import { KEY_ENV } from "./crypto/key-sources.js";

/** The environment variable naming the store file. */
export const STORE_FILE_ENV = "ZOHO_TOKEN_STORE_FILE";
/** The environment variable naming the key file. */
export const KEY_FILE_ENV = "ZOHO_TOKEN_STORE_KEY_FILE";
/** The store file when none is named, relative to the working directory. */
export const DEFAULT_STORE_FILE = "./zoho-tokens.enc";
/** The key file when no key is given, relative to the working directory. */
export const DEFAULT_KEY_FILE = "./zoho.key";

/** Store options from the environment: the store file and, unless the key is in the environment itself, the key file. */
export interface EnvConfig {
  path: string;
  keyFile?: string;
}

/**
 * The store file and key file named by the environment, or their defaults:
 * `{ path, keyFile }`, as `EncryptedFileStore.open` and `zohoTokenStore` take them.
 * When `ZOHO_TOKEN_STORE_KEY` is set (and no key file is named), `keyFile` is left out
 * and the store reads the key from that variable.
 *
 * @param env The environment to read. Default: `process.env`.
 * @throws {TokenStoreError} INVALID_OPTION when both `ZOHO_TOKEN_STORE_KEY_FILE` and `ZOHO_TOKEN_STORE_KEY` are set.
 * @example
 * const store = await zohoTokenStore(ZOHOCRMSDK, configFromEnv());
 */
export function configFromEnv(env: Record<string, string | undefined> = process.env): EnvConfig {
  const path = env[STORE_FILE_ENV] || DEFAULT_STORE_FILE;
  const keyFile = env[KEY_FILE_ENV];
  if (keyFile && env[KEY_ENV]) {
    throw new TokenStoreError("INVALID_OPTION", `both ${KEY_FILE_ENV} and ${KEY_ENV} are set; unset the one that does not hold the store's key`);
  }
  if (keyFile) return { path, keyFile };
  if (env[KEY_ENV]) return { path };
  return { path, keyFile: DEFAULT_KEY_FILE };
}
