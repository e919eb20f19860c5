/**
 * The maintenance API of the file backend, for tools: what is beside a store file and in
 * what state, checked without the key (FileBackend.inspect runs it), the repairs that are
 * safe to make, and which of a store's own files a path is (so a tool never writes over
 * one).
 *
 * Checks speak in the library's words and carry an `action` where there is something to
 * do; a tool words the advice itself. Repairs use the same permission policy as `open`
 * (fs/permissions.ts) and clear only what is wrong.
 */
import * as fs from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { errnoOf, isTokenStoreError } from "../../errors.js";
import { ancestorProblems, privateDirectoryProblem, privateFileProblem, type PermissionProblem } from "../../fs/permissions.js";
import { isTempSuffix, readBounded, removeQuietly, tempNameFor, writePrivateFile, type Content } from "../../fs/private-files.js";
import type { Check, InspectOptions } from "../types.js";
import { StoreLayout, type EntryKind } from "./layout.js";
import { datedInFuture, FileLock, removeStale } from "./lock.js";
import { DEFAULT_STALE_MS } from "./options.js";
import { missingDirectory, peekFile, sweepLeftovers } from "./store-file.js";

export { DEFAULT_STALE_MS };

export interface CheckOptions {
  /** A key file to check too (its permissions). */
  keyFile?: string;
  /** A lock older than this is stale. Default {@link DEFAULT_STALE_MS}. */
  staleMs?: number;
  /** Repair what is safe to repair. */
  fix?: boolean;
  /** Describes the store file from its first bytes (see InspectOptions.describe). */
  describe?: InspectOptions["describe"];
}

/**
 * Checks a store's files without its key, by the rules `open` applies: the directory and
 * every directory above it, the store file, the previous generation, a key file, the
 * lock, leftovers of interrupted writes, plaintext left by interrupted exports, refresh
 * leases. With `fix`, repairs what is safe: permissions of the store's own files and
 * directory (only the wrong bits; directories above it are shared, their repair is only
 * named), a stale or future-dated lock no live writer keeps fresh, leftovers and
 * interrupted exports' plaintext (removed under the lock).
 */
export async function checkStore(path: string, options: CheckOptions = {}): Promise<Check[]> {
  const layout = new StoreLayout(resolve(path));
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const fix = options.fix === true;
  const describe = options.describe;
  const checks: Check[] = [checkDirectory(layout, fix), checkAbove(layout), checkStoreFile(layout, fix, describe), checkPrevious(layout, fix, describe)];
  if (options.keyFile !== undefined) checks.push(checkKeyFile(resolve(options.keyFile), fix));
  checks.push(await checkLock(layout, staleMs, fix));
  checks.push(await checkLeftovers(layout, staleMs, fix));
  checks.push(await checkExports(layout, staleMs, fix));
  checks.push(checkLeases(layout));
  return checks;
}

function lstat(path: string): fs.Stats | undefined {
  return fs.lstatSync(path, { throwIfNoEntry: false });
}

function mode(stats: fs.Stats): string {
  return (stats.mode & 0o7777).toString(8);
}

/** A permission problem as a check, repaired with `fix` when a chmod can. */
function permissionCheck(check: Check["check"], problem: PermissionProblem | undefined, stats: fs.Stats, fix: boolean, detail: string): Check {
  if (!problem) return { check, status: "ok", message: `mode ${mode(stats)}${detail}` };
  const message = `${problem.path} ${problem.reason}${detail}`;
  if (problem.repairMode === undefined) return { check, status: "problem", message: `${message}; ${problem.fix}` };
  if (!fix) return { check, status: "problem", message, fix: problem.fix };
  try {
    fs.chmodSync(problem.path, problem.repairMode);
  } catch (error) {
    return { check, status: "problem", message: `${message}; chmod failed (${errnoOf(error)})`, fix: problem.fix };
  }
  return { check, status: "fixed", message: `${problem.path}: mode ${mode(stats)} -> ${(problem.repairMode & 0o7777).toString(8)}${detail}` };
}

function checkDirectory(layout: StoreLayout, fix: boolean): Check {
  const dir = layout.directory;
  const stats = fs.statSync(dir, { throwIfNoEntry: false });
  if (!stats) return { check: "directory", status: "problem", message: missingDirectory(dir).message };
  if (!stats.isDirectory()) return { check: "directory", status: "problem", message: `${dir} is not a directory` };
  const result = permissionCheck("directory", privateDirectoryProblem(dir, stats), stats, fix, "");
  if (result.status === "ok") {
    const listable = (stats.mode & 0o055) !== 0;
    return { ...result, message: `${dir}: mode ${mode(stats)}${listable ? " (others may list file names, not read the store)" : ""}` };
  }
  return result;
}

/** The directories above the store's, as `open` checks them; never changed here (they are shared). */
function checkAbove(layout: StoreLayout): Check {
  const check = "parent directories";
  let problems: PermissionProblem[];
  try {
    problems = ancestorProblems(layout.directory);
  } catch (error) {
    return { check, status: "problem", message: (error as Error).message };
  }
  if (problems.length === 0) return { check, status: "ok", message: "owned by you or root, changeable by no one else (or sticky)" };
  return { check, status: "problem", message: problems.map((problem) => `${problem.path} ${problem.reason}; ${problem.fix}`).join("; ") };
}

/** ", format 1, generation 7, raw key" (what `describe` says), or why the header cannot be read. */
function headerText(path: string, describe: CheckOptions["describe"]): { ok: boolean; text: string } {
  if (!describe) return { ok: true, text: "" };
  try {
    const peek = peekFile(path, describe.headBytes);
    return peek ? { ok: true, text: `, ${describe.describe(peek.head, peek.length)}` } : { ok: false, text: "" };
  } catch (error) {
    if (isTokenStoreError(error, "UNSUPPORTED_VERSION")) return { ok: false, text: "; written by a newer version of this package" };
    if (isTokenStoreError(error)) return { ok: false, text: "; its header is damaged" };
    return { ok: false, text: `; cannot read it (${errnoOf(error)})` };
  }
}

function checkStoreFile(layout: StoreLayout, fix: boolean, describe: CheckOptions["describe"]): Check {
  const { path } = layout;
  const nameProblem = layout.nameProblem();
  if (nameProblem) return { check: "store file", status: "problem", message: `${path}: ${nameProblem}` };
  const stats = lstat(path);
  if (!stats) {
    return fs.existsSync(layout.previous)
      ? { check: "store file", status: "problem", message: `${path} is missing but its previous generation is kept`, action: "recover" }
      : { check: "store file", status: "problem", message: `${path} does not exist` };
  }
  if (stats.isSymbolicLink()) return { check: "store file", status: "problem", message: `${path} is a symbolic link; point the store at the real file` };
  if (!stats.isFile()) return { check: "store file", status: "problem", message: `${path} is not a regular file` };
  const header = headerText(path, describe);
  const result = permissionCheck("store file", privateFileProblem(path, stats), stats, fix, header.text);
  if (result.status === "ok") result.message = `${path}: ${result.message}`;
  if (!header.ok && result.status !== "problem") return { ...result, status: "problem", action: "recover" };
  return result;
}

function checkPrevious(layout: StoreLayout, fix: boolean, describe: CheckOptions["describe"]): Check {
  const prev = layout.previous;
  const stats = lstat(prev);
  if (!stats) return { check: "previous generation", status: "info", message: `none kept (${prev} does not exist); it appears after the next write` };
  if (!stats.isFile())
    return {
      check: "previous generation",
      status: "problem",
      message: `${prev} is not a regular file; writes cannot keep the previous generation`,
      fix: `rm -r '${prev}'`,
    };
  const header = headerText(prev, describe);
  const result = permissionCheck("previous generation", privateFileProblem(prev, stats), stats, fix, header.text);
  if (result.status === "ok") return { ...result, status: header.ok ? "info" : "warn", message: `${prev}: ${result.message}` };
  return result;
}

/** The permissions of a key file (a regular file only its owner can read), repaired with `fix`. */
export function checkKeyFile(path: string, fix: boolean): Check {
  const stats = lstat(path);
  if (!stats) return { check: "key file", status: "problem", message: `${path} does not exist` };
  const target = stats.isSymbolicLink() ? fs.statSync(path, { throwIfNoEntry: false }) : stats;
  if (!target) return { check: "key file", status: "problem", message: `${path} does not exist (dangling symbolic link)` };
  if (!target.isFile()) return { check: "key file", status: "problem", message: `${path} is not a regular file` };
  const result = permissionCheck("key file", privateFileProblem(path, target), target, fix, "");
  if (result.status === "ok") {
    // The directories above are shared: reported, never changed (as above the store).
    let above: PermissionProblem[];
    try {
      above = ancestorProblems(path, "the key file");
    } catch (error) {
      return { check: "key file", status: "problem", message: (error as Error).message };
    }
    if (above.length > 0) {
      return { check: "key file", status: "problem", message: above.map((problem) => `${problem.path} ${problem.reason}; ${problem.fix}`).join("; ") };
    }
    result.message = `${path}: ${result.message}`;
  }
  return result;
}

/** How long a lock in the future is watched before it counts as kept by no live writer. */
function watchMs(staleMs: number): number {
  // A live holder touches its lock every max(1000, staleMs / 5) ms.
  return Math.max(1000, Math.floor(staleMs / 5)) + 1000;
}

async function checkLock(layout: StoreLayout, staleMs: number, fix: boolean): Promise<Check> {
  const lock = layout.lock;
  const stats = fs.statSync(lock, { bigint: true, throwIfNoEntry: false });
  if (!stats) return { check: "lock", status: "ok", message: "not held" };
  const mtimeMs = Number(stats.mtimeNs / 1_000_000n);
  const age = Date.now() - mtimeMs;
  const future = datedInFuture(mtimeMs);
  if (!future && age <= staleMs)
    return { check: "lock", status: "info", message: `held by a running writer (${lock} refreshed ${duration(Math.max(0, age))} ago)` };
  const problem = future
    ? `${lock} is dated ${duration(-age)} in the future (a clock change or a restored backup?): no writer can take it until it is removed`
    : `${lock} is stale: last refreshed ${duration(age)} ago, its holder died (writers take it over after ${staleMs} ms)`;
  const fixText = `remove ${lock} once no live writer keeps it fresh`;
  if (!fix) return { check: "lock", status: "problem", message: problem, fix: fixText, action: "clear-stale-lock" };
  if (future) {
    // A live holder would touch it within its refresh interval: watch it that long.
    await new Promise((resolveWait) => setTimeout(resolveWait, watchMs(staleMs)));
    const again = fs.statSync(lock, { bigint: true, throwIfNoEntry: false });
    if (!again) return { check: "lock", status: "fixed", message: `${lock} is gone` };
    if (again.ino !== stats.ino || again.mtimeNs !== stats.mtimeNs)
      return { check: "lock", status: "info", message: "a running writer refreshed it meanwhile" };
  }
  try {
    removeStale(layout, lock, stats, staleMs);
  } catch (error) {
    if (errnoOf(error) === "ELOCKED") return { check: "lock", status: "info", message: "taken over by a running writer meanwhile" };
    return { check: "lock", status: "problem", message: `${problem}; removing it failed (${errnoOf(error)})`, fix: fixText };
  }
  return { check: "lock", status: "fixed", message: `removed the ${future ? "future-dated" : "stale"} lock ${lock}` };
}

/** The names beside a store that killed writers or lock takeovers left. */
export function leftovers(path: string): string[] {
  const layout = new StoreLayout(resolve(path));
  let entries: string[];
  try {
    entries = fs.readdirSync(layout.directory);
  } catch {
    return [];
  }
  return entries.filter((entry) => layout.classify(entry)?.startsWith("leftover-")).sort();
}

async function checkLeftovers(layout: StoreLayout, staleMs: number, fix: boolean): Promise<Check> {
  const found = leftovers(layout.path);
  if (found.length === 0) return { check: "temp files", status: "ok", message: "no leftovers from interrupted writes" };
  const problem = `left by an interrupted write: ${found.map((entry) => layout.entryPath(entry)).join(", ")}`;
  const fixText = "removed while holding the lock";
  if (!fix) return { check: "temp files", status: "problem", message: problem, fix: fixText };
  try {
    // Under the store's lock no writer is between its temp file and its rename.
    const removed = await new FileLock(layout, { staleMs, waitMs: staleMs + 5000 }).hold(async () => sweepLeftovers(layout));
    const left = leftovers(layout.path);
    if (left.length > 0) return { check: "temp files", status: "problem", message: `could not remove ${left.join(", ")}`, fix: fixText };
    return { check: "temp files", status: "fixed", message: `removed ${removed.length > 0 ? removed.join(", ") : "nothing (already gone)"}` };
  } catch (error) {
    return { check: "temp files", status: "problem", message: `${problem}; ${(error as Error).message}`, fix: fixText };
  }
}

/** A plaintext export that did not finish: its record beside the store, and the temp file it names. */
interface ExportRecord {
  record: string;
  /** The export's temp file, when the record names one in the shape this package writes. */
  temp: string | undefined;
  /** Whether that temp file is there (holding tokens in plaintext); undefined when it cannot be told (its directory unreadable). */
  plaintext: boolean | undefined;
}

/** Longest export record: two paths of at most PATH_MAX and a little JSON. */
const MAX_RECORD_BYTES = 16 * 1024;

function exportRecords(layout: StoreLayout): ExportRecord[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(layout.directory);
  } catch {
    return [];
  }
  return entries
    .filter((entry) => layout.classify(entry) === "export")
    .sort()
    .map((entry) => {
      const record = layout.entryPath(entry);
      let temp: string | undefined;
      try {
        const { out, temp: named } = JSON.parse(readBounded(record, MAX_RECORD_BYTES, record).toString("utf8")) as { out?: unknown; temp?: unknown };
        // Only ever a temp file of the export it records, never any other file.
        if (typeof out === "string" && typeof named === "string" && named.startsWith(out) && isTempSuffix(named.slice(out.length))) temp = named;
      } catch {
        // Not a record this package wrote (records are written whole): it names nothing.
      }
      return { record, temp, plaintext: temp === undefined ? false : isFileQuietly(temp) };
    });
}

/** Whether `path` is a regular file; false when it is gone, undefined when that cannot be told (its directory unreadable). */
function isFileQuietly(path: string): boolean | undefined {
  try {
    return lstat(path)?.isFile() === true;
  } catch (error) {
    return errnoOf(error) === "ENOTDIR" ? false : undefined;
  }
}

/** Removes what interrupted exports left (the lock must be held); returns the plaintext files removed. */
function removeExportLeftovers(layout: StoreLayout): string[] {
  const removed: string[] = [];
  for (const { record, temp, plaintext } of exportRecords(layout)) {
    // Kept with its record, to be found again, while it cannot be told whether it is there.
    if (plaintext === undefined) continue;
    if (temp !== undefined && plaintext) {
      try {
        fs.unlinkSync(temp);
        removed.push(temp);
      } catch (error) {
        if (errnoOf(error) !== "ENOENT") continue;
      }
    }
    removeQuietly(record);
  }
  return removed;
}

export interface ExportOptions {
  /** Replace an existing file at `out`. */
  replace: boolean;
  /** The store's lock settings. Default {@link DEFAULT_STALE_MS}. */
  staleMs?: number;
}

/**
 * Writes a plaintext export of the store at `storePath` to `out` (a private file, whole or
 * not at all, as writePrivateFile). A process killed while writing it cannot leave its
 * plaintext temp file unknown: the write is made under the store's lock, after a record
 * beside the store that names the temp file; the next export (and `checkStore` with
 * `fix`) removes what an interrupted one left. Returns whether `out` was written (false:
 * it exists and `replace` is false) and the plaintext files of interrupted exports removed.
 */
export async function writeExport(storePath: string, out: string, content: Content, options: ExportOptions): Promise<{ written: boolean; removed: string[] }> {
  const layout = new StoreLayout(resolve(storePath));
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const target = resolve(out);
  return new FileLock(layout, { staleMs, waitMs: staleMs + 5000 }).hold(async () => {
    const removed = removeExportLeftovers(layout);
    const temp = tempNameFor(target);
    const record = layout.exportRecord();
    // Durable before the temp file exists: after a power cut too, no plaintext is left unrecorded.
    writePrivateFile(record, JSON.stringify({ out: target, temp }), { replace: false, unchanged: "nothing was exported" });
    try {
      return { written: writePrivateFile(target, content, { replace: options.replace, temp }), removed };
    } finally {
      removeQuietly(record);
    }
  });
}

async function checkExports(layout: StoreLayout, staleMs: number, fix: boolean): Promise<Check> {
  const check = "exports";
  const found = exportRecords(layout);
  if (found.length === 0) return { check, status: "ok", message: "no plaintext left by an interrupted export" };
  const plaintext = found.filter((entry) => entry.plaintext !== false).map((entry) => entry.temp!);
  const problem =
    plaintext.length > 0
      ? `an export that was interrupted (or is still running) left every token in plaintext in ${plaintext.join(", ")}`
      : `an interrupted export left its record (no tokens): ${found.map((entry) => entry.record).join(", ")}`;
  const fixText = "removed while holding the lock";
  if (!fix) return { check, status: plaintext.length > 0 ? "problem" : "info", message: problem, ...(plaintext.length > 0 ? { fix: fixText } : {}) };
  try {
    // Under the lock no export is running: what a record names was left by a dead one.
    const removed = await new FileLock(layout, { staleMs, waitMs: staleMs + 5000 }).hold(async () => removeExportLeftovers(layout));
    const left = exportRecords(layout);
    if (left.length > 0)
      return { check, status: "problem", message: `could not remove ${left.map((entry) => entry.temp ?? entry.record).join(", ")}`, fix: fixText };
    return {
      check,
      status: "fixed",
      message:
        removed.length > 0 ? `removed the plaintext left by an interrupted export: ${removed.join(", ")}` : "removed the record of an interrupted export",
    };
  } catch (error) {
    return { check, status: "problem", message: `${problem}; ${(error as Error).message}`, fix: fixText };
  }
}

function checkLeases(layout: StoreLayout): Check {
  let count = 0;
  try {
    count = fs.readdirSync(layout.directory).filter((entry) => layout.classify(entry) === "lease").length;
  } catch {
    // No directory: reported above.
  }
  return count === 0
    ? { check: "leases", status: "ok", message: "no token renewal in progress" }
    : {
        check: "leases",
        status: "info",
        message: `${count} refresh lease${count === 1 ? "" : "s"} (a token renewal in progress, or left by a process that died; the next renewal clears those)`,
      };
}

/**
 * Which of a store's own files `candidate` is (by identity: device and inode, or the
 * real directory plus name), so a tool never writes over one: "the store file", "the
 * previous generation", "the key file", "the lock", ... Undefined when it is none.
 */
export function storeFileAt(storePath: string, candidate: string, keyFile?: string): string | undefined {
  const layout = new StoreLayout(resolve(storePath));
  const target = resolve(candidate);
  const identity = (path: string) => {
    const stats = fs.statSync(path, { bigint: true, throwIfNoEntry: false });
    return stats && `${stats.dev}:${stats.ino}`;
  };
  const named: Array<[string, string | undefined]> = [
    ["the store file", identity(layout.path)],
    ["the previous generation", identity(layout.previous)],
    ["the lock", identity(layout.lock)],
    ["the key file", keyFile === undefined ? undefined : identity(resolve(keyFile))],
  ];
  const own = identity(target);
  if (own !== undefined) {
    const match = named.find(([, id]) => id === own);
    if (match) return match[0];
  }
  // A name that does not exist yet: compare the directory it would be made in (also by
  // name for the lock, which comes and goes).
  const dir = identity(dirname(target));
  if (dirname(target) === layout.lock || (dir !== undefined && dir === identity(layout.lock))) return "the lock";
  if (dir !== undefined && dir === identity(layout.directory)) {
    const kind = layout.classify(basename(target));
    if (kind !== undefined) return describeKind(kind);
  }
  return undefined;
}

function describeKind(kind: EntryKind): string {
  return {
    store: "the store file",
    previous: "the previous generation",
    lock: "the lock",
    "lock-queue": "the lock's queue of waiting writers",
    lease: "a refresh lease",
    "leftover-temp": "a temp file of the store",
    "leftover-previous": "a temp file of the store",
    "leftover-lease-temp": "a temp file of the store",
    "leftover-lock": "a lock takeover",
    export: "the record of an export",
    "leftover-export-temp": "a temp file of the store",
  }[kind];
}

/** "45 s", "59 min", "3 h", "12 days". */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.round(min / 60);
  if (h < 48) return `${h} h`;
  return `${Math.round(h / 24)} days`;
}
