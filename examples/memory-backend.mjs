// @ts-check
/**
 * The token store on another backend: here the in-memory one, which keeps the sealed bytes
 * in the process (tests, short-lived tools). Any object implementing StorageBackend works
 * the same way (docs/api.md, "Other backends").
 *
 * Run: node examples/memory-backend.mjs (in this repository, after `npm run build`).
 */
import { EncryptedTokenStore, MemoryBackend, generateKey } from "zoho-encrypted-filestore";

const backend = new MemoryBackend();
const store = await EncryptedTokenStore.openBackend(backend, { key: generateKey() });

await store.saveToken({ userName: "me@example.com", refreshToken: "1000.made-up-refresh-token" });
console.log(await store.findToken({ userName: "me@example.com" })); // secrets print as "[redacted]"
console.log(`${backend.bytes?.length} sealed bytes in memory`);
