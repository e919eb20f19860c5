/**
 * Where keys come from. Never the command line (it shows in `ps` and shell history):
 * `--key-file PATH`, `--key-file -` (the key on standard input, from a pipe or a
 * redirect), `--keychain [NAME]` (an OS keychain entry), else ZOHO_TOKEN_STORE_KEY_FILE,
 * ZOHO_TOKEN_STORE_KEY or ZOHO_TOKEN_STORE_PASSPHRASE (at most one of them), else the
 * default key file ./zoho.key when it exists (as an application's `configFromEnv()` reads
 * it; not for a passphrase store), else a hidden prompt: only when stdin is a terminal and
 * the store is one a passphrase can open (a passphrase store, or one being created).
 */
import { existsSync } from "node:fs";
import { DEFAULT_KEY_FILE, KEY_FILE_ENV, STORE_FILE_ENV, TokenStoreError } from "../index.js";
import { CliError, EXIT_INTERRUPTED, usage } from "./exit.js";
import { printable } from "./format.js";
import type { CliIo, InStream } from "./io.js";
import type { Keying } from "./store-file.js";

export const KEY_ENV = "ZOHO_TOKEN_STORE_KEY";
export const PASSPHRASE_ENV = "ZOHO_TOKEN_STORE_PASSPHRASE";
const NEW_KEY_ENV = "ZOHO_TOKEN_STORE_NEW_KEY";
const NEW_PASSPHRASE_ENV = "ZOHO_TOKEN_STORE_NEW_PASSPHRASE";
export const PREVIOUS_KEY_ENV = "ZOHO_TOKEN_STORE_PREVIOUS_KEY";
export const FILE_ENV = STORE_FILE_ENV;

/** `--key-file -`: the key comes from standard input. */
export const STDIN = "-";

/** Store options naming one key, as EncryptedFileStore.open takes them. */
export type KeyOption = { key: string } | { keyFile: string } | { passphrase: string } | { keychain: { account: string } };

/** A key for a store, and where it came from. */
export interface ResolvedKey {
  option: KeyOption;
  /**
   * Where the key came from, for people: "--key-file ./zoho.key", "--key-file -
   * (standard input)", "ZOHO_TOKEN_STORE_KEY", "passphrase (prompt)". Never the key.
   */
  source: string;
  kind: Keying;
  /** Typed at the prompt: one that turns out wrong may be typed again. */
  prompted: boolean;
}

/** Options that would put a key on the command line; refused by name, value never echoed. */
export const FORBIDDEN_OPTIONS = /^--(key|passphrase|password|secret|new-key|new-passphrase)(=|$)/;

/** The most standard input may hold for `--key-file -`: a key is 44 characters. */
const MAX_STDIN_KEY_BYTES = 1024;

export interface KeyRequest {
  /** The --key-file (or --new-key-file) value as given: a path, "-", or undefined. */
  keyFile: string | undefined;
  /** The --keychain (or --new-keychain) entry name, if given. */
  keychain?: string | undefined;
  /** Resolves a path given on the command line. */
  resolvePath(given: string): string;
  /** How the existing store is keyed; undefined when there is no store yet or its header cannot be read. */
  keying?: Keying | undefined;
  /** The store file, for messages. */
  path?: string;
  /** Ask twice when prompting: a passphrase being set, not checked. */
  confirm?: boolean;
  /** False: never prompt (doctor checks with a key at hand or not at all). */
  prompt?: boolean;
}

interface KeySources {
  /** The variable naming a key file, if these keys have one. */
  keyFileEnv?: string;
  /** The key file used when nothing else gives a key and it exists. */
  defaultKeyFile?: string;
  keyEnv: string;
  passphraseEnv: string;
  /** Wording for messages: "key" or "new key". */
  what: string;
  keyFileFlag: string;
  keychainFlag: string;
}

const CURRENT: KeySources = {
  keyFileEnv: KEY_FILE_ENV,
  defaultKeyFile: DEFAULT_KEY_FILE,
  keyEnv: KEY_ENV,
  passphraseEnv: PASSPHRASE_ENV,
  what: "key",
  keyFileFlag: "--key-file",
  keychainFlag: "--keychain",
};
const NEW: KeySources = {
  keyEnv: NEW_KEY_ENV,
  passphraseEnv: NEW_PASSPHRASE_ENV,
  what: "new key",
  keyFileFlag: "--new-key-file",
  keychainFlag: "--new-keychain",
};

/** The key of the store, from --key-file, the environment or a prompt. */
export function storeKey(io: CliIo, request: KeyRequest): Promise<ResolvedKey> {
  return resolveKey(io, CURRENT, request);
}

/** The new key for rekey, from --new-key-file, the environment or a prompt (asked twice). */
export function newStoreKey(io: CliIo, request: Omit<KeyRequest, "keying" | "confirm">): Promise<ResolvedKey> {
  return resolveKey(io, NEW, { ...request, confirm: true });
}

async function resolveKey(io: CliIo, sources: KeySources, request: KeyRequest): Promise<ResolvedKey> {
  const { keyFileFlag, keychainFlag, keyEnv, passphraseEnv, what } = sources;
  if (request.keychain !== undefined) {
    if (request.keyFile !== undefined) throw usage(`give the ${what} once: ${keyFileFlag} or ${keychainFlag}, not both`);
    if (request.keychain.length === 0) throw usage(`${keychainFlag} needs an entry name, or none at all for the default one`);
    // The entry name is not a secret; it is shown as given.
    return {
      option: { keychain: { account: request.keychain } },
      source: `${keychainFlag} ${printable(request.keychain)} (OS keychain)`,
      kind: "raw",
      prompted: false,
    };
  }
  if (request.keyFile === STDIN) {
    return { option: { key: await readStdinKey(io, keyFileFlag) }, source: `${keyFileFlag} - (standard input)`, kind: "raw", prompted: false };
  }
  if (request.keyFile !== undefined) {
    const path = request.resolvePath(request.keyFile);
    if (/^[A-Za-z0-9+/]{43}=$/.test(request.keyFile) && !existsSync(path)) {
      // Not repeated: it has the form of a key, given where a file name belongs.
      throw usage(
        `${keyFileFlag} takes the name of a file holding the ${what}, not the ${what} itself (keys never go on the command line; use ${keyFileFlag} - to read it from standard input)`,
      );
    }
    return { option: { keyFile: path }, source: `${keyFileFlag} ${printable(request.keyFile)}`, kind: "raw", prompted: false };
  }
  const keyFileEnv = sources.keyFileEnv;
  const envKeyFile = keyFileEnv === undefined ? undefined : io.env[keyFileEnv];
  const key = io.env[keyEnv];
  const passphrase = io.env[passphraseEnv];
  const set = [envKeyFile && keyFileEnv, key && keyEnv, passphrase && passphraseEnv].filter((name): name is string => Boolean(name));
  if (set.length > 1) {
    throw new CliError("USAGE", `${set.slice(0, -1).join(", ")} and ${set.at(-1)} are set; unset all but the one that gives the ${what}`);
  }
  if (envKeyFile)
    return { option: { keyFile: request.resolvePath(envKeyFile) }, source: `${keyFileEnv} (${printable(envKeyFile)})`, kind: "raw", prompted: false };
  if (key) return { option: { key }, source: keyEnv, kind: "raw", prompted: false };
  if (passphrase) return { option: { passphrase }, source: passphraseEnv, kind: "passphrase", prompted: false };
  if (sources.defaultKeyFile !== undefined && request.keying !== "passphrase") {
    // The key file an application uses when none is named (configFromEnv), when it is there.
    const path = request.resolvePath(sources.defaultKeyFile);
    if (existsSync(path)) return { option: { keyFile: path }, source: `${sources.defaultKeyFile} (the default key file)`, kind: "raw", prompted: false };
  }
  const keyHelp =
    `pass ${keyFileFlag} K or ${keyFileFlag} - (the ${what} on standard input), or set ${keyFileEnv ? `${keyFileEnv} or ` : ""}${keyEnv}` +
    (sources.defaultKeyFile ? ` (without them, ${sources.defaultKeyFile} is used when it exists)` : "");
  if (request.keying === "raw") {
    // A passphrase cannot open it: asking for one would only end in "wrong key".
    throw new CliError(
      "NO_KEY",
      `${request.path ? printable(request.path) : "the store"} is sealed with a raw key, and no key was given: ${keyHelp} (base64, as 'zoho-encrypted-filestore keygen' makes it)`,
    );
  }
  if (request.prompt !== false && canPrompt(io.stdin)) {
    const first = await promptHidden(io, `Passphrase${what === "key" ? "" : " (new)"}: `);
    if (first.length === 0) throw new CliError("CANCELLED", "empty passphrase; nothing was done");
    if (request.confirm && (await promptHidden(io, "Repeat passphrase: ")) !== first) {
      throw new CliError("CANCELLED", "the passphrases differ; nothing was done");
    }
    return { option: { passphrase: first }, source: "passphrase (prompt)", kind: "passphrase", prompted: true };
  }
  throw new CliError(
    "NO_KEY",
    `no ${what}: ${keyHelp} (base64, from 'zoho-encrypted-filestore keygen') or ${passphraseEnv}; ` +
      "keys are never read from the command line, and stdin is not a terminal to ask for a passphrase",
  );
}

/**
 * Reads the base64 key from standard input to its end (a pipe may deliver it in
 * several chunks). Refused when stdin is a terminal, where the key would show as it is
 * typed. Nothing read is ever written back.
 */
function readStdinKey(io: CliIo, flag: string): Promise<string> {
  const { stdin } = io;
  if (stdin.isTTY) {
    return Promise.reject(
      usage(
        `${flag} - reads the key from standard input, which is a terminal here (a typed key would show); pipe or redirect it instead (${flag} - < zoho.key), or give ${flag} PATH`,
      ),
    );
  }
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Ctrl-C while waiting for the pipe: exit 130 with a word, as at the prompt.
    const stopWatching = io.onInterrupt?.(() => {
      stdin.pause?.();
      done(new CliError("CANCELLED", `interrupted while reading the key from standard input (${flag} -); nothing was done`, EXIT_INTERRUPTED));
    });
    const done = (error: Error | undefined, key?: string) => {
      stopWatching?.();
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      stdin.off("error", onError);
      for (const chunk of chunks) chunk.fill(0);
      if (error) reject(error);
      else resolve(key!);
    };
    const onData = (chunk: string | Buffer) => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk);
      size += bytes.length;
      chunks.push(bytes);
      if (size > MAX_STDIN_KEY_BYTES) {
        stdin.pause?.();
        done(usage(`standard input holds more than ${MAX_STDIN_KEY_BYTES} bytes; ${flag} - expects one base64 key (44 characters)`));
      }
    };
    const onEnd = () => {
      const key = Buffer.concat(chunks).toString("utf8").trim();
      if (key.length === 0) done(new CliError("NO_KEY", `standard input was empty; ${flag} - expects the base64 key there (${flag} - < zoho.key)`));
      else done(undefined, key);
    };
    const onError = (error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      done(new TokenStoreError("IO_ERROR", `cannot read the key from standard input: ${code}`, { cause: error }));
    };
    stdin.on("data", onData);
    stdin.on("end", onEnd);
    stdin.on("error", onError);
    stdin.resume?.();
  });
}

function canPrompt(stdin: InStream): boolean {
  return stdin.isTTY === true && typeof stdin.setRawMode === "function";
}

/**
 * Reads one line from the terminal without echoing it. Ctrl-C cancels with exit code
 * 130 (as if interrupted); Ctrl-D on an empty line cancels. The prompt goes to stderr,
 * so stdout stays clean for the output.
 */
function promptHidden(io: CliIo, question: string): Promise<string> {
  const { stdin, stderr } = io;
  return new Promise<string>((resolve, reject) => {
    let value = "";
    const wasRaw = stdin.isRaw === true;
    // A SIGINT from outside the terminal (kill -INT) ends the prompt as Ctrl-C typed does.
    const stopWatching = io.onInterrupt?.(() => finish(new CliError("CANCELLED", "interrupted at the passphrase prompt; nothing was done", EXIT_INTERRUPTED)));
    const finish = (error: CliError | undefined) => {
      stopWatching?.();
      stdin.off("data", onData);
      stdin.setRawMode!(wasRaw);
      stdin.pause?.();
      stderr.write("\n");
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string | Buffer) => {
      for (const char of typeof chunk === "string" ? chunk : chunk.toString("utf8")) {
        if (char === "\r" || char === "\n") return finish(undefined);
        if (char === "\u0003") return finish(new CliError("CANCELLED", "interrupted at the passphrase prompt; nothing was done", EXIT_INTERRUPTED));
        if (char === "\u0004" && value.length === 0) return finish(new CliError("CANCELLED", "cancelled at the passphrase prompt; nothing was done"));
        if (char === "\u0004") return finish(undefined);
        if (char === "\u007f" || char === "\b") value = value.slice(0, -1);
        else if (char >= " ") value += char;
      }
    };
    // Echo goes off before the question shows, so nothing typed after it can echo.
    stdin.setRawMode!(true);
    stderr.write(question);
    stdin.setEncoding?.("utf8");
    stdin.on("data", onData);
    stdin.resume?.();
  });
}
