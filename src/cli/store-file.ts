/**
 * The store a command works on, and what the tool learns of it without its key: whether
 * anything is stored, whether a previous generation is kept, how it is keyed, and the
 * backend's own checks. All of it goes through the store's backend (store/inspect.ts);
 * no command looks at the paths beside a store itself.
 */
import { DEFAULT_STALE_MS, FileBackend } from "../backend/file/index.js";
import type { Check, StorageBackend } from "../backend/types.js";
import { inspectStore, readStoredHeader, storePresence } from "../store/inspect.js";

/** How a store is keyed: a raw 32-byte key, or a passphrase stretched with scrypt. */
export type Keying = "raw" | "passphrase";

/** The backend of the store at `path`, for key-free inspection: it creates nothing. */
export function inspectionBackend(path: string, staleMs = DEFAULT_STALE_MS): StorageBackend {
  return FileBackend.at(path, { staleMs, waitMs: staleMs + 5_000 });
}

/**
 * How the store at `path` is keyed, from its header; undefined when nothing is stored
 * yet or its header cannot be read.
 */
export async function storeKeying(path: string): Promise<Keying | undefined> {
  try {
    return (await readStoredHeader(inspectionBackend(path)))?.keySource;
  } catch {
    return undefined;
  }
}

/**
 * Whether anything is stored at `path` and whether a previous generation is kept. What
 * cannot be looked at (a directory in the store's place, say) counts as stored, so that
 * opening it reports what is wrong.
 */
export async function presence(path: string): Promise<{ stored: boolean; previous: boolean }> {
  const backend = inspectionBackend(path);
  const [stored, previous] = await Promise.all([
    storePresence(backend).then(
      (found) => found.stored,
      () => true,
    ),
    backend.hasPrevious().catch(() => false),
  ]);
  return { stored, previous };
}

/** The backend's key-free checks of the store at `path`; with `fix`, repairs what is safe. */
export function checkTarget(path: string, options: { staleMs: number; fix: boolean }): Promise<Check[]> {
  return inspectStore(inspectionBackend(path, options.staleMs), { fix: options.fix });
}
