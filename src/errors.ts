/**
 * The one error class of the package. Every failure has a stable `code`; the
 * underlying OS error, when there is one, is kept as `cause`.
 *
 * An error says what happened in `reason`, and what to do about it as a structured
 * `action` that each face of the package words itself: the library's `message` is the
 * reason plus advice for a program (`recover()`), the command-line tool prints the
 * reason plus advice for a person (`zoho-encrypted-filestore recover`). No message
 * names the command-line tool, and nothing rewrites another layer's message.
 *
 * Messages are written by this package only and never include a token, a client
 * secret, a key or a passphrase. Errors from parsers or ciphers that could echo the
 * data they saw are never attached as `cause`.
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
  /**
   * The lock was lost while writing, again and again; the write was not applied. Also
   * matches {@link ErrorCodes.WRITE_CONFLICT} in {@link isTokenStoreError}, the code a
   * store changed under a write had before it had its own.
   */
  LOCK_COMPROMISED: "LOCK_COMPROMISED",
  /** The store changed between its read and the compare-and-set write, again and again; the write was not applied. */
  WRITE_CONFLICT: "WRITE_CONFLICT",
  /** A storage server could not be reached in time, or the connection broke mid-call; see `cause` and the message for whether anything was written. */
  UNAVAILABLE: "UNAVAILABLE",
  /** The store (or its backend) was closed; open it again. */
  CLOSED: "CLOSED",
  /** The store file, its previous generation, its directory (or one above it) or a key file can be read or changed by other users. */
  INSECURE_PERMISSIONS: "INSECURE_PERMISSIONS",
  /** The store path is unusable: its directory missing, a directory, a symlink, a name too long, or not a path at all. */
  INVALID_PATH: "INVALID_PATH",
  /** An option is missing, of the wrong type, or conflicts with another. */
  INVALID_OPTION: "INVALID_OPTION",
  /** No usable OS keychain: none on this system, no D-Bus session, locked, a dismissed prompt, no answer in time. */
  KEYCHAIN_UNAVAILABLE: "KEYCHAIN_UNAVAILABLE",
  /** The OS keychain holds no entry of the given name. */
  KEYCHAIN_NO_ENTRY: "KEYCHAIN_NO_ENTRY",
  /** The keychain entry holds something other than a key of this package; it is neither used nor changed. */
  KEYCHAIN_BAD_ENTRY: "KEYCHAIN_BAD_ENTRY",
  /** A new key was to be created in a keychain entry that already exists; nothing was changed. */
  KEYCHAIN_ENTRY_EXISTS: "KEYCHAIN_ENTRY_EXISTS",
  /** A token record given to the store is malformed. */
  INVALID_TOKEN: "INVALID_TOKEN",
  /** A change would take the store past what it can write and read back (id counter, file size). */
  LIMIT_EXCEEDED: "LIMIT_EXCEEDED",
  /** No record has the given id (only from operations that require one to exist). */
  NOT_FOUND: "NOT_FOUND",
  /** The operating system refused a read or write (disk full, I/O error, ...); see `cause`. */
  IO_ERROR: "IO_ERROR",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * Older codes that newer, finer ones were split from: `isTokenStoreError(error, old)` is
 * true for the newer codes too, so a program that matched the old code keeps working.
 */
export const ErrorCodeAliases: Readonly<Partial<Record<ErrorCode, readonly ErrorCode[]>>> = {
  LOCK_COMPROMISED: ["WRITE_CONFLICT"],
};

/**
 * What to do about an error, as data: the library and the command-line tool each say
 * it in their own words.
 * - `recover`: restore the previous generation (`recover()`).
 * - `use-store-key`: give the key or passphrase the store is sealed with.
 * - `restrict-permissions`: take access away from other users (the advice names the `chmod`).
 * - `clear-stale-lock`: a lock is held by a writer that is gone or stuck.
 * - `retry`: the operation can simply be tried again.
 * - `upgrade`: a newer version of the package reads this file.
 * - `other-key-source`: no keychain can be used here: give the key as a key file or a passphrase.
 * - `create-keychain-key`: the keychain entry does not exist yet: create a key in it first.
 * - `create-key`: the key file does not exist yet: make one (`generateKey()`, or the
 *   command-line tool's `keygen --out`).
 */
export type ErrorAction =
  | "recover"
  | "use-store-key"
  | "restrict-permissions"
  | "clear-stale-lock"
  | "retry"
  | "upgrade"
  | "other-key-source"
  | "create-keychain-key"
  | "create-key";

export interface TokenStoreErrorOptions {
  /** The OS-level error that caused this one. Must never carry secret data. */
  cause?: unknown;
  /** Where the error is about, safe to print: a file path (the store, its directory, a key file), or a server URL without its password. */
  location?: string;
  /** @deprecated The same as `location`. */
  path?: string;
  /** What to do about it. */
  action?: ErrorAction;
  /** The action in the library's words, appended to `reason` to make `message`. */
  advice?: string;
}

/** The error thrown by every operation of this package. */
export class TokenStoreError extends Error {
  override name = "TokenStoreError";
  /** Stable, machine-readable failure code. */
  readonly code: ErrorCode;
  /** What happened, without advice. */
  readonly reason: string;
  /** What to do about it, when there is something to do. */
  readonly action: ErrorAction | undefined;
  /** Where the error is about (a file path, or a server URL without its password), when there is such a place. */
  readonly location: string | undefined;
  /** @deprecated The same as {@link location}. */
  readonly path: string | undefined;

  constructor(code: ErrorCode, reason: string, options: TokenStoreErrorOptions = {}) {
    super(options.advice ? `${reason}; ${options.advice}` : reason, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = reason;
    this.action = options.action;
    this.location = options.location ?? options.path;
    this.path = this.location;
  }
}

/**
 * True when `error` is a {@link TokenStoreError}, optionally with the given code or a code
 * split from it ({@link ErrorCodeAliases}: `LOCK_COMPROMISED` also matches `WRITE_CONFLICT`).
 */
export function isTokenStoreError(error: unknown, code?: ErrorCode): error is TokenStoreError {
  if (!(error instanceof TokenStoreError)) return false;
  return code === undefined || error.code === code || (ErrorCodeAliases[code]?.includes(error.code) ?? false);
}

/** A short, secret-free description of a value's type for error messages. */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return typeof value;
}

/** The OS error code of a failure (`ENOENT`, ...), or "error". */
export function errnoOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" ? code : "error";
}

/** An IO_ERROR for a failed system call on `path`, saying nothing was changed. */
export function ioError(path: string, operation: string, error: unknown, what = "the store file was not changed"): TokenStoreError {
  const code = errnoOf(error);
  const hint =
    code === "ENOSPC" ? " (disk full)" : code === "EACCES" || code === "EPERM" ? " (permission denied)" : code === "EROFS" ? " (read-only file system)" : "";
  return new TokenStoreError("IO_ERROR", `${operation} failed for ${path}: ${code}${hint}; ${what}`, { path, cause: error });
}
