/**
 * The adapter that makes a token store (an {@link EncryptedFileStore}, or any store with
 * the six operations on plain records and a refresh coordinator) the token store of a
 * Zoho CRM Node SDK: `@zohocrm/typescript-sdk-*` (CommonJS) or `@zohocrm/nodejs-sdk-*` (ESM).
 *
 * No SDK package is imported, at run time or in the types. The caller passes the SDK
 * namespace it already uses, and the adapter takes `OAuthToken`, `UserSignature` and
 * `TokenStore` from it, so the SDK's own `instanceof` checks see the user's copies of
 * those classes whatever SDK version is installed.
 *
 * How the SDKs use a store (`OAuthToken.getToken()`, before every API call):
 * - a token configured with an id: `findTokenById(id)`, then the SDK merges the
 *   configured token into the result and uses the result;
 * - otherwise `findToken(token)` with the SDK's own, partly filled token: the store
 *   fills it in and returns that same object, or returns null;
 * - after exchanging a grant code or refreshing: `saveToken(token)`;
 * - `token.remove()`: `deleteToken(id)`.
 *
 * Decisions, where the SDKs leave room:
 * - `findTokenById` with an unknown id throws `TokenStoreError` `NOT_FOUND` (the core
 *   store returns null). Returning null would make the nodejs SDK fail with a bare
 *   TypeError (it sets a property on the result) and the typescript SDK go on with the
 *   bare id, send a request without a grant or refresh token, and fail with an
 *   unrelated accounts-server error. The SDK's own FileStore throws here too.
 * - `deleteToken` with an unknown id throws `NOT_FOUND` as well, as the SDK's FileStore
 *   does, so `token.remove()` never reports success for a token that was not stored.
 * - `findToken` fills only the fields still empty on the SDK's token (the FileStore's
 *   rule), with one addition: when the token in memory has an access token and the
 *   stored record, for the same refresh token, holds one that expires later, the
 *   stored access token and expiry replace the ones in memory. Another process
 *   refreshed meanwhile; using its token instead of refreshing again keeps a group of
 *   processes within Zoho's limit of 10 access tokens per refresh token per 10 minutes.
 * - Refresh leases (on by default, `refreshLeaseMs: 0` turns them off): when `findToken`
 *   is about to hand the SDK a token that will make it call the accounts server (no
 *   access token yet, or one within the SDK's 5 s expiry margin), the first caller, in
 *   any process on the host, takes a lease on that token and lets the SDK renew it;
 *   other callers wait until the renewed token is saved and get it instead, so the SDK
 *   does not call the accounts server again. The lease ends when the token is saved,
 *   when its holder's process is gone, or after `refreshLeaseMs`.
 * - `saveToken` sets the id the store assigned back on the SDK's token (`setId`) and
 *   fills the token's empty fields from the stored record, as the FileStore does.
 * - Tokens that are not the SDK's `OAuthToken` are handed back untouched by
 *   `findToken` and ignored by `saveToken`, as the SDK's stores do.
 *
 * Errors reach the SDK as {@link TokenStoreError} with a stable `code`; the SDK wraps
 * them in its `SDKException` with the error as cause. No message names a token value.
 */
import { TokenStoreError } from "../errors.js";
import type { RefreshCoordinator } from "../backend/types.js";
import { EncryptedFileStore } from "../store/file-store.js";
import type { EncryptedFileStoreOptions } from "../store/options.js";
import type { TokenInput, TokenRecord } from "../tokens/types.js";

/** What the adapter needs of a store: the six operations on plain records, and optionally a refresh coordinator. */
export interface AdaptableTokenStore {
  findToken(token: TokenInput): Promise<TokenRecord | null>;
  findTokenById(id: string): Promise<TokenRecord | null>;
  saveToken(token: TokenInput): Promise<TokenRecord>;
  deleteToken(id: string): Promise<boolean>;
  getTokens(): Promise<TokenRecord[]>;
  deleteTokens(): Promise<void>;
  /** Coordinates renewals among the processes sharing the store; without it, each caller renews on its own. */
  refreshCoordinator?(options: { leaseMs: number }): RefreshCoordinator;
}

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

/** Options of the adapter itself, beside the core store's. */
export interface ZohoAdapterOptions {
  /**
   * Longest time one caller may hold the lease on renewing a token before others stop
   * waiting for it and renew on their own (a failed renewal must not block them long).
   * `0` turns leases off: every process renews on its own, as with the SDK's FileStore.
   * @default 10000
   */
  refreshLeaseMs?: number;
}

/** Options of {@link zohoTokenStore}: the core store's options, or a store already open, plus the adapter's. */
export type ZohoTokenStoreOptions = (EncryptedFileStoreOptions | { store: AdaptableTokenStore }) & ZohoAdapterOptions;

/** The SDK renews an access token that has fewer than this many ms left (OAuthToken.getTokenExpiry). */
const SDK_EXPIRY_MARGIN_MS = 5000;
/** A renewed token counts as fresh for waiters only with this much more time left. */
const FRESH_MARGIN_MS = SDK_EXPIRY_MARGIN_MS + 2000;
const DEFAULT_REFRESH_LEASE_MS = 10_000;

/**
 * What {@link zohoTokenStore} resolves to: the SDK's six TokenStore methods, plus the core
 * store. Its tokens are the SDK's own (`ZohoSdkToken<SDK>`), so the store is assignable
 * to the SDK's `TokenStore` type and `InitializeBuilder().store()` takes it without a cast.
 */
export interface ZohoTokenStore<SDK extends ZohoSdkNamespace = ZohoSdkNamespace, Core extends AdaptableTokenStore = EncryptedFileStore> {
  /** Fills the SDK's token from the matching record and returns it, or returns null. */
  findToken(token: ZohoSdkToken<SDK>): Promise<ZohoSdkToken<SDK> | null>;
  /** A new SDK token for the record with this id. @throws {TokenStoreError} `NOT_FOUND` when there is none. */
  findTokenById(id: string): Promise<ZohoSdkToken<SDK>>;
  saveToken(token: ZohoSdkToken<SDK>): Promise<void>;
  /** @throws {TokenStoreError} `NOT_FOUND` when no record has this id. */
  deleteToken(id: string): Promise<void>;
  getTokens(): Promise<ZohoSdkToken<SDK>[]>;
  deleteTokens(): Promise<void>;
  /** The store underneath, for use without the SDK. */
  readonly encryptedStore: Core;
}

interface SdkClasses {
  OAuthToken: new () => ZohoOAuthToken;
  UserSignature: new (name: string) => ZohoUserSignature;
  Base: new () => object;
}

/**
 * Creates a token store for a Zoho CRM SDK, backed by one encrypted file.
 *
 * @param ZOHOCRMSDK - The SDK namespace the application imports: `import * as ZOHOCRMSDK
 *   from "@zohocrm/typescript-sdk-8.0"` (or `require(...)`), or `"@zohocrm/nodejs-sdk-8.0"`.
 * @param options - The options of {@link EncryptedFileStore.open} (`path`, `key`,
 *   `keyFile`, `passphrase`, ...), or `{ store }` with a store already open.
 * @typeParam SDK - Inferred from `ZOHOCRMSDK`: the store's tokens are typed as that SDK's
 *   `OAuthToken`, so the typescript SDK's `TokenStore` type accepts the store as it is.
 * @returns An object `InitializeBuilder().store()` accepts; for the nodejs SDK an
 *   instance of a subclass of the SDK's own `TokenStore` class.
 * @throws {TokenStoreError} `INVALID_OPTION` when `ZOHOCRMSDK` is not an SDK namespace;
 *   every error of {@link EncryptedFileStore.open}.
 * @example
 * import * as ZOHOCRMSDK from "@zohocrm/typescript-sdk-8.0";
 * const store = await zohoTokenStore(ZOHOCRMSDK, { path: "./zoho-tokens.enc", keyFile: "./zoho.key" });
 * const token = new ZOHOCRMSDK.OAuthBuilder().userSignature(new ZOHOCRMSDK.UserSignature("me@example.com")).build();
 * await (await new ZOHOCRMSDK.InitializeBuilder())
 *   .environment(ZOHOCRMSDK.USDataCenter.PRODUCTION()).token(token).store(store).initialize();
 */
export async function zohoTokenStore<SDK extends ZohoSdkNamespace, Core extends AdaptableTokenStore>(
  ZOHOCRMSDK: SDK,
  options: { store: Core } & ZohoAdapterOptions,
): Promise<ZohoTokenStore<SDK, Core>>;
export async function zohoTokenStore<SDK extends ZohoSdkNamespace>(
  ZOHOCRMSDK: SDK,
  options: EncryptedFileStoreOptions & ZohoAdapterOptions,
): Promise<ZohoTokenStore<SDK>>;
export async function zohoTokenStore<SDK extends ZohoSdkNamespace>(
  ZOHOCRMSDK: SDK,
  options: ZohoTokenStoreOptions,
): Promise<ZohoTokenStore<SDK, AdaptableTokenStore>> {
  const classes = sdkClasses(ZOHOCRMSDK);
  if (options === null || typeof options !== "object") {
    throw new TokenStoreError("INVALID_OPTION", "zohoTokenStore expects an options object ({ path, ... } or { store })");
  }
  const { refreshLeaseMs = DEFAULT_REFRESH_LEASE_MS, ...storeOptions } = options;
  if (typeof refreshLeaseMs !== "number" || !Number.isInteger(refreshLeaseMs) || refreshLeaseMs < 0 || refreshLeaseMs > 600_000) {
    throw new TokenStoreError("INVALID_OPTION", "refreshLeaseMs must be an integer from 0 (leases off) to 600000");
  }
  const core = "store" in storeOptions ? adaptable(storeOptions.store) : await EncryptedFileStore.open(storeOptions as EncryptedFileStoreOptions);
  // The adapter's tokens are the SDK's own OAuthToken (it builds them with that class and
  // passes others through untouched): typed here as the caller's SDK declares that class.
  return createAdapter(classes, core, refreshLeaseMs === 0 ? undefined : core.refreshCoordinator?.({ leaseMs: refreshLeaseMs })) as ZohoTokenStore<
    SDK,
    AdaptableTokenStore
  >;
}

function adaptable(store: unknown): AdaptableTokenStore {
  const operations = ["findToken", "findTokenById", "saveToken", "deleteToken", "getTokens", "deleteTokens"] as const;
  if (!isObject(store) || !operations.every((name) => typeof (store as Record<string, unknown>)[name] === "function")) {
    throw new TokenStoreError("INVALID_OPTION", `store must be a token store with ${operations.join(", ")} (an EncryptedFileStore, say)`);
  }
  return store as AdaptableTokenStore;
}

function sdkClasses(namespace: unknown): SdkClasses {
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

function createAdapter(
  classes: SdkClasses,
  core: AdaptableTokenStore,
  leases: RefreshCoordinator | undefined,
): ZohoTokenStore<ZohoSdkNamespace, AdaptableTokenStore> {
  const { OAuthToken, UserSignature, Base } = classes;
  const isSdkToken = (token: unknown): token is ZohoOAuthToken => token instanceof OAuthToken;

  /** Builds a new token of the SDK's own class from a record, as the SDK's FileStore does. */
  const newSdkToken = (record: TokenRecord): ZohoOAuthToken => {
    const token = Reflect.construct(OAuthToken, []) as ZohoOAuthToken;
    fillEmptyFields(token, record, UserSignature);
    return token;
  };

  class EncryptedZohoTokenStore extends Base implements ZohoTokenStore<ZohoSdkNamespace, AdaptableTokenStore> {
    readonly #core: AdaptableTokenStore;

    constructor() {
      super();
      this.#core = core;
    }

    get encryptedStore(): AdaptableTokenStore {
      return this.#core;
    }

    /** Fills the SDK's token from the matching record and returns it, or returns null. */
    async findToken(token: unknown): Promise<unknown> {
      if (!isSdkToken(token)) return token;
      const input = toInput(token, false);
      let record = await this.#core.findToken(input);
      if (record !== null) {
        adoptFresherAccessToken(token, record);
        fillEmptyFields(token, record, UserSignature);
      }
      const lease = leases && renewalLeaseKey(token);
      if (lease) {
        // The SDK is about to ask the accounts server for this token: one caller does,
        // the others wait for the token it saves.
        const outcome = await leases.claim(lease, async () => {
          const latest = await this.#core.findToken(input);
          if (latest === null || !freshFor(token, latest)) return false;
          record = latest;
          return true;
        });
        if (outcome === "satisfied") {
          adoptRenewedToken(token, record!);
          fillEmptyFields(token, record!, UserSignature);
        }
      }
      return record === null ? null : token;
    }

    /** A new SDK token for the record with this id. @throws NOT_FOUND when there is none. */
    async findTokenById(id: string): Promise<ZohoOAuthToken> {
      const key = idString(id);
      let record = await this.#core.findTokenById(key);
      if (record === null) throw notFound();
      // The SDK renews the token this returns when it is expiring: lease that, as findToken does.
      const lease = leases && renewalLeaseKey(newSdkToken(record));
      if (lease) {
        const outcome = await leases.claim(lease, async () => {
          const latest = await this.#core.findTokenById(key);
          if (latest === null || !freshFor(newSdkToken(latest), latest)) return false;
          record = latest;
          return true;
        });
        if (outcome === "satisfied") return newSdkToken(record);
      }
      return newSdkToken(record);
    }

    /** Stores the SDK's token and sets the id it got back on it. */
    async saveToken(token: unknown): Promise<void> {
      if (!isSdkToken(token)) return;
      const input = toInput(token, true);
      try {
        const record = await this.#core.saveToken(input);
        token.setId(record.id);
        fillEmptyFields(token, record, UserSignature);
      } finally {
        // Saved (or failed to save): either way, the renewal this process leased is over.
        for (const key of leaseKeysOf(input)) leases?.release(key);
      }
    }

    /** @throws NOT_FOUND when no record has this id. */
    async deleteToken(id: string): Promise<void> {
      if (!(await this.#core.deleteToken(idString(id)))) throw notFound();
    }

    async getTokens(): Promise<ZohoOAuthToken[]> {
      return (await this.#core.getTokens()).map(newSdkToken);
    }

    async deleteTokens(): Promise<void> {
      await this.#core.deleteTokens();
    }

    toJSON(): unknown {
      return (this.#core as { toJSON?: () => unknown }).toJSON?.() ?? {};
    }
  }

  return new EncryptedZohoTokenStore();
}

/** The record fields of an SDK token. The id is used only to save (the SDK's rules). */
function toInput(token: ZohoOAuthToken, withId: boolean): TokenInput {
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
function fillEmptyFields(token: ZohoOAuthToken, record: TokenRecord, UserSignature: SdkClasses["UserSignature"]): void {
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
function adoptFresherAccessToken(token: ZohoOAuthToken, record: TokenRecord): void {
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
function renewalLeaseKey(token: ZohoOAuthToken): string | undefined {
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
function leaseKeysOf(input: TokenInput): string[] {
  const keys: string[] = [];
  if (input.refreshToken) keys.push(`refresh:${input.refreshToken}`);
  if (input.grantToken) keys.push(`grant:${input.grantToken}`);
  return keys;
}

/** True when `record` holds an access token the SDK will use as it is, for this token. */
function freshFor(token: ZohoOAuthToken, record: TokenRecord): boolean {
  if (record.accessToken === null || !(Number(record.expiryTime) - Date.now() >= FRESH_MARGIN_MS)) return false;
  const refreshToken = text(token.getRefreshToken());
  return refreshToken === null || refreshToken === record.refreshToken;
}

/** Another caller renewed the token while this one waited: take its access token and expiry. */
function adoptRenewedToken(token: ZohoOAuthToken, record: TokenRecord): void {
  token.setAccessToken(record.accessToken);
  token.setExpiresIn(record.expiryTime);
  if (empty(token.getRefreshToken())) token.setRefreshToken(record.refreshToken);
}

function idString(id: unknown): string {
  if (typeof id === "number" && Number.isSafeInteger(id)) return String(id);
  if (typeof id !== "string" || id.length === 0) {
    throw new TokenStoreError("INVALID_TOKEN", "the token id must be a non-empty string");
  }
  return id;
}

function notFound(): TokenStoreError {
  return new TokenStoreError("NOT_FOUND", "no stored token has this id");
}

function text(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? value : null;
}

function empty(value: unknown): boolean {
  return value === null || value === undefined || value === "";
}

function isObject(value: unknown): value is object {
  return (typeof value === "object" || typeof value === "function") && value !== null;
}
