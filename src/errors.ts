/**
 * The one error class of the package. Every failure has a stable `code`; the
 * underlying OS error, when there is one, is kept as `cause`.
 *
 * Messages are written by this module only and never include a token, a client
 * secret, a key or a passphrase. Errors from parsers or ciphers that could echo
 * the data they saw are never attached as `cause`.
 */

export const ErrorCodes = {
  /** The file was sealed with a key this store was not given. */
  WRONG_KEY: "WRONG_KEY",
  /** The file is not a whole, authentic store file (any byte changed, truncated, empty, ...). */
  DAMAGED_FILE: "DAMAGED_FILE",
  /** The file was written by a newer format version than this package reads. */
  UNSUPPORTED_VERSION: "UNSUPPORTED_VERSION",
  /** The file holds an older generation than this process has already seen (rolled back). */
  ROLLBACK_DETECTED: "ROLLBACK_DETECTED",
  /** The store file is gone although the store existed (previous generation present, or seen before). */
  FILE_MISSING: "FILE_MISSING",
  /** The cross-process lock could not be taken in time. */
  LOCK_TIMEOUT: "LOCK_TIMEOUT",
  /** The lock was lost or the file changed under us while writing; the write was not applied. */
  LOCK_COMPROMISED: "LOCK_COMPROMISED",
  /** The store file, its directory or a key file can be read or changed by other users. */
  INSECURE_PERMISSIONS: "INSECURE_PERMISSIONS",
  /** The store path is unusable: a directory, a symlink, or not a path at all. */
  INVALID_PATH: "INVALID_PATH",
  /** An option is missing, of the wrong type, or conflicts with another. */
  INVALID_OPTION: "INVALID_OPTION",
  /** A token record given to the store is malformed. */
  INVALID_TOKEN: "INVALID_TOKEN",
  /** No record has the given id (only from operations that require one to exist). */
  NOT_FOUND: "NOT_FOUND",
  /** The operating system refused a read or write (disk full, I/O error, ...); see `cause`. */
  IO_ERROR: "IO_ERROR",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface TokenStoreErrorOptions {
  /** The OS-level error that caused this one. Must never carry secret data. */
  cause?: unknown;
  /** The store file the error is about. */
  path?: string;
}

/** The error thrown by every operation of this package. */
export class TokenStoreError extends Error {
  override name = "TokenStoreError";
  /** Stable, machine-readable failure code. */
  readonly code: ErrorCode;
  /** The store or key file concerned, when there is one. */
  readonly path: string | undefined;

  constructor(code: ErrorCode, message: string, options: TokenStoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path;
  }
}

/** True when `error` is a {@link TokenStoreError}, optionally with the given code. */
export function isTokenStoreError(error: unknown, code?: ErrorCode): error is TokenStoreError {
  return error instanceof TokenStoreError && (code === undefined || error.code === code);
}
