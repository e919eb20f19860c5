/**
 * Where keys come from. Never the command line (it shows in `ps` and shell history):
 * `--key-file PATH`, else ZOHO_TOKEN_STORE_KEY, else ZOHO_TOKEN_STORE_PASSPHRASE, else a
 * hidden prompt, and the prompt only when stdin is a terminal.
 */
import { CliError } from "./exit.js";
import type { CliIo, InStream } from "./io.js";

export const KEY_ENV = "ZOHO_TOKEN_STORE_KEY";
export const PASSPHRASE_ENV = "ZOHO_TOKEN_STORE_PASSPHRASE";
export const NEW_KEY_ENV = "ZOHO_TOKEN_STORE_NEW_KEY";
export const NEW_PASSPHRASE_ENV = "ZOHO_TOKEN_STORE_NEW_PASSPHRASE";
export const PREVIOUS_KEY_ENV = "ZOHO_TOKEN_STORE_PREVIOUS_KEY";
export const FILE_ENV = "ZOHO_TOKEN_STORE_FILE";

/** Store options naming one key, as EncryptedFileStore.open takes them. */
export type KeyOption = { key: string } | { keyFile: string } | { passphrase: string };

/** Options that would put a key on the command line; refused by name, value never echoed. */
export const FORBIDDEN_OPTIONS = /^--(key|passphrase|password|secret|new-key|new-passphrase)(=|$)/;

interface KeySources {
  keyFile: string | undefined;
  keyEnv: string;
  passphraseEnv: string;
  /** Wording for messages: "key" or "new key". */
  what: string;
  keyFileFlag: string;
  /** Ask twice when prompting (a passphrase being set, not checked). */
  confirm: boolean;
}

/** The key of the store, from --key-file, the environment or a prompt. */
export function storeKey(io: CliIo, keyFile: string | undefined, { confirm = false } = {}): Promise<KeyOption> {
  return resolveKey(io, { keyFile, keyEnv: KEY_ENV, passphraseEnv: PASSPHRASE_ENV, what: "key", keyFileFlag: "--key-file", confirm });
}

/** The new key for rekey, from --new-key-file, the environment or a prompt. */
export function newStoreKey(io: CliIo, keyFile: string | undefined): Promise<KeyOption> {
  return resolveKey(io, {
    keyFile,
    keyEnv: NEW_KEY_ENV,
    passphraseEnv: NEW_PASSPHRASE_ENV,
    what: "new key",
    keyFileFlag: "--new-key-file",
    confirm: true,
  });
}

async function resolveKey(io: CliIo, sources: KeySources): Promise<KeyOption> {
  if (sources.keyFile !== undefined) return { keyFile: sources.keyFile };
  const key = io.env[sources.keyEnv];
  const passphrase = io.env[sources.passphraseEnv];
  if (key && passphrase) {
    throw new CliError("USAGE", `both ${sources.keyEnv} and ${sources.passphraseEnv} are set; unset the one that is not the ${sources.what}`);
  }
  if (key) return { key };
  if (passphrase) return { passphrase };
  if (canPrompt(io.stdin)) {
    const first = await promptHidden(io, `Passphrase${sources.what === "key" ? "" : " (new)"}: `);
    if (first.length === 0) throw new CliError("CANCELLED", "empty passphrase; nothing was done");
    if (sources.confirm && (await promptHidden(io, "Repeat passphrase: ")) !== first) {
      throw new CliError("CANCELLED", "the passphrases differ; nothing was done");
    }
    return { passphrase: first };
  }
  throw new CliError(
    "NO_KEY",
    `no ${sources.what}: pass ${sources.keyFileFlag} PATH or set ${sources.keyEnv} (base64, from 'zoho-encrypted-filestore keygen') or ${sources.passphraseEnv}; ` +
      "keys are never read from the command line, and stdin is not a terminal to ask for a passphrase",
  );
}

export function canPrompt(stdin: InStream): boolean {
  return stdin.isTTY === true && typeof stdin.setRawMode === "function";
}

/**
 * Reads one line from the terminal without echoing it. Ctrl-C or Ctrl-D on an empty
 * line cancels. The prompt goes to stderr, so stdout stays clean for the output.
 */
export function promptHidden(io: CliIo, question: string): Promise<string> {
  const { stdin, stderr } = io;
  return new Promise<string>((resolve, reject) => {
    let value = "";
    const wasRaw = stdin.isRaw === true;
    const finish = (error: CliError | undefined) => {
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
        if (char === "\u0003" || (char === "\u0004" && value.length === 0)) {
          return finish(new CliError("CANCELLED", "cancelled at the passphrase prompt; nothing was done"));
        }
        if (char === "\u0004") return finish(undefined);
        if (char === "\u007f" || char === "\b") value = value.slice(0, -1);
        else if (char >= " ") value += char;
      }
    };
    stderr.write(question);
    stdin.setRawMode!(true);
    stdin.setEncoding?.("utf8");
    stdin.on("data", onData);
    stdin.resume?.();
  });
}
