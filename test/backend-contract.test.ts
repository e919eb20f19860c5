/**
 * The backend contract (test/contract/backend-contract.ts) on the file backend and on the
 * memory backend, both granularities.
 */
import { join } from "node:path";
import { MemoryBackend, MemorySpace } from "../src/index.js";
import { FileBackend } from "../src/backend/file/backend.js";
import { describeBackendContract } from "./contract/backend-contract.js";
import { tempDir } from "./helpers.js";

describeBackendContract("file", async () => {
  const path = join(tempDir(), "tokens.enc");
  return { open: async () => FileBackend.open(path, { staleMs: 10_000, waitMs: 15_000 }) };
});

describeBackendContract(
  "memory",
  async () => {
    const space = new MemorySpace();
    return { open: async () => new MemoryBackend({ space }) };
  },
  { leases: false },
);

describeBackendContract(
  "memory, granularity records",
  async () => {
    const space = new MemorySpace();
    return { open: async () => new MemoryBackend({ space, granularity: "records" }) };
  },
  { leases: false },
);
