/**
 * The store file on disk: reading it with its identity, the atomic and durable
 * replacement of it, the kept previous generation, the sweep of what killed writers
 * leave, and the checks of its location.
 */
import * as fs from "node:fs";
import { ioError, TokenStoreError } from "../../errors.js";
import { removeQuietly, syncDirectory, writeTempFile } from "../../fs/private-files.js";
import { ancestorProblems, privateDirectoryProblem, privateFileProblem, refuse, shellQuoted } from "../../fs/permissions.js";
import type { HeadCheck } from "../types.js";
import type { StoreLayout } from "./layout.js";

/** What identifies one version of the file without reading it. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/**
 * Whether the file is still the version a writer read: identity without the ctime,
 * which the writer's own hard link of `.prev` changes. Another writer's replacement is
 * a new inode with a later mtime (replaceFile guarantees that), so it is still seen.
 */
export function sameVersionOrBothMissing(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

function identityOf(stats: fs.BigIntStats): FileIdentity {
  return { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs };
}

/** The file's identity, or undefined when it does not exist. */
function statIdentity(path: string): FileIdentity | undefined {
  const stats = ioCall(path, "stat", () => fs.statSync(path, { bigint: true, throwIfNoEntry: false }));
  if (!stats) return undefined;
  assertStoreFile(path, stats);
  return identityOf(stats);
}

/**
 * Whether the file at `path` is still the version `identity` (one stat, nothing
 * allocated beyond it): the check behind every read of the cached document.
 */
export function isIdentity(path: string, identity: FileIdentity): boolean {
  let stats: fs.BigIntStats | undefined;
  try {
    stats = fs.statSync(path, STAT_OPTIONS);
  } catch (error) {
    throw ioError(path, "stat", error);
  }
  if (!stats) return false;
  assertStoreFile(path, stats);
  return (
    stats.ino === identity.ino &&
    stats.mtimeNs === identity.mtimeNs &&
    stats.size === identity.size &&
    stats.ctimeNs === identity.ctimeNs &&
    stats.dev === identity.dev
  );
}

/** statIdentity, but undefined for a file that is not a usable store file (a directory, wrong mode). */
export function statIdentityOrUndefined(path: string): FileIdentity | undefined {
  try {
    return statIdentity(path);
  } catch (error) {
    if (error instanceof TokenStoreError && error.code !== "IO_ERROR") return undefined;
    throw error;
  }
}

const STAT_OPTIONS = { bigint: true, throwIfNoEntry: false } as const;

/** Up to this many bytes are read in the first read: a small store file is read in one call. */
const FIRST_READ_BYTES = 64 * 1024;

/**
 * Reads the whole file and the identity of exactly what was read, or undefined when
 * missing. With `head`, its first bytes and length are checked before the rest is read.
 */
export function readWithIdentity(path: string, head?: HeadCheck): { bytes: Buffer; identity: FileIdentity } | undefined {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO put at the path is opened (and refused as not a regular file)
    // instead of blocking the process until someone writes to it.
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if ((error as NodeJS.ErrnoException).code === "ELOOP") throw symbolicLink(path);
    throw ioError(path, "open", error);
  }
  try {
    const stats = ioCall(path, "stat", () => fs.fstatSync(fd, { bigint: true }));
    assertStoreFile(path, stats);
    const size = stats.size;
    const first = Buffer.allocUnsafe(Number(size < BigInt(FIRST_READ_BYTES) ? size : BigInt(Math.max(FIRST_READ_BYTES, head?.headBytes ?? 0))));
    let offset = readInto(path, fd, first, 0);
    if (head) head.check(first.subarray(0, Math.min(offset, head.headBytes)), Number(size));
    let bytes = first;
    if (offset === first.length && BigInt(offset) < size) {
      bytes = Buffer.allocUnsafe(Number(size));
      first.copy(bytes, 0, 0, offset);
      offset = readInto(path, fd, bytes, offset);
    }
    return { bytes: offset === bytes.length ? bytes : bytes.subarray(0, offset), identity: identityOf(stats) };
  } finally {
    fs.closeSync(fd);
  }
}

function readInto(path: string, fd: number, buffer: Buffer, from: number): number {
  let offset = from;
  while (offset < buffer.length) {
    const read = ioCall(path, "read", () => fs.readSync(fd, buffer, offset, buffer.length - offset, offset));
    if (read === 0) break;
    offset += read;
  }
  return offset;
}

/** Steps tried to date a new generation after the one it replaces (see replaceFile). */
const MTIME_STEPS_MS = [1, 2, 1000, 2000];

/**
 * Replaces the store file with `parts` so that a crash at any instant leaves either the
 * old or the new file, whole, and the new one survives a power cut once this returns:
 * the bytes go to a new temp file (fs/private-files.ts: created 0600, exclusively, next
 * to the store, written in a loop), which is fsynced and renamed over the store; then the
 * directory is fsynced so the rename itself is durable.
 *
 * Before the rename the current file is hard-linked as `<store>.prev` (no copy), so the
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
  layout: StoreLayout,
  parts: readonly Uint8Array[],
  previous: FileIdentity | undefined,
  keepPrevious: boolean,
  beforeRename: () => void,
): FileIdentity {
  const { path } = layout;
  if (previous && keepPrevious) linkPrevious(layout);
  const temp = writeTempFile(path, parts);
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
    // Read back, and a larger step tried, until it is above: utimes() takes a float of
    // seconds and often stores a microsecond short of the ms asked for (a 1 ms step then
    // lands on the old mtime), and a file system that keeps whole seconds drops the ms.
    for (const stepMs of MTIME_STEPS_MS) {
      if (!previous || stats.mtimeNs > previous.mtimeNs) break;
      const next = new Date(Number(previous.mtimeNs / 1_000_000n) + stepMs);
      fs.utimesSync(path, next, next);
      stats = fs.statSync(path, { bigint: true });
    }
    syncDirectory(layout.directory);
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

function linkPrevious(layout: StoreLayout): void {
  const { path, previous, previousStaging: staging } = layout;
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
  ioCall(path, "rename", () => fs.renameSync(staging, previous));
  // rename() does nothing when both names are links to one file (a writer killed after
  // linking but before replacing the store file leaves .prev already pointing at it).
  // existsSync, not a failing unlink: a thrown error costs more than the system call.
  if (fs.existsSync(staging)) ioCall(path, "unlink", () => fs.unlinkSync(staging));
}

/**
 * Removes what killed writers and lock takeovers left beside the store (see
 * StoreLayout.classify). Called with the lock held, when no writer of this store can be
 * between its temp file and its rename. Returns the names removed.
 */
export function sweepLeftovers(layout: StoreLayout): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync(layout.directory);
  } catch {
    return removed;
  }
  for (const entry of entries) {
    const kind = layout.classify(entry);
    if (kind === undefined || !kind.startsWith("leftover-")) continue;
    try {
      const full = layout.entryPath(entry);
      if (kind === "leftover-lock") fs.rmSync(full, { recursive: true, force: true });
      else fs.unlinkSync(full);
      removed.push(entry);
    } catch {
      // Already gone, or not ours to remove: leave it.
    }
  }
  return removed;
}

/**
 * Checks a store's location before it is used, by the same rules `doctor` applies
 * (maintenance.ts): a name with room for the names beside it; a directory that exists
 * (nothing here creates one: a store whose directory was moved away must not come back
 * as an empty store in a new directory) and passes the permission policy, with every
 * directory above it (fs/permissions.ts); an existing store file and previous generation
 * that are private regular files. Creates nothing.
 */
export function prepareLocation(layout: StoreLayout): void {
  const { path, directory: dir } = layout;
  const nameProblem = layout.nameProblem();
  if (nameProblem) throw new TokenStoreError("INVALID_PATH", nameProblem, { path });
  const dirStats = ioCall(dir, "stat", () => fs.statSync(dir, { throwIfNoEntry: false }));
  if (!dirStats) throw missingDirectory(dir);
  if (!dirStats.isDirectory()) {
    throw new TokenStoreError("INVALID_PATH", `${dir} is not a directory`, { path });
  }
  const dirProblem = privateDirectoryProblem(dir, dirStats);
  if (dirProblem) refuse(dirProblem, "the store's directory");
  const [aboveProblem] = ancestorProblems(dir);
  if (aboveProblem) refuse(aboveProblem, "the directory above the store");
  const stats = ioCall(path, "lstat", () => fs.lstatSync(path, { throwIfNoEntry: false }));
  if (stats?.isSymbolicLink()) throw symbolicLink(path);
  if (stats) assertStoreFile(path, stats);
  const previous = ioCall(layout.previous, "lstat", () => fs.lstatSync(layout.previous, { throwIfNoEntry: false }));
  if (previous?.isSymbolicLink()) throw symbolicLink(layout.previous);
  if (previous) assertStoreFile(layout.previous, previous, "the previous generation");
}

/** INVALID_PATH for a store whose directory does not exist: `open` never creates one. */
export function missingDirectory(dir: string): TokenStoreError {
  return new TokenStoreError(
    "INVALID_PATH",
    `the store's directory ${dir} does not exist (a store is never created in a directory that is not there, so that one moved away is not replaced by an empty one)`,
    { path: dir, advice: `check the path, or create the directory for a new store: mkdir -m 700 ${shellQuoted(dir)}` },
  );
}

function assertStoreFile(path: string, stats: fs.Stats | fs.BigIntStats, what = "the store file"): void {
  if (!stats.isFile()) {
    throw new TokenStoreError("INVALID_PATH", `${path} exists but is not a regular file`, { path });
  }
  const problem = privateFileProblem(path, stats);
  if (problem) refuse(problem, what);
}

function symbolicLink(path: string): TokenStoreError {
  return new TokenStoreError("INVALID_PATH", `${path} is a symbolic link; point the store at the real file`, { path });
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

/**
 * The first `headBytes` bytes of the file at `path` and its length, without following a
 * symbolic link or blocking on a FIFO; undefined when it does not exist. Throws
 * INVALID_PATH for what is not a regular file.
 */
export function peekFile(path: string, headBytes: number): { head: Uint8Array; length: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if ((error as NodeJS.ErrnoException).code === "ELOOP") throw symbolicLink(path);
    throw ioError(path, "open", error);
  }
  try {
    const stats = ioCall(path, "stat", () => fs.fstatSync(fd));
    if (!stats.isFile()) throw new TokenStoreError("INVALID_PATH", `${path} is not a regular file`, { location: path });
    const head = Buffer.alloc(headBytes);
    const read = ioCall(path, "read", () => fs.readSync(fd, head, 0, headBytes, 0));
    return { head: head.subarray(0, read), length: stats.size };
  } finally {
    fs.closeSync(fd);
  }
}
