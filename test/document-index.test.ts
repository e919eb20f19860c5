import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { TokenDocument } from "../src/tokens/document.js";
import { normalizeInput } from "../src/tokens/input.js";
import type { TokenRecord } from "../src/tokens/types.js";

// The document's indexes against a scan of its records, with values drawn from tiny
// alphabets so that many records share a user name or a token; and changes made
// tentatively (as a write does): undone, they leave the document exactly as it was;
// redone, exactly as if they had been made directly.
const value = fc.constantFrom("a", "b", "c", null);
const change = fc.oneof(
  fc.record({
    kind: fc.constant("save" as const),
    userName: value,
    accessToken: value,
    refreshToken: value,
    grantToken: value,
    clientId: value,
    clientSecret: value,
  }),
  fc.record({ kind: fc.constant("saveById" as const), id: fc.constantFrom("1", "2", "3", "4"), accessToken: value, refreshToken: fc.constantFrom("a", "b") }),
  fc.record({ kind: fc.constant("delete" as const), id: fc.constantFrom("1", "2", "3", "4", "5", "6") }),
  fc.record({ kind: fc.constant("clear" as const) }),
);
const op = fc.oneof(
  { arbitrary: change, weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant("tentative" as const), changes: fc.array(change, { maxLength: 6 }), redo: fc.boolean() }), weight: 2 },
);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function apply(doc: TokenDocument, o: any): void {
  if (o.kind === "tentative") {
    const before = snapshot(doc);
    // The same changes made directly, on a copy read back from the serialized document.
    const direct = TokenDocument.parse(doc.serialize(), "direct");
    for (const c of o.changes) apply(direct, c);
    expect(Buffer.from(doc.serialize()).toString("utf8")).toBe(before);
    const { changes } = doc.tentatively(() => o.changes.forEach((c: unknown) => apply(doc, c)));
    expect(snapshot(doc)).toBe(before);
    if (o.redo) {
      doc.redo(changes);
      expect(snapshot(doc)).toBe(snapshot(direct));
    }
    return;
  }
  if (o.kind === "delete") {
    doc.delete(o.id);
    return;
  }
  if (o.kind === "clear") {
    doc.clear();
    return;
  }
  const { kind, ...fields } = o;
  try {
    doc.save(normalizeInput(fields));
  } catch {
    // a new record without any token: refused, nothing changed
  }
}

/** The first record, oldest first, whose field equals the value: what an index must give. */
function scan(records: TokenRecord[], field: "userName" | "accessToken" | "refreshToken" | "grantToken", v: string): TokenRecord | undefined {
  return records.find((r) => r[field] === v);
}

function snapshot(doc: TokenDocument): string {
  return JSON.stringify(doc);
}

describe("document indexes", () => {
  it("agree with a scan of the records, after direct changes and after tentative ones undone or redone", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const doc = TokenDocument.empty();
        for (const o of ops) {
          apply(doc, o);
          const records = doc.all();
          for (const v of ["a", "b", "c"]) {
            expect(doc.match(normalizeInput({ userName: v }))?.id).toBe(scan(records, "userName", v)?.id);
            expect(doc.match(normalizeInput({ accessToken: v }))?.id).toBe(scan(records, "accessToken", v)?.id);
            const byGrant = scan(records, "grantToken", v);
            const byRefresh = scan(records, "refreshToken", v);
            const oldest = [byGrant, byRefresh].filter((r): r is TokenRecord => r !== undefined).sort((x, y) => records.indexOf(x) - records.indexOf(y))[0];
            expect(doc.match(normalizeInput({ refreshToken: v, grantToken: v, clientId: "c", clientSecret: "s" }))?.id).toBe(oldest?.id);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("serialize writes exactly JSON.stringify's UTF-8", () => {
    const doc = TokenDocument.empty();
    const names = ["plain@example.com", "ünïcødé@example.com", "名前@example.jp", "emoji-😀-𝄞@example.com", 'quote"back\\slash\n'];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 400 * (round + 1); i++) {
        doc.save(
          normalizeInput({
            userName: `${names[i % names.length]}-${round}-${i}`,
            refreshToken: `1000.${"r".repeat(i % 90)}`,
            accessToken: names[(i + 2) % names.length],
          }),
        );
      }
      expect(Buffer.from(doc.serialize()).equals(Buffer.from(JSON.stringify(doc), "utf8"))).toBe(true);
      const read = TokenDocument.parse(doc.serialize(), "x");
      expect(JSON.stringify(read)).toBe(JSON.stringify(doc));
    }
    const small = TokenDocument.empty();
    small.save(normalizeInput({ userName: "é", refreshToken: "1000.x" }));
    expect(Buffer.from(small.serialize()).toString("utf8")).toBe(JSON.stringify(small));
  });
});
