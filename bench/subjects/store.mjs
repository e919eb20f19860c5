// This store, loaded from the package's build (`npm run build`), as an application loads it.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import { makeToken } from "../lib/data.mjs";
import { DIST, DIST_INTERNAL } from "../lib/paths.mjs";

let storeModule;
/** The package's main entry (dist/index.js). */
export async function loadStore() {
  storeModule ??= await import(pathToFileURL(DIST).href);
  return storeModule;
}

let internalModule;
/**
 * The cipher layer from the same build (`zoho-encrypted-filestore/internal`): seal,
 * sealParts, unseal, HEADER_BYTES, TAG_BYTES and rawMasterKey. Internal, no semver promise.
 */
export async function loadInternal() {
  internalModule ??= await import(pathToFileURL(DIST_INTERNAL).href);
  return internalModule;
}

export async function openStore(path, key, extra = {}) {
  const { EncryptedFileStore } = await loadStore();
  // As an application does: opening a store never creates its directory.
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return EncryptedFileStore.open({ path, key, ...extra });
}

/** Fills a store with `count` tokens in one batch (queued saves share one write). */
export async function seedStore(store, count, prefix = "user") {
  await Promise.all(Array.from({ length: count }, (_, i) => store.saveToken(makeToken(i, prefix))));
}
