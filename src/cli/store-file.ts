/**
 * What the command line tool reads of a store file without its key: how it is keyed,
 * from the plaintext header (through the maintenance API).
 */
import { readStoreHeader } from "../maintenance.js";

/** How a store is keyed: a raw 32-byte key, or a passphrase stretched with scrypt. */
export type Keying = "raw" | "passphrase";

/**
 * How the store file at `path` is keyed, from its header; undefined when there is no
 * file yet or its header cannot be read.
 */
export function storeKeying(path: string): Keying | undefined {
  try {
    return readStoreHeader(path)?.keySource;
  } catch {
    return undefined;
  }
}
