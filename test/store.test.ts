/**
 * The store's shared suite (test/contract/store-contract.ts) on the file backend and on
 * the memory backend: the token store knows only the backend interface.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, EncryptedTokenStore, MemoryBackend, MemorySpace } from "../src/index.js";
import { describeStoreContract } from "./contract/store-contract.js";
import { tempDir } from "./helpers.js";

describeStoreContract("file", async () => {
  const path = join(tempDir(), "tokens.enc");
  return {
    open: (key) => EncryptedFileStore.open({ path, key }),
    stored: async () => readFileSync(path),
  };
});

describeStoreContract("memory", async () => {
  const space = new MemorySpace();
  return {
    open: (key) => EncryptedTokenStore.openBackend(new MemoryBackend({ space }), { key }),
    stored: async () => Buffer.from(new MemoryBackend({ space }).bytes ?? new Uint8Array()),
  };
});
