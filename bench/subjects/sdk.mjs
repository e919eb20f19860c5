// The Zoho SDK's own FileStore (the real class from @zohocrm/nodejs-sdk-8.0, a dev
// dependency of the package), given real OAuthTokens.
let sdkModule;
export async function loadSdk() {
  sdkModule ??= await import("@zohocrm/nodejs-sdk-8.0");
  return sdkModule;
}

/** The SDK's OAuthToken for a token, built as the SDK builds it (user signature for the user name). */
export function sdkToken(sdk, t) {
  const token = Reflect.construct(sdk.OAuthToken, []);
  if (t.userName) token.setUserSignature(new sdk.UserSignature(t.userName));
  if (t.clientId) token.setClientId(t.clientId);
  if (t.clientSecret) token.setClientSecret(t.clientSecret);
  if (t.refreshToken) token.setRefreshToken(t.refreshToken);
  if (t.accessToken) token.setAccessToken(t.accessToken);
  if (t.expiryTime) token.setExpiresIn(t.expiryTime);
  if (t.redirectUrl) token.setRedirectURL(t.redirectUrl);
  if (t.apiDomain) token.setAPIDomain(t.apiDomain);
  return token;
}

/** The OAuthToken the SDK is asked to fill in: only the user signature is set. */
export function sdkQuery(sdk, userName) {
  const token = Reflect.construct(sdk.OAuthToken, []);
  token.setUserSignature(new sdk.UserSignature(userName));
  return token;
}
