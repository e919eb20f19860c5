/**
 * Bytes on disk: reading the store file with its identity, the atomic and durable
 * replacement of it, the kept previous generation, and permission checks.
 */
import * as fs from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname } from "node:path";
import { TokenStoreError } from "../errors.js";

/** What identifies one version of the file without reading it. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export function sameIdentity(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  return (
    a !== undefined &&
    b !== undefined &&
    a.ino === b.ino &&
    a.mtimeNs === b.mtimeNs &&
    a.size === b.size &&
    a.ctimeNs === b.ctimeNs &&
    a.dev === b.dev
  );
}

function identityOf(stats: fs.BigIntStats): FileIdentity {
  return { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs };
}

/** The file's identity, or undefined when it does not exist. */
export function statIdentity(path: string): FileIdentity | undefined {
  const stats = ioCall(path, "stat", () => fs.statSync(path, { bigint: true, throwIfNoEntry: false }));
  if (!stats) return undefined;
  assertStoreFile(path, stats);
  return identityOf(stats);
}

/** Reads the whole file and the identity of exactly what was read, or undefined when missing. */
export function readWithIdentity(path: string): { bytes: Buffer; identity: FileIdentity } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if ((error as NodeJS.ErrnoException).code === "ELOOP") {
      throw new TokenStoreError("INVALID_PATH", `${path} is a symbolic link; point the store at the real file`, { path });
    }
    throw ioError(path, "open", error);
  }
  try {
    const stats = ioCall(path, "stat", () => fs.fstatSync(fd, { bigint: true }));
    assertStoreFile(path, stats);
    const bytes = Buffer.allocUnsafe(Number(stats.size));
    let offset = 0;
    while (offset < bytes.length) {
      const read = ioCall(path, "read", () => fs.readSync(fd, bytes, offset, bytes.length - offset, offset));
      if (read === 0) break;
      offset += read;
    }
    return { bytes: offset === bytes.length ? bytes : bytes.subarray(0, offset), identity: identityOf(stats) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Replaces `path` with `bytes` so that a crash at any instant leaves either the old or
 * the new file, whole, and the new one survives a power cut once this returns: the
 * bytes go to a new temp file (created 0600, exclusively, next to `path`), which is
 * fsynced and renamed over `path`; then the directory is fsynced so the rename itself
 * is durable.
 *
 * The temp file is written by a loop until every byte is in: write(2) may write fewer
 * bytes than asked without failing (a nearly full disk does exactly that), and a
 * short temp file renamed into place would be a damaged store.
 *
 * Before the rename the current file is hard-linked as `<path>.prev` (no copy), so the
 * previous generation stays on disk for an explicit recovery.
 *
 * `beforeRename` runs once the temp file is durable, just before the rename; if it
 * throws, the temp file is removed and nothing is replaced.
 *
 * The new file's mtime is set strictly above the old one's, so that (device, inode,
 * size, mtime) never repeats for this path even when the file system's clock is
 * coarse and an inode number is reused: readers rely on that to revalidate caches.
 *
 * This runs synchronously inside the lock: the whole sequence is a handful of system
 * calls plus one fsync of the file and one of the directory, and doing it without
 * thread-pool round trips keeps the critical section short.
 */
export function replaceFile(
  path: string,
  bytes: Uint8Array | readonly Uint8Array[],
  previous: FileIdentity | undefined,
  keepPrevious: boolean,
  beforeRename: () => void = () => undefined,
): FileIdentity {
  if (previous && keepPrevious) linkPrevious(path);
  const temp = writeTempFile(path, bytes);
  try {
    // Last check by the caller (is the file still the one it read?), as late as it can
    // be: after the slow part (fsync), with nothing but the rename left to do.
    beforeRename();
  } catch (error) {
    removeQuietly(temp);
    throw error;
  }
  try {
    fs.renameSync(temp, path);
  } catch (error) {
    removeQuietly(temp);
    throw ioError(path, "rename", error);
  }
  // From here the new generation is in place: a failure can no longer be reported as
  // "not changed".
  try {
    let stats = fs.statSync(path, { bigint: true });
    if (previous && stats.mtimeNs <= previous.mtimeNs) {
      const next = new Date(Number(previous.mtimeNs / 1_000_000n) + 1);
      fs.utimesSync(path, next, next);
      stats = fs.statSync(path, { bigint: true });
    }
    syncDirectory(dirname(path));
    return identityOf(stats);
  } catch (error) {
    const cause = error instanceof TokenStoreError && error.cause !== undefined ? error.cause : error;
    const code = (cause as NodeJS.ErrnoException)?.code ?? "error";
    throw new TokenStoreError(
      "IO_ERROR",
      `${path} was replaced by the new generation, but finishing the write failed (${code}): the change may not survive a power cut; read the store again to see what it holds`,
      { path, cause },
    );
  }
}

/**
 * Writes `bytes` (one buffer, or several one after the other) to a new temp file
 * `<path>.<pid>-<12 hex digits>.tmp` (the name sweepLeftovers removes after a crash),
 * fsynced and closed. Removes it again on any failure.
 */
function writeTempFile(path: string, bytes: Uint8Array | readonly Uint8Array[]): string {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW ?? 0);
  let temp = "";
  let fd: number | undefined;
  for (let attempt = 0; fd === undefined; attempt++) {
    temp = `${path}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
    try {
      fd = fs.openSync(temp, flags, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST" && attempt < 5) continue;
      throw ioError(path, "create temp file", error);
    }
  }
  let operation = "write";
  try {
    for (const part of bytes instanceof Uint8Array ? [bytes] : bytes) {
      let offset = 0;
      while (offset < part.length) {
        const written = fs.writeSync(fd, part, offset, part.length - offset);
        if (written <= 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
        offset += written;
      }
    }
    operation = "fsync";
    fs.fsyncSync(fd);
  } catch (error) {
    closeQuietly(fd);
    removeQuietly(temp);
    throw ioError(path, operation, error);
  }
  try {
    fs.closeSync(fd);
  } catch (error) {
    removeQuietly(temp);
    throw ioError(path, "close", error);
  }
  return temp;
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already failing; the first error is the one reported.
  }
}

function removeQuietly(path: string): void {
  try {
    fs.unlinkSync(path);
  } catch {
    // Gone already; or left, to be swept by a later store's first write.
  }
}

export function previousPath(path: string): string {
  return `${path}.prev`;
}

function linkPrevious(path: string): void {
  const prev = previousPath(path);
  const staging = `${prev}.new`;
  ioCall(path, "link", () => {
    try {
      fs.linkSync(path, staging);
    } catch (error) {
      // Left by a writer killed mid-way, and not swept (the sweep runs only when a dead
      // writer can be told from its lock).
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      fs.unlinkSync(staging);
      fs.linkSync(path, staging);
    }
  });
  ioCall(path, "rename", () => fs.renameSync(staging, prev));
  // rename() does nothing when both names are links to one file (a writer killed after
  // linking but before replacing the store file leaves .prev already pointing at it).
  // existsSync, not a failing unlink: a thrown error costs more than the system call.
  if (fs.existsSync(staging)) ioCall(path, "unlink", () => fs.unlinkSync(staging));
}

/**
 * Whether `entry`, a name in the store's directory, is something a writer of the store
 * file named `name` leaves behind when killed: its temp file
 * (`<name>.<pid>-<12 hex digits>.tmp`) or a half-made `<name>.prev.new`. The pattern is
 * narrow on purpose: other files that merely start with the store's name (another store
 * `tokens.enc.2`, a backup `tokens.enc.1`) are never touched.
 */
export function isLeftover(name: string, entry: string): boolean {
  if (!entry.startsWith(name)) return false;
  const rest = entry.slice(name.length);
  return /^\.\d+-[0-9a-f]{12}\.tmp$/.test(rest) || rest === ".prev.new";
}

/**
 * Removes what writers killed mid-write left behind (see {@link isLeftover}). Called
 * with the lock held, when no writer of this store can be between its temp file and its
 * rename.
 */
export function sweepLeftovers(path: string): string[] {
  const dir = dirname(path);
  const name = basename(path);
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const entry of entries) {
    if (!isLeftover(name, entry)) continue;
    try {
      fs.unlinkSync(`${dir}/${entry}`);
      removed.push(entry);
    } catch {
      // Already gone, or not ours to remove: leave it.
    }
  }
  return removed;
}

export function syncDirectory(dir: string): void {
  if (process.platform === "win32") return;
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY);
    fs.fsyncSync(fd);
  } catch (error) {
    throw ioError(dir, "fsync directory", error);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Makes sure the store's directory exists (creating it 0700) and is not writable by
 * every user, and that an existing store file is a regular file only its owner can use.
 */
export function prepareLocation(path: string): void {
  const dir = dirname(path);
  let dirStats = ioCall(dir, "stat", () => fs.statSync(dir, { throwIfNoEntry: false }));
  if (!dirStats) {
    ioCall(dir, "mkdir", () => fs.mkdirSync(dir, { recursive: true, mode: 0o700 }));
    dirStats = fs.statSync(dir);
  }
  if (!dirStats.isDirectory()) {
    throw new TokenStoreError("INVALID_PATH", `${dir} is not a directory`, { path });
  }
  if (process.platform !== "win32" && (dirStats.mode & 0o002) !== 0) {
    throw new TokenStoreError(
      "INSECURE_PERMISSIONS",
      `${dir} is writable by every user, who could replace or lock the store file; keep the store in a directory of your own (mode 700)`,
      { path },
    );
  }
  const stats = ioCall(path, "stat", () => fs.lstatSync(path, { throwIfNoEntry: false }));
  if (stats?.isSymbolicLink()) {
    throw new TokenStoreError("INVALID_PATH", `${path} is a symbolic link; point the store at the real file`, { path });
  }
  if (stats) assertStoreFile(path, stats);
}

function assertStoreFile(path: string, stats: fs.Stats | fs.BigIntStats): void {
  if (!stats.isFile()) {
    throw new TokenStoreError("INVALID_PATH", `${path} exists but is not a regular file`, { path });
  }
  if (process.platform !== "win32" && (Number(stats.mode) & 0o077) !== 0) {
    throw new TokenStoreError(
      "INSECURE_PERMISSIONS",
      `${path} can be accessed by other users (mode ${(Number(stats.mode) & 0o777).toString(8)}); run: chmod 600 '${path}'`,
      { path },
    );
  }
}

export function fileExists(path: string): boolean {
  return fs.existsSync(path);
}

function ioCall<T>(path: string, operation: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof TokenStoreError) throw error;
    throw ioError(path, operation, error);
  }
}

export function ioError(path: string, operation: string, error: unknown): TokenStoreError {
  const code = (error as NodeJS.ErrnoException)?.code ?? "error";
  const hint =
    code === "ENOSPC" ? " (disk full)" : code === "EACCES" || code === "EPERM" ? " (permission denied)" : code === "EROFS" ? " (read-only file system)" : "";
  return new TokenStoreError("IO_ERROR", `${operation} failed for ${path}: ${code}${hint}; the store file was not changed`, {
    path,
    cause: error,
  });
}
