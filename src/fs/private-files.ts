/**
 * The one writer of files. Every file the package writes (the store, an export, a key
 * file, a refresh lease) is written here, whole or not at all:
 *
 * - the bytes go to a new temp file beside the destination, created exclusively with
 *   mode 0600 (never following a symbolic link), named at random so that no other file
 *   is ever opened or removed by mistake;
 * - they are written in a loop until every byte is in: write(2) may write fewer bytes
 *   than asked without failing (a nearly full disk does exactly that), and a short file
 *   put in place would be a damaged one;
 * - the temp file is fsynced and closed, then renamed over the destination (replace) or
 *   hard-linked to it (create: fails when it exists, never replaces), and the directory
 *   is fsynced so that the new name survives a power cut;
 * - on any failure the temp file is removed, and only the temp file this call created.
 *
 * A full disk is an `IO_ERROR` whose cause has code `ENOSPC`.
 *
 * Also here: bounded reads of files given by a user (key files, CSV files), so that a huge
 * file given by mistake is refused instead of filling memory.
 */
import * as fs from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import { errnoOf, ioError, TokenStoreError } from "../errors.js";

/** What to write: text (UTF-8), bytes, or several byte buffers one after the other. */
export type Content = string | Uint8Array | readonly Uint8Array[];

/** A fresh temp file name for a write to `target`: `<target>.<pid>-<12 hex digits>.tmp`. */
export function tempNameFor(target: string): string {
  return `${target}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
}

/** Whether `suffix` (what follows a target's name) is the suffix of one of its temp files. */
export function isTempSuffix(suffix: string): boolean {
  return /^\.\d+-[0-9a-f]{12}\.tmp$/.test(suffix);
}

interface WriteOptions {
  /** fsync the file (and, for writePrivateFile, the directory). Default true. */
  durable?: boolean;
  /** The path errors name. Default: the destination. */
  reportAs?: string;
  /** What an error says was left unchanged. */
  unchanged?: string;
  /**
   * The temp file's name (from tempNameFor), for a caller that records it before the
   * file exists; created exclusively all the same. Default: a fresh one.
   */
  temp?: string;
}

/**
 * Writes `content` to a new temp file for `target` (created exclusively, 0600), in a
 * loop, fsynced unless `durable` is false, and closed. Returns the temp file's path.
 * On any failure the temp file is removed and an IO_ERROR thrown.
 */
export function writeTempFile(target: string, content: Content, options: WriteOptions = {}): string {
  const { durable = true, reportAs = target, unchanged } = options;
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW ?? 0);
  let temp = "";
  let fd: number | undefined;
  for (let attempt = 0; fd === undefined; attempt++) {
    temp = options.temp ?? tempNameFor(target);
    try {
      fd = fs.openSync(temp, flags, 0o600);
    } catch (error) {
      if (errnoOf(error) === "EEXIST" && attempt < 5 && options.temp === undefined) continue;
      throw ioError(reportAs, "create temp file", error, unchanged);
    }
  }
  let operation = "write";
  try {
    const parts = typeof content === "string" ? [Buffer.from(content, "utf8")] : content instanceof Uint8Array ? [content] : content;
    for (const part of parts) {
      let offset = 0;
      while (offset < part.length) {
        const written = fs.writeSync(fd, part, offset, part.length - offset);
        if (written <= 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
        offset += written;
      }
    }
    if (durable) {
      operation = "fsync";
      fs.fsyncSync(fd);
    }
  } catch (error) {
    closeQuietly(fd);
    removeQuietly(temp);
    throw ioError(reportAs, operation, error, unchanged);
  }
  try {
    fs.closeSync(fd);
  } catch (error) {
    removeQuietly(temp);
    throw ioError(reportAs, "close", error, unchanged);
  }
  return temp;
}

/**
 * Writes `path` whole or not at all (see the top of this file). With `replace` an
 * existing file is replaced atomically; without it an existing file is never touched
 * and the call returns false. Returns true once the file is in place.
 */
export function writePrivateFile(path: string, content: Content, options: WriteOptions & { replace: boolean }): boolean {
  const { replace, durable = true } = options;
  const unchanged = options.unchanged ?? "nothing was written";
  const temp = writeTempFile(path, content, {
    durable,
    reportAs: options.reportAs ?? path,
    unchanged,
    ...(options.temp === undefined ? {} : { temp: options.temp }),
  });
  try {
    if (replace) {
      fs.renameSync(temp, path);
    } else {
      try {
        // A hard link never replaces an existing name: the create is atomic and exclusive.
        fs.linkSync(temp, path);
      } catch (error) {
        if (errnoOf(error) === "EEXIST") return false;
        throw error;
      } finally {
        removeQuietly(temp);
      }
    }
  } catch (error) {
    removeQuietly(temp);
    throw ioError(options.reportAs ?? path, replace ? "rename" : "link", error, unchanged);
  }
  if (durable) syncDirectory(dirname(path));
  return true;
}

/** fsyncs a directory, so that a rename or link in it survives a power cut. */
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
 * Reads a file (or a pipe) whole, refusing one larger than `maxBytes` without reading
 * past that. `what` names it in messages ("key file ./zoho.key").
 */
export function readBounded(path: string, maxBytes: number, what: string): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY);
  } catch (error) {
    const code = errnoOf(error);
    throw new TokenStoreError("IO_ERROR", `cannot read ${what}: ${code}${code === "ENOENT" ? " (no such file)" : ""}`, { path, cause: error });
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const read = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      total += read;
      if (total > maxBytes) {
        throw new TokenStoreError("INVALID_OPTION", `${what} holds more than the ${maxBytes} bytes such a file can hold; is it the right file?`, { path });
      }
      chunks.push(chunk.subarray(0, read));
    }
    return Buffer.concat(chunks, total);
  } catch (error) {
    if (error instanceof TokenStoreError) throw error;
    throw new TokenStoreError("IO_ERROR", `cannot read ${what}: ${errnoOf(error)}`, { path, cause: error });
  } finally {
    fs.closeSync(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already failing; the first error is the one reported.
  }
}

export function removeQuietly(path: string): void {
  try {
    fs.unlinkSync(path);
  } catch {
    // Gone already; or left, to be swept by a later write.
  }
}
