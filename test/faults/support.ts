/**
 * Shared pieces of the fault suites (issue 6): the size switch, a failure collector
 * that scans every error it sees for secret values, and small file helpers.
 */
import { expect } from "vitest";
import { inspect } from "node:util";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { EncryptedFileStore, TokenStoreError, type ErrorCode } from "../../src/index.js";

/** `npm run stress` sets STRESS=1: every suite runs at its larger size. */
export const STRESS = process.env.STRESS === "1";

/** `small` in `npm test`, `large` under `npm run stress`. */
export function sized(small: number, large: number): number {
  return STRESS ? large : small;
}

/**
 * Secret values in use by the suites. Every error a suite inspects through
 * {@link failure} is scanned for all of them, whichever suite registered them.
 */
const secrets = new Set<string>();

export function registerSecrets(...values: Array<string | null | undefined>): void {
  for (const value of values) if (typeof value === "string" && value.length >= 6) secrets.add(value);
}

/** Every text form of an error: message, stack, inspect (hidden and deep), JSON, and its causes. */
export function errorText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 6; depth++) {
    if (current instanceof Error) {
      parts.push(current.message, String(current.stack), inspect(current, { showHidden: true, depth: 10 }), JSON.stringify(current), String(current));
      current = (current as Error & { cause?: unknown }).cause;
    } else {
      parts.push(inspect(current, { showHidden: true, depth: 10 }));
      break;
    }
  }
  return parts.join("\n");
}

/** Fails when `text` holds any registered secret (or one of `extra`). */
export function expectNoSecrets(text: string, extra: readonly string[] = []): void {
  for (const secret of [...secrets, ...extra]) {
    if (text.includes(secret)) throw new Error(`a secret value (${secret.length} chars) leaked into: ${text.slice(0, 200).replace(secret, "<SECRET>")}`);
  }
}

/** Awaits `promise`, expects a TokenStoreError, scans it for secrets and returns it. */
export async function failure(promise: Promise<unknown> | (() => unknown)): Promise<TokenStoreError> {
  let error: unknown;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (caught) {
    error = caught;
  }
  if (error === undefined) throw new Error("expected a TokenStoreError, but the operation succeeded");
  expectNoSecrets(errorText(error));
  if (!(error instanceof TokenStoreError)) throw new Error(`expected a TokenStoreError, got ${inspect(error).slice(0, 300)}`);
  return error;
}

/** The code of the TokenStoreError `promise` fails with, or "ok". */
export async function outcome(promise: Promise<unknown> | (() => unknown)): Promise<ErrorCode | "ok"> {
  try {
    await (typeof promise === "function" ? promise() : promise);
    return "ok";
  } catch (error) {
    expectNoSecrets(errorText(error));
    if (!(error instanceof TokenStoreError)) throw new Error(`expected a TokenStoreError, got ${inspect(error).slice(0, 300)}`);
    return error.code;
  }
}

/** Bytes of a file, or null when it does not exist. */
export function bytesOf(path: string): Buffer | null {
  return existsSync(path) ? readFileSync(path) : null;
}

/** Asserts the file holds exactly `expected` (null: does not exist). */
export function expectBytes(path: string, expected: Buffer | null, why = path): void {
  const actual = bytesOf(path);
  if (expected === null) expect(actual, why).toBeNull();
  else expect(actual?.equals(expected), `${why}: file changed`).toBe(true);
}

/** Names in `dir`, sorted. */
export function listing(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** The user names of a store, in order, read by a fresh instance. */
export async function userNames(path: string, key: string): Promise<Array<string | null>> {
  const store = await EncryptedFileStore.open({ path, key });
  return (await store.getTokens()).map((t) => t.userName);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
