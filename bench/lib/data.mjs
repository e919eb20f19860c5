// The test data: tokens shaped like Zoho's, the same in every process and every run.
import { createHash } from "node:crypto";

/** Tokens stored in the save case, and by the passphrase case's processes. */
export const USERS_SAVE = 10;

function hex(tag, i, length) {
  return createHash("sha256").update(`${tag}:${i}`).digest("hex").slice(0, length);
}

/** A token shaped like Zoho's: 70-character refresh and access tokens, one client. */
export function makeToken(i, prefix = "user") {
  return {
    userName: `${prefix}${i}@example.com`,
    clientId: `1000.${hex("client", 0, 30).toUpperCase()}`,
    clientSecret: hex("secret", 0, 42),
    refreshToken: `1000.${hex("refresh-a", `${prefix}${i}`, 32)}.${hex("refresh-b", `${prefix}${i}`, 32)}`,
    accessToken: accessToken(`${prefix}${i}`, 0),
    grantToken: null,
    expiryTime: String(1_800_000_000_000 + i),
    redirectUrl: "https://example.com/oauth/callback",
    apiDomain: "https://www.zohoapis.com",
  };
}

/** A fresh access token, always 70 characters, so a refresh never changes the file's size. */
export function accessToken(user, n) {
  return `1000.${hex("access-a", `${user}:${n}`, 32)}.${hex("access-b", `${user}:${n}`, 32)}`;
}

/** The `i`-th refresh of a run: a new access token and expiry for each of `users` in turn. */
export function refreshOf(users, i) {
  const userName = users[i % users.length];
  return { userName, accessToken: accessToken(userName, i + 1), expiryTime: String(1_900_000_000_000 + i) };
}
