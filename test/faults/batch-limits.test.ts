/**
 * Changes issued in the same tick share one write; past the size a store file holds
 * (64 MiB of document), each change is judged on its own: those that fit land, in
 * order, and those that do not fail with LIMIT_EXCEEDED, never with the engine's
 * RangeError. The records are made big cheaply: every field holds the same 16 KiB string
 * of control characters, which JSON writes as `\u0001` (6 bytes each), so a record takes
 * about 0.9 MB of document and next to no memory of its own.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EncryptedFileStore, generateKey, TokenStoreError } from "../../src/index.js";
import { TokenDocument } from "../../src/tokens/document.js";
import { normalizeInput } from "../../src/tokens/input.js";
import { cli } from "../cli-helpers.js";
import { tempDir } from "../helpers.js";
import { bytesOf } from "./support.js";

const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;
const BULK = "\u0001".repeat(16 * 1024);

/** A token of about 0.9 MB of document, every field at its longest. */
function big(tag: string) {
  return {
    userName: `${tag}${BULK}`.slice(0, BULK.length),
    clientId: BULK,
    clientSecret: BULK,
    refreshToken: `${tag}${BULK}`.slice(0, BULK.length),
    accessToken: `${tag}${BULK}`.slice(0, BULK.length),
    grantToken: BULK,
    expiryTime: BULK,
    redirectUrl: BULK,
    apiDomain: BULK,
  };
}

/** What each promise settled to: "ok" or the error's code (a RangeError or other non-coded error: its name). */
async function settle(promises: Array<Promise<unknown>>): Promise<string[]> {
  return (await Promise.allSettled(promises)).map((result) => {
    if (result.status === "fulfilled") return "ok";
    const error = result.reason as Error;
    return error instanceof TokenStoreError ? error.code : `${error.name}: ${error.message.slice(0, 80)}`;
  });
}

/** A file's identity: the same inode, size and modification time means the same bytes here. */
function identity(path: string) {
  const { ino, size, mtimeNs } = statSync(path, { bigint: true });
  return { ino, size: Number(size), mtimeNs };
}

/** The user names stored, as a fresh instance reads them (bulk cut off). */
async function storedNames(path: string, key: string): Promise<string[]> {
  const store = await EncryptedFileStore.open({ path, key });
  return (await store.getTokens()).map((token) => token.userName!.replace(/\u0001+$/, ""));
}

describe("measuring a document before its JSON is built", () => {
  it("measures exactly the bytes serialize() writes, whatever the characters (control characters, quotes, lone surrogates, emoji)", () => {
    const value = fc.string({ unit: fc.constantFrom("a", "\u0001", '"', "\\", "\ud800", "\udc00", "\u{1f600}", "é", "€", "\n"), maxLength: 40 });
    fc.assert(
      fc.property(
        fc.array(fc.record({ userName: value, refreshToken: value, apiDomain: value }), { maxLength: 8 }),
        fc.dictionary(fc.string(), fc.string()),
        (tokens, meta) => {
          const doc = TokenDocument.empty();
          for (const [i, token] of tokens.entries())
            doc.save(normalizeInput({ ...token, refreshToken: `r${i}${token.refreshToken}`, userName: `u${i}${token.userName}` }));
          const bytes = doc.serialize(meta).length;
          // Past the limit by one byte: measured, and the measure is the size.
          expect(doc.sizeOver(meta, bytes - 1)).toBe(bytes);
          expect(doc.sizeOver(meta, bytes)).toBeUndefined();
          expect(() => doc.serialize(meta, bytes - 1)).toThrow(expect.objectContaining({ code: "LIMIT_EXCEEDED" }));
          expect(doc.serialize(meta, bytes).length).toBe(bytes);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("a batch past the size a store file holds", () => {
  it("one save that does not fit and a small one in the same tick: the small one lands, the big one gets LIMIT_EXCEEDED, nothing else changes", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path, key });
    // Filled in one batch to within one big record of the limit.
    const fill = Array.from({ length: 75 }, (_, i) => `fill-${i}-`);
    expect(new Set(await settle(fill.map((tag) => store.saveToken(big(tag)))))).toEqual(new Set(["ok"]));
    // Files of 64 MiB are compared by identity, not held in memory.
    const filled = identity(path);
    expect(filled.size).toBeGreaterThan(MAX_DOCUMENT_BYTES - 900_000);
    expect(filled.size).toBeLessThan(MAX_DOCUMENT_BYTES);

    const outcomes = await settle([store.saveToken(big("too-big-")), store.saveToken({ userName: "small", refreshToken: "1000.small-rt" })]);
    expect(outcomes).toEqual(["LIMIT_EXCEEDED", "ok"]);
    const expected = [...fill, "small"];
    expect(await storedNames(path, key)).toEqual(expected);
    expect((await store.getTokens()).map((token) => token.userName!.replace(/\u0001+$/, ""))).toEqual(expected);
    // The generation before is kept as the previous one (a hard link to the filled file):
    // only the small save was written.
    expect(identity(`${path}.prev`)).toEqual(filled);

    // The big one alone: refused the same way, and the file stays as it is.
    const written = identity(path);
    expect(await settle([store.saveToken(big("too-big-"))])).toEqual(["LIMIT_EXCEEDED"]);
    expect(identity(path)).toEqual(written);
  }, 120_000);

  it("saves whose JSON together is past the engine's longest string: coded errors (LIMIT_EXCEEDED), no RangeError; those that fit land, in order", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path, key });
    // 610 records of about 0.885 MB: some 540 million characters of JSON, past V8's
    // 2^29 - 24, which JSON.stringify answers with "RangeError: Invalid string length".
    const tags = Array.from({ length: 610 }, (_, i) => `r${i}-`);
    const outcomes = await settle(tags.map((tag) => store.saveToken(big(tag))));
    const landed = outcomes.filter((outcome) => outcome === "ok").length;
    expect(outcomes).toEqual([...Array(landed).fill("ok"), ...Array(tags.length - landed).fill("LIMIT_EXCEEDED")]);
    expect(landed).toBeGreaterThan(70);
    expect(await storedNames(path, key)).toEqual(tags.slice(0, landed));
    expect(identity(path).size).toBeLessThanOrEqual(MAX_DOCUMENT_BYTES + 112);
  }, 120_000);

  it("saveTokens is one change: past the limit none of its tokens is stored, and a small save in the same tick still lands", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path, key });
    await store.saveToken({ userName: "first", refreshToken: "1000.first-rt" });
    const tags = Array.from({ length: 80 }, (_, i) => `many-${i}-`);
    const outcomes = await settle([store.saveTokens(tags.map(big)), store.saveToken({ userName: "small", refreshToken: "1000.small-rt" })]);
    expect(outcomes).toEqual(["LIMIT_EXCEEDED", "ok"]);
    expect(await storedNames(path, key)).toEqual(["first", "small"]);
  }, 120_000);
});

describe("saveTokens", () => {
  it("refuses what is not an array of tokens with INVALID_TOKEN, and writes nothing", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path, key });
    await store.saveToken({ userName: "first", refreshToken: "1000.first-rt" });
    const before = bytesOf(path)!;
    // An array with a hole in it (an element never set).
    const sparse: unknown[] = [{ userName: "a", refreshToken: "1000.a-rt" }];
    sparse[2] = { userName: "b", refreshToken: "1000.b-rt" };
    for (const bad of [null, "tokens", { userName: "a", refreshToken: "1000.a-rt" }, [{ userName: "a", refreshToken: 1 }], sparse]) {
      const code = await store.saveTokens(bad as never).then(
        () => "ok",
        (error: unknown) => (error instanceof TokenStoreError ? error.code : String(error)),
      );
      expect(code, JSON.stringify(bad)).toBe("INVALID_TOKEN");
    }
    expect(bytesOf(path)!.equals(before)).toBe(true);
    expect(await store.saveTokens([])).toEqual([]);
    expect(bytesOf(path)!.equals(before)).toBe(true);
  });

  it("stores every token or none: one that cannot be saved (a new record with no token) leaves the others out too", async () => {
    const dir = tempDir();
    const path = join(dir, "t.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path, key });
    await store.saveToken({ userName: "first", refreshToken: "1000.first-rt" });
    const before = bytesOf(path)!;
    const error = await store
      .saveTokens([{ userName: "a", refreshToken: "1000.a-rt" }, { userName: "no-token" }, { userName: "b", refreshToken: "1000.b-rt" }])
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(error).toBeInstanceOf(TokenStoreError);
    expect((error as TokenStoreError).code).toBe("INVALID_TOKEN");
    expect(bytesOf(path)!.equals(before)).toBe(true);
    expect((await store.getTokens()).map((token) => token.userName)).toEqual(["first"]);
    // And when all can be saved: one write, records in order.
    const saved = await store.saveTokens([
      { userName: "a", refreshToken: "1000.a-rt" },
      { userName: "b", refreshToken: "1000.b-rt" },
    ]);
    expect(saved.map((record) => [record.id, record.userName])).toEqual([
      ["2", "a"],
      ["3", "b"],
    ]);
    expect(await storedNames(path, key)).toEqual(["first", "a", "b"]);
  });
});

describe("import --from-csv", () => {
  it("a CSV whose rows do not fit in the store together: LIMIT_EXCEEDED, exit 1, and not one row is written", async () => {
    const dir = tempDir();
    const file = join(dir, "tokens.enc");
    const key = generateKey();
    const store = await EncryptedFileStore.open({ path: file, key });
    await store.saveToken({ userName: "first", refreshToken: "1000.first-rt" });
    const before = bytesOf(file)!;
    // 90 rows of about 130 KB of CSV each, about 0.79 MB of document each: 71 MB together.
    const header = "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain";
    const rows = Array.from({ length: 90 }, (_, i) => {
      const token = big(`csv-${i}-`);
      return [
        "",
        token.userName,
        token.clientId,
        token.clientSecret,
        token.refreshToken,
        token.accessToken,
        token.grantToken,
        "1700000000000",
        token.redirectUrl,
        token.apiDomain,
      ].join(",");
    });
    const csv = join(dir, "big.csv");
    writeFileSync(csv, `${header}\n${rows.join("\n")}\n`);
    const result = await cli(["import", "--from-csv", csv], { ZOHO_TOKEN_STORE_FILE: file, ZOHO_TOKEN_STORE_KEY: key });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain("error LIMIT_EXCEEDED");
    expect(bytesOf(file)!.equals(before)).toBe(true);
    expect(await storedNames(file, key)).toEqual(["first"]);
  }, 120_000);
});
