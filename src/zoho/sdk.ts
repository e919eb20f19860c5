/**
 * What the adapter knows of a Zoho CRM SDK: the shapes of its `OAuthToken` and
 * `UserSignature` (both SDK families), and how to find them, and the nodejs SDK's
 * `TokenStore` base class, in the namespace the caller passes. No SDK package is imported,
 * at run time or in the types: the caller's own copies of those classes are used, so the
 * SDK's `instanceof` checks see them whatever SDK version is installed.
 */
import { TokenStoreError } from "../errors.js";

/** The SDK's `UserSignature`, as far as the adapter uses it. */
export interface ZohoUserSignature {
  getName(): string | null | undefined;
}

/** The SDK's `OAuthToken`, as far as the adapter uses it (both SDK families). */
export interface ZohoOAuthToken {
  getId(): string | number | null | undefined;
  setId(id: string | null): void;
  getUserSignature(): ZohoUserSignature | null | undefined;
  setUserSignature(signature: ZohoUserSignature | null): void;
  getClientId(): string | null | undefined;
  setClientId(clientId: string | null): void;
  getClientSecret(): string | null | undefined;
  setClientSecret(clientSecret: string | null): void;
  getRefreshToken(): string | null | undefined;
  setRefreshToken(refreshToken: string | null): void;
  getAccessToken(): string | null | undefined;
  setAccessToken(accessToken: string | null): void;
  getGrantToken(): string | null | undefined;
  setGrantToken(grantToken: string | null): void;
  getExpiresIn(): string | number | null | undefined;
  setExpiresIn(expiresIn: string | null): void;
  getRedirectURL(): string | null | undefined;
  setRedirectURL(redirectURL: string | null): void;
  getAPIDomain(): string | null | undefined;
  setAPIDomain(apiDomain: string | null): void;
}

/**
 * The part of an SDK namespace (`import * as ZOHOCRMSDK from "@zohocrm/..."`) the
 * adapter reads. A CommonJS namespace imported from ES modules, where the classes sit
 * under `default`, works too.
 */
export interface ZohoSdkNamespace {
  OAuthToken: abstract new (...args: never[]) => unknown;
  UserSignature: new (name: string) => unknown;
  /** nodejs SDK: a module whose `TokenStore` is a class; typescript SDK: an empty namespace. */
  TokenStore?: unknown;
}

/**
 * The token type of the SDK namespace `SDK`: an instance of its own `OAuthToken`, so the
 * type comes from the SDK version the caller installed, without this package naming it.
 * `unknown` for the bare {@link ZohoSdkNamespace}; `any` for an SDK that ships no types
 * (`@zohocrm/nodejs-sdk-*`).
 */
export type ZohoSdkToken<SDK extends ZohoSdkNamespace = ZohoSdkNamespace> = InstanceType<SDK["OAuthToken"]>;

/** The SDK's classes, as found in its namespace. */
export interface SdkClasses {
  OAuthToken: new () => ZohoOAuthToken;
  UserSignature: new (name: string) => ZohoUserSignature;
  Base: new () => object;
}

/** The SDK's classes from its namespace (or a CommonJS namespace's `default`). */
export function sdkClasses(namespace: unknown): SdkClasses {
  const candidates = [namespace, isObject(namespace) ? (namespace as { default?: unknown }).default : undefined];
  for (const ns of candidates) {
    if (!isObject(ns)) continue;
    const { OAuthToken, UserSignature, TokenStore } = ns as Record<string, unknown>;
    if (typeof OAuthToken !== "function" || typeof UserSignature !== "function") continue;
    // nodejs SDK: `TokenStore` is the module `{ TokenStore: class, MasterModel: class }`.
    // typescript SDK: an interface only, so at run time an empty object; no base class needed.
    const moduleClass = isObject(TokenStore) ? (TokenStore as { TokenStore?: unknown }).TokenStore : undefined;
    const Base = typeof moduleClass === "function" ? moduleClass : typeof TokenStore === "function" ? TokenStore : Object;
    return {
      OAuthToken: OAuthToken as SdkClasses["OAuthToken"],
      UserSignature: UserSignature as SdkClasses["UserSignature"],
      Base: Base as SdkClasses["Base"],
    };
  }
  throw new TokenStoreError(
    "INVALID_OPTION",
    'zohoTokenStore expects the Zoho CRM SDK namespace (import * as ZOHOCRMSDK from "@zohocrm/..."), with OAuthToken and UserSignature',
  );
}

export function isObject(value: unknown): value is object {
  return (typeof value === "object" || typeof value === "function") && value !== null;
}
