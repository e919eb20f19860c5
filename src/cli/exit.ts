/**
 * The one place that turns errors into exit codes and one-line messages.
 *
 * Exit codes: 0 success, 1 the operation failed, 2 bad usage (anything wrong with the
 * command line or the environment it gives, found before touching the store).
 *
 * Messages come from this package only (TokenStoreError messages never hold a token,
 * secret, key or passphrase, and neither do CliError messages). An error of any other
 * kind is reported by its name only, since its message could quote data.
 */
import { TokenStoreError, type ErrorAction } from "../index.js";
import { printable, quote } from "./format.js";
import { styleFor, type CliIo } from "./io.js";

/** The executable's name. */
const BIN = "zoho-encrypted-filestore";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** Ctrl-C at a prompt: 128 + SIGINT, as a shell reports a process interrupted by it. */
export const EXIT_INTERRUPTED = 130;

/** Codes of failures the command line tool adds to the store's own ErrorCodes. */
export type CliErrorCode =
  /** The command line is wrong: unknown command or option, missing or extra argument. */
  | "USAGE"
  /** No key was given and no passphrase can be asked for. */
  | "NO_KEY"
  /** A file the command would create already exists. */
  | "EXISTS"
  /** The CSV file to import has rows or a header that cannot be read. */
  | "BAD_CSV"
  /** The SDK DBStore table to import is not there, has other columns, or has rows that cannot be read. */
  | "BAD_SOURCE"
  /** The command was refused for safety (see its message for the flag that allows it). */
  | "REFUSED"
  /** The user cancelled a prompt (Ctrl-C: exit code 130) or typed two different passphrases. */
  | "CANCELLED"
  /** doctor found problems it did not (or could not) repair. */
  | "PROBLEMS_FOUND"
  /** The command works on a store file only, and a server store was given. */
  | "FILE_ONLY";

const USAGE_CODES: ReadonlySet<string> = new Set(["USAGE", "NO_KEY"]);

/** A failure found by the command line tool itself. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    readonly code: CliErrorCode,
    message: string,
    readonly exitCode: number = USAGE_CODES.has(code) ? EXIT_USAGE : EXIT_FAILED,
  ) {
    super(message);
  }
}

/** A usage error: exit code 2. */
export function usage(message: string): CliError {
  return new CliError("USAGE", message);
}

/** What to do about an error, in this tool's words (the library says it in its own). */
const ADVICE: Record<ErrorAction, string> = {
  recover: "'zoho-encrypted-filestore recover' restores the previous generation",
  "use-store-key": "check --key-file, ZOHO_TOKEN_STORE_KEY or the passphrase",
  "restrict-permissions": "'zoho-encrypted-filestore doctor' lists every permission problem; --fix repairs those of the store's own files",
  "clear-stale-lock": "'zoho-encrypted-filestore doctor' shows the lock; --fix removes it once no live writer keeps it",
  retry: "try again",
  upgrade: "upgrade zoho-encrypted-filestore",
  "other-key-source": "give the key another way: --key-file K, or a passphrase (ZOHO_TOKEN_STORE_PASSPHRASE or the prompt)",
  "create-keychain-key": "'zoho-encrypted-filestore keygen --keychain NAME' creates a key there",
  "create-key": "'zoho-encrypted-filestore keygen --out K' creates a key file",
};

/** The advice for an action, in this tool's words. */
export function adviceFor(action: ErrorAction): string {
  return ADVICE[action];
}

export interface ErrorReport {
  code: string;
  message: string;
  exitCode: number;
}

/**
 * Classifies any thrown value. `invocation` is how this tool was started, for advice that
 * names a command to run (see CliIo.invocation).
 */
export function describeError(error: unknown, invocation = BIN): ErrorReport {
  if (error instanceof CliError) return { code: error.code, message: oneLine(error.message), exitCode: error.exitCode };
  if (error instanceof TokenStoreError) {
    // A permission refusal keeps the library's advice too: it names the exact chmod,
    // which for a directory above the store's is the only repair (doctor --fix leaves those alone).
    const message = error.action
      ? `${error.action === "restrict-permissions" ? error.message : error.reason}; ${error.action === "create-key" && error.path !== undefined ? `create it with: ${invocation} keygen --out ${quote(error.path)}` : adviceFor(error.action)}`
      : error.code === "INVALID_OPTION"
        ? `${error.message} (see --help)`
        : error.message;
    return { code: error.code, message: oneLine(message), exitCode: EXIT_FAILED };
  }
  const name = error instanceof Error ? error.name : typeof error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  return {
    code: "INTERNAL",
    message: `unexpected ${name}${typeof errno === "string" ? ` (${errno})` : ""}; set ZOHO_TOKEN_STORE_DEBUG=1 to see where, and please report it`,
    exitCode: EXIT_FAILED,
  };
}

/**
 * What every command prints on stdout with --json, on success and on failure: one
 * object with these four fields, always all four.
 *
 * - `ok`: true exactly when `error` is null (and the exit code is 0).
 * - `command`: the command's name; null when the command line named none.
 * - `result`: what the command reports, an object of its own shape (see its --help and
 *   docs/cli.md); null when it failed before it had anything to report. verify and
 *   doctor report what they found even when that is a failure.
 * - `error`: null, or `{ "code": "...", "message": "..." }`: the code is one of the
 *   store's error codes or a CliErrorCode; the message is the line written to stderr.
 */
export interface JsonOutput {
  ok: boolean;
  command: string | null;
  result: unknown;
  error: { code: string; message: string } | null;
}

/** Writes the --json object (see JsonOutput) to stdout. */
export function writeJson(io: CliIo, command: string | null, result: unknown, error: Pick<ErrorReport, "code" | "message"> | null): void {
  const output: JsonOutput = { ok: error === null, command, result: result ?? null, error: error && { code: error.code, message: error.message } };
  io.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
}

/** With --json: the command's name, and what it reported before failing, if anything. */
export interface JsonContext {
  command: string | null;
  result?: unknown;
}

/**
 * Writes the one-line error to stderr (and, with --json, the JsonOutput object to
 * stdout) and returns the exit code.
 */
export function reportError(error: unknown, io: CliIo, json: JsonContext | undefined): number {
  const report = describeError(error, io.invocation);
  writeErrorLine(io, report);
  if (json) writeJson(io, json.command, json.result ?? null, report);
  if (report.code === "INTERNAL" && io.env.ZOHO_TOKEN_STORE_DEBUG && error instanceof Error && error.stack) {
    io.stderr.write(`${error.stack}\n`);
  }
  return report.exitCode;
}

export function writeErrorLine(io: CliIo, report: Pick<ErrorReport, "code" | "message">): void {
  const style = styleFor(io.stderr, io.env);
  // Messages quote paths, which may hold any character: written visibly, as everywhere.
  io.stderr.write(`zoho-encrypted-filestore: ${style.red(`error ${report.code}`)}: ${printable(report.message)}\n`);
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, " ").trim();
}
