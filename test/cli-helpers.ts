import { EventEmitter } from "node:events";
import { expect } from "vitest";
import { run } from "../src/cli/run.js";
import type { CliIo } from "../src/cli/io.js";

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

/** A writable stream that keeps what is written. */
export function sink(isTTY = false) {
  return {
    text: "",
    isTTY,
    write(chunk: string) {
      this.text += chunk;
      return true;
    },
  };
}

/** A stdin that is not a terminal and fails the test if anything reads it. */
export function closedStdin() {
  return {
    isTTY: false,
    on(): never {
      throw new Error("the command read stdin although it is not a terminal");
    },
    off() {},
  };
}

/** A fake terminal stdin that types `lines` (each followed by Enter) when read. */
export function ttyStdin(lines: string[]) {
  const emitter = new EventEmitter();
  const state = { raw: false, prompts: 0, rawModes: [] as boolean[] };
  const stdin = {
    isTTY: true,
    get isRaw() {
      return state.raw;
    },
    setRawMode(mode: boolean) {
      state.raw = mode;
      state.rawModes.push(mode);
    },
    setEncoding() {},
    on(event: "data", listener: (chunk: string) => void) {
      emitter.on(event, listener);
      state.prompts += 1;
      const line = lines.shift();
      if (line !== undefined) setImmediate(() => emitter.emit("data", `${line}\r`));
    },
    off(event: "data", listener: (chunk: string) => void) {
      emitter.off(event, listener);
    },
    resume() {},
    pause() {},
  };
  return { stdin, state };
}

/** Runs the command line in process, as `zoho-encrypted-filestore ...argv`. */
export async function cli(
  argv: string[],
  env: Record<string, string | undefined> = {},
  options: { stdin?: CliIo["stdin"]; tty?: boolean; now?: () => number; cwd?: string } = {},
): Promise<Captured> {
  const stdout = sink(options.tty ?? false);
  const stderr = sink(options.tty ?? false);
  const io: CliIo = {
    env,
    stdin: options.stdin ?? closedStdin(),
    stdout,
    stderr,
    ...(options.now ? { now: options.now } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  };
  const code = await run(argv, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** An SDK FileStore CSV (10 columns unless `columns` is 9) from rows of values. */
export function sdkCsv(rows: Array<Record<string, string | null | undefined>>, columns: 9 | 10 = 10, userColumn = "user_name"): string {
  const fields = ["userName", "clientId", "clientSecret", "refreshToken", "accessToken", "grantToken", "expiryTime", "redirectUrl", "apiDomain"].slice(
    0,
    columns - 1,
  );
  const header = [
    "id",
    userColumn,
    "client_id",
    "client_secret",
    "refresh_token",
    "access_token",
    "grant_token",
    "expiry_time",
    "redirect_url",
    "api_domain",
  ].slice(0, columns);
  const lines = [header.join(",")];
  rows.forEach((row, index) => lines.push([String(index + 1), ...fields.map((field) => row[field] ?? "")].join(",")));
  return lines.join("\n");
}

/** The one shape of every command's --json output (see JsonOutput in src/cli/exit.ts). */
export interface JsonOutput {
  ok: boolean;
  command: string | null;
  result: any;
  error: { code: string; message: string } | null;
}

/** Parses --json output and checks that it has exactly the four fields, consistently. */
export function jsonOutput(stdout: string): JsonOutput {
  const output = JSON.parse(stdout) as JsonOutput;
  expect(Object.keys(output)).toEqual(["ok", "command", "result", "error"]);
  expect(output.ok).toBe(output.error === null);
  if (output.error !== null) expect(Object.keys(output.error)).toEqual(["code", "message"]);
  return output;
}

/** The `result` of a command's --json output, after checking that the command succeeded. */
export function jsonResult(stdout: string): any {
  const output = jsonOutput(stdout);
  expect(output.error).toBeNull();
  return output.result;
}
