/**
 * What can be learnt of a store without its key, through its backend: what its sealed
 * header says (format version, generation, how it is keyed; not authenticated), whether
 * anything or a previous generation is stored, and the backend's own checks with the
 * stored records described by their headers. The command-line tool's `doctor`, and
 * `verify` and `init` before a key is at hand, use only these.
 */
import { HEADER_BYTES, readHeader } from "../crypto/envelope.js";
import type { Check, InspectOptions, StorageBackend } from "../backend/types.js";

/** What a store's plaintext header says, read without the key (not authenticated). */
export interface HeaderSummary {
  formatVersion: number;
  generation: number;
  keySource: "raw" | "passphrase";
}

/**
 * The header of what is stored (`previous`: of the previous generation), or undefined
 * when nothing is. Throws DAMAGED_FILE or UNSUPPORTED_VERSION for a header that is not an
 * intact one of a version this package reads.
 */
export async function readStoredHeader(backend: StorageBackend, { previous = false } = {}): Promise<HeaderSummary | undefined> {
  const peek = await backend.peek({ headBytes: HEADER_BYTES, previous });
  if (!peek) return undefined;
  const where = previous ? `${backend.location} (previous generation)` : backend.location;
  const header = readHeader(peek.head, where, peek.length);
  return { formatVersion: header.version, generation: header.generation, keySource: header.kdf ? "passphrase" : "raw" };
}

/** Whether anything is stored, and whether a previous generation is kept. */
export async function storePresence(backend: StorageBackend): Promise<{ stored: boolean; previous: boolean }> {
  const [peek, previous] = await Promise.all([backend.peek({ headBytes: 0 }), backend.hasPrevious()]);
  return { stored: peek !== undefined, previous };
}

/** Describes a stored record by its sealed header: "format 1, generation 7, raw key". */
export const describeSealedHead: NonNullable<InspectOptions["describe"]> = {
  headBytes: HEADER_BYTES,
  describe(head, length) {
    const header = readHeader(head, "the stored record", length);
    return `format ${header.version}, generation ${header.generation}, ${header.kdf ? "passphrase" : "raw key"}`;
  },
};

/** The backend's key-free checks, with stored records described by their headers. */
export function inspectStore(backend: StorageBackend, options: { fix?: boolean } = {}): Promise<Check[]> {
  return backend.inspect({ fix: options.fix === true, describe: describeSealedHead });
}
