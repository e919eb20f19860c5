/**
 * Tampering and damage, and wrong keys. Extends test/sealed-file.test.ts (which flips
 * bits 0 and 7 of every byte, truncates at every length, appends one byte, and tries
 * zeros, an empty file and a same-key foreign header) with: other bit patterns in every
 * byte (32 per header byte and 8 per body byte under STRESS), appended data of many sizes, foreign
 * files, older generations copied over newer ones in several ways, and, for every kind
 * of damage, proof that no following write touches the file or its previous generation
 * until recover() is called.
 */
import { describe, expect, it } from "vitest";
import { copyFileSync, readFileSync, renameSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { EncryptedFileStore, generateKey, type ErrorCode, type KeyInput } from "../../src/index.js";
import { tempDir } from "../helpers.js";
import { bytesOf, expectBytes, failure, listing, outcome, registerSecrets, sized, STRESS, userNames } from "./support.js";

const FAST = { scryptCost: 14 };

async function twoGenerations(key = generateKey()) {
  const dir = tempDir();
  const path = join(dir, "t.enc");
  registerSecrets(key, "1000.tamper-a", "1000.tamper-b", "tamper-secret");
  const store = await EncryptedFileStore.open({ path, key });
  await store.saveToken({ userName: "a", refreshToken: "1000.tamper-a", clientSecret: "tamper-secret" });
  const first = bytesOf(path)!;
  await store.saveToken({ userName: "b", refreshToken: "1000.tamper-b" });
  return { dir, path, key, store, first, bytes: bytesOf(path)! };
}

/** Reads `bytes` as a store file with `key` through a fresh instance; the outcome code. */
let counter = 0;
async function readAs(dir: string, bytes: Uint8Array, key: string): Promise<ErrorCode | "ok"> {
  const path = join(dir, `case-${counter++}.enc`);
  writeFileSync(path, bytes, { mode: 0o600 });
  try {
    return await outcome(async () => (await EncryptedFileStore.open({ path, key })).getTokens());
  } finally {
    rmSync(path);
  }
}

describe("tampering and damage", () => {
  it(
    "other bit patterns in every byte: DAMAGED_FILE, every time",
    async () => {
      const { bytes, key } = await twoGenerations();
      const dir = tempDir();
      const codes = new Map<string, number>();
      let cases = 0;
      for (let i = 0; i < bytes.length; i++) {
        // Header bytes: 0x02, 0xff and random patterns (32 under STRESS); body bytes: random patterns.
        const random = (n: number) => Array.from({ length: n }, () => 1 + (randomBytes(1)[0]! % 255));
        const masks = i < 96 ? [0x02, 0xff, ...random(sized(1, 30))] : random(sized(1, 8));
        for (const mask of masks) {
          const copy = Buffer.from(bytes);
          copy[i]! ^= mask;
          const code = await readAs(dir, copy, key);
          codes.set(code, (codes.get(code) ?? 0) + 1);
          cases++;
        }
      }
      expect([...codes.keys()]).toEqual(["DAMAGED_FILE"]);
      console.log(`[fault figures] byte changes ${JSON.stringify({ fileBytes: bytes.length, changedCopies: cases, allDamagedFile: true })}`);
    },
    STRESS ? 900_000 : 60_000,
  );

  it("appended data of any size, foreign files and garbage: DAMAGED_FILE (another key's header: WRONG_KEY; a whole same-key file of another store: accepted)", async () => {
    const { bytes, key, first } = await twoGenerations();
    const other = await twoGenerations();
    const dir = tempDir();
    const damaged: Array<[string, Uint8Array]> = [
      ...[1, 2, 15, 16, 17, 100, 4096].map((n): [string, Uint8Array] => [`${n} random bytes appended`, Buffer.concat([bytes, randomBytes(n)])]),
      ["the previous generation appended", Buffer.concat([bytes, first])],
      ["the file twice", Buffer.concat([bytes, bytes])],
      ["the magic alone", Buffer.from("ZEFSTORE")],
      ["96 header bytes alone", bytes.subarray(0, 96)],
      ["header and tag, no body", Buffer.concat([bytes.subarray(0, 96), bytes.subarray(bytes.length - 16)])],
      ["random bytes of the same length", randomBytes(bytes.length)],
      ["random bytes behind the real header", Buffer.concat([bytes.subarray(0, 96), randomBytes(bytes.length - 96)])],
      ["zeros, 1 MiB", Buffer.alloc(1 << 20)],
      ["0xff bytes", Buffer.alloc(bytes.length, 0xff)],
      [
        "the SDK's own plaintext CSV token file",
        Buffer.from("id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain\n1,a,c,s,r,a,,1,,\n"),
      ],
      ["a JSON document in plaintext", Buffer.from(JSON.stringify({ format: 1, nextId: 2, tokens: [{ id: "1", refreshToken: "x" }] }))],
      ["another store's body under this header", Buffer.concat([bytes.subarray(0, 96), other.bytes.subarray(96)])],
      ["this body under another store's header", Buffer.concat([other.bytes.subarray(0, 96), bytes.subarray(96)])],
    ];
    // A whole, intact file of another store sealed with the same key.
    const sameKey = await twoGenerations(key);
    damaged.push(["another store's whole file, sealed with the same key", sameKey.bytes]);
    const results: Record<string, string> = {};
    for (const [name, data] of damaged) results[name] = await readAs(dir, data, key);
    const expected: Record<string, string> = Object.fromEntries(damaged.map(([name]) => [name, "DAMAGED_FILE"]));
    // Another store's header names another key: that is what the reader is told.
    expected["this body under another store's header"] = "WRONG_KEY";
    // A limit, asserted so that it stays documented: the seal does not bind a file to its
    // path, so a whole file of another store with the same key opens (use one key per store).
    expected["another store's whole file, sealed with the same key"] = "ok";
    expect(results).toEqual(expected);
  });

  it("for every kind of damage, no write touches the file or its previous generation until recover()", async () => {
    const kinds: Array<[string, (bytes: Buffer, first: Buffer) => Buffer]> = [
      ["a flipped body byte", (b) => Object.assign(Buffer.from(b), { 200: b[200]! ^ 0x10 })],
      ["a flipped header byte", (b) => Object.assign(Buffer.from(b), { 40: b[40]! ^ 0x01 })],
      ["truncated", (b) => b.subarray(0, b.length - 1)],
      ["appended", (b) => Buffer.concat([b, Buffer.from([0])])],
      ["zeros", (b) => Buffer.alloc(b.length)],
      ["empty", () => Buffer.alloc(0)],
    ];
    for (const [name, damage] of kinds) {
      const { path, key, bytes, first } = await twoGenerations();
      const damagedBytes = damage(bytes, first);
      writeFileSync(path, damagedBytes);
      const prev = bytesOf(`${path}.prev`)!;
      const store = await EncryptedFileStore.open({ path, key });
      for (const [what, call] of [
        ["getTokens", () => store.getTokens()],
        ["saveToken", () => store.saveToken({ userName: "c", refreshToken: "1000.c" })],
        ["deleteToken", () => store.deleteToken("1")],
        ["deleteTokens", () => store.deleteTokens()],
        ["rekey", () => store.rekey(generateKey())],
      ] as const) {
        expect((await failure(call)).code, `${name}: ${what}`).toBe("DAMAGED_FILE");
        expectBytes(path, damagedBytes, `${name}: ${what}`);
        expectBytes(`${path}.prev`, prev, `${name}: ${what} (.prev)`);
      }
      // Only an explicit recover() replaces it: with the previous generation, sealed anew.
      const recovered = await store.recover();
      expect(recovered, name).toMatchObject({ restoredGeneration: 1, tokens: 1 });
      expect(await userNames(path, key), name).toEqual(["a"]);
    }
  });

  it("an older generation put over a newer one is ROLLBACK_DETECTED for a process that saw the newer one, however it was put there", async () => {
    const ways: Array<[string, (path: string, old: string) => void]> = [
      ["copied over", (path, old) => copyFileSync(old, path)],
      [
        "renamed over",
        (path, old) => {
          copyFileSync(old, `${path}.tmp`);
          renameSync(`${path}.tmp`, path);
        },
      ],
      [
        "copied over, mtime set to the future",
        (path, old) => {
          copyFileSync(old, path);
          const future = new Date(Date.now() + 60_000);
          utimesSync(path, future, future);
        },
      ],
    ];
    for (const [how, put] of ways) {
      const { dir, path, key, store } = await twoGenerations();
      const saved = join(dir, "gen2.bak");
      copyFileSync(path, saved);
      await store.saveToken({ userName: "c", refreshToken: "1000.c" });
      await store.saveToken({ userName: "d", refreshToken: "1000.d" });
      const reader = await EncryptedFileStore.open({ path, key });
      expect(await reader.getTokens()).toHaveLength(4);
      put(path, saved);
      const rolledBack = bytesOf(path)!;
      for (const s of [store, reader]) {
        expect((await failure(s.getTokens())).code, how).toBe("ROLLBACK_DETECTED");
        expect((await failure(s.saveToken({ userName: "e", refreshToken: "1000.e" }))).code, how).toBe("ROLLBACK_DETECTED");
        expect((await failure(s.deleteTokens())).code, how).toBe("ROLLBACK_DETECTED");
      }
      expectBytes(path, rolledBack, how);
      // A process that never saw the newer generation cannot know: it reads generation 2.
      expect(await userNames(path, key), how).toEqual(["a", "b"]);
    }
  });
});

describe("a huge file at the store path", () => {
  const GiB = 1024 ** 3;

  it("sparse files of 1 and 5 GiB (zeros, or a valid store header and a sparse tail), as the store or as its previous generation: DAMAGED_FILE, never a RangeError, without reading them", async () => {
    const { dir, path, key, bytes } = await twoGenerations();
    const cases: Array<[string, Buffer, number]> = [
      ["5 GiB of zeros", Buffer.alloc(0), 5 * GiB],
      ["a store header and a 5 GiB sparse tail", bytes, 5 * GiB],
      ["1 GiB of zeros", Buffer.alloc(0), GiB],
      ["a store header and a 1 GiB sparse tail", bytes, GiB],
    ];
    const figures: Record<string, { ms: number; rssGrowthMB: number }> = {};
    for (const [what, start, length] of cases) {
      for (const where of ["store", "previous generation"] as const) {
        const label = `${what}, as the ${where}`;
        const huge = where === "store" ? path : `${path}.prev`;
        // The store file whole (the huge previous generation is what recover() would restore).
        if (where === "previous generation") writeFileSync(path, bytes, { mode: 0o600 });
        writeFileSync(huge, start, { mode: 0o600 });
        truncateSync(huge, length);
        expect(statSync(huge).size).toBe(length);
        globalThis.gc?.();
        const rssBefore = process.memoryUsage().rss;
        let rssPeak = rssBefore;
        const started = performance.now();
        const sample = () => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss));
        const store = await EncryptedFileStore.open({ path, key });
        sample();
        const calls: Array<[string, () => Promise<unknown>]> =
          where === "store"
            ? [
                ["getTokens", () => store.getTokens()],
                ["verify", () => store.verify()],
                ["saveToken", () => store.saveToken({ userName: "x", refreshToken: "1000.x" })],
                ["a fresh open, then getTokens", async () => (await EncryptedFileStore.open({ path, key })).getTokens()],
              ]
            : [["recover", () => store.recover()]];
        // Reads of the store itself are not disturbed by a huge previous generation.
        if (where === "previous generation")
          expect(
            (await store.getTokens()).map((t) => t.userName),
            label,
          ).toEqual(["a", "b"]);
        for (const [name, call] of calls) {
          const error = await failure(call);
          sample();
          expect(error.code, `${label}: ${name}`).toBe("DAMAGED_FILE");
        }
        figures[label] = { ms: Math.round(performance.now() - started), rssGrowthMB: Math.round((rssPeak - rssBefore) / 2 ** 20) };
        expect(rssPeak - rssBefore, `${label}: resident memory growth`).toBeLessThan(100 * 2 ** 20);
        expect(statSync(huge).size, label).toBe(length);
        rmSync(huge);
      }
    }
    expect(listing(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
    console.log(`[fault figures] huge sparse files ${JSON.stringify(figures)}`);
  });
});

describe("recover() trusts no unauthenticated number", () => {
  /** Writes `generation` into the file's header (bytes 52..59) and fixes the header check (88..95), so only the tag tells. */
  function forgeGeneration(path: string, generation: bigint): void {
    const bytes = readFileSync(path);
    bytes.writeBigUInt64BE(generation, 52);
    createHash("sha256").update(bytes.subarray(0, 88)).digest().copy(bytes, 88, 0, 8);
    writeFileSync(path, bytes);
  }

  it("a damaged file whose intact-looking header claims generation 2^62, 2^64-1, 2^53-1 or 1000: recover() restores the previous one as a generation at most 2 above it, and generations keep increasing", async () => {
    const figures: Record<string, number> = {};
    for (const forged of [2n ** 62n, 2n ** 64n - 1n, 2n ** 53n - 1n, 1000n]) {
      for (const who of ["the writer, which saw generation 2", "a process started after the damage"]) {
        const what = `generation ${forged} claimed, recovered by ${who}`;
        const { path, key, store: writer } = await twoGenerations();
        forgeGeneration(path, forged);
        const store = who.startsWith("the writer") ? writer : await EncryptedFileStore.open({ path, key });
        expect((await failure(store.getTokens())).code, what).toBe("DAMAGED_FILE");
        const result = await store.recover();
        expect(result.restoredGeneration, what).toBe(1);
        expect(result.tokens, what).toBe(1);
        expect(result.generation, what).toBeGreaterThan(1);
        expect(result.generation, what).toBeLessThanOrEqual(1 + 2);
        figures[what] = result.generation;
        expect((await store.verify()).generation, what).toBe(result.generation);
        expect(await userNames(path, key), what).toEqual(["a"]);
        // Every later write is one generation more, for this process and for a fresh one.
        for (let step = 1; step <= 3; step++) {
          await store.saveToken({ userName: `after-${step}`, refreshToken: `1000.after-${step}` });
          expect((await store.verify()).generation, what).toBe(result.generation + step);
          expect((await (await EncryptedFileStore.open({ path, key })).verify()).generation, what).toBe(result.generation + step);
        }
        // And rollback detection still works: the recovered generation put back is refused.
        const reader = await EncryptedFileStore.open({ path, key });
        await reader.getTokens();
        copyFileSync(`${path}.prev`, `${path}.old`);
        await store.saveToken({ userName: "after-4", refreshToken: "1000.after-4" });
        await reader.getTokens();
        renameSync(`${path}.old`, path);
        expect((await failure(reader.getTokens())).code, what).toBe("ROLLBACK_DETECTED");
      }
    }
    console.log(`[fault figures] recover over a forged generation ${JSON.stringify(figures)}`);
  });
});

describe("wrong keys", () => {
  it("wrong key, another store's key, a one-bit change, raw key on a passphrase store and back: WRONG_KEY; malformed keys: INVALID_OPTION; never DAMAGED_FILE", async () => {
    const { path, key, bytes } = await twoGenerations();
    const other = await twoGenerations();
    const flipped = Buffer.from(key, "base64");
    flipped[31]! ^= 0x01;
    const truncatedText = key.slice(0, -4);
    const cases: Array<[string, Record<string, unknown>, ErrorCode]> = [
      ["a random key", { key: generateKey() }, "WRONG_KEY"],
      ["another store's key", { key: other.key }, "WRONG_KEY"],
      ["the key with one bit changed", { key: flipped.toString("base64") }, "WRONG_KEY"],
      ["the key as bytes with one bit changed", { key: new Uint8Array(flipped) }, "WRONG_KEY"],
      ["a passphrase instead of the key", { passphrase: key, ...FAST }, "WRONG_KEY"],
      ["the key, truncated (base64)", { key: truncatedText }, "INVALID_OPTION"],
      ["the key, 31 bytes", { key: new Uint8Array(Buffer.from(key, "base64").subarray(0, 31)) }, "INVALID_OPTION"],
      ["the key, with a character changed to a non-base64 one", { key: `${key.slice(0, 10)}*${key.slice(11)}` }, "INVALID_OPTION"],
      ["the key, hex instead of base64", { key: Buffer.from(key, "base64").toString("hex") }, "INVALID_OPTION"],
      ["the right key only among previousKeys of a wrong one", { key: generateKey(), previousKeys: [key] }, "ok" as ErrorCode],
    ];
    const keyFile = join(tempDir(), "other.key");
    writeFileSync(keyFile, other.key, { mode: 0o600 });
    cases.push(["a key file holding another store's key", { keyFile }, "WRONG_KEY"]);
    const results: Record<string, string> = {};
    for (const [name, options] of cases) {
      results[name] = await outcome(async () => (await EncryptedFileStore.open({ path, ...options } as never)).getTokens());
      expectBytes(path, bytes, name);
    }
    expect(results).toEqual(Object.fromEntries(cases.map(([name, , code]) => [name, code])));
  });

  it("passphrase store: typos, case, trailing space and a raw key are WRONG_KEY; the same passphrase in another Unicode form opens it", async () => {
    const dir = tempDir();
    const path = join(dir, "p.enc");
    const passphrase = "Crème brûlée, s'il vous plaît";
    registerSecrets(passphrase);
    const store = await EncryptedFileStore.open({ path, passphrase, ...FAST });
    await store.saveToken({ userName: "a", refreshToken: "1000.pass-a" });
    const bytes = bytesOf(path)!;
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["a typo", { passphrase: passphrase.replace("brûlée", "brulée"), ...FAST }, "WRONG_KEY"],
      ["case changed", { passphrase: passphrase.toUpperCase(), ...FAST }, "WRONG_KEY"],
      ["a trailing space", { passphrase: `${passphrase} `, ...FAST }, "WRONG_KEY"],
      ["a raw key", { key: generateKey() }, "WRONG_KEY"],
      ["decomposed Unicode (NFD) of the same passphrase", { passphrase: passphrase.normalize("NFD"), ...FAST }, "ok"],
    ];
    const results: Record<string, string> = {};
    for (const [name, options] of cases) {
      results[name] = await outcome(async () => (await EncryptedFileStore.open({ path, ...options } as never)).getTokens());
      expectBytes(path, bytes, name);
    }
    expect(results).toEqual(Object.fromEntries(cases.map(([name, , code]) => [name, code])));
  });

  it("a file sealed with another key moved in after open: reads and writes are WRONG_KEY, the file is not touched", async () => {
    const { path, key, store } = await twoGenerations();
    const other = await twoGenerations();
    await store.getTokens();
    copyFileSync(other.path, `${path}.in`);
    renameSync(`${path}.in`, path);
    const foreign = bytesOf(path)!;
    expect((await failure(store.getTokens())).code).toBe("WRONG_KEY");
    expect((await failure(store.saveToken({ userName: "x", refreshToken: "1000.x" }))).code).toBe("WRONG_KEY");
    expect((await failure(store.deleteTokens())).code).toBe("WRONG_KEY");
    expectBytes(path, foreign);
    expect(key).not.toBe(other.key);
  });
});

describe("key rotation never goes backwards", () => {
  /** What each key alone makes of the store: "ok" with the user names, or the error code. */
  async function opensWith(path: string, keys: Record<string, Record<string, unknown>>): Promise<Record<string, string>> {
    const seen: Record<string, string> = {};
    for (const [name, options] of Object.entries(keys)) {
      try {
        const store = await EncryptedFileStore.open({ path, ...options } as never);
        seen[name] = `ok ${(await store.getTokens()).map((t) => t.userName).join(",")}`;
      } catch (error) {
        seen[name] = (await failure(Promise.reject(error))).code;
      }
    }
    return seen;
  }

  /**
   * A rotates the store from the first key to the second; B, configured as a rotation
   * is rolled out (the old key current, the new one among previousKeys), writes, opened
   * before the rotation and after it; C, configured the other way, moves a store still
   * on the first key to the second.
   */
  async function rotation(first: KeyInput, second: KeyInput, alone: (key: KeyInput) => Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const path = join(tempDir(), "t.enc");
    const a = await EncryptedFileStore.open({ path, ...alone(first), ...extra } as never);
    await a.saveToken({ userName: "a", refreshToken: "1000.rotation-a" });
    const lagging = { ...alone(first), previousKeys: [second], ...extra };
    const openedBefore = await EncryptedFileStore.open({ path, ...lagging } as never);
    expect((await openedBefore.getTokens()).map((t) => t.userName)).toEqual(["a"]);
    await a.rekey(second);
    const openedAfter = await EncryptedFileStore.open({ path, ...lagging } as never);
    const keys = { first: { ...alone(first), ...extra }, second: { ...alone(second), ...extra } };
    expect(await opensWith(path, keys)).toEqual({ first: "WRONG_KEY", second: "ok a" });

    await openedBefore.saveToken({ userName: "b1", refreshToken: "1000.rotation-b1" });
    expect(await opensWith(path, keys), "after a write by a process opened before the rotation").toEqual({ first: "WRONG_KEY", second: "ok a,b1" });
    await openedAfter.saveToken({ userName: "b2", refreshToken: "1000.rotation-b2" });
    expect(await opensWith(path, keys), "after a write by a process opened after the rotation").toEqual({ first: "WRONG_KEY", second: "ok a,b1,b2" });
    await openedBefore.deleteToken((await openedBefore.findToken({ userName: "b1" }))!.id);
    await openedAfter.saveToken({ userName: "b3", refreshToken: "1000.rotation-b3" });
    expect(await opensWith(path, keys), "after more writes by both").toEqual({ first: "WRONG_KEY", second: "ok a,b2,b3" });
    // A third lagging process, started after all that.
    await (await EncryptedFileStore.open({ path, ...lagging } as never)).saveToken({ userName: "b4", refreshToken: "1000.rotation-b4" });
    expect(await opensWith(path, keys), "after a write by a lagging process started later").toEqual({ first: "WRONG_KEY", second: "ok a,b2,b3,b4" });

    // Forward: a process with the second key current and the first among previousKeys moves
    // a store still on the first key to the second, and the first key is retired from then on.
    const forward = join(tempDir(), "f.enc");
    await (await EncryptedFileStore.open({ path: forward, ...alone(first), ...extra } as never)).saveToken({ userName: "f", refreshToken: "1000.rotation-f" });
    expect(await opensWith(forward, keys)).toEqual({ first: "ok f", second: "WRONG_KEY" });
    const ahead = await EncryptedFileStore.open({ path: forward, ...alone(second), previousKeys: [first], ...extra } as never);
    await ahead.saveToken({ userName: "g", refreshToken: "1000.rotation-g" });
    expect(await opensWith(forward, keys), "after a write by a process with the new key current").toEqual({ first: "WRONG_KEY", second: "ok f,g" });
    await (await EncryptedFileStore.open({ path: forward, ...lagging } as never)).saveToken({ userName: "h", refreshToken: "1000.rotation-h" });
    expect(await opensWith(forward, keys), "after a write by a lagging process").toEqual({ first: "WRONG_KEY", second: "ok f,g,h" });
  }

  it("recover() by a process with the old key current, over a damaged file whose header (not authenticated) names the old key, seals with the new key", async () => {
    const [first, second] = [generateKey(), generateKey()];
    registerSecrets(first, second);
    const path = join(tempDir(), "t.enc");
    const a = await EncryptedFileStore.open({ path, key: first });
    await a.saveToken({ userName: "a", refreshToken: "1000.recover-rotation-a" });
    const sealedWithFirst = bytesOf(path)!;
    await a.rekey(second);
    await a.saveToken({ userName: "b", refreshToken: "1000.recover-rotation-b" });
    // Damaged: an old header, which names the first key, over the newest body. The kept
    // previous generation is the rekeyed one, sealed with the second key, whose
    // authenticated document records the first key as retired.
    writeFileSync(path, Buffer.concat([sealedWithFirst.subarray(0, 96), bytesOf(path)!.subarray(96)]));
    const lagging = await EncryptedFileStore.open({ path, key: first, previousKeys: [second] });
    expect((await failure(lagging.getTokens())).code).toBe("DAMAGED_FILE");
    expect(await lagging.recover()).toMatchObject({ restoredGeneration: 2, tokens: 1 });
    expect(await opensWith(path, { first: { key: first }, second: { key: second } })).toEqual({ first: "WRONG_KEY", second: "ok a" });
  });

  it("raw keys: after a rekey, a process with the old key current and the new one in previousKeys (opened before or after the rekey) writes with the new key; the old key alone is WRONG_KEY", async () => {
    const [first, second] = [generateKey(), generateKey()];
    registerSecrets(first, second);
    await rotation(first, second, (key) => ({ key }));
  });

  it("passphrases: the same, with the passphrase's salt changing at each rotation", async () => {
    const [first, second] = ["rotation passphrase one", "rotation passphrase two"];
    registerSecrets(first, second);
    await rotation({ passphrase: first }, { passphrase: second }, (key) => ({ passphrase: (key as { passphrase: string }).passphrase }), FAST);
  });
});
