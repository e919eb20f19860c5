/**
 * The store's shared suite on the memory backend of granularity "records": the store kept
 * as a sealed head and one sealed record per token (src/store/records.ts), without a
 * server. Its writes take a turn of the event loop, as a server's do, so that readers in
 * the process run while a change is being written. The PostgreSQL suites run the same
 * store on a real server.
 */
import { EncryptedTokenStore, MemoryBackend, MemorySpace, type ExclusiveSession } from "../src/index.js";
import { describeStoreContract } from "./contract/store-contract.js";

const turn = () => new Promise((resolve) => setImmediate(resolve));

class SlowMemoryBackend extends MemoryBackend {
  override exclusive<T>(change: (session: ExclusiveSession) => Promise<T>): Promise<T> {
    return super.exclusive((session) =>
      change({
        ...session,
        read: session.read.bind(session),
        currentVersion: session.currentVersion.bind(session),
        replace: async (...args) => {
          await turn();
          return session.replace(...args);
        },
      }),
    );
  }
}

describeStoreContract("memory, granularity records", async () => {
  const space = new MemorySpace();
  const backend = () => new SlowMemoryBackend({ space, granularity: "records" });
  return {
    open: (key) => EncryptedTokenStore.openBackend(backend(), { key }),
    backend,
    stored: async () => {
      const result = await backend().read();
      const records = result.kind === "snapshot" ? result.records : [];
      return new Uint8Array(Buffer.concat(records.map((record) => Buffer.from(record.bytes))));
    },
  };
});
