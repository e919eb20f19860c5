/**
 * How a command is defined: its options, help and body. `defineCommand` returns a plain
 * function `(argv, io) => Promise<exitCode>` that parses the arguments, prints help,
 * runs the body and maps any error through exit.ts, so tests call it without spawning.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  DEFAULT_KEY_FILE,
  DEFAULT_STORE_FILE,
  KEY_FILE_ENV,
  KEYCHAIN_ACCOUNT,
  TokenStoreError,
  type EncryptedFileStoreOptions,
  type EncryptedTokenStore,
} from "../index.js";
import { EXIT_FAILED, EXIT_OK, reportError, usage, writeErrorLine, writeJson, type ErrorReport } from "./exit.js";
import { styleFor, type CliIo, type Style } from "./io.js";
import { FILE_ENV, FORBIDDEN_OPTIONS, storeKey, type ResolvedKey } from "./key.js";
import { presence, storeKeying, type Keying } from "./store-file.js";
import { MYSQL_ENV, openTargetStore, POSTGRES_ENV, storeTarget, type Target } from "./target.js";
import { BIN } from "./invocation.js";
import { nearest } from "./suggest.js";
import { quote } from "./format.js";
import { VERSION } from "./version.js";

export { BIN } from "./invocation.js";

interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** Shown in help: the value's name for string options, then the description. */
  value?: string;
  description: string;
  /** A string option that may also stand alone (followed by nothing or by another option): then it has this value. */
  optionalValue?: string;
}

/** Options several commands share; each command names the ones it takes. */
const COMMON: Record<"file" | "key-file" | "keychain" | "json", OptionSpec> = {
  file: { type: "string", short: "f", value: "F", description: `the store file (default: $${FILE_ENV}, else ${DEFAULT_STORE_FILE})` },
  "key-file": {
    type: "string",
    value: "K",
    description: `file holding the base64 key, or - to read it from standard input (default: $${KEY_FILE_ENV}, $ZOHO_TOKEN_STORE_KEY or $ZOHO_TOKEN_STORE_PASSPHRASE, else ${DEFAULT_KEY_FILE} if it exists, else a prompt on a terminal for a passphrase store)`,
  },
  keychain: {
    type: "string",
    value: "[NAME]",
    optionalValue: KEYCHAIN_ACCOUNT,
    description: `take the key from the OS keychain entry NAME (default: ${KEYCHAIN_ACCOUNT}; 'keygen --keychain NAME' creates one)`,
  },
  json: { type: "boolean", description: 'print one JSON object on stdout, for scripts: {"ok","command","result","error"}' },
};

/** The server store options, taken by every command that takes --file (see target.ts). */
const SERVER: Record<"postgres" | "mysql" | "namespace" | "table" | "schema", OptionSpec> = {
  postgres: {
    type: "string",
    value: "URL",
    description: `a PostgreSQL store instead of a file: postgres://user@host:5432/db, without a password (PGPASSWORD or ~/.pgpass; or the whole URL in $${POSTGRES_ENV})`,
  },
  mysql: {
    type: "string",
    value: "URL",
    description: `a MySQL/MariaDB store instead of a file: mysql://user@host:3306/db, without a password (a URL with one goes in $${MYSQL_ENV})`,
  },
  namespace: { type: "string", value: "NS", description: "the server store's namespace (default: default)" },
  table: { type: "string", value: "T", description: "the server store's table (default: zoho_tokens)" },
  schema: { type: "string", value: "S", description: "the PostgreSQL store's schema (default: public)" },
};

export interface CommandSpec {
  name: string;
  /** One line for the tool's help. */
  summary: string;
  /** Arguments after the command name, for the usage line. */
  usage: string;
  /** Paragraphs after the usage line. */
  description: string;
  /** Positional argument names, all required. */
  positionals?: readonly string[];
  common: ReadonlyArray<keyof typeof COMMON>;
  options?: Record<string, OptionSpec>;
}

export interface Context {
  io: CliIo;
  /** Parsed options, by long name. */
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  json: boolean;
  /** Styles for stdout and stderr (no-ops off a terminal or with NO_COLOR). */
  out: Style;
  err: Style;
  now(): number;
  /** Writes a line to stdout. */
  print(line?: string): void;
  /** Writes a line to stderr: progress and advice that is not the command's output. */
  note(line: string): void;
  warn(line: string): void;
  /**
   * Suggests a command to run next, on stderr: "Next: <this tool> <args>  # <why>". It
   * names the tool as it was started (CliIo.invocation), so the line after "Next: "
   * runs as pasted into the same shell.
   */
  next(args: string, why: string): void;
  /**
   * Sets the command's result: with --json it is printed as `result` of the one JSON
   * object (see JsonOutput) once the command ends, on success or failure.
   */
  emit(value: unknown): void;
  /**
   * Ends the command as failed after it has reported what it found (verify, doctor):
   * records the error for --json and, unless `line` is false, writes the error line.
   * Returns the exit code to return.
   */
  fail(report: Pick<ErrorReport, "code" | "message">, options?: { line?: boolean }): number;
  /** Resolves a path given on the command line against the working directory. */
  path(given: string): string;
  /** The string value of an option, if given. */
  string(name: string): string | undefined;
  /** Closes `store` when the command ends (a server store's pool). */
  closeAtEnd(store: { close(): Promise<void> }): void;
}

export type Command = ((argv: string[], io: CliIo) => Promise<number>) & { spec: CommandSpec; help: () => string };

// biome-ignore lint/suspicious/noConfusingVoidType: a command body returns its exit code, or nothing for success.
export function defineCommand(spec: CommandSpec, body: (ctx: Context) => Promise<number | void>): Command {
  const options = allOptions(spec);
  const command = async (argv: string[], io: CliIo): Promise<number> => {
    let json = argv.includes("--json");
    const outcome: Outcome = { result: null, error: null };
    const closers: Array<{ close(): Promise<void> }> = [];
    try {
      const parsed = parse(spec, options, argv);
      if (parsed === "help") {
        io.stdout.write(helpText(spec));
        return EXIT_OK;
      }
      if (parsed === "version") {
        io.stdout.write(`${VERSION}\n`);
        return EXIT_OK;
      }
      json = parsed.values.json === true;
      const ctx = context(io, parsed.values, parsed.positionals, json, outcome, closers);
      const code = (await body(ctx)) ?? (outcome.error ? EXIT_FAILED : EXIT_OK);
      await closeAll(closers);
      if (json) writeJson(io, spec.name, outcome.result, outcome.error);
      return code;
    } catch (error) {
      await closeAll(closers);
      return reportError(error, io, json ? { command: spec.name, result: outcome.result } : undefined);
    }
  };
  return Object.assign(command, { spec, help: () => helpText(spec) });
}

async function closeAll(closers: Array<{ close(): Promise<void> }>): Promise<void> {
  for (const store of closers.splice(0)) await store.close().catch(() => undefined);
}

function allOptions(spec: CommandSpec): Record<string, OptionSpec> {
  const options: Record<string, OptionSpec> = {};
  for (const name of spec.common) options[name] = COMMON[name];
  if (spec.common.includes("file")) Object.assign(options, SERVER);
  // Every command that takes a key takes it from the keychain too.
  if (spec.common.includes("key-file")) options.keychain = COMMON.keychain;
  Object.assign(options, spec.options);
  options.help = { type: "boolean", short: "h", description: "show this help" };
  options.version = { type: "boolean", short: "V", description: "print the version" };
  return options;
}

function parse(spec: CommandSpec, options: Record<string, OptionSpec>, argv: string[]) {
  for (const arg of argv) {
    if (arg === "--") break;
    if (FORBIDDEN_OPTIONS.test(arg)) {
      throw usage(
        `${arg.split("=")[0]} is not accepted: keys and passphrases never go on the command line (they show in ps and shell history); ` +
          "use --key-file K, ZOHO_TOKEN_STORE_KEY or ZOHO_TOKEN_STORE_PASSPHRASE",
      );
    }
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: withOptionalValues(argv, options),
      options: Object.fromEntries(
        Object.entries(options).map(([name, option]) => [name, option.short ? { type: option.type, short: option.short } : { type: option.type }]),
      ),
      allowPositionals: true,
      strict: true,
    }) as typeof parsed;
  } catch (error) {
    // parseArgs quotes unexpected values; only option names are repeated here, and only
    // when they look like one (an argument mistyped as "--<key>" must not be echoed).
    const code = (error as NodeJS.ErrnoException).code;
    const found = /'(-[^' =]*)/.exec((error as Error).message)?.[1];
    const shown = found === undefined ? undefined : optionName(found);
    const name = shown ?? "an option";
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const meant = found?.startsWith("--") ? nearest(found.slice(2), Object.keys(options)) : undefined;
      const hint = meant ? `did you mean --${meant}? ` : "";
      throw usage(`unknown option ${shown === undefined ? "" : `${shown} `}for '${spec.name}'; ${hint}see '${BIN} ${spec.name} --help'`);
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      throw usage(`${name} ${options[name.replace(/^-+/, "")]?.type === "boolean" ? "takes no value" : "needs a value"}; see '${BIN} ${spec.name} --help'`);
    }
    throw usage(`cannot read the arguments; see '${BIN} ${spec.name} --help'`);
  }
  if (parsed.values.help) return "help" as const;
  if (parsed.values.version) return "version" as const;
  const expected = spec.positionals ?? [];
  if (parsed.positionals.length < expected.length) {
    throw usage(`'${spec.name}' needs ${expected.slice(parsed.positionals.length).join(" ")}; usage: ${BIN} ${spec.name} ${spec.usage}`);
  }
  if (parsed.positionals.length > expected.length) {
    throw usage(`too many arguments for '${spec.name}' (${parsed.positionals.length}, expected ${expected.length}); usage: ${BIN} ${spec.name} ${spec.usage}`);
  }
  return parsed;
}

/**
 * Gives a value to each option with an optional value that stands alone (last, or
 * followed by another option): `--keychain --file F` is `--keychain=default --file F`.
 */
function withOptionalValues(argv: string[], options: Record<string, OptionSpec>): string[] {
  const out: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index]!;
    if (arg === "--") {
      out.push(...argv.slice(index));
      break;
    }
    const spec = arg.startsWith("--") ? options[arg.slice(2)] : undefined;
    const next = argv[index + 1];
    if (spec?.optionalValue !== undefined && (next === undefined || next.startsWith("-"))) out.push(`${arg}=${spec.optionalValue}`);
    else out.push(arg);
  }
  return out;
}

/** What a command reported: printed with --json when it ends. */
interface Outcome {
  result: unknown;
  error: Pick<ErrorReport, "code" | "message"> | null;
}

function context(
  io: CliIo,
  values: Context["values"],
  positionals: string[],
  json: boolean,
  outcome: Outcome,
  closers: Array<{ close(): Promise<void> }>,
): Context {
  const out = styleFor(io.stdout, io.env);
  const err = styleFor(io.stderr, io.env);
  return {
    io,
    values,
    positionals,
    json,
    out,
    err,
    now: io.now ?? Date.now,
    print: (line = "") => void io.stdout.write(`${line}\n`),
    note: (line) => void io.stderr.write(`${line}\n`),
    warn: (line) => void io.stderr.write(`${err.yellow("warning:")} ${line}\n`),
    next: (args, why) => void io.stderr.write(`Next: ${io.invocation ?? BIN} ${args}  # ${why}\n`),
    emit: (value) => {
      outcome.result = value;
    },
    fail: (report, { line = true } = {}) => {
      outcome.error = { code: report.code, message: report.message };
      if (line) writeErrorLine(io, report);
      return EXIT_FAILED;
    },
    path: (given) => resolve(io.cwd ?? process.cwd(), given),
    string: (name) => (typeof values[name] === "string" ? (values[name] as string) : undefined),
    closeAtEnd: (store) => void closers.push(store),
  };
}

/**
 * The name of an option argument ("--jsno" of "--jsno=1") when it looks like an option
 * name, else undefined: an argument mistyped as "--<key>" must not be repeated.
 */
export function optionName(arg: string): string | undefined {
  const name = arg.split("=")[0]!;
  return /^--?[A-Za-z][\w-]{0,29}$/.test(name) ? name : undefined;
}

function helpText(spec: CommandSpec): string {
  const options = allOptions(spec);
  const rows = Object.entries(options).map(([name, option]) => {
    const flag = `${option.short ? `-${option.short}, ` : "    "}--${name}${option.value ? ` ${option.value}` : ""}`;
    return [flag, option.description] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return (
    `Usage: ${BIN} ${spec.name} ${spec.usage}\n\n${spec.description.trim()}\n\nOptions:\n` +
    rows.map(([flag, description]) => `  ${flag.padEnd(width)}${description}`).join("\n") +
    "\n"
  );
}

// ---- the store file and the store ------------------------------------------

export { storeTarget, type Target } from "./target.js";

/** The store file from --file or ZOHO_TOKEN_STORE_FILE, else the default ./zoho-tokens.enc (as configFromEnv), absolute. */
export function storePath(ctx: Context): string {
  return ctx.path(ctx.string("file") ?? (ctx.io.env[FILE_ENV] || DEFAULT_STORE_FILE));
}

/** How many times a passphrase typed at the prompt may be tried. */
const PASSPHRASE_TRIES = 3;

/**
 * The key of the store at `path`, from --key-file (a path, or "-" for standard input),
 * the environment or a prompt; a prompt only when the store is one a passphrase can open.
 */
export async function resolveStoreKey(
  ctx: Context,
  path: Target | string,
  { confirm = false, prompt = true, keying }: { confirm?: boolean; prompt?: boolean; keying?: Keying | undefined } = {},
): Promise<ResolvedKey> {
  return storeKey(ctx.io, {
    keyFile: ctx.string("key-file"),
    keychain: ctx.string("keychain"),
    resolvePath: ctx.path,
    keying: keying ?? (await storeKeying(path)),
    path: typeof path === "string" ? path : path.location,
    confirm,
    prompt,
  });
}

/**
 * The key option to repeat in a suggested command so that it finds the same key: "" when
 * the key comes from the environment, the default key file or a prompt (the same shell
 * gives it again), `--key-file PATH` for a key file named on the command line,
 * `--keychain NAME` for a keychain entry, and
 * undefined for a key read from standard input (a pasted command cannot repeat the pipe).
 */
export function keyArgsFor(key: ResolvedKey): string | undefined {
  if ("keychain" in key.option) return `--keychain ${quote(key.option.keychain.account)}`;
  if (!key.source.startsWith("--key-file")) return "";
  if ("keyFile" in key.option) return `--key-file ${quote(key.option.keyFile)}`;
  return undefined;
}

/** Says where a key came from, on stderr, in human mode: never the key itself. */
export function announceKey(ctx: Context, what: string, key: ResolvedKey): void {
  if (!ctx.json) ctx.note(ctx.err.dim(`${what}: ${key.source}`));
}

/** A store as the commands see it: `path` is its location, safe to print (a file path, or a server URL without its password). */
export type CliStore = EncryptedTokenStore & { readonly path: string };

export interface OpenOptions {
  /** The store may not exist yet: a passphrase typed at the prompt is asked twice. */
  create?: boolean;
  /** Decrypt and authenticate the file now (default), not only open it. */
  authenticate?: boolean;
  /** Older keys accepted for reading (recover). */
  previousKeys?: EncryptedFileStoreOptions["previousKeys"];
}

/**
 * Opens the store at `path` with its key (see resolveStoreKey) and, by default,
 * authenticates it. A passphrase typed at the prompt that turns out wrong may be typed
 * again, PASSPHRASE_TRIES times in all; a key from anywhere else is tried once.
 */
export async function openStore(ctx: Context, path: Target | string, options: OpenOptions = {}): Promise<{ store: CliStore; key: ResolvedKey }> {
  const target: Target = typeof path === "string" ? { kind: "file", path, location: path } : path;
  const keying = await storeKeying(target);
  for (let attempt = 1; ; attempt += 1) {
    const key = await resolveStoreKey(ctx, path, { confirm: options.create === true && keying === undefined, keying });
    if (attempt === 1) announceKey(ctx, "key", key);
    try {
      const opened = await openTargetStore(target, key.option, { previousKeys: options.previousKeys, create: options.create === true });
      ctx.closeAtEnd(opened);
      if (!("path" in opened)) Object.defineProperty(opened, "path", { value: opened.toJSON().location });
      const store = opened as CliStore;
      if (options.authenticate !== false) await store.verify();
      return { store, key };
    } catch (error) {
      if (!(error instanceof TokenStoreError) || error.code !== "WRONG_KEY") throw error;
      if (key.prompted && attempt < PASSPHRASE_TRIES) {
        ctx.note(`wrong passphrase; try again (attempt ${attempt + 1} of ${PASSPHRASE_TRIES})`);
        continue;
      }
      throw explainWrongKey(error, key, keying);
    }
  }
}

/** WRONG_KEY, saying so when the key given is of another kind than the one the file is sealed with. */
export function explainWrongKey(error: TokenStoreError, key: Pick<ResolvedKey, "kind" | "source">, keying: Keying | undefined): TokenStoreError {
  if (keying === undefined || key.kind === keying) return error;
  const sealed = keying === "raw" ? "a raw key" : "a passphrase";
  const given = key.kind === "raw" ? "a raw key" : "a passphrase";
  return new TokenStoreError("WRONG_KEY", `${error.reason} (the file is sealed with ${sealed}, and ${given} was given: ${key.source})`, {
    ...(error.path === undefined ? {} : { path: error.path }),
    ...(error.action === undefined ? {} : { action: error.action }),
    cause: error,
  });
}

/**
 * Opens an existing store and checks that it opens and authenticates. A store file that
 * does not exist (and has no previous generation) is FILE_MISSING here, before any
 * directory is created, since a mistyped path is likelier than an empty store.
 */
export async function openExisting(ctx: Context): Promise<CliStore> {
  const target = storeTarget(ctx);
  const found = await presence(target);
  if (!found.stored && !found.previous) throw missing(target);
  return (await openStore(ctx, target)).store;
}

export function missing(target: Target | string): TokenStoreError {
  if (typeof target !== "string" && target.kind !== "file") {
    return new TokenStoreError("FILE_MISSING", `no store at ${target.location}; create it with '${BIN} init'`, { location: target.location });
  }
  const path = typeof target === "string" ? target : target.path;
  return new TokenStoreError(
    "FILE_MISSING",
    `${path} does not exist; check --file (or ${FILE_ENV}; default ${DEFAULT_STORE_FILE}), or create a store with '${BIN} init'`,
    { path },
  );
}
