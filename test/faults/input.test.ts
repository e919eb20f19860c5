/**
 * Bad input: one shared table of hostile values, fed to every public method and to
 * every option. Each call either fails with a TokenStoreError of an expected code (no
 * TypeError, no crash, no secret in the message) and leaves the file byte for byte
 * unchanged, or is one of the documented safe behaviours, checked here.
 */
import { describe, expect, it } from "vitest";
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { inspect } from "node:util";
import { join } from "node:path";
import { EncryptedFileStore, generateKey, TokenStoreError, type ErrorCode } from "../../src/index.js";
import { StoreLayout } from "../../src/backend/file/layout.js";
import { tempDir } from "../helpers.js";
import { bytesOf, errorText, expectBytes, expectNoSecrets, listing, registerSecrets, userNames } from "./support.js";

const SECRET = "1000.hostile-input-secret-value";
registerSecrets(SECRET);

/** The shared table: every hostile value, named. */
const HOSTILE: Array<[string, unknown]> = [
  ["null", null],
  ["undefined", undefined],
  ["zero", 0],
  ["negative", -1],
  ["NaN", Number.NaN],
  ["Infinity", Number.POSITIVE_INFINITY],
  ["unsafe integer", 2 ** 53 + 2],
  ["float", 2.5],
  ["bigint", 10n],
  ["true", true],
  ["symbol", Symbol("hostile")],
  ["function", () => SECRET],
  ["empty string", ""],
  ["blank string", "   "],
  ["NUL", "a\0b"],
  ["control characters", "\n\r\t\u0007\u001b[31m\u0085\u2028"],
  ["lone surrogate", "\uD800x"],
  ["huge string", "x".repeat(1_000_000)],
  ["secret-bearing string", SECRET],
  ["dot-dot path", "../../../../../../tmp/zefs-escape"],
  ["__proto__ string", "__proto__"],
  ["constructor string", "constructor"],
  ["array", [SECRET]],
  ["empty object", {}],
  ["null-prototype object", Object.create(null)],
  ["__proto__ key", JSON.parse(`{"__proto__": {"refreshToken": "${SECRET}"}}`)],
  ["constructor key", { constructor: SECRET }],
  ["inherited fields", Object.create({ refreshToken: SECRET, path: "/tmp/x" })],
  ["Date", new Date()],
  ["Map", new Map([["refreshToken", SECRET]])],
  ["zero key bytes", new Uint8Array(32)],
  ["31 bytes", new Uint8Array(31)],
  ["huge buffer", Buffer.alloc(1_000_000)],
  [
    "getter that throws",
    Object.defineProperty({}, "refreshToken", {
      enumerable: true,
      get: () => {
        throw new Error("getter ran");
      },
    }),
  ],
  [
    "Proxy",
    new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error("ownKeys ran");
        },
        get: () => SECRET,
      },
    ),
  ],
];

interface Setup {
  dir: string;
  path: string;
  key: string;
  store: EncryptedFileStore;
}

async function setup(): Promise<Setup> {
  const dir = tempDir();
  const path = join(dir, "t.enc");
  const key = generateKey();
  registerSecrets(key);
  const store = await EncryptedFileStore.open({ path, key });
  await store.saveToken({ userName: "base", refreshToken: "1000.base-refresh", clientSecret: "base-client-secret" });
  registerSecrets("1000.base-refresh", "base-client-secret");
  return { dir, path, key, store };
}

/** Stands for "the caller's own exception came back unchanged". */
const CALLER_ERROR = "CALLER_ERROR" as ErrorCode;

type Result = { ok: true; value: unknown } | { ok: false; code: ErrorCode };

/** Runs `call`; a non-TokenStoreError (or a synchronous throw of one) fails the test. */
async function attempt(what: string, call: () => unknown): Promise<Result> {
  let promise: unknown;
  try {
    promise = call();
  } catch (error) {
    throw new Error(`${what}: threw synchronously instead of rejecting: ${inspect(error).slice(0, 200)}`);
  }
  if (!(promise instanceof Promise)) throw new Error(`${what}: did not return a promise`);
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    // Documented: an exception thrown by the caller's own getter or Proxy trap, while the
    // store reads the value, reaches the caller unchanged (as a rejection).
    if (error instanceof Error && /^(getter|ownKeys) ran$/.test(error.message)) return { ok: false, code: CALLER_ERROR };
    expectNoSecrets(errorText(error));
    if (!(error instanceof TokenStoreError)) throw new Error(`${what}: rejected with ${inspect(error).slice(0, 300)}`);
    expect(error.message.length, `${what}: message length`).toBeLessThan(2000);
    return { ok: false, code: error.code };
  }
}

function label(name: string, target: string): string {
  return `${target} <- ${name}`;
}

describe("hostile values fed to every method", () => {
  it("findToken, findTokenById, saveToken, deleteToken and rekey: a clear error or a documented safe result, file unchanged", async () => {
    const { path, key, store } = await setup();
    let before = bytesOf(path)!;
    const unexpected: string[] = [];
    const check = (what: string, result: Result, allowed: ErrorCode[], safe: (value: unknown) => boolean) => {
      if (result.ok ? !safe(result.value) : !allowed.includes(result.code) && result.code !== CALLER_ERROR)
        unexpected.push(`${what}: ${result.ok ? `ok ${inspect(result.value).slice(0, 80)}` : result.code}`);
    };
    const isString = (v: unknown): v is string => typeof v === "string";
    for (const [name, value] of HOSTILE) {
      // Whole tokens: only a plain object of known fields is a token; {} matches nothing.
      check(label(name, "findToken(v)"), await attempt(name, () => store.findToken(value as never)), ["INVALID_TOKEN"], (v) => v === null);
      check(label(name, "saveToken(v)"), await attempt(name, () => store.saveToken(value as never)), ["INVALID_TOKEN"], () => false);
      // Ids: any non-empty string up to 128 characters is an id that is simply not there.
      const idIsUsable = isString(value) && value.length > 0 && value.length <= 128;
      check(
        label(name, "findTokenById(v)"),
        await attempt(name, () => store.findTokenById(value as never)),
        idIsUsable ? [] : ["INVALID_TOKEN"],
        (v) => idIsUsable && v === null,
      );
      check(
        label(name, "deleteToken(v)"),
        await attempt(name, () => store.deleteToken(value as never)),
        idIsUsable ? [] : ["INVALID_TOKEN"],
        (v) => idIsUsable && v === false,
      );
      // Field values: strings (up to 16 KiB) are data, anything else is refused.
      const fieldIsUsable = isString(value) && value.length <= 16 * 1024;
      check(
        label(name, "findToken({userName: v})"),
        await attempt(name, () => store.findToken({ userName: value } as never)),
        ["INVALID_TOKEN"],
        (v) => v === null || (value === "" && v === null) || (value === undefined && v === null) || (value === null && v === null),
      );
      // New keys: bytes of 32, base64 of 32 bytes, { keyFile }, { passphrase }; nothing else.
      const rekey = await attempt(name, () => store.rekey(value as never));
      // undefined: rekey() re-seals with the store's current key.
      check(label(name, "rekey(v)"), rekey, ["INVALID_OPTION"], () => name === "zero key bytes" || value === undefined);
      if (rekey.ok) {
        // 32 zero bytes are a well-formed key: documented as accepted (generateKey() is the way to make one).
        await store.rekey(key);
        expect(await userNames(path, key)).toEqual(["base"]);
        before = bytesOf(path)!;
      } else {
        expectBytes(path, before, label(name, "rekey"));
      }
      expectBytes(path, before, label(name, "reads and refused writes"));
      // undefined, null and "" mean "not given" (a valid token then): only the others here.
      if (!fieldIsUsable && value !== undefined && value !== null) {
        for (const field of ["userName", "refreshToken", "id"] as const) {
          const result = await attempt(name, () => store.saveToken({ refreshToken: "1000.r", [field]: value } as never));
          check(label(name, `saveToken({${field}: v})`), result, ["INVALID_TOKEN"], () => false);
          expectBytes(path, before, label(name, `saveToken({${field}: v})`));
        }
      }
    }
    expect(unexpected).toEqual([]);
  }, 60_000);

  it("string values that look dangerous are stored as data and come back exactly, in every field and as an id", async () => {
    const { path, key, store } = await setup();
    const strings = HOSTILE.filter(([, v]) => typeof v === "string" && v.length > 0 && v.length <= 16 * 1024) as Array<[string, string]>;
    for (const [name, value] of strings) {
      const saved = await store.saveToken({ userName: value, refreshToken: value, clientSecret: value, apiDomain: value });
      expect(saved.userName, name).toBe(value);
      expect({ ...(await store.findToken({ userName: value }))! }, name).toEqual({ ...saved });
      if (value.length <= 128) {
        const byId = await store.saveToken({ id: value, refreshToken: `1000.by-id-${name}` });
        expect(byId.id, name).toBe(value);
        expect((await store.findTokenById(value))?.refreshToken, name).toBe(`1000.by-id-${name}`);
      }
    }
    // A fresh process-like instance reads the same document.
    const fresh = await EncryptedFileStore.open({ path, key });
    expect((await fresh.getTokens()).map((t) => ({ ...t }))).toEqual((await store.getTokens()).map((t) => ({ ...t })));
    expect(listing(join(path, ".."))).toEqual(["t.enc", "t.enc.prev"]);
  });

  it("an explicit numeric id too large for a safe integer neither hands out an id twice nor makes the file unreadable", async () => {
    const { path, key, store } = await setup();
    for (const id of ["9007199254740991", "9007199254740992", "9999999999999999"]) {
      await store.saveToken({ id, refreshToken: `1000.explicit-${id}` });
      const a = await store.saveToken({ refreshToken: `1000.after-a-${id}` });
      const b = await store.saveToken({ refreshToken: `1000.after-b-${id}` });
      expect(a.id).not.toBe(b.id);
      const fresh = await EncryptedFileStore.open({ path, key });
      const ids = (await fresh.getTokens()).map((t) => t.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toContain(a.id);
      expect(ids).toContain(b.id);
    }
  });
});

describe("the id counter near 2^53", () => {
  /** Every record of the store, as a fresh instance reads them (a fresh process would). */
  async function freshRead(path: string, key: string, what: string) {
    const fresh = await EncryptedFileStore.open({ path, key });
    const result = await attempt(what, () => fresh.getTokens());
    expect(result.ok ? "ok" : result.code, `${what}: a fresh instance reads the file`).toBe("ok");
    return (result as { value: Array<{ id: string }> }).value.map((t) => ({ ...t }));
  }

  it("an explicit id just below 2^53, then ordinary inserts: each insert is stored or refused with LIMIT_EXCEEDED, never written past the counter; a fresh instance reads after every step, after recover() and after the next insert", async () => {
    const figures: Record<string, string[]> = {};
    for (const explicit of ["9007199254740989", "9007199254740990", "9007199254740991", "9007199254740992", "9007199254740993"]) {
      const { path, key, store } = await setup();
      const steps: string[] = [];
      const check = async (what: string) => {
        const records = await freshRead(path, key, `${explicit}: ${what}`);
        expect(records, `${explicit}: ${what}: the writer and a fresh instance agree`).toEqual((await store.getTokens()).map((t) => ({ ...t })));
        expect(new Set(records.map((r) => r.id)).size, `${explicit}: ${what}: ids are unique`).toBe(records.length);
      };
      await store.saveToken({ id: explicit, refreshToken: `1000.explicit-${explicit}` });
      await check("explicit id saved");
      for (let i = 0; i < 3; i++) {
        const before = bytesOf(path)!;
        const inserted = await attempt(`insert ${i}`, () => store.saveToken({ refreshToken: `1000.insert-${explicit}-${i}` }));
        if (inserted.ok) steps.push(`insert -> id ${(inserted.value as { id: string }).id}`);
        else {
          expect(inserted.code, `${explicit}: insert ${i}`).toBe("LIMIT_EXCEEDED");
          expectBytes(path, before, `${explicit}: refused insert ${i}`);
          steps.push("insert -> LIMIT_EXCEEDED");
        }
        await check(`insert ${i}`);
      }
      // Records with explicit ids can still be added, and records deleted.
      await store.saveToken({ id: "named", refreshToken: `1000.named-${explicit}` });
      await check("a named id");
      expect(await store.deleteToken(explicit)).toBe(true);
      await check("the explicit id deleted");
      // recover() restores the generation before the last write; the next insert keeps it readable.
      await store.recover();
      await check("recover()");
      const again = await attempt("insert after recover()", () => store.saveToken({ refreshToken: `1000.after-recover-${explicit}` }));
      steps.push(again.ok ? `insert after recover() -> id ${(again.value as { id: string }).id}` : `insert after recover() -> ${again.code}`);
      if (!again.ok) expect(again.code).toBe("LIMIT_EXCEEDED");
      await check("an insert after recover()");
      // Another process, writing on its own, too.
      const other = await EncryptedFileStore.open({ path, key });
      const third = await attempt("insert by another instance", () => other.saveToken({ refreshToken: `1000.other-${explicit}` }));
      if (!third.ok) expect(third.code).toBe("LIMIT_EXCEEDED");
      await check("an insert by another instance");
      figures[explicit] = steps;
    }
    // Below 2^53 - 2 the counter hands out ids up to 2^53 - 2, then refuses; larger explicit ids are names it never reaches.
    expect(figures["9007199254740989"]).toEqual([
      "insert -> id 9007199254740990",
      "insert -> LIMIT_EXCEEDED",
      "insert -> LIMIT_EXCEEDED",
      "insert after recover() -> LIMIT_EXCEEDED",
    ]);
    expect(figures["9007199254740990"]).toEqual([
      "insert -> LIMIT_EXCEEDED",
      "insert -> LIMIT_EXCEEDED",
      "insert -> LIMIT_EXCEEDED",
      "insert after recover() -> LIMIT_EXCEEDED",
    ]);
    expect(figures["9007199254740992"]![0]).toBe("insert -> id 2");
  });
});

/**
 * The hostile values an option accepts, as documented: undefined is "not given" (the
 * default), and so is null for previousKeys; a path is any non-blank string without NUL, resolved against the working
 * directory (opening creates nothing); lockWaitMs 0 means "do not wait"; keepPrevious
 * true is its default.
 */
function documentedSuccess(option: string, value: unknown): boolean {
  if (value === undefined) return option !== "path";
  if (value === null && option === "previousKeys") return true;
  if (option === "path") return typeof value === "string" && value.trim() !== "" && !value.includes("\0") && value.length < 4096;
  if (option === "lockWaitMs") return value === 0;
  if (option === "keepPrevious") return value === true;
  return false;
}

describe("hostile values fed to every option", () => {
  const OPTIONS = ["path", "key", "keyFile", "passphrase", "previousKeys", "scryptCost", "lockStaleMs", "lockWaitMs", "keepPrevious"] as const;

  it("each option, and the options object itself: INVALID_OPTION (or a path error), never a crash, file unchanged", async () => {
    const { dir, path, key } = await setup();
    const before = bytesOf(path)!;
    const unexpected: string[] = [];
    for (const [name, value] of HOSTILE) {
      const whole = await attempt(name, () => EncryptedFileStore.open(value as never));
      if (whole.ok || (whole.code !== "INVALID_OPTION" && whole.code !== CALLER_ERROR))
        unexpected.push(`${label(name, "open(v)")}: ${whole.ok ? "ok" : whole.code}`);
      for (const option of OPTIONS) {
        // Paths are not secrets and are echoed in messages: the secret-bearing string is not one.
        if ((option === "path" || option === "keyFile") && value === SECRET) continue;
        const base: Record<string, unknown> = option === "path" ? { key } : { path, key };
        if (option === "keyFile" || option === "passphrase") delete base.key;
        if (option === "passphrase") base.scryptCost = 14;
        const result = await attempt(name, () => EncryptedFileStore.open({ ...base, [option]: value } as never));
        const allowed: ErrorCode[] = ["INVALID_OPTION"];
        if (option === "path") allowed.push("INVALID_PATH", "INSECURE_PERMISSIONS");
        if (option === "key" || option === "passphrase") allowed.push("WRONG_KEY");
        if (option === "keyFile") allowed.push("IO_ERROR");
        const fine = result.ok ? documentedSuccess(option, value) : allowed.includes(result.code) || result.code === CALLER_ERROR;
        if (!fine) unexpected.push(`${label(name, option)}: ${result.ok ? "ok" : result.code}`);
      }
      // The key as an element of previousKeys.
      const inList = await attempt(name, () => EncryptedFileStore.open({ path, key, previousKeys: [value] } as never));
      if (inList.ok ? name !== "zero key bytes" : inList.code !== "INVALID_OPTION" && inList.code !== CALLER_ERROR)
        unexpected.push(`${label(name, "previousKeys: [v]")}: ${inList.ok ? "ok" : inList.code}`);
      // As an option name.
      // Unknown option names are repeated (40 characters at most) to point at a typo;
      // a name is not a secret, so the secret-bearing string is not used as one.
      if (typeof value === "string" && value !== SECRET) {
        const named = await attempt(name, () => EncryptedFileStore.open({ path, key, [value]: 1 } as never));
        if (named.ok || named.code !== "INVALID_OPTION") unexpected.push(`${label(name, "option named v")}: ${named.ok ? "ok" : named.code}`);
      }
      expectBytes(path, before, name);
    }
    expect(unexpected).toEqual([]);
    expect(listing(dir)).toEqual(["t.enc"]);
  }, 60_000);

  it("paths: '..' segments are resolved to the same file; a store in a world-writable (even sticky) directory, a symlinked file or directory in place of the file are refused", async () => {
    const { dir, path, key } = await setup();
    const before = bytesOf(path)!;
    mkdirSync(join(dir, "sub"), { mode: 0o700 });
    const viaDots = await EncryptedFileStore.open({ path: join(dir, "sub", "..", "sub", "..", "t.enc"), key });
    expect(viaDots.path).toBe(path);
    expect((await viaDots.getTokens()).map((t) => t.userName)).toEqual(["base"]);
    // World-writable directories: plain and sticky (like /tmp).
    for (const mode of [0o777, 0o1777]) {
      const open = tempDir();
      chmodSync(open, mode);
      expect((await attempt("world-writable", () => EncryptedFileStore.open({ path: join(open, "t.enc"), key }))) as Result).toEqual({
        ok: false,
        code: "INSECURE_PERMISSIONS",
      });
      expect(listing(open)).toEqual([]);
    }
    // A symlink swapped in for the file after open: every operation refuses, nothing written through it.
    const store = await EncryptedFileStore.open({ path, key });
    const elsewhere = join(tempDir(), "target.enc");
    writeFileSync(elsewhere, before, { mode: 0o600 });
    rmSync(path);
    symlinkSync(elsewhere, path);
    for (const [what, call] of [
      ["getTokens", () => store.getTokens()],
      ["saveToken", () => store.saveToken({ userName: "x", refreshToken: "1000.x" })],
      ["deleteTokens", () => store.deleteTokens()],
      ["verify", () => store.verify()],
    ] as const) {
      expect(await attempt(what, call), what).toEqual({ ok: false, code: "INVALID_PATH" });
    }
    expectBytes(elsewhere, before, "symlink target");
    // A directory in place of the file.
    rmSync(path);
    mkdirSync(path);
    for (const [what, call] of [
      ["getTokens", () => store.getTokens()],
      ["saveToken", () => store.saveToken({ userName: "x", refreshToken: "1000.x" })],
    ] as const) {
      expect(await attempt(what, call), what).toEqual({ ok: false, code: "INVALID_PATH" });
    }
    expect(listing(path)).toEqual([]);
  });
});

describe("store file names near the longest a directory entry may have", () => {
  /** The longest name this store puts beside its file: a refresh lease's temp file (pid up to 4194304, Linux's largest). */
  const LONGEST_SUFFIX = `.lease-${"0".repeat(32)}.4194304-${"0".repeat(12)}.tmp`;
  const NAME_MAX = 255;

  it("names of 255 down to 150 bytes (ASCII and multibyte): open refuses with INVALID_PATH exactly those that leave no room for the longest name beside them; every name it accepts is written, rekeyed, recovered and leased", async () => {
    expect(StoreLayout.maxNameBytes).toBe(NAME_MAX - LONGEST_SUFFIX.length);
    const dir = tempDir();
    const key = generateKey();
    registerSecrets(key);
    const names: string[] = [];
    for (let bytes = NAME_MAX; bytes >= 150; bytes--) {
      names.push(String(bytes).padEnd(bytes, "n"));
      // Three-byte characters, then ASCII to make up the length.
      const wide = Math.floor((bytes - 3) / 3);
      names.push(`${"€".repeat(wide)}${"m".repeat(bytes - 3 * wide)}`);
    }
    const verdicts = { refused: 0, accepted: 0 };
    for (const name of names) {
      const bytes = Buffer.byteLength(name);
      const path = join(dir, name);
      const fits = bytes + LONGEST_SUFFIX.length <= NAME_MAX;
      const opened = await attempt(name, () => EncryptedFileStore.open({ path, key }));
      if (!fits) {
        expect(opened, `${bytes} bytes`).toEqual({ ok: false, code: "INVALID_PATH" });
        verdicts.refused++;
        continue;
      }
      expect(opened.ok, `${bytes} bytes: ${JSON.stringify(opened)}`).toBe(true);
      verdicts.accepted++;
      const store = (opened as { value: EncryptedFileStore }).value;
      await store.saveToken({ userName: "a", refreshToken: "1000.long-name-a" });
      await store.saveToken({ userName: "b", refreshToken: "1000.long-name-b" });
      const newKey = generateKey();
      registerSecrets(newKey);
      await store.rekey(newKey);
      expect(await userNames(path, newKey), `${bytes} bytes: rekeyed`).toEqual(["a", "b"]);
      const recovered = await store.recover();
      expect(recovered, `${bytes} bytes: recovered`).toMatchObject({ restoredGeneration: 2, tokens: 2 });
      // A refresh lease: a file beside the store, created through a temp file with the longest name.
      const leases = store.refreshCoordinator({ leaseMs: 60_000 });
      expect(await leases.claim("user-a", async () => false), `${bytes} bytes: lease`).toBe("acquired");
      expect(
        listing(dir).filter((entry) => entry.startsWith(`${name}.lease-`)),
        `${bytes} bytes: lease file`,
      ).toHaveLength(1);
      leases.release("user-a");
      expect(
        listing(dir).filter((entry) => entry.startsWith(`${name}.`) && entry !== `${name}.prev`),
        `${bytes} bytes: leftovers`,
      ).toEqual([]);
      expect(await userNames(path, newKey), `${bytes} bytes: read back`).toEqual(["a", "b"]);
    }
    expect(verdicts).toEqual({ refused: 2 * (NAME_MAX - StoreLayout.maxNameBytes), accepted: 2 * (StoreLayout.maxNameBytes - 150 + 1) });
    // Nothing was created for a refused name.
    expect(listing(dir).every((entry) => Buffer.byteLength(entry) <= NAME_MAX && entry.length > 0)).toBe(true);
    expect(new Set(listing(dir).map((entry) => entry.replace(/\.prev$/, ""))).size).toBe(verdicts.accepted);
  });
});
