/**
 * Records handed to callers: copies, so changing them changes nothing stored, whose
 * `util.inspect` and JSON forms hide the secret values. Accidentally logging a record
 * shows which tokens it holds, never the tokens; the fields themselves are plain
 * properties (`record.refreshToken`, or `{ ...record }` for a plain object).
 */
import { inspect } from "node:util";
import { SECRET_FIELDS, TOKEN_FIELDS, type TokenRecord } from "./types.js";

const SECRET: ReadonlySet<string> = new Set(SECRET_FIELDS);

class StoredToken implements TokenRecord {
  id: string;
  userName: string | null;
  clientId: string | null;
  clientSecret: string | null;
  refreshToken: string | null;
  accessToken: string | null;
  grantToken: string | null;
  expiryTime: string | null;
  redirectUrl: string | null;
  apiDomain: string | null;

  constructor(record: TokenRecord) {
    this.id = record.id;
    this.userName = record.userName;
    this.clientId = record.clientId;
    this.clientSecret = record.clientSecret;
    this.refreshToken = record.refreshToken;
    this.accessToken = record.accessToken;
    this.grantToken = record.grantToken;
    this.expiryTime = record.expiryTime;
    this.redirectUrl = record.redirectUrl;
    this.apiDomain = record.apiDomain;
  }

  /** JSON form with secrets replaced by "[redacted]". Use `{ ...record }` to serialise them on purpose. */
  toJSON(): Record<string, string | null> {
    return redact(this);
  }

  [inspect.custom](): string {
    return `TokenRecord ${inspect(redact(this))}`;
  }
}

/** A secret-free view of a record: secrets redacted, the client id shortened. */
export function redact(record: TokenRecord): Record<string, string | null> {
  const out: Record<string, string | null> = { id: record.id };
  for (const field of TOKEN_FIELDS) {
    const value = record[field];
    if (value === null) out[field] = null;
    else if (SECRET.has(field)) out[field] = "[redacted]";
    else if (field === "clientId") out[field] = shortenClientId(value);
    else out[field] = value;
  }
  return out;
}

/** Enough of a client id to tell clients apart, not enough to use one. */
export function shortenClientId(clientId: string): string {
  return clientId.length <= 12 ? `${clientId.slice(0, 4)}…` : `${clientId.slice(0, 9)}…`;
}

export function exposeRecord(record: TokenRecord): TokenRecord {
  return new StoredToken(record);
}
