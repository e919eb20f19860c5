/**
 * Between the SDK's `OAuthToken` and the store's records: which fields go where, the SDK
 * FileStore's merge rule, and when the SDK is about to renew a token (for refresh leases).
 */
import { TokenStoreError } from "../errors.js";
import type { TokenInput, TokenRecord } from "../tokens/types.js";
import type { SdkClasses, ZohoOAuthToken } from "./sdk.js";

/** The SDK renews an access token that has fewer than this many ms left (OAuthToken.getTokenExpiry). */
const SDK_EXPIRY_MARGIN_MS = 5000;
/** A renewed token counts as fresh for waiters only with this much more time left. */
const FRESH_MARGIN_MS = SDK_EXPIRY_MARGIN_MS + 2000;

/** The record fields of an SDK token. The id is used only to save (the SDK's rules). */
export function toInput(token: ZohoOAuthToken, withId: boolean): TokenInput {
  const expiry = token.getExpiresIn();
  const input: TokenInput = {
    userName: text(token.getUserSignature()?.getName()),
    clientId: text(token.getClientId()),
    clientSecret: text(token.getClientSecret()),
    refreshToken: text(token.getRefreshToken()),
    accessToken: text(token.getAccessToken()),
    grantToken: text(token.getGrantToken()),
    expiryTime: expiry === null || expiry === undefined ? null : String(expiry),
    redirectUrl: text(token.getRedirectURL()),
    apiDomain: text(token.getAPIDomain()),
  };
  if (withId) {
    const id = token.getId();
    input.id = id === null || id === undefined || id === "" ? null : String(id);
  }
  return input;
}

/** The FileStore's `setMergeData`: every field still empty on the token takes the record's value. */
export function fillEmptyFields(token: ZohoOAuthToken, record: TokenRecord, UserSignature: SdkClasses["UserSignature"]): void {
  if (empty(token.getId())) token.setId(record.id);
  if (token.getUserSignature() == null) {
    token.setUserSignature(record.userName === null ? null : new UserSignature(record.userName));
  }
  if (empty(token.getClientId())) token.setClientId(record.clientId);
  if (empty(token.getClientSecret())) token.setClientSecret(record.clientSecret);
  if (empty(token.getRefreshToken())) token.setRefreshToken(record.refreshToken);
  if (empty(token.getAccessToken())) token.setAccessToken(record.accessToken);
  if (empty(token.getGrantToken())) token.setGrantToken(record.grantToken);
  if (empty(token.getExpiresIn()) && record.expiryTime !== null) token.setExpiresIn(record.expiryTime);
  if (empty(token.getRedirectURL())) token.setRedirectURL(record.redirectUrl);
  if (empty(token.getAPIDomain())) token.setAPIDomain(record.apiDomain);
}

/**
 * When the stored record holds a later-expiring access token of the same refresh token
 * than the one in memory, another process renewed it: take that one.
 */
export function adoptFresherAccessToken(token: ZohoOAuthToken, record: TokenRecord): void {
  const inMemory = text(token.getAccessToken());
  if (inMemory === null || record.accessToken === null || record.accessToken === inMemory) return;
  const refreshToken = text(token.getRefreshToken());
  if (refreshToken === null || refreshToken !== record.refreshToken) return;
  const storedExpiry = Number(record.expiryTime);
  const memoryExpiry = Number(token.getExpiresIn() ?? 0);
  if (!Number.isFinite(storedExpiry) || !(storedExpiry > (Number.isFinite(memoryExpiry) ? memoryExpiry : 0))) return;
  token.setAccessToken(record.accessToken);
  token.setExpiresIn(record.expiryTime);
}

/**
 * The lease key when the SDK, given `token` as findToken fills it, will call the accounts
 * server; undefined when it will not. Mirrors OAuthToken.getToken(): no access token
 * means a refresh (with a refresh token) or a grant exchange; an access token with
 * under 5 s left means a refresh.
 */
export function renewalLeaseKey(token: ZohoOAuthToken): string | undefined {
  const accessToken = text(token.getAccessToken());
  const expiresIn = token.getExpiresIn();
  const expiry = empty(expiresIn) ? null : Number(expiresIn);
  const renews = accessToken === null || (expiry !== null && expiry > 0 && expiry - Date.now() < SDK_EXPIRY_MARGIN_MS);
  if (!renews) return undefined;
  const refreshToken = text(token.getRefreshToken());
  if (refreshToken !== null) return `refresh:${refreshToken}`;
  const grantToken = text(token.getGrantToken());
  if (grantToken !== null && accessToken === null) return `grant:${grantToken}`;
  return undefined;
}

/** The lease keys a saved token ends: its refresh token's and its grant code's. */
export function leaseKeysOf(input: TokenInput): string[] {
  const keys: string[] = [];
  if (input.refreshToken) keys.push(`refresh:${input.refreshToken}`);
  if (input.grantToken) keys.push(`grant:${input.grantToken}`);
  return keys;
}

/** True when `record` holds an access token the SDK will use as it is, for this token. */
export function freshFor(token: ZohoOAuthToken, record: TokenRecord): boolean {
  if (record.accessToken === null || !(Number(record.expiryTime) - Date.now() >= FRESH_MARGIN_MS)) return false;
  const refreshToken = text(token.getRefreshToken());
  return refreshToken === null || refreshToken === record.refreshToken;
}

/** Another caller renewed the token while this one waited: take its access token and expiry. */
export function adoptRenewedToken(token: ZohoOAuthToken, record: TokenRecord): void {
  token.setAccessToken(record.accessToken);
  token.setExpiresIn(record.expiryTime);
  if (empty(token.getRefreshToken())) token.setRefreshToken(record.refreshToken);
}

export function idString(id: unknown): string {
  if (typeof id === "number" && Number.isSafeInteger(id)) return String(id);
  if (typeof id !== "string" || id.length === 0) {
    throw new TokenStoreError("INVALID_TOKEN", "the token id must be a non-empty string");
  }
  return id;
}

export function notFound(): TokenStoreError {
  return new TokenStoreError("NOT_FOUND", "no stored token has this id");
}

export function text(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? value : null;
}

export function empty(value: unknown): boolean {
  return value === null || value === undefined || value === "";
}
