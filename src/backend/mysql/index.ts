/**
 * The MySQL and MariaDB store's entry point (the package's `./mysql` subpath, and what
 * `zohoTokenStore(SDK, { mysql })` loads on demand): a token store whose sealed records
 * live in MySQL 8 or MariaDB 10.11+, shared by every process and host that has the key.
 *
 * @example
 * import { openMysqlStore } from "zoho-encrypted-filestore/mysql";
 * const store = await openMysqlStore({ mysql: process.env.DATABASE_URL, keyFile: "./zoho.key" });
 */
import { TokenStoreError } from "../../errors.js";
import type { EncryptedTokenStoreOptions } from "../../store/options.js";
import { EncryptedTokenStore } from "../../store/store.js";
import { MYSQL_BACKEND_OPTIONS, type MysqlBackendOptions, openMysqlBackend } from "./backend.js";

export { openMysqlBackend, describeMysqlConfig } from "./backend.js";
export type { MysqlBackendOptions, MysqlPoolConfig, MysqlPoolLike } from "./backend.js";
export type { SqlBackend } from "../sql/backend.js";

/** Options of {@link openMysqlStore}: where the records live, and the store's keys. */
export interface MysqlStoreOptions extends EncryptedTokenStoreOptions, MysqlBackendOptions {}

/**
 * Opens the token store kept in MySQL or MariaDB (creating its tables on first use, when
 * the user may) and checks that the key opens it. Close it with `close()` (or
 * `await using`) to end the pool it created; a `mysql2` pool given is never ended.
 *
 * @throws {TokenStoreError} INVALID_OPTION, UNAVAILABLE (the server cannot be reached in
 *   time), UNSUPPORTED_VERSION (a newer schema), WRONG_KEY, and the errors of a key source.
 */
export async function openMysqlStore(options: MysqlStoreOptions): Promise<EncryptedTokenStore> {
  if (typeof options !== "object" || options === null) throw new TokenStoreError("INVALID_OPTION", "openMysqlStore expects an options object");
  const backendOptions: Record<string, unknown> = {};
  const storeOptions: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if ((MYSQL_BACKEND_OPTIONS as readonly string[]).includes(name)) backendOptions[name] = value;
    else storeOptions[name] = value;
  }
  const backend = await openMysqlBackend(backendOptions as unknown as MysqlBackendOptions);
  try {
    return await EncryptedTokenStore.openBackend(backend, storeOptions as EncryptedTokenStoreOptions);
  } catch (error) {
    await backend.close();
    throw error;
  }
}
