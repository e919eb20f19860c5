/**
 * Internal: for the project's own benchmark and tools, not for applications.
 *
 * Published as `zoho-encrypted-filestore/internal` so that the benchmark can time the
 * sealed-file cipher on its own, from the same build as the library. Nothing here is
 * covered by semver: any export may change or disappear in any release. Applications
 * use the package's main entry.
 */
export { seal, sealParts, unseal, HEADER_BYTES, TAG_BYTES } from "./crypto/envelope.js";
export { rawMasterKey } from "./crypto/keys.js";
export type { MasterKey } from "./crypto/keys.js";
export { FileLock } from "./backend/file/lock.js";
export { StoreLayout } from "./backend/file/layout.js";
