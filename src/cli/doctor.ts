import * as fs from "node:fs";
import { basename, dirname, join } from "node:path";
import { TokenStoreError } from "../errors.js";
import { isLeftover, previousPath, sweepLeftovers } from "../file/durable.js";
import { inProcessQueue, withFileLock } from "../file/lock.js";
import { EncryptedFileStore } from "../store/store.js";
import { BIN, defineCommand, explainWrongKey, resolveStoreKey, storePath } from "./command.js";
import { describeError, usage } from "./exit.js";
import { duration, printable } from "./format.js";
import { FILE_ENV, KEY_ENV, PASSPHRASE_ENV, STDIN, type ResolvedKey } from "./key.js";
import { readStoreHeader, storeKeying } from "./store-file.js";

/** The store's default lockStaleMs: a lock not refreshed for this long has a dead holder. */
const DEFAULT_STALE_MS = 10_000;

type Status = "ok" | "info" | "warn" | "problem" | "fixed";

interface Check {
  check: string;
  status: Status;
  message: string;
  /** How it is (or would be) repaired; present for problems --fix can repair. */
  fix?: string;
}

export const doctor = defineCommand(
  {
    name: "doctor",
    summary: "check permissions, a stale lock, leftover temp files, the previous generation; --fix repairs",
    usage: "--file F [--key-file K] [--fix] [--stale-ms N] [--json]",
    description: `Checks the store without needing its key: permissions of the file, its directory, the
previous generation and the key file; a lock (F.lock) left by a writer that died;
temp files left by an interrupted write (F.<pid>-<hex>.tmp, F.prev.new); whether the
previous generation (F.prev) is kept. When a key is given (--key-file or the
environment; doctor never prompts) it also decrypts and authenticates the file.

--fix repairs what is safe to repair: takes group and other access away from the
files (chmod go-rwx), group and other write access away from the directory (chmod
go-w, when it is yours and not sticky; setgid stays), removes a stale lock, and
removes leftover temp files while holding the lock. It never touches
tokens. Exit 1 while any problem remains.`,
    common: ["file", "key-file", "json"],
    options: {
      fix: { type: "boolean", description: "repair what is safe to repair" },
      "stale-ms": { type: "string", value: "N", description: `a lock older than this is stale (default ${DEFAULT_STALE_MS}, the store's default)` },
    },
  },
  async (ctx) => {
    const path = storePath(ctx);
    const staleGiven = ctx.string("stale-ms");
    const staleMs = staleGiven === undefined ? DEFAULT_STALE_MS : Number(staleGiven);
    if (!Number.isInteger(staleMs) || staleMs < 2000) throw usage("--stale-ms must be an integer of at least 2000");
    const fix = ctx.values.fix === true;
    const keyFileGiven = ctx.string("key-file");
    const keyFile = keyFileGiven === undefined || keyFileGiven === STDIN ? undefined : ctx.path(keyFileGiven);
    // Resolved first, so that a key given wrongly (a terminal for --key-file -, a key in
    // place of a file name) is a usage error before any check repeats what was given.
    const keyAtHand = keyFileGiven !== undefined || Boolean(ctx.io.env[KEY_ENV]) || Boolean(ctx.io.env[PASSPHRASE_ENV]);
    const key = keyAtHand ? await resolveStoreKey(ctx, path, { prompt: false }) : undefined;
    const checks: Check[] = [];

    checks.push(checkDirectory(dirname(path), fix));
    checks.push(checkStoreFile(path, fix));
    checks.push(checkPrevious(path, fix));
    if (keyFile !== undefined) checks.push(checkKeyFile(keyFile, fix));
    checks.push(checkLock(path, staleMs, ctx.now(), fix));
    checks.push(await checkLeftovers(path, staleMs, fix));
    checks.push(await checkDecrypts(path, key));

    const open = checks.filter((check) => check.status === "problem");
    const fixable = open.filter((check) => check.fix !== undefined);
    const summary =
      `${open.length} problem${open.length === 1 ? "" : "s"}` +
      (fixable.length > 0 && !fix ? `; '${BIN} doctor --fix' repairs ${fixable.length === open.length ? "them" : `${fixable.length} of them`}` : "");
    ctx.emit({ path, checks });
    if (!ctx.json) {
      ctx.print(`${BIN} doctor: ${printable(path)}`);
      const label: Record<Status, string> = {
        ok: ctx.out.green("ok      "),
        info: "info    ",
        warn: ctx.out.yellow("warn    "),
        problem: ctx.out.red("PROBLEM "),
        fixed: ctx.out.green("fixed   "),
      };
      for (const check of checks) {
        // Messages name files found in the directory: any character can be in them.
        ctx.print(`  ${label[check.status]} ${check.check}: ${printable(check.message)}${check.status === "problem" && check.fix ? ` (fix: ${printable(check.fix)})` : ""}`);
      }
      if (open.length === 0) ctx.print(checks.some((check) => check.status === "fixed") ? "repaired; no problems left" : "no problems found");
      else ctx.print(summary);
    }
    if (open.length === 0) return;
    // The report above already says so; no error line repeats it.
    return ctx.fail({ code: "PROBLEMS_FOUND", message: summary }, { line: false });
  },
);

/** The permission bits in octal, with setuid, setgid and sticky when set ("600", "2750"). */
function mode(stats: fs.Stats | number): string {
  return ((typeof stats === "number" ? stats : stats.mode) & 0o7777).toString(8);
}

function lstat(path: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new TokenStoreError("IO_ERROR", `cannot stat ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`, { path, cause: error });
  }
}

function chmod(path: string, to: number): string | undefined {
  try {
    fs.chmodSync(path, to);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? "error";
  }
}

/**
 * A file only its owner may use, else a problem. --fix takes group and other access
 * away (`chmod go-rwx`) and leaves every other bit as it was.
 */
function privateFile(check: string, path: string, stats: fs.Stats, fix: boolean, detail: string): Check {
  if (process.platform === "win32" || (stats.mode & 0o077) === 0) return { check, status: "ok", message: `${path}: mode ${mode(stats)}${detail}` };
  const problem = `${path} can be accessed by other users (mode ${mode(stats)})${detail}`;
  const fixText = `chmod go-rwx '${path}'`;
  if (!fix) return { check, status: "problem", message: problem, fix: fixText };
  const to = stats.mode & 0o7777 & ~0o077;
  const failed = chmod(path, to);
  return failed
    ? { check, status: "problem", message: `${problem}; chmod failed (${failed})`, fix: fixText }
    : { check, status: "fixed", message: `${path}: mode ${mode(stats)} -> ${mode(to)}${detail}` };
}

function checkDirectory(dir: string, fix: boolean): Check {
  const check = "directory";
  const stats = lstat(dir);
  if (!stats) return { check, status: "problem", message: `${dir} does not exist ('${BIN} init' creates it)` };
  if (!stats.isDirectory()) return { check, status: "problem", message: `${dir} is not a directory` };
  if (process.platform === "win32" || (stats.mode & 0o022) === 0) {
    const readable = (stats.mode & 0o055) !== 0;
    return { check, status: "ok", message: `${dir}: mode ${mode(stats)}${readable ? " (others may list file names, not read the store)" : ""}` };
  }
  const who = (stats.mode & 0o002) !== 0 ? "every user" : "its group";
  const problem = `${dir} is writable by ${who} (mode ${mode(stats)}), who could delete, replace or lock the store file`;
  const mine = stats.uid === process.getuid?.();
  const sticky = (stats.mode & 0o1000) !== 0;
  if (!mine || sticky) return { check, status: "problem", message: `${problem}; move the store to a directory of your own (mode 700)` };
  const fixText = `chmod go-w '${dir}'`;
  if (!fix) return { check, status: "problem", message: problem, fix: fixText };
  // Only group and other write access goes; setgid (new files take the directory's
  // group) and every other bit stay as the owner set them.
  const to = stats.mode & 0o7777 & ~0o022;
  const failed = chmod(dir, to);
  return failed
    ? { check, status: "problem", message: `${problem}; chmod failed (${failed})`, fix: fixText }
    : { check, status: "fixed", message: `${dir}: mode ${mode(stats)} -> ${mode(to)}` };
}

function headerSummary(path: string): { ok: boolean; text: string } {
  try {
    const header = readStoreHeader(path);
    return { ok: true, text: `, format ${header.version}, generation ${header.generation}, ${header.keying === "raw" ? "raw key" : "passphrase"}` };
  } catch (error) {
    if (error instanceof TokenStoreError) {
      return { ok: false, text: error.code === "UNSUPPORTED_VERSION" ? `; written by a newer version of ${BIN}` : "; its header is damaged" };
    }
    return { ok: false, text: `; cannot read it (${(error as NodeJS.ErrnoException).code ?? "error"})` };
  }
}

function checkStoreFile(path: string, fix: boolean): Check {
  const check = "store file";
  const stats = lstat(path);
  if (!stats) {
    return fs.existsSync(previousPath(path))
      ? { check, status: "problem", message: `${path} is missing but its previous generation is kept; '${BIN} recover' restores it` }
      : { check, status: "problem", message: `${path} does not exist (check --file or ${FILE_ENV}; '${BIN} init' creates a store)` };
  }
  if (stats.isSymbolicLink()) return { check, status: "problem", message: `${path} is a symbolic link; point --file at the real file` };
  if (!stats.isFile()) return { check, status: "problem", message: `${path} is not a regular file` };
  const header = headerSummary(path);
  const result = privateFile(check, path, stats, fix, header.text);
  if (!header.ok && result.status !== "problem") {
    return { check, status: "problem", message: `${result.message}; '${BIN} verify' tells more, '${BIN} recover' restores the previous generation` };
  }
  return result;
}

function checkPrevious(path: string, fix: boolean): Check {
  const check = "previous generation";
  const prev = previousPath(path);
  const stats = lstat(prev);
  if (!stats) return { check, status: "info", message: `none kept (${prev} does not exist); it appears after the next write` };
  if (!stats.isFile()) return { check, status: "problem", message: `${prev} is not a regular file` };
  const header = headerSummary(prev);
  const result = privateFile(check, prev, stats, fix, `${header.text}${header.ok ? `; '${BIN} recover' restores it` : ""}`);
  if (!header.ok && result.status !== "problem") return { ...result, status: "warn" };
  return result.status === "ok" ? { ...result, status: "info" } : result;
}

function checkKeyFile(path: string, fix: boolean): Check {
  const check = "key file";
  const link = lstat(path);
  if (!link) return { check, status: "problem", message: `${path} does not exist` };
  let stats = link;
  if (link.isSymbolicLink()) {
    // The store reads the key through the link, so the file it points to is what counts.
    try {
      stats = fs.statSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return { check, status: "problem", message: `${path} does not exist (dangling symbolic link)` };
      if (code === "ELOOP") return { check, status: "problem", message: `${path} is a loop of symbolic links` };
      return { check, status: "problem", message: `${path} is a symbolic link that cannot be followed (${code ?? "error"})` };
    }
  }
  if (!stats.isFile()) return { check, status: "problem", message: `${path} is not a regular file` };
  return privateFile(check, path, stats, fix, "");
}

function checkLock(path: string, staleMs: number, now: number, fix: boolean): Check {
  const check = "lock";
  const lockPath = `${path}.lock`;
  const stats = lstat(lockPath);
  if (!stats) return { check, status: "ok", message: "not held" };
  const age = now - stats.mtimeMs;
  if (age <= staleMs) return { check, status: "info", message: `held by a running writer (${lockPath} refreshed ${duration(Math.max(0, age))} ago)` };
  const problem = `${lockPath} is stale: last refreshed ${duration(age)} ago, its holder died (writers take it over after ${staleMs} ms)`;
  const fixText = `rmdir '${lockPath}'`;
  if (!fix) return { check, status: "problem", message: problem, fix: fixText };
  // Checked again just before removing: a writer may have taken it over meanwhile.
  const again = lstat(lockPath);
  if (!again) return { check, status: "fixed", message: `${lockPath} was stale and is gone` };
  if (Date.now() - again.mtimeMs <= staleMs) return { check, status: "info", message: `taken over by a running writer meanwhile` };
  try {
    if (again.isDirectory()) fs.rmdirSync(lockPath);
    else fs.unlinkSync(lockPath);
  } catch (error) {
    return { check, status: "problem", message: `${problem}; removing it failed (${(error as NodeJS.ErrnoException).code ?? "error"})`, fix: fixText };
  }
  return { check, status: "fixed", message: `removed the stale lock ${lockPath} (last refreshed ${duration(age)} ago)` };
}

/** Temp files a killed writer leaves: `<name>.<pid>-<hex>.tmp` and `<name>.prev.new` (the store's own rule). */
export function leftovers(path: string): string[] {
  const name = basename(path);
  let entries: string[];
  try {
    entries = fs.readdirSync(dirname(path));
  } catch {
    return [];
  }
  return entries.filter((entry) => isLeftover(name, entry)).sort();
}

async function checkLeftovers(path: string, staleMs: number, fix: boolean): Promise<Check> {
  const check = "temp files";
  const found = leftovers(path);
  if (found.length === 0) return { check, status: "ok", message: "no leftovers from interrupted writes" };
  const list = found.map((entry) => join(dirname(path), entry)).join(", ");
  const problem = `left by an interrupted write: ${list}`;
  const fixText = `'${BIN} doctor --fix' removes them while holding the lock`;
  if (!fix) return { check, status: "problem", message: problem, fix: fixText };
  try {
    // Under the store's lock no writer is between its temp file and its rename.
    const removed = await inProcessQueue(path, () =>
      withFileLock(path, `${path}.lock`, { staleMs, waitMs: staleMs + 5000 }, async () => sweepLeftovers(path)),
    );
    const left = leftovers(path);
    if (left.length > 0) return { check, status: "problem", message: `could not remove ${left.join(", ")}`, fix: fixText };
    return { check, status: "fixed", message: `removed ${removed.length > 0 ? removed.join(", ") : "nothing (already gone)"}` };
  } catch (error) {
    return { check, status: "problem", message: `${problem}; ${describeError(error).message}`, fix: fixText };
  }
}

/** Decrypts the file when a key is at hand without asking; doctor never prompts. */
async function checkDecrypts(path: string, key: ResolvedKey | undefined): Promise<Check> {
  const check = "decrypts";
  if (key === undefined) {
    return { check, status: "info", message: `not checked: no key given (--key-file, ${KEY_ENV} or ${PASSPHRASE_ENV}); '${BIN} verify' checks it` };
  }
  if (!fs.existsSync(path)) return { check, status: "info", message: "not checked: no store file" };
  try {
    const store = await EncryptedFileStore.open({ path, ...key.option });
    const status = await store.verify();
    return { check, status: "ok", message: `opens and authenticates with the key given (${key.source}; ${status.tokens} token${status.tokens === 1 ? "" : "s"})` };
  } catch (error) {
    if (error instanceof TokenStoreError && error.code === "INSECURE_PERMISSIONS") {
      return { check, status: "info", message: "not checked: the store refuses files other users can access (see above)" };
    }
    const report = describeError(error instanceof TokenStoreError && error.code === "WRONG_KEY" ? explainWrongKey(error, key, storeKeying(path)) : error);
    return { check, status: "problem", message: `${report.code}: ${report.message}` };
  }
}
