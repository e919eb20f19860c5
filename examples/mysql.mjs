// @ts-check
/**
 * The store on MySQL 8 or MariaDB, shared by every process and host that has the key:
 * through the SDK adapter, and on its own; then a copy from a file store (one imported from
 * the SDK's DBStore, say) into it. Needs `npm install mysql2` beside the package.
 *
 * Run: DATABASE_URL=mysql://user:password@host:3306/db node examples/mysql.mjs, in a
 * directory with a key file `zoho.key` (`zoho-encrypted-filestore keygen --out zoho.key`)
 * and a store `zoho-tokens.enc` (`zoho-encrypted-filestore import --from-dbstore-env ...`).
 * The password is never printed.
 */
import { createRequire } from "node:module";
import { EncryptedFileStore, zohoTokenStore } from "zoho-encrypted-filestore";
import { openMysqlStore } from "zoho-encrypted-filestore/mysql";

const ZOHOCRMSDK = createRequire(import.meta.url)("@zohocrm/typescript-sdk-8.0");

const store = await zohoTokenStore(ZOHOCRMSDK, { mysql: process.env.DATABASE_URL, keyFile: "./zoho.key" });
console.log(`${(await store.getTokens()).length} tokens for the SDK`);
await store.close();

const tokens = await openMysqlStore({ mysql: process.env.DATABASE_URL, keyFile: "./zoho.key" });
console.log((await tokens.verify()).location); // no password in it
await tokens.close();

const from = await EncryptedFileStore.open({ path: "zoho-tokens.enc", keyFile: "zoho.key" });
const to = await openMysqlStore({ mysql: process.env.DATABASE_URL, keyFile: "zoho.key" });
await Promise.all((await from.getTokens()).map(({ id: _id, ...token }) => to.saveToken(token)));
await from.close();
await to.close();
