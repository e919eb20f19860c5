/**
 * Validation of what callers hand the store: token inputs and ids. Refuses anything but
 * a plain object whose own keys are token fields holding strings, null or undefined.
 * Messages name the field and the type, never the value.
 */
import { describeType, TokenStoreError } from "../errors.js";
import { TOKEN_FIELDS, type TokenField, type TokenInput } from "./types.js";

/** Longest accepted value of one field, in UTF-16 code units. Zoho's tokens are ~70. */
export const MAX_FIELD_LENGTH = 16 * 1024;
/** Longest accepted id. */
export const MAX_ID_LENGTH = 128;

const FIELD_SET: ReadonlySet<string> = new Set<string>(["id", ...TOKEN_FIELDS]);

/** A validated token input: every field present, `null` where not given. */
export type NormalizedInput = { id: string | null } & { [K in TokenField]: string | null };

/**
 * Validates a token given by a caller. Refuses anything but a plain object whose own
 * keys are token fields holding strings, null or undefined. "" counts as not given.
 * Messages name the field and the type, never the value.
 */
export function normalizeInput(input: unknown, what = "token"): NormalizedInput {
  if (!isPlainObject(input)) {
    throw new TokenStoreError("INVALID_TOKEN", `${what} must be a plain object, got ${describeType(input)}`);
  }
  for (const key of Reflect.ownKeys(input)) {
    if (typeof key !== "string" || !FIELD_SET.has(key)) {
      throw new TokenStoreError(
        "INVALID_TOKEN",
        `${what} has an unknown field ${JSON.stringify(String(key)).slice(0, 40)}; known fields: id, ${TOKEN_FIELDS.join(", ")}`,
      );
    }
  }
  // One object literal with every field in a fixed order (one shape for every query),
  // each read by name: this runs on every findToken, the SDK's hot path.
  const given = input as Record<string, unknown>;
  return {
    id: normalizeId((input as TokenInput).id ?? null, what, true),
    userName: fieldValue(given.userName, "userName", what),
    clientId: fieldValue(given.clientId, "clientId", what),
    clientSecret: fieldValue(given.clientSecret, "clientSecret", what),
    refreshToken: fieldValue(given.refreshToken, "refreshToken", what),
    accessToken: fieldValue(given.accessToken, "accessToken", what),
    grantToken: fieldValue(given.grantToken, "grantToken", what),
    expiryTime: fieldValue(given.expiryTime, "expiryTime", what),
    redirectUrl: fieldValue(given.redirectUrl, "redirectUrl", what),
    apiDomain: fieldValue(given.apiDomain, "apiDomain", what),
  };
}

function fieldValue(value: unknown, field: TokenField, what: string): string | null {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string") {
    throw new TokenStoreError("INVALID_TOKEN", `${what}.${field} must be a string or null, got ${describeType(value)}`);
  }
  if (value.length > MAX_FIELD_LENGTH) {
    throw new TokenStoreError("INVALID_TOKEN", `${what}.${field} is longer than ${MAX_FIELD_LENGTH} characters`);
  }
  return value;
}

/** Validates a record id given by a caller. */
export function normalizeId(id: unknown, what = "id", allowNull = false): string | null {
  if ((id === null || id === undefined || id === "") && allowNull) return null;
  if (typeof id !== "string" || id.length === 0) {
    throw new TokenStoreError("INVALID_TOKEN", `${what === "id" ? "id" : `${what}.id`} must be a non-empty string, got ${describeType(id)}`);
  }
  if (id.length > MAX_ID_LENGTH) {
    throw new TokenStoreError("INVALID_TOKEN", `id is longer than ${MAX_ID_LENGTH} characters`);
  }
  return id;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
