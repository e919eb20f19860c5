/**
 * Model check: random sequences of the six operations, spread over two store instances
 * on one store (and same-tick batches on one instance), against a plain in-memory model
 * of the Zoho SDK FileStore's rules, written here from the SDK's source
 * (models/authenticator/store/file_store.js: checkCondition, saveToken, setMergeData),
 * not from this package's code. The model includes this store's documented
 * departures from the SDK: ids are never reused, an unknown id is null/false rather
 * than an exception, a new record without any token is always refused, and "" means
 * "not given". Any divergence fails with fast-check's shrunk sequence.
 */
import { expect } from "vitest";
import fc from "fast-check";
import { TOKEN_FIELDS, TokenStoreError, type EncryptedTokenStore, type TokenField } from "../../src/index.js";

type Row = { id: string } & Record<TokenField, string | null>;
type Input = { id?: string | null } & Partial<Record<TokenField, string | null>>;
type Norm = { id: string | null } & Record<TokenField, string | null>;

function norm(input: Input): Norm {
  const out = { id: input.id === undefined || input.id === "" ? null : input.id } as Norm;
  for (const field of TOKEN_FIELDS) {
    const value = input[field];
    out[field] = value === undefined || value === "" ? null : value;
  }
  return out;
}

/** The SDK FileStore's rules over rows kept in file order. */
class Model {
  rows: Row[] = [];
  nextId = 1;

  /** checkCondition, applied row by row in file order; the first row that passes wins. */
  match(q: Norm): Row | null {
    for (const row of this.rows) {
      if (q.userName !== null) {
        if (row.userName !== null && row.userName === q.userName) return row;
      } else if (q.accessToken !== null && q.clientId === null && q.clientSecret === null) {
        if (row.accessToken !== null && row.accessToken === q.accessToken) return row;
      } else if (q.refreshToken !== null || (q.grantToken !== null && q.clientId !== null && q.clientSecret !== null)) {
        if (row.grantToken !== null && q.grantToken !== null && row.grantToken === q.grantToken) return row;
        if (row.refreshToken !== null && q.refreshToken !== null && row.refreshToken === q.refreshToken) return row;
      } else {
        return null;
      }
    }
    return null;
  }

  save(q: Norm): Row {
    const target = q.id !== null ? (this.rows.find((row) => row.id === q.id) ?? null) : this.match(q);
    if (target) {
      // setMergeData fills the given token's empty fields from the row; the row is then rewritten in place.
      for (const field of TOKEN_FIELDS) if (q[field] !== null) target[field] = q[field];
      return { ...target };
    }
    if (q.refreshToken === null && q.grantToken === null && q.accessToken === null) throw new Error("INVALID_TOKEN");
    let id = q.id;
    if (id === null) id = String(this.nextId++);
    else if (/^[1-9][0-9]{0,15}$/.test(id) && Number(id) >= this.nextId && Number.isSafeInteger(Number(id) + 1)) this.nextId = Number(id) + 1;
    const row = { ...q, id } as Row;
    this.rows.push(row);
    return { ...row };
  }

  findById(id: string): Row | null {
    const row = this.rows.find((r) => r.id === id);
    return row ? { ...row } : null;
  }

  delete(id: string): boolean {
    const at = this.rows.findIndex((r) => r.id === id);
    if (at < 0) return false;
    this.rows.splice(at, 1);
    return true;
  }
}

// Small pools so that values collide often and every matching branch is exercised.
const maybe = (...values: string[]) => fc.constantFrom<string | null | undefined>(...values, null, undefined, "");
const tokenArb: fc.Arbitrary<Input> = fc.record(
  {
    id: fc.constantFrom<string | null | undefined>("1", "2", "3", "9", "x", null, undefined),
    userName: maybe("u1", "u2"),
    clientId: maybe("c1", "c2"),
    clientSecret: maybe("s1"),
    refreshToken: maybe("r1", "r2", "r3"),
    accessToken: maybe("a1", "a2"),
    grantToken: maybe("g1", "g2"),
    expiryTime: maybe("1700000000000"),
    redirectUrl: maybe("https://example.com/cb"),
    apiDomain: maybe("https://www.zohoapis.com"),
  },
  { requiredKeys: [] },
);
const queryArb = tokenArb.map(({ id: _id, ...rest }) => rest as Input);
const idArb = fc.constantFrom("1", "2", "3", "4", "5", "9", "x");
const inst = fc.constantFrom(0, 1);

export type Command =
  | { op: "saveToken"; on: number; token: Input }
  | { op: "findToken"; on: number; token: Input }
  | { op: "findTokenById"; on: number; id: string }
  | { op: "deleteToken"; on: number; id: string }
  | { op: "getTokens"; on: number }
  | { op: "deleteTokens"; on: number }
  | { op: "sameTickSaves"; on: number; tokens: Input[] };

export const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("saveToken" as const), on: inst, token: tokenArb }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("findToken" as const), on: inst, token: queryArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("findTokenById" as const), on: inst, id: idArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("deleteToken" as const), on: inst, id: idArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("getTokens" as const), on: inst }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("deleteTokens" as const), on: inst }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("sameTickSaves" as const), on: inst, tokens: fc.array(tokenArb, { minLength: 2, maxLength: 4 }) }) },
);

const plain = (record: unknown) => (record === null ? null : { ...(record as object) });

/** The stored result or the error code, for comparing with the model. */
async function settle<T>(promise: Promise<T>): Promise<T | { error: string }> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof TokenStoreError) return { error: error.code };
    throw error;
  }
}

function modelSettle<T>(run: () => T): T | { error: string } {
  try {
    return run();
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/**
 * Runs `commands` over two instances opened by `open` (a fresh, empty store for this
 * sequence; each call another instance over it) and the model, then checks what a third
 * instance reads.
 */
export async function runModelSequence(commands: Command[], open: () => Promise<EncryptedTokenStore>): Promise<void> {
  const stores = [await open(), await open()];
  const model = new Model();
  for (const [step, command] of commands.entries()) {
    const store = stores[command.on]!;
    const where = `step ${step}: ${JSON.stringify(command)}`;
    switch (command.op) {
      case "saveToken": {
        const actual = await settle(store.saveToken(command.token as never).then(plain));
        expect(actual, where).toEqual(modelSettle(() => model.save(norm(command.token))));
        break;
      }
      case "sameTickSaves": {
        const actual = await Promise.all(command.tokens.map((token) => settle(store.saveToken(token as never).then(plain))));
        expect(actual, where).toEqual(command.tokens.map((token) => modelSettle(() => model.save(norm(token)))));
        break;
      }
      case "findToken": {
        const actual = await settle(store.findToken(command.token as never).then(plain));
        const found = model.match(norm(command.token));
        expect(actual, where).toEqual(found ? { ...found } : null);
        break;
      }
      case "findTokenById":
        expect(await settle(store.findTokenById(command.id).then(plain)), where).toEqual(model.findById(command.id));
        break;
      case "deleteToken":
        expect(await settle(store.deleteToken(command.id)), where).toEqual(model.delete(command.id));
        break;
      case "getTokens":
        expect((await store.getTokens()).map(plain), where).toEqual(model.rows.map((row) => ({ ...row })));
        break;
      case "deleteTokens":
        await store.deleteTokens();
        model.rows = [];
        break;
    }
  }
  // What is stored, read by a third instance, is the model's document.
  const fresh = await open();
  expect((await fresh.getTokens()).map(plain), "final document").toEqual(model.rows.map((row) => ({ ...row })));
}
