/**
 * What the command line tool reads of a store file without its key: the plaintext
 * header. The one file of the tool that reads it, so that how it is read can change in
 * one place.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { readHeader } from "../crypto/format.js";

/** How a store is keyed: a raw 32-byte key, or a passphrase stretched with scrypt. */
export type Keying = "raw" | "passphrase";

/** What the plaintext header of a store file says. */
export interface StoreHeader {
  version: number;
  generation: number;
  keying: Keying;
}

/**
 * Enough of the file's start for any header: format 1's is 96 bytes, and a later
 * format's must still be told from a damaged file (see src/crypto/format.ts).
 */
const READ_BYTES = 4096;

/**
 * Reads and checks the header of the store file at `path`, without any key.
 * @throws TokenStoreError DAMAGED_FILE or UNSUPPORTED_VERSION for a file that is not an
 * intact store file of this format; the file system's error when it cannot be read.
 */
export function readStoreHeader(path: string): StoreHeader {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const start = Buffer.alloc(Math.min(size, READ_BYTES));
    let read = 0;
    while (read < start.length) {
      const got = readSync(fd, start, read, start.length - read, read);
      if (got === 0) break;
      read += got;
    }
    const header = readHeader(start.subarray(0, read), path, size);
    return { version: header.version, generation: header.generation, keying: header.kdf ? "passphrase" : "raw" };
  } finally {
    closeSync(fd);
  }
}

/**
 * How the store file at `path` is keyed, from its header (byte 12: 1 = raw key,
 * 2 = passphrase); undefined when there is no file yet or its header cannot be read.
 */
export function storeKeying(path: string): Keying | undefined {
  try {
    return readStoreHeader(path).keying;
  } catch {
    return undefined;
  }
}
