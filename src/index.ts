/**
 * zoho-encrypted-filestore: an encrypted, crash-safe, multi-process token store for the
 * Zoho CRM Node SDKs. The exports, by layer: the SDK adapter; the stores (the file store,
 * and the store over any backend); the backends and the refresh coordinator interface;
 * key sources; records; errors.
 */
export { zohoTokenStore } from "./zoho/adapter.js";
export type {
  AdaptableTokenStore,
  ZohoTokenStore,
  ZohoTokenStoreOptions,
  ZohoAdapterOptions,
  ZohoSdkNamespace,
  ZohoSdkToken,
  ZohoOAuthToken,
  ZohoUserSignature,
} from "./zoho/adapter.js";
export { EncryptedFileStore } from "./backend/file/file-store.js";
export { EncryptedTokenStore } from "./store/store.js";
export type { StoreStatus } from "./store/store.js";
export type { EncryptedTokenStoreOptions } from "./store/options.js";
export type { EncryptedFileStoreOptions, FileBackendOptions } from "./backend/file/options.js";
export { MemoryBackend, MemorySpace } from "./backend/memory/backend.js";
export type { MemoryBackendOptions } from "./backend/memory/backend.js";
export { DOCUMENT_RECORD, HEAD_RECORD, MISSING, UNCHANGED } from "./backend/types.js";
export type {
  StorageBackend,
  ExclusiveSession,
  Version,
  RecordId,
  StoredRecord,
  SealedRecord,
  Snapshot,
  ReadResult,
  ReadOptions,
  Replacement,
  HeadCheck,
  Peek,
  Check,
  CheckStatus,
  InspectOptions,
  RefreshCoordinator,
  LeaseOutcome,
} from "./backend/types.js";
export { KEY_ENV, rawKey, keyFile, passphrase, environmentKey } from "./crypto/key-sources.js";
export type { KeyInput, KeySource, KeyMaterial, KeyOptions } from "./crypto/key-sources.js";
export { keychain, createKeychainKey, KEYCHAIN_SERVICE, KEYCHAIN_ACCOUNT } from "./crypto/keychain.js";
export type { KeychainOptions, KeychainEntryName } from "./crypto/keychain.js";
export { generateKey } from "./crypto/keys.js";
export { configFromEnv, STORE_FILE_ENV, KEY_FILE_ENV, DEFAULT_STORE_FILE, DEFAULT_KEY_FILE } from "./config.js";
export type { EnvConfig } from "./config.js";
export type { TokenRecord, TokenInput, TokenField } from "./tokens/types.js";
export { SECRET_FIELDS, TOKEN_FIELDS } from "./tokens/types.js";
export { redact } from "./tokens/record.js";
export { TokenStoreError, ErrorCodes, ErrorCodeAliases, isTokenStoreError } from "./errors.js";
export type { ErrorCode, ErrorAction } from "./errors.js";
