/**
 * The store a command works on, and what the tool learns of it without its key: whether
 * anything is stored, whether a previous generation is kept, how it is keyed, and the
 * backend's own checks. All of it goes through the store's backend (store/inspect.ts);
 * no command looks at the paths beside a store itself.
 */
import { DEFAULT_STALE_MS, FileBackend } from "../backend/file/index.js";
import type { Check, StorageBackend } from "../backend/types.js";
import { inspectStore, readStoredHeader, storePresence } from "../store/inspect.js";
import { serverBackend, type Target } from "./target.js";

/** How a store is keyed: a raw 32-byte key, or a passphrase stretched with scrypt. */
export type Keying = "raw" | "passphrase";

/** The backend of the store at `path`, for key-free inspection: it creates nothing. */
export function inspectionBackend(path: string, staleMs = DEFAULT_STALE_MS): StorageBackend {
  return FileBackend.at(path, { staleMs, waitMs: staleMs + 5_000 });
}

/** Runs `use` on the key-free backend of a target (a path is a store file), closing a server's after. */
async function withBackend<T>(target: Target | string, use: (backend: StorageBackend) => Promise<T>, staleMs = DEFAULT_STALE_MS): Promise<T> {
  if (typeof target === "string" || target.kind === "file") return use(inspectionBackend(typeof target === "string" ? target : target.path, staleMs));
  const backend = await serverBackend(target);
  try {
    return await use(backend);
  } finally {
    await backend.close();
  }
}

/**
 * How the store at `path` is keyed, from its header; undefined when nothing is stored
 * yet or its header cannot be read.
 */
export async function storeKeying(path: Target | string): Promise<Keying | undefined> {
  try {
    return await withBackend(path, async (backend) => (await readStoredHeader(backend))?.keySource);
  } catch {
    return undefined;
  }
}

/**
 * Whether anything is stored at `path` and whether a previous generation is kept. What
 * cannot be looked at (a directory in the store's place, say) counts as stored, so that
 * opening it reports what is wrong.
 */
export async function presence(path: Target | string): Promise<{ stored: boolean; previous: boolean }> {
  return withBackend(path, async (backend) => {
    const [stored, previous] = await Promise.all([
      storePresence(backend).then(
        (found) => found.stored,
        () => true,
      ),
      backend.hasPrevious().catch(() => false),
    ]);
    return { stored, previous };
  }).catch(() => ({ stored: true, previous: false }));
}

/** The backend's key-free checks of the store at `path`; with `fix`, repairs what is safe. */
export function checkTarget(path: Target | string, options: { staleMs: number; fix: boolean }): Promise<Check[]> {
  return withBackend(path, (backend) => inspectStore(backend, { fix: options.fix }), options.staleMs);
}
