/**
 * What a command reads and writes: arguments come separately, everything else is here,
 * so a test can run a command in process with its own environment and streams.
 */
import { invocation } from "./invocation.js";

/** A stream a command writes to. `isTTY` decides colour. */
export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/**
 * Standard input: a hidden passphrase is read from it only when it is a terminal, a
 * key (`--key-file -`) only when it is not.
 */
export interface InStream {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
  setEncoding?(encoding: BufferEncoding): unknown;
  // One signature for "data" (a chunk), "end" (nothing) and "error" (the error).
  // biome-ignore lint/suspicious/noExplicitAny: a listener of several events, as Node's own stream types declare it.
  on(event: "data" | "end" | "error", listener: (...args: any[]) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  off(event: "data" | "end" | "error", listener: (...args: any[]) => void): unknown;
  resume?(): unknown;
  pause?(): unknown;
}

export interface CliIo {
  env: Record<string, string | undefined>;
  stdin: InStream;
  stdout: OutStream;
  stderr: OutStream;
  /** Directory relative paths are resolved against. Default: process.cwd(). */
  cwd?: string;
  /** Clock in ms since the epoch, for expiry and staleness. Default: Date.now. */
  now?: () => number;
  /**
   * How this tool was started ("npx zoho-encrypted-filestore", ...), for the commands it
   * suggests, which must run as pasted. Default: "zoho-encrypted-filestore".
   */
  invocation?: string;
  /**
   * Calls `listener` on an interrupt (SIGINT: Ctrl-C) instead of the process dying
   * silently, until the returned function is called. Absent: interrupts are not caught.
   */
  onInterrupt?(listener: () => void): () => void;
}

/** The real process's environment and streams. */
export function processIo(): CliIo {
  return {
    env: process.env,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    invocation: invocation(process.env, process.argv[1], process.execPath),
    onInterrupt: (listener) => {
      process.once("SIGINT", listener);
      return () => void process.off("SIGINT", listener);
    },
  };
}

/** ANSI styles; no-ops when colourOn says no. */
export interface Style {
  red(text: string): string;
  yellow(text: string): string;
  green(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

/**
 * Whether to colour a stream. NO_COLOR set to anything but "" turns colour off
 * (https://no-color.org) and wins over everything; FORCE_COLOR set to anything but ""
 * turns it on even off a terminal (for a pager or a CI log), except "0", which turns it
 * off; otherwise colour only on a terminal whose TERM is not "dumb".
 */
function colourOn(stream: OutStream, env: CliIo["env"]): boolean {
  if (env.NO_COLOR) return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== "") return force !== "0";
  return stream.isTTY === true && env.TERM !== "dumb";
}

export function styleFor(stream: OutStream, env: CliIo["env"]): Style {
  const on = colourOn(stream, env);
  const wrap = (open: number, close: number) => (text: string) => (on ? `\u001b[${open}m${text}\u001b[${close}m` : text);
  return { red: wrap(31, 39), yellow: wrap(33, 39), green: wrap(32, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
}
