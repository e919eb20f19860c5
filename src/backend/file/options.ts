/**
 * The options of a file store: where the file is and how long its lock is kept, beside
 * the options every store has (store/options.ts). Checked once, with messages that name
 * the option and never repeat a value that could be a secret.
 */
import { resolve } from "node:path";
import { describeType, TokenStoreError } from "../../errors.js";
import { integerOption, parseStoreOptions, STORE_OPTIONS, type EncryptedTokenStoreOptions, type StoreSettings } from "../../store/options.js";
import type { LockSettings } from "./lock.js";

/** The file backend's own options. */
export interface FileBackendOptions {
  /**
   * Path of the store file, in a directory that exists: nothing creates a directory (a
   * missing one is INVALID_PATH, so that a store moved away never comes back empty). The
   * file is created, mode 0600, by the first write. The directory and every directory
   * above it must pass the permission policy (see docs/api.md).
   */
  path: string;
  /** A lock not refreshed for this long is taken over (its holder died). Default 10000 ms; at least 2000. */
  lockStaleMs?: number;
  /** Longest wait for the lock before LOCK_TIMEOUT. Default lockStaleMs + 5000 ms. */
  lockWaitMs?: number;
}

/** Options of {@link EncryptedFileStore.open}: a store's options and the file backend's. */
export interface EncryptedFileStoreOptions extends EncryptedTokenStoreOptions, FileBackendOptions {}

/** The store's default `lockStaleMs`: a lock not refreshed for this long has a dead holder. */
export const DEFAULT_STALE_MS = 10_000;

/** Longest accepted store path (Linux's PATH_MAX). */
const MAX_PATH_LENGTH = 4096;

const FILE_OPTIONS = ["path", "lockStaleMs", "lockWaitMs"] as const;

export interface FileBackendSettings {
  path: string;
  lock: LockSettings;
}

export interface FileStoreSettings extends StoreSettings, FileBackendSettings {}

/** Checks the file backend's options (`known`: every option name the caller accepts). */
export function parseFileBackendOptions(options: FileBackendOptions, known: readonly string[] = FILE_OPTIONS): FileBackendSettings {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TokenStoreError("INVALID_OPTION", `options must be an object, got ${describeType(options)}`);
  }
  for (const name of Reflect.ownKeys(options)) {
    if (typeof name !== "string" || !known.includes(name)) {
      throw new TokenStoreError("INVALID_OPTION", `unknown option ${JSON.stringify(String(name)).slice(0, 40)}; known options: ${known.join(", ")}`);
    }
  }
  const { path } = options;
  if (typeof path !== "string" || path.trim().length === 0 || path.includes("\0")) {
    throw new TokenStoreError("INVALID_OPTION", `path must be a non-empty file path string, got ${describeType(path)}`);
  }
  if (path.length > MAX_PATH_LENGTH) {
    // Longer than any OS accepts; refused here so that no message repeats it.
    throw new TokenStoreError("INVALID_OPTION", `path is longer than ${MAX_PATH_LENGTH} characters`);
  }
  const staleMs = integerOption("lockStaleMs", options.lockStaleMs, DEFAULT_STALE_MS, 2_000, 600_000);
  const waitMs = integerOption("lockWaitMs", options.lockWaitMs, staleMs + 5_000, 0, 3_600_000);
  return { path: resolve(path), lock: { staleMs, waitMs } };
}

/** Checks the options of a file store. */
export function parseFileStoreOptions(options: EncryptedFileStoreOptions): FileStoreSettings {
  const known = [FILE_OPTIONS[0], ...STORE_OPTIONS, ...FILE_OPTIONS.slice(1)];
  const store = parseStoreOptions(options, known);
  return { ...store, ...parseFileBackendOptions(options, known) };
}
