import { existsSync } from "node:fs";
import { DEFAULT_KEY_FILE, KEY_FILE_ENV, TokenStoreError, type Check, type CheckStatus } from "../index.js";
import { checkKeyFile, DEFAULT_STALE_MS } from "../backend/file/index.js";
import { BIN, defineCommand, explainWrongKey, resolveStoreKey, storeTarget } from "./command.js";
import { openTargetStore, type Target } from "./target.js";
import { adviceFor, describeError, usage } from "./exit.js";
import { printable } from "./format.js";
import { FILE_ENV, KEY_ENV, PASSPHRASE_ENV, STDIN, type ResolvedKey } from "./key.js";
import { checkTarget, presence, storeKeying } from "./store-file.js";

/** A check as doctor reports it: the maintenance API's, plus the decryption check, in this tool's words. */
type Reported = Omit<Check, "action">;

export const doctor = defineCommand(
  {
    name: "doctor",
    summary: "check permissions, a stale lock, leftover temp files, the previous generation; --fix repairs",
    usage: "[--file F] [--key-file K | --keychain [NAME]] [--fix] [--stale-ms N] [--json]",
    description: `Checks the store without needing its key: permissions of the file, its directory, every
directory above it (yours or root's, not writable by others unless sticky), the
previous generation and the key file; a directory that is missing (moved away?); a lock
(F.lock) left by a writer that died or dated in the future; temp files left by an
interrupted write (F.<pid>-<hex>.tmp, F.prev.new); plaintext left by an interrupted
export; whether the previous generation (F.prev) is kept; refresh leases. When a key is
given (--key-file or the environment; doctor never prompts) it also decrypts and
authenticates the file.

--fix repairs what is safe to repair, with the rules the store applies when it opens:
it takes group and other access away from the files (chmod go-rwx) and group and other
write access away from the directory (chmod go-w, when it is yours and not sticky),
clearing only those bits (setgid stays); removes a stale lock, or one dated in the
future that no live writer refreshes (it watches it a few seconds first); and removes
leftover temp files and an interrupted export's plaintext while holding the lock. It
never changes a directory above the store's (it names the chmod) and never touches
tokens. Exit 1 while any problem remains.`,
    common: ["file", "key-file", "json"],
    options: {
      fix: { type: "boolean", description: "repair what is safe to repair" },
      "stale-ms": { type: "string", value: "N", description: `a lock older than this is stale (default ${DEFAULT_STALE_MS}, the store's default)` },
    },
  },
  async (ctx) => {
    const target = storeTarget(ctx);
    const path = target.location;
    const staleGiven = ctx.string("stale-ms");
    const staleMs = staleGiven === undefined ? DEFAULT_STALE_MS : Number(staleGiven);
    if (!Number.isInteger(staleMs) || staleMs < 2000) throw usage("--stale-ms must be an integer of at least 2000");
    const fix = ctx.values.fix === true;
    const keyFileGiven = ctx.string("key-file");
    // Resolved first, so that a key given wrongly (a terminal for --key-file -, a key in
    // place of a file name) is a usage error before any check repeats what was given.
    // The default key file counts as given, as for every other command.
    const defaultKey = existsSync(ctx.path(DEFAULT_KEY_FILE)) && (await storeKeying(target)) !== "passphrase";
    const keyAtHand =
      keyFileGiven !== undefined ||
      ctx.string("keychain") !== undefined ||
      [KEY_FILE_ENV, KEY_ENV, PASSPHRASE_ENV].some((name) => Boolean(ctx.io.env[name])) ||
      defaultKey;
    const key = keyAtHand ? await resolveStoreKey(ctx, target, { prompt: false }) : undefined;
    const keyFile = key !== undefined && "keyFile" in key.option && keyFileGiven !== STDIN ? key.option.keyFile : undefined;

    const found = await checkTarget(target, { staleMs, fix });
    // The key file's check goes with the files' (after the previous generation's).
    if (keyFile !== undefined) {
      const previous = found.findIndex((check) => check.check === "previous generation");
      found.splice(previous < 0 ? found.length : previous + 1, 0, checkKeyFile(keyFile, fix));
    }
    const checks: Reported[] = found.map(({ action, ...check }) => {
      if (check.check === "store file" && check.message.endsWith(" does not exist")) {
        return { ...check, message: `${check.message} (check --file or ${FILE_ENV}; '${BIN} init' creates a store)` };
      }
      // A problem that --fix does not repair says what to do instead.
      return action && check.status === "problem" && !check.fix ? { ...check, message: `${check.message}; ${adviceFor(action)}` } : check;
    });
    checks.push(await checkDecrypts(target, key));

    const open = checks.filter((check) => check.status === "problem");
    const fixable = open.filter((check) => check.fix !== undefined);
    const summary =
      `${open.length} problem${open.length === 1 ? "" : "s"}` +
      (fixable.length > 0 && !fix ? `; '${BIN} doctor --fix' repairs ${fixable.length === open.length ? "them" : `${fixable.length} of them`}` : "");
    ctx.emit({ path, checks });
    if (!ctx.json) {
      ctx.print(`${BIN} doctor: ${printable(path)}`);
      const label: Record<CheckStatus, string> = {
        ok: ctx.out.green("ok      "),
        info: "info    ",
        warn: ctx.out.yellow("warn    "),
        problem: ctx.out.red("PROBLEM "),
        fixed: ctx.out.green("fixed   "),
      };
      for (const check of checks) {
        // Messages name files found in the directory: any character can be in them.
        ctx.print(
          `  ${label[check.status]} ${check.check}: ${printable(check.message)}${check.status === "problem" && check.fix ? ` (fix: ${printable(check.fix)})` : ""}`,
        );
      }
      if (open.length === 0) ctx.print(checks.some((check) => check.status === "fixed") ? "repaired; no problems left" : "no problems found");
      else ctx.print(summary);
    }
    if (open.length === 0) return;
    // The report above already says so; no error line repeats it.
    return ctx.fail({ code: "PROBLEMS_FOUND", message: summary }, { line: false });
  },
);

/** Decrypts the file when a key is at hand without asking; doctor never prompts. */
async function checkDecrypts(path: Target, key: ResolvedKey | undefined): Promise<Reported> {
  const check = "decrypts";
  if (key === undefined) {
    return {
      check,
      status: "info",
      message: `not checked: no key given (--key-file, --keychain, ${KEY_FILE_ENV}, ${KEY_ENV}, ${PASSPHRASE_ENV} or ${DEFAULT_KEY_FILE}); '${BIN} verify' checks it`,
    };
  }
  if (!(await presence(path)).stored) return { check, status: "info", message: "not checked: no store file" };
  try {
    const store = await openTargetStore(path, key.option);
    const status = await store.verify().finally(() => store.close());
    return {
      check,
      status: "ok",
      message: `opens and authenticates with the key given (${key.source}; ${status.tokens} token${status.tokens === 1 ? "" : "s"})`,
    };
  } catch (error) {
    if (error instanceof TokenStoreError && error.code === "INSECURE_PERMISSIONS") {
      return { check, status: "info", message: "not checked: the store refuses files other users can access (see above)" };
    }
    const report = describeError(error instanceof TokenStoreError && error.code === "WRONG_KEY" ? explainWrongKey(error, key, await storeKeying(path)) : error);
    return { check, status: "problem", message: `${report.code}: ${report.message}` };
  }
}
