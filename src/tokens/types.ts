/** The fields of one stored token, named as in the SDK's token stores. */
export const TOKEN_FIELDS = [
  "userName",
  "clientId",
  "clientSecret",
  "refreshToken",
  "accessToken",
  "grantToken",
  "expiryTime",
  "redirectUrl",
  "apiDomain",
] as const;

export type TokenField = (typeof TOKEN_FIELDS)[number];

/** The fields that hold secrets: never printed, logged or shown unless asked for by name. */
export const SECRET_FIELDS = ["clientSecret", "refreshToken", "accessToken", "grantToken"] as const satisfies readonly TokenField[];

/**
 * One stored token. Every field is a string or `null`; an empty string is
 * stored as `null`, as the SDK's own stores do. `expiryTime` is the access
 * token's expiry in milliseconds since the epoch, as a decimal string (the
 * SDK's format).
 */
export interface TokenRecord {
  /** Assigned by the store on insert; never reused, even after deletes. */
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
}

/**
 * A token as given to `saveToken` or `findToken`: any subset of the fields.
 * `undefined`, `null` and `""` all mean "not given".
 */
export type TokenInput = { id?: string | null } & { [K in TokenField]?: string | null };
