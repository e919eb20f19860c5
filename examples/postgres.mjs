// @ts-check
/**
 * The store on PostgreSQL, shared by every process and host that has the key: through the
 * SDK adapter, and on its own. Needs `npm install pg` beside the package.
 *
 * Run: DATABASE_URL=postgres://user@host:5432/db node examples/postgres.mjs, in a directory
 * with a key file `zoho.key` (`zoho-encrypted-filestore keygen --out zoho.key`). The password
 * comes from the connection string, PGPASSWORD or ~/.pgpass; it is never printed.
 */
import { createRequire } from "node:module";
import { zohoTokenStore } from "zoho-encrypted-filestore";
import { openPostgresStore } from "zoho-encrypted-filestore/postgres";

const ZOHOCRMSDK = createRequire(import.meta.url)("@zohocrm/typescript-sdk-8.0");

const store = await zohoTokenStore(ZOHOCRMSDK, { postgres: process.env.DATABASE_URL, keyFile: "./zoho.key" });
console.log(`${(await store.getTokens()).length} tokens for the SDK`);
await store.close();

const tokens = await openPostgresStore({ postgres: process.env.DATABASE_URL, keyFile: "./zoho.key" });
await tokens.saveToken({ userName: "me@example.com", refreshToken: "1000.made-up-refresh-token" });
console.log(await tokens.findToken({ userName: "me@example.com" })); // secrets print as "[redacted]"
console.log((await tokens.verify()).location); // no password in it
await tokens.close();
