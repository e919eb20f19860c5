/**
 * The PostgreSQL store's entry point (the package's `./postgres` subpath, and what
 * `zohoTokenStore(SDK, { postgres })` loads on demand): a token store whose sealed
 * records live in PostgreSQL, shared by every process and host that has the key.
 *
 * @example
 * import { openPostgresStore } from "zoho-encrypted-filestore/postgres";
 * const store = await openPostgresStore({ postgres: process.env.DATABASE_URL, keyFile: "./zoho.key" });
 */
import { TokenStoreError } from "../../errors.js";
import { EncryptedTokenStore } from "../../store/store.js";
import type { EncryptedTokenStoreOptions } from "../../store/options.js";
import { openPostgresBackend, POSTGRES_BACKEND_OPTIONS, type PostgresBackendOptions } from "./backend.js";

export { openPostgresBackend, describeConfig } from "./backend.js";
export type { PostgresBackendOptions, PostgresPoolConfig, PostgresPoolLike } from "./backend.js";
export type { SqlBackend } from "../sql/backend.js";

/** Options of {@link openPostgresStore}: where the records live, and the store's keys. */
export interface PostgresStoreOptions extends EncryptedTokenStoreOptions, PostgresBackendOptions {}

/**
 * Opens the token store kept in PostgreSQL (creating its tables on first use, when the
 * role may) and checks that the key opens it. Close it with `close()` (or `await using`)
 * to end the pool it created; a `pg.Pool` given is never ended.
 *
 * @throws {TokenStoreError} INVALID_OPTION, UNAVAILABLE (the server cannot be reached in
 *   time), UNSUPPORTED_VERSION (a newer schema), WRONG_KEY, and the errors of a key source.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<EncryptedTokenStore> {
  if (typeof options !== "object" || options === null) throw new TokenStoreError("INVALID_OPTION", "openPostgresStore expects an options object");
  const backendOptions: Record<string, unknown> = {};
  const storeOptions: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if ((POSTGRES_BACKEND_OPTIONS as readonly string[]).includes(name)) backendOptions[name] = value;
    else storeOptions[name] = value;
  }
  const backend = await openPostgresBackend(backendOptions as unknown as PostgresBackendOptions);
  try {
    return await EncryptedTokenStore.openBackend(backend, storeOptions as EncryptedTokenStoreOptions);
  } catch (error) {
    await backend.close();
    throw error;
  }
}
