import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { TokenDocument, normalizeInput } from "../src/store/document.js";
import type { TokenRecord } from "../src/store/types.js";

// The document's indexes against a scan of its records, with values drawn from tiny
// alphabets so that many records share a user name or a token, and against clones: a
// clone changed in any way leaves the document it came from exactly as it was.
const value = fc.constantFrom("a", "b", "c", null);
const op = fc.oneof(
  fc.record({ kind: fc.constant("save" as const), userName: value, accessToken: value, refreshToken: value, grantToken: value, clientId: value, clientSecret: value }),
  fc.record({ kind: fc.constant("saveById" as const), id: fc.constantFrom("1", "2", "3", "4"), accessToken: value, refreshToken: fc.constantFrom("a", "b") }),
  fc.record({ kind: fc.constant("delete" as const), id: fc.constantFrom("1", "2", "3", "4", "5", "6") }),
  fc.record({ kind: fc.constant("clone" as const) }),
);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function apply(doc: TokenDocument, o: any): TokenDocument {
  if (o.kind === "clone") return doc.clone();
  if (o.kind === "delete") {
    doc.delete(o.id);
    return doc;
  }
  const { kind, ...fields } = o;
  try {
    doc.save(normalizeInput(fields));
  } catch {
    // a new record without any token: refused, nothing changed
  }
  return doc;
}

/** The first record, oldest first, whose field equals the value: what an index must give. */
function scan(records: TokenRecord[], field: "userName" | "accessToken" | "refreshToken" | "grantToken", v: string): TokenRecord | undefined {
  return records.find((r) => r[field] === v);
}

function snapshot(doc: TokenDocument): string {
  return JSON.stringify(doc);
}

describe("document indexes", () => {
  it("agree with a scan of the records, and clones never change their origin", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        let doc = TokenDocument.empty();
        const history: { doc: TokenDocument; json: string }[] = [];
        for (const o of ops) {
          const next = apply(doc, o);
          if (next !== doc) history.push({ doc, json: snapshot(doc) });
          doc = next;
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
        for (const { doc: earlier, json } of history) expect(snapshot(earlier)).toBe(json);
      }),
      { numRuns: 300 },
    );
  });
});
