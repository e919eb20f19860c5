/**
 * No leaks: every error code the store can produce, every text form of the store and of
 * the records it returns, anything written to the console, and every file the store
 * leaves on disk, scanned for the secret values in use (tokens, client secret, key,
 * passphrase). The other fault suites scan every error they inspect the same way
 * (support.ts `failure`/`outcome`).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { inspect } from "node:util";
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { join } from "node:path";
import { DOCUMENT_RECORD, EncryptedFileStore, ErrorCodes, generateKey, redact, type TokenStoreError } from "../../src/index.js";
import { FileBackend } from "../../src/backend/file/backend.js";
import { tempDir } from "../helpers.js";
import { errorText, expectNoSecrets, failure, registerSecrets } from "./support.js";

const token = {
  userName: "leak-user@example.com",
  clientId: "1000.LEAKCLIENTIDXYZ123",
  clientSecret: "leak-client-secret-0b5c",
  refreshToken: "1000.leak-refresh-token-8f1e",
  accessToken: "1000.leak-access-token-77aa",
  grantToken: "1000.leak-grant-token-c3d2",
  expiryTime: "1764400000000",
  redirectUrl: "https://example.com/cb",
  apiDomain: "https://www.zohoapis.com",
};
const key = generateKey();
const passphrase = "leak passphrase: correct horse battery";
const SECRETS = [
  token.clientId,
  token.clientSecret,
  token.refreshToken,
  token.accessToken,
  token.grantToken,
  key,
  passphrase,
  Buffer.from(key, "base64").toString("hex"),
];
registerSecrets(...SECRETS);

/** Everything written to the console or to stdout/stderr while a test runs. */
let printed: string[] = [];
beforeEach(() => {
  printed = [];
  for (const method of ["log", "info", "warn", "error", "debug", "trace"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void printed.push(args.map((a) => inspect(a)).join(" ")));
  }
  vi.spyOn(process, "emitWarning").mockImplementation(((warning: unknown) => void printed.push(String(warning))) as never);
});
afterEach(() => {
  vi.restoreAllMocks();
  expectNoSecrets(printed.join("\n"), SECRETS);
});

/** Every form a value can take in a log line. */
function allForms(value: unknown): string {
  return [
    inspect(value),
    inspect(value, { showHidden: true, depth: Infinity, getters: true }),
    inspect(value, { colors: true, depth: Infinity }),
    JSON.stringify(value),
    JSON.stringify(value, null, 2),
    String(value),
    `${value as string}`,
    Array.isArray(value) ? value.map(String).join() : "",
  ].join("\n");
}

async function storeWithToken() {
  const dir = tempDir();
  const path = join(dir, "t.enc");
  const store = await EncryptedFileStore.open({ path, key });
  const saved = await store.saveToken(token);
  return { dir, path, store, saved };
}

describe("no leaks", () => {
  it("records and the store: inspect (hidden, deep, getters), JSON, String and template forms hold no secret", async () => {
    const { path, store, saved } = await storeWithToken();
    const found = await store.findToken({ userName: token.userName });
    const byId = await store.findTokenById(saved.id);
    const all = await store.getTokens();
    const passStore = await EncryptedFileStore.open({ path: join(tempDir(), "p.enc"), passphrase, scryptCost: 14 });
    await passStore.saveToken(token);
    const text = [saved, found, byId, all, store, passStore, { nested: { deeper: [saved] } }, redact(saved), await store.verify(), await passStore.verify()]
      .map(allForms)
      .join("\n");
    expectNoSecrets(text, SECRETS);
    expect(text).toContain(token.userName);
    expect(path).toBeTruthy();
  });

  it("every error code, in every text form with its causes, holds no secret", async () => {
    const seen = new Map<string, TokenStoreError>();
    const collect = async (call: () => unknown) => {
      const error = await failure(call);
      seen.set(error.code, error);
      return error;
    };
    const { path, store } = await storeWithToken();
    await store.saveToken({ ...token, accessToken: "1000.leak-access-token-second" });
    registerSecrets("1000.leak-access-token-second");
    // INVALID_TOKEN: secrets in a malformed token, in wrong types and unknown fields.
    await collect(() => store.saveToken({ ...token, expiryTime: 42 } as never));
    await collect(() => store.saveToken({ ...token, refresh_token: token.refreshToken } as never));
    await collect(() => store.saveToken({ refreshToken: { value: token.refreshToken } } as never));
    await collect(() => store.findTokenById({ id: token.accessToken } as never));
    // LIMIT_EXCEEDED: an explicit id at the top of the counter leaves no id for the next record.
    const limited = await EncryptedFileStore.open({ path: join(tempDir(), "limit.enc"), key });
    await limited.saveToken({ ...token, id: String(Number.MAX_SAFE_INTEGER - 1) });
    await collect(() => limited.saveToken({ ...token, userName: "another", refreshToken: "1000.leak-refresh-other" }));
    // INVALID_OPTION: a key with a typo, a key of the wrong size, a bad passphrase type.
    await collect(() => EncryptedFileStore.open({ path, key: `${key.slice(0, 5)}!${key.slice(6)}` }));
    await collect(() => EncryptedFileStore.open({ path, key: key.slice(0, 40) }));
    await collect(() => EncryptedFileStore.open({ path, key, passphrase }));
    await collect(() => EncryptedFileStore.open({ path, previousKeys: [{ passphrase: 42 }], key } as never));
    // WRONG_KEY: a wrong key, a wrong passphrase.
    await collect(() => EncryptedFileStore.open({ path, key: generateKey() }));
    await collect(() => EncryptedFileStore.open({ path, passphrase, scryptCost: 14 }));
    // UNSUPPORTED_VERSION, DAMAGED_FILE, ROLLBACK_DETECTED.
    const bytes = readFileSync(path);
    const { createHash } = await import("node:crypto");
    const newer = Buffer.from(bytes);
    newer.writeUInt16BE(9, 8);
    createHash("sha256").update(newer.subarray(0, 88)).digest().copy(newer, 88, 0, 8);
    writeFileSync(path, newer);
    await collect(() => EncryptedFileStore.open({ path, key }));
    const damaged = Buffer.from(bytes);
    damaged[150]! ^= 1;
    writeFileSync(path, damaged);
    await collect(() => store.getTokens());
    writeFileSync(path, bytes);
    await store.getTokens();
    copyFileSync(`${path}.prev`, path);
    await collect(() => store.getTokens());
    // FILE_MISSING, INVALID_PATH, INSECURE_PERMISSIONS.
    rmSync(path);
    await collect(() => store.getTokens());
    mkdirSync(path);
    await collect(() => store.getTokens());
    rmSync(path, { recursive: true });
    writeFileSync(path, bytes, { mode: 0o644 });
    chmodSync(path, 0o644);
    await collect(() => store.getTokens());
    chmodSync(path, 0o600);
    // LOCK_TIMEOUT.
    const fresh = await EncryptedFileStore.open({ path, key, lockWaitMs: 100 });
    mkdirSync(`${path}.lock`);
    await collect(() => fresh.saveToken(token));
    rmSync(`${path}.lock`, { recursive: true });
    // IO_ERROR, with the operating system's error as cause.
    const original = fs.fsyncSync;
    fs.fsyncSync = () => {
      throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
    };
    syncBuiltinESMExports();
    try {
      await collect(() => fresh.saveToken(token));
    } finally {
      fs.fsyncSync = original;
      syncBuiltinESMExports();
    }
    // WRITE_CONFLICT: the file replaced under a holder (simulated: between its read and its write).
    const victim = await EncryptedFileStore.open({ path, key });
    await victim.getTokens();
    const originalStat = fs.statSync;
    let calls = 0;
    const writable = fs as unknown as Record<string, unknown>;
    writable.statSync = ((...args: Parameters<typeof fs.statSync>) => {
      const result = originalStat(...args);
      // From the second stat of the file on (the check before the temp file), replace it
      // right after every one: each retry of the write finds it replaced again.
      if (args[0] === path && ++calls >= 2) {
        copyFileSync(path, `${path}.swap`);
        fs.renameSync(`${path}.swap`, path);
      }
      return result;
    }) as typeof fs.statSync;
    syncBuiltinESMExports();
    try {
      await collect(() => victim.saveToken({ ...token, accessToken: "1000.leak-access-token-third" }));
    } finally {
      writable.statSync = originalStat;
      syncBuiltinESMExports();
    }
    registerSecrets("1000.leak-access-token-third");
    // LOCK_COMPROMISED: the lock taken from under a holder between its read and its write
    // (the backend's own answer; the store would retry it).
    const backend = FileBackend.open(path, { staleMs: 2000, waitMs: 15_000 });
    await collect(() =>
      backend.exclusive(async (session) => {
        const version = await session.currentVersion();
        rmSync(`${path}.lock`, { recursive: true, force: true });
        mkdirSync(`${path}.lock`);
        return session.replace({ whole: true, put: [{ id: DOCUMENT_RECORD, parts: [Buffer.from("1000.leak-access-token-fourth")] }], remove: [] }, version, {
          keepPrevious: true,
        });
      }),
    );
    rmSync(`${path}.lock`, { recursive: true, force: true });
    const robbed = await EncryptedFileStore.open({ path, key });
    registerSecrets("1000.leak-access-token-fourth");
    // CLOSED: a store used after close().
    await robbed.close();
    await collect(() => robbed.getTokens());
    // KEYCHAIN_UNAVAILABLE: a session bus address where no bus listens.
    const bus = process.env.DBUS_SESSION_BUS_ADDRESS;
    process.env.DBUS_SESSION_BUS_ADDRESS = `unix:path=${join(tempDir(), "no-bus")}`;
    try {
      await collect(() => EncryptedFileStore.open({ path, keychain: { account: "leaks" }, previousKeys: [key] }));
    } finally {
      if (bus === undefined) delete process.env.DBUS_SESSION_BUS_ADDRESS;
      else process.env.DBUS_SESSION_BUS_ADDRESS = bus;
    }
    for (const error of seen.values()) expectNoSecrets(errorText(error), SECRETS);
    // Every code but NOT_FOUND (raised by the SDK adapter, not the store) and UNAVAILABLE
    // (raised by server backends) was produced and scanned; the codes of keychain entries
    // need a real Secret Service (test/keychain.test.ts).
    const needKeychain = ["KEYCHAIN_NO_ENTRY", "KEYCHAIN_BAD_ENTRY", "KEYCHAIN_ENTRY_EXISTS"];
    const expected = Object.keys(ErrorCodes).filter((code) => code !== "NOT_FOUND" && code !== "UNAVAILABLE" && !needKeychain.includes(code));
    expect([...seen.keys()].sort()).toEqual(expected.sort());
    expect(statSync(path).isFile()).toBe(true);
  });

  it("no file the store leaves behind holds a secret in any common encoding", async () => {
    const { dir, store } = await storeWithToken();
    for (let i = 0; i < 5; i++) await store.saveToken({ ...token, expiryTime: String(i) });
    await store.rekey(generateKey());
    const encodings: BufferEncoding[] = ["utf8", "latin1", "utf16le", "base64", "hex"];
    for (const name of readdirSync(dir)) {
      const content = readFileSync(join(dir, name));
      for (const secret of SECRETS) {
        for (const encoding of encodings) {
          const form = encoding === "utf16le" ? Buffer.from(secret, "utf16le") : Buffer.from(Buffer.from(secret, "utf8").toString(encoding), "latin1");
          expect(content.includes(form), `${name}: a secret (${encoding})`).toBe(false);
        }
      }
    }
  });
});
