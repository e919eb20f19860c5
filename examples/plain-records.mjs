// @ts-check
/**
 * The store without an SDK: token records in one encrypted file, for code that runs its
 * own OAuth flow or hands tokens to another tool.
 *
 * Configuration comes from the environment, so no secret is typed on a command line:
 *   ZOHO_USER                     the name the record is stored under
 *   ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_REFRESH_TOKEN   to save (or update) the record
 *   ZOHO_TOKEN_STORE_FILE         the store, default ./zoho-tokens.enc (configFromEnv())
 *   ZOHO_TOKEN_STORE_KEY_FILE     its key, default ./zoho.key
 *                                 (npx zoho-encrypted-filestore keygen --out ./zoho.key)
 *
 * Run: node examples/plain-records.mjs (in this repository, after `npm run build`).
 * A failure is a TokenStoreError with a stable `code` (WRONG_KEY, INSECURE_PERMISSIONS, ...).
 */
import { configFromEnv, EncryptedFileStore } from "zoho-encrypted-filestore";

const { env } = process;
// ZOHO_TOKEN_STORE_FILE and ZOHO_TOKEN_STORE_KEY_FILE, default ./zoho-tokens.enc and ./zoho.key:
// the names and defaults the command-line tool reads too.
const store = await EncryptedFileStore.open(configFromEnv());

const userName = env.ZOHO_USER ?? "me@example.com";
if (env.ZOHO_REFRESH_TOKEN) {
  const { ZOHO_CLIENT_ID: clientId, ZOHO_CLIENT_SECRET: clientSecret, ZOHO_REFRESH_TOKEN: refreshToken } = env;
  const saved = await store.saveToken({ userName, clientId, clientSecret, refreshToken });
  console.log(`saved the token of ${userName} as id ${saved.id}`);
}
const found = await store.findToken({ userName });
console.log(found ?? `no token stored for ${userName}`); // secrets print as "[redacted]"
