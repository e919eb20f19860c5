/**
 * The file backend's entry point: its store, its backend, its options and its
 * maintenance API. The package's main entry re-exports the public part; tools (the
 * command-line tool) open a file backend from here for key-free inspection.
 */
export { EncryptedFileStore } from "./file-store.js";
export { FileBackend } from "./backend.js";
export { DEFAULT_STALE_MS, parseFileBackendOptions, parseFileStoreOptions } from "./options.js";
export type { EncryptedFileStoreOptions, FileBackendOptions, FileBackendSettings } from "./options.js";
export { checkKeyFile, checkStore, duration, leftovers, storeFileAt, writeExport } from "./maintenance.js";
export type { CheckOptions, ExportOptions } from "./maintenance.js";
export { StoreLayout } from "./layout.js";
