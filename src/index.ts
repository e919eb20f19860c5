export { EncryptedFileStore, KEY_ENV } from "./store/store.js";
export type { EncryptedFileStoreOptions, StoreStatus } from "./store/store.js";
export type { KeyInput } from "./crypto/keyring.js";
export type { TokenRecord, TokenInput, TokenField } from "./store/types.js";
export { TOKEN_FIELDS } from "./store/types.js";
export { redact } from "./store/record.js";
export { generateKey } from "./crypto/keys.js";
export { TokenStoreError, ErrorCodes, isTokenStoreError } from "./errors.js";
export type { ErrorCode } from "./errors.js";
