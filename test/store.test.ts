/**
 * The store's shared suite (test/contract/store-contract.ts) on the file backend and on
 * the memory backend: the token store knows only the backend interface.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, EncryptedTokenStore, MemoryBackend, MemorySpace } from "../src/index.js";
import { FileBackend } from "../src/backend/file/backend.js";
import { describeStoreContract } from "./contract/store-contract.js";
import { tempDir } from "./helpers.js";

describeStoreContract("file", async () => {
  const path = join(tempDir(), "tokens.enc");
  return {
    open: (key) => EncryptedFileStore.open({ path, key }),
    backend: () => FileBackend.at(path, { staleMs: 10_000, waitMs: 15_000 }),
    stored: async () => readFileSync(path),
  };
});

describeStoreContract("memory", async () => {
  const space = new MemorySpace();
  return {
    open: (key) => EncryptedTokenStore.openBackend(new MemoryBackend({ space }), { key }),
    backend: () => new MemoryBackend({ space }),
    stored: async () => Buffer.from(new MemoryBackend({ space }).bytes ?? new Uint8Array()),
  };
});
