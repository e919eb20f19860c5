/**
 * The operating system's keychain as a key source: macOS Keychain, Windows Credential
 * Manager, or the Secret Service on a Linux desktop (GNOME Keyring, KWallet, KeePassXC).
 *
 * The keychain is reached through the optional peer dependency `@napi-rs/keyring`,
 * imported only when a keychain entry is first used: a program that never names one
 * loads nothing more. An entry holds the key as the same base64 text a key file holds.
 *
 * Never a silent downgrade:
 * - On Linux the Secret Service is chosen explicitly. Left to itself the library falls
 *   back to the kernel keyring, whose keys do not survive a reboot; it would then hold
 *   the only copy of the key to a refresh token that never expires.
 * - No keychain (no D-Bus session, no Secret Service, a locked keychain whose unlock
 *   prompt is dismissed or cannot be shown, a keychain that does not answer) is a
 *   KEYCHAIN_UNAVAILABLE error within {@link KEYCHAIN_TIMEOUT_MS} (plus, on Linux, the
 *   Secret Service library's own two-second reply timeout when the service hangs), never
 *   a hang and never another source.
 *
 * The native library connects to D-Bus synchronously when an entry is made, and a bus
 * that accepts a connection but never answers blocks that call for good. So on Linux the
 * session bus is first asked for a greeting asynchronously, with a deadline.
 */
import { createConnection } from "node:net";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { AsyncEntry as AsyncEntryType } from "@napi-rs/keyring";
import { describeType, TokenStoreError } from "../errors.js";
import { generateKey, parseKey } from "./keys.js";
import type { KeySource } from "./key-sources.js";

/** Service name of keychain entries when none is given. */
export const KEYCHAIN_SERVICE = "zoho-encrypted-filestore";
/** Account (entry) name when none is given. */
export const KEYCHAIN_ACCOUNT = "default";
/** Longest wait for the keychain before KEYCHAIN_UNAVAILABLE. */
export const KEYCHAIN_TIMEOUT_MS = 2500;
/** The package that reaches the keychain, and the version this package is tested with. */
export const KEYRING_PACKAGE = "@napi-rs/keyring";
export const KEYRING_VERSION = "2.1.2";

/** Longest service or account name accepted. */
const MAX_NAME_LENGTH = 256;
/** Part of the budget the Linux bus probe may take. */
const PROBE_MS = 1000;

/** A keychain entry: `service` (default `zoho-encrypted-filestore`) and `account` (default `default`). */
export interface KeychainOptions {
  /** The entry's service name. Default `zoho-encrypted-filestore`. */
  service?: string;
  /** The entry's account name: one name per key. Default `default`. */
  account?: string;
}

/** A keychain entry, checked and with its defaults. */
export interface KeychainEntryName {
  service: string;
  account: string;
}

/** Checks a keychain option (`what` names it in messages). */
export function keychainEntryName(options: unknown, what = "keychain"): KeychainEntryName {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TokenStoreError("INVALID_OPTION", `${what} must be an object { service?, account? }, got ${describeType(options)}`);
  }
  for (const name of Reflect.ownKeys(options)) {
    if (name !== "service" && name !== "account") {
      throw new TokenStoreError("INVALID_OPTION", `unknown ${what} option ${JSON.stringify(String(name)).slice(0, 40)}; known: service, account`);
    }
  }
  const { service = KEYCHAIN_SERVICE, account = KEYCHAIN_ACCOUNT } = options as KeychainOptions;
  return { service: checkName(service, `${what}.service`), account: checkName(account, `${what}.account`) };
}

function checkName(value: unknown, what: string): string {
  if (typeof value !== "string" || value.length === 0)
    throw new TokenStoreError("INVALID_OPTION", `${what} must be a non-empty string, got ${describeType(value)}`);
  if (value.length > MAX_NAME_LENGTH) throw new TokenStoreError("INVALID_OPTION", `${what} is longer than ${MAX_NAME_LENGTH} characters`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new TokenStoreError("INVALID_OPTION", `${what} must not contain control characters`);
  return value;
}

/** How an entry is named in messages: never its content. */
export function describeEntry(name: KeychainEntryName): string {
  return `keychain entry ${JSON.stringify(name.account)}${name.service === KEYCHAIN_SERVICE ? "" : ` of service ${JSON.stringify(name.service)}`}`;
}

/**
 * The key in an OS keychain entry, as a key source. Nothing is loaded or asked until
 * the store needs the key.
 *
 * @param options the entry; see {@link KeychainOptions}
 * @throws TokenStoreError INVALID_OPTION for a malformed name (at once); when loaded,
 *   KEYCHAIN_UNAVAILABLE, KEYCHAIN_NO_ENTRY or KEYCHAIN_BAD_ENTRY
 * @example
 * const store = await EncryptedFileStore.open({ path: "zoho.tokens", keychain: { account: "crm-sync" } });
 */
export function keychain(options: KeychainOptions = {}): KeySource {
  return keychainKeySource(options, "keychain");
}

/** {@link keychain}, with `what` naming the option in messages. */
export function keychainKeySource(options: KeychainOptions, what: string): KeySource {
  const name = keychainEntryName(options, what);
  return { description: describeEntry(name), load: async () => ({ kind: "raw", key: await readKeychainKey(name) }) };
}

async function readKeychainKey(name: KeychainEntryName): Promise<Uint8Array> {
  const deadline = Date.now() + KEYCHAIN_TIMEOUT_MS;
  const entry = await openEntry(name, deadline, "read the key from");
  let value: string | null;
  try {
    value = await bounded((signal) => entry.getPassword(signal), deadline);
  } catch (error) {
    throw keychainError(error, name, "read the key from");
  }
  if (value === null) {
    throw new TokenStoreError("KEYCHAIN_NO_ENTRY", `the keychain holds no ${describeEntry(name)}`, {
      action: "create-keychain-key",
      advice: "createKeychainKey() stores a new random key there",
    });
  }
  try {
    return parseKey(value, describeEntry(name));
  } catch {
    // Not repeated, not attached: it could be any secret another program keeps there.
    throw badEntry(name);
  }
}

/**
 * Creates a new random key straight into an OS keychain entry: the key never passes
 * through a file, the environment or a terminal. An existing entry is never replaced.
 *
 * @returns the entry written
 * @throws TokenStoreError KEYCHAIN_ENTRY_EXISTS when the entry exists (nothing changed),
 *   KEYCHAIN_UNAVAILABLE when there is no usable keychain
 * @example
 * await createKeychainKey({ account: "crm-sync" });
 * const store = await EncryptedFileStore.open({ path: "zoho.tokens", keychain: { account: "crm-sync" } });
 */
export async function createKeychainKey(options: KeychainOptions = {}): Promise<KeychainEntryName> {
  const name = keychainEntryName(options);
  const deadline = Date.now() + KEYCHAIN_TIMEOUT_MS;
  const entry = await openEntry(name, deadline, "store a key in");
  let existing: string | null;
  try {
    existing = await bounded((signal) => entry.getPassword(signal), deadline);
  } catch (error) {
    // An entry that is not text is there all the same.
    if (isBadEncoding(error)) existing = "";
    else throw keychainError(error, name, "store a key in");
  }
  if (existing !== null) {
    throw new TokenStoreError(
      "KEYCHAIN_ENTRY_EXISTS",
      `the ${describeEntry(name)} already exists; nothing was changed (a key is never overwritten: choose another account name)`,
    );
  }
  try {
    await bounded((signal) => entry.setPassword(generateKey(), signal), deadline + KEYCHAIN_TIMEOUT_MS);
  } catch (error) {
    throw keychainError(error, name, "store a key in");
  }
  return name;
}

/** The error for an entry that holds something other than a key of this package. */
function badEntry(name: KeychainEntryName): TokenStoreError {
  return new TokenStoreError(
    "KEYCHAIN_BAD_ENTRY",
    `the ${describeEntry(name)} holds something other than a key of this package (a base64 32-byte key); it was not used and not changed. Another program may keep it: choose another account name`,
  );
}

type Keyring = typeof import("@napi-rs/keyring");

let keyringModule: Promise<Keyring> | undefined;

/** The optional peer dependency, imported on first use only. */
function loadKeyring(): Promise<Keyring> {
  keyringModule ??= import(KEYRING_PACKAGE).then(
    (module: Keyring & { default?: Keyring }) => (typeof module.AsyncEntry === "function" ? module : (module.default as Keyring)),
    (error: unknown) => {
      keyringModule = undefined;
      const code = (error as NodeJS.ErrnoException).code;
      const missing = code === "ERR_MODULE_NOT_FOUND" && String((error as Error).message).includes(KEYRING_PACKAGE);
      throw new TokenStoreError(
        "KEYCHAIN_UNAVAILABLE",
        missing
          ? `the keychain needs the optional package ${KEYRING_PACKAGE}, which is not installed (npm install ${KEYRING_PACKAGE}@${KEYRING_VERSION})`
          : `${KEYRING_PACKAGE} cannot be loaded on this platform (${process.platform}-${process.arch}): no keychain`,
        { action: "other-key-source", advice: OTHER_SOURCES, ...(missing ? {} : { cause: error }) },
      );
    },
  );
  return keyringModule;
}

const OTHER_SOURCES = "give the key another way: the keyFile or passphrase option";

/** An entry of the keychain, after making sure (on Linux) that the session bus answers. */
async function openEntry(name: KeychainEntryName, deadline: number, doing: string): Promise<AsyncEntryType> {
  const { AsyncEntry } = await loadKeyring();
  if (process.platform === "linux") await probeSessionBus(name, doing, deadline);
  try {
    // The Secret Service only: never the kernel keyring (see the top of this file).
    return new AsyncEntry(name.service, name.account, { linux: { store: "secret-service" } });
  } catch (error) {
    throw keychainError(error, name, doing);
  }
}

/** Runs a keychain call with an AbortSignal, and stops waiting at the deadline even if the call ignores it. */
function bounded<T>(call: (signal: AbortSignal) => Promise<T>, deadline: number): Promise<T> {
  const controller = new AbortController();
  const ms = Math.max(250, deadline - Date.now());
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort();
      reject(new KeychainTimeout(ms));
    }, ms);
    call(controller.signal).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(controller.signal.aborted ? new KeychainTimeout(ms) : error);
      },
    );
  });
}

class KeychainTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

function isBadEncoding(error: unknown): boolean {
  return /not valid UTF-8|BadEncoding/i.test(String((error as Error | undefined)?.message ?? ""));
}

/** Maps what the keyring library throws to a coded error; its messages carry no secret, except an encoding error's data, which is never kept. */
function keychainError(error: unknown, name: KeychainEntryName, doing: string): TokenStoreError {
  if (error instanceof TokenStoreError) return error;
  if (isBadEncoding(error)) return badEntry(name);
  const text = String((error as Error | undefined)?.message ?? "").slice(0, 300);
  let what: string;
  // Checked in this order: "Did not receive a reply" comes with a text that mentions a bus policy that "blocked" it.
  if (error instanceof KeychainTimeout) what = `the keychain did not answer within ${error.ms} ms`;
  else if (/Did not receive a reply|\bTimed ?out\b/i.test(text)) what = "the Secret Service did not answer (its keyring daemon may be stuck)";
  else if (/prompt was dismissed/i.test(text)) what = "the keychain is locked, and its unlock prompt was dismissed or cannot be shown here";
  else if (/\blocked\b/i.test(text)) what = "the keychain is locked";
  else if (/autolaunch|DBUS_SESSION_BUS_ADDRESS/i.test(text)) {
    what = "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set): no Secret Service can be reached";
  } else if (/No DBus session or Secret Service provider|ServiceUnknown|not provided by any \.service/i.test(text)) {
    what = "no Secret Service provider (such as gnome-keyring-daemon or KeePassXC) on the D-Bus session bus";
  } else what = `the keychain refused (${text.replace(/\s+/g, " ").trim() || "no reason given"})`;
  return new TokenStoreError("KEYCHAIN_UNAVAILABLE", `cannot ${doing} the ${describeEntry(name)}: ${what}`, {
    action: "other-key-source",
    advice: OTHER_SOURCES,
    ...(error instanceof KeychainTimeout ? {} : { cause: error }),
  });
}

/**
 * Where libdbus finds the session bus: DBUS_SESSION_BUS_ADDRESS (its first address),
 * else `$XDG_RUNTIME_DIR/bus`. Undefined when it cannot be told (then the native
 * library reports what it finds, quickly: nothing to connect to cannot hang).
 */
function sessionBusEndpoint(env: NodeJS.ProcessEnv): { path: string } | { host: string; port: number } | undefined {
  const address = env.DBUS_SESSION_BUS_ADDRESS;
  if (!address) {
    const runtime = env.XDG_RUNTIME_DIR;
    return runtime && existsSync(join(runtime, "bus")) ? { path: join(runtime, "bus") } : undefined;
  }
  const first = address.split(";")[0] ?? "";
  const colon = first.indexOf(":");
  const transport = first.slice(0, colon);
  const keys = new Map<string, string>();
  for (const pair of first.slice(colon + 1).split(",")) {
    const eq = pair.indexOf("=");
    if (eq > 0) {
      try {
        keys.set(pair.slice(0, eq), decodeURIComponent(pair.slice(eq + 1)));
      } catch {
        return undefined;
      }
    }
  }
  if (transport === "unix" && keys.has("path")) return { path: keys.get("path")! };
  if (transport === "unix" && keys.has("abstract")) return { path: `\0${keys.get("abstract")}` };
  if (transport === "tcp" && keys.has("port")) return { host: keys.get("host") ?? "localhost", port: Number(keys.get("port")) };
  return undefined;
}

/**
 * Asks the session bus for a greeting (an AUTH line with no mechanism, which a bus
 * answers at once with the mechanisms it supports), within the probe's part of the budget.
 */
function probeSessionBus(name: KeychainEntryName, doing: string, deadline: number): Promise<void> {
  const endpoint = sessionBusEndpoint(process.env);
  if (endpoint === undefined) return Promise.resolve();
  const ms = Math.max(100, Math.min(PROBE_MS, deadline - Date.now()));
  const fail = (what: string, cause?: unknown) =>
    new TokenStoreError("KEYCHAIN_UNAVAILABLE", `cannot ${doing} the ${describeEntry(name)}: ${what}`, {
      action: "other-key-source",
      advice: OTHER_SOURCES,
      ...(cause === undefined ? {} : { cause }),
    });
  return new Promise<void>((resolve, reject) => {
    const socket = createConnection(endpoint as never);
    let settled = false;
    const done = (error?: TokenStoreError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => done(fail(`the D-Bus session bus did not answer within ${ms} ms`)), ms);
    socket.on("connect", () => socket.write("\0AUTH\r\n"));
    socket.on("data", () => done());
    socket.on("error", (error: NodeJS.ErrnoException) =>
      done(fail(`the D-Bus session bus does not accept connections (${error.code ?? "error"}): no Secret Service can be reached`, error)),
    );
    socket.on("close", () => done(fail("the D-Bus session bus closed the connection without answering")));
  });
}
