/**
 * A store never writes a document it would refuse to read. Random operation sequences,
 * with ids drawn near 2^53 (2^53 - 3 .. 2^53 + 2, as strings) among ordinary and odd ones,
 * odd strings in every field (lone surrogates, NUL, line separators, combining marks,
 * the longest accepted value and one character more), inserts, updates and deletes over
 * two instances: after every step a fresh instance opens the file and reads what the
 * writer reads. And the document's codec: TokenDocument.serialize then
 * TokenDocument.parse gives back every record, the id counter, the other top-level
 * fields, and the same bytes again.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { join } from "node:path";
import { EncryptedFileStore, TOKEN_FIELDS, TokenStoreError, generateKey, type TokenField } from "../../src/index.js";
import { TokenDocument } from "../../src/tokens/document.js";
import { normalizeInput } from "../../src/tokens/input.js";
import { tempDir } from "../helpers.js";
import { sized, STRESS } from "./support.js";

type Input = { id?: string | null } & Partial<Record<TokenField, string | null>>;

/** 2^53 - 3 .. 2^53 + 2. */
const NEAR_2_53 = Array.from({ length: 6 }, (_, i) => String(2n ** 53n - 3n + BigInt(i)));

const idArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...NEAR_2_53) },
  { weight: 3, arbitrary: fc.constantFrom("1", "2", "3", "10") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "09007199254740991",
      "9007199254740991.0",
      "9.007199254740991e15",
      "1e3",
      " 7",
      "-1",
      "0",
      "9".repeat(16),
      "9".repeat(17),
      "__proto__",
      "constructor",
      "\uD800",
      "a\u0000b",
      "x".repeat(128),
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 12 }) },
);

const oddString: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("1000.r1", "1000.r2", "u1", "u2") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "",
      "\u0000",
      "\uD800",
      "\uDFFF\uD800",
      "\u2028\u2029",
      '"\\',
      "</script>",
      "__proto__",
      "😀",
      "e\u0301",
      "\r\n",
      "null",
      "{}",
      "x".repeat(16 * 1024),
      "y".repeat(16 * 1024 + 1),
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constant(null) },
);

const tokenArb: fc.Arbitrary<Input> = fc.record(
  {
    id: fc.option(idArb, { nil: undefined, freq: 2 }),
    ...(Object.fromEntries(TOKEN_FIELDS.map((field) => [field, oddString])) as Record<TokenField, fc.Arbitrary<string | null>>),
  },
  { requiredKeys: [] },
);

type Command =
  | { op: "save"; on: number; token: Input }
  | { op: "sameTick"; on: number; tokens: Input[] }
  | { op: "delete"; on: number; id: string }
  | { op: "deleteAll"; on: number };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant("save" as const), on: fc.constantFrom(0, 1), token: tokenArb }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("sameTick" as const), on: fc.constantFrom(0, 1), tokens: fc.array(tokenArb, { minLength: 2, maxLength: 4 }) }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("delete" as const), on: fc.constantFrom(0, 1), id: idArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("deleteAll" as const), on: fc.constantFrom(0, 1) }) },
);

/** A change either happens or is refused as documented: a malformed token, or no id left. */
async function settle(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (error instanceof TokenStoreError && (error.code === "INVALID_TOKEN" || error.code === "LIMIT_EXCEEDED")) return error.code;
    throw error;
  }
}

const plain = (records: readonly object[]) => records.map((record) => ({ ...record }));

async function runSequence(commands: Command[]): Promise<void> {
  const path = join(tempDir(), "t.enc");
  const key = generateKey();
  const stores = [await EncryptedFileStore.open({ path, key }), await EncryptedFileStore.open({ path, key })];
  for (const [step, command] of commands.entries()) {
    const store = stores[command.on]!;
    switch (command.op) {
      case "save":
        await settle(store.saveToken(command.token as never));
        break;
      case "sameTick":
        await Promise.all(command.tokens.map((token) => settle(store.saveToken(token as never))));
        break;
      case "delete":
        await settle(store.deleteToken(command.id));
        break;
      case "deleteAll":
        await store.deleteTokens();
        break;
    }
    // What is on disk opens in a fresh instance and holds what the writer holds.
    const where = `step ${step}: ${JSON.stringify(command).slice(0, 300)}`;
    let fresh: object[];
    try {
      fresh = plain(await (await EncryptedFileStore.open({ path, key })).getTokens());
    } catch (error) {
      throw new Error(`${where}: a fresh instance cannot read what was written: ${(error as Error).message}`);
    }
    expect(fresh, where).toEqual(plain(await store.getTokens()));
    const ids = fresh.map((record) => (record as { id: string }).id);
    expect(new Set(ids).size, `${where}: ids are unique`).toBe(ids.length);
  }
}

/** Other top-level fields a document carries (the store keeps its key history there). */
const metaArb = fc
  .dictionary(
    fc.oneof(fc.constantFrom("retiredKeys", "__proto__", "constructor", "", "\uD800"), fc.string({ unit: "binary", maxLength: 8 })),
    fc.jsonValue({ maxDepth: 2 }),
    { maxKeys: 4 },
  )
  .map((meta) => {
    const { format: _f, nextId: _n, tokens: _t, ...rest } = JSON.parse(JSON.stringify(meta)) as Record<string, unknown>;
    return rest;
  });

describe("whatever a store writes, a fresh instance reads", () => {
  const runs = sized(150, 1500);
  it(
    `${runs} random sequences with ids near 2^53 and odd strings in every field: a fresh instance opens the file after every step`,
    async () => {
      // The sequence the id counter once broke on, first.
      const examples: Array<[Command[]]> = [
        [
          [
            { op: "save", on: 0, token: { id: NEAR_2_53[1], refreshToken: "1000.r1" } },
            { op: "save", on: 0, token: { refreshToken: "1000.r2" } },
            { op: "save", on: 1, token: { refreshToken: "1000.r3" } },
          ],
        ],
      ];
      await fc.assert(fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 15 }), runSequence), { numRuns: runs, examples });
      console.log(`[fault figures] readback ${JSON.stringify({ sequences: runs, maxLength: 15 })}`);
    },
    STRESS ? 1_800_000 : 120_000,
  );

  const codecRuns = sized(300, 3000);
  it(`TokenDocument.serialize -> TokenDocument.parse round-trips ${codecRuns} documents built by random operations`, () => {
    const opArb = fc.oneof({ weight: 4, arbitrary: tokenArb.map((token) => ({ save: token })) }, { weight: 1, arbitrary: idArb.map((id) => ({ delete: id })) });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 20 }), metaArb, (ops, meta) => {
        const doc = TokenDocument.empty();
        for (const op of ops) {
          if ("delete" in op) {
            doc.delete(op.delete);
            continue;
          }
          try {
            doc.save(normalizeInput(op.save));
          } catch (error) {
            if (!(error instanceof TokenStoreError) || (error.code !== "INVALID_TOKEN" && error.code !== "LIMIT_EXCEEDED")) throw error;
          }
          const bytes = doc.serialize(meta);
          const parsed = TokenDocument.parse(bytes, "round trip");
          expect(plain(parsed.all())).toEqual(plain(doc.all()));
          expect(parsed.nextId).toBe(doc.nextId);
          expect(Buffer.from(JSON.stringify(parsed.meta)).equals(Buffer.from(JSON.stringify(meta)))).toBe(true);
          expect(Buffer.from(parsed.serialize()).equals(Buffer.from(bytes))).toBe(true);
        }
      }),
      { numRuns: codecRuns },
    );
  });
});
