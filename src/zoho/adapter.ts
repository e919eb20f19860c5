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
 *   any process on the host or in this one (concurrent API calls through this adapter),
 *   takes a lease on that token and lets the SDK renew it; other callers wait until the
 *   renewed token is saved and get it instead, so the SDK does not call the accounts
 *   server again. The lease ends when the token is saved, when the SDK's renewal fails
 *   (the next caller renews at once), when its holder's process is gone, or after
 *   `refreshLeaseMs`.
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
import { EncryptedFileStore } from "../backend/file/file-store.js";
import type { EncryptedFileStoreOptions } from "../backend/file/options.js";
import type { EncryptedTokenStore } from "../store/store.js";
import type { PostgresStoreOptions } from "../backend/postgres/index.js";
import type { MysqlStoreOptions } from "../backend/mysql/index.js";
import type { TokenInput, TokenRecord } from "../tokens/types.js";
import { isObject, sdkClasses, type SdkClasses, type ZohoOAuthToken, type ZohoSdkNamespace, type ZohoSdkToken } from "./sdk.js";
import {
  adoptFresherAccessToken,
  adoptRenewedToken,
  fillEmptyFields,
  freshFor,
  idString,
  leaseKeysOf,
  notFound,
  renewalLeaseKey,
  toInput,
} from "./token-fields.js";

export type { ZohoOAuthToken, ZohoSdkNamespace, ZohoSdkToken, ZohoUserSignature } from "./sdk.js";

const DEFAULT_REFRESH_LEASE_MS = 10_000;

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
  /** Ends what the store opened; called by the adapter's `close()` for a store it opened itself. */
  close?(): Promise<void>;
}

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
export type ZohoTokenStoreOptions = (EncryptedFileStoreOptions | PostgresStoreOptions | MysqlStoreOptions | { store: AdaptableTokenStore }) &
  ZohoAdapterOptions;

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
  /**
   * Closes the store underneath when this adapter opened it (from options); a store
   * given as `{ store }` stays open, its owner closes it. Idempotent.
   */
  close(): Promise<void>;
  /** `await using`: the same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void>;
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
  options: PostgresStoreOptions & ZohoAdapterOptions,
): Promise<ZohoTokenStore<SDK, EncryptedTokenStore>>;
export async function zohoTokenStore<SDK extends ZohoSdkNamespace>(
  ZOHOCRMSDK: SDK,
  options: MysqlStoreOptions & ZohoAdapterOptions,
): Promise<ZohoTokenStore<SDK, EncryptedTokenStore>>;
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
  const owned = !("store" in storeOptions);
  const core = !owned
    ? adaptable(storeOptions.store)
    : "postgres" in storeOptions
      ? // Loaded only now: a file-store user never loads the PostgreSQL driver.
        await (await import("../backend/postgres/index.js")).openPostgresStore(storeOptions as PostgresStoreOptions)
      : "mysql" in storeOptions
        ? // The same for MySQL/MariaDB and mysql2.
          await (await import("../backend/mysql/index.js")).openMysqlStore(storeOptions as MysqlStoreOptions)
        : await EncryptedFileStore.open(storeOptions as EncryptedFileStoreOptions);
  // The adapter's tokens are the SDK's own OAuthToken (it builds them with that class and
  // passes others through untouched): typed here as the caller's SDK declares that class.
  return createAdapter(classes, core, owned, refreshLeaseMs === 0 ? undefined : core.refreshCoordinator?.({ leaseMs: refreshLeaseMs })) as ZohoTokenStore<
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

/** The SDK's methods that ask the accounts server for a new access token (both SDK families). */
const RENEWAL_METHODS = ["refreshAccessToken", "generateAccessToken"] as const;
/** Tokens handed to the SDK for a renewal under a lease, and how to take the watch off each. */
const watchedRenewals = new WeakMap<object, () => void>();

/**
 * Releases the lease when the renewal of `token` fails. The SDK renews the token the store
 * handed it by calling that token's own `refreshAccessToken` (or `generateAccessToken`,
 * for a grant code): when that call succeeds the SDK saves the token, and `saveToken`
 * releases; when it fails (the accounts server refused or could not be reached) the SDK
 * call rejects and nothing reaches the store. So, for this one call, the token gets its
 * own non-enumerable wrappers of those methods (the SDK copies only enumerable fields)
 * that release the lease when it rejects: the next caller, a retry or a call that waited
 * for this renewal, renews at once instead of after `refreshLeaseMs`. The wrappers take
 * themselves off when the call begins. When the SDK does not renew after all, the lease
 * ends after `refreshLeaseMs`, as when its holder hangs.
 */
function releaseIfRenewalFails(token: ZohoOAuthToken, release: () => Promise<void>): void {
  watchedRenewals.get(token)?.();
  if (!Object.isExtensible(token)) return; // A frozen token: the lease ends after refreshLeaseMs.
  const target = token as unknown as Record<string, unknown>;
  const own = RENEWAL_METHODS.map((name) => [name, Object.getOwnPropertyDescriptor(token, name)] as const);
  const unwatch = () => {
    if (watchedRenewals.get(token) !== unwatch) return;
    watchedRenewals.delete(token);
    for (const [name, descriptor] of own) {
      if (descriptor) Object.defineProperty(token, name, descriptor);
      else delete target[name];
    }
  };
  for (const name of RENEWAL_METHODS) {
    const renew = target[name];
    if (typeof renew !== "function") continue;
    Object.defineProperty(token, name, {
      configurable: true,
      enumerable: false,
      writable: true,
      value: function (this: unknown, ...args: unknown[]): Promise<unknown> {
        unwatch();
        return new Promise<unknown>((resolve) => resolve(renew.apply(this, args))).catch(async (error: unknown) => {
          await release();
          throw error;
        });
      },
    });
  }
  watchedRenewals.set(token, unwatch);
}

/** Ends a lease; a release that fails leaves the lease to expire, and never fails the caller. */
async function releaseLease(leases: RefreshCoordinator, key: string): Promise<void> {
  try {
    await leases.release(key);
  } catch {
    // The lease ends by expiry.
  }
}

function createAdapter(
  classes: SdkClasses,
  core: AdaptableTokenStore,
  owned: boolean,
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
        } else if (outcome === "acquired") {
          releaseIfRenewalFails(token, () => releaseLease(leases, lease));
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
        if (outcome === "acquired") {
          const token = newSdkToken(record);
          releaseIfRenewalFails(token, () => releaseLease(leases, lease));
          return token;
        }
      }
      return newSdkToken(record);
    }

    /** Stores the SDK's token and sets the id it got back on it. */
    async saveToken(token: unknown): Promise<void> {
      if (!isSdkToken(token)) return;
      watchedRenewals.get(token)?.();
      const input = toInput(token, true);
      try {
        const record = await this.#core.saveToken(input);
        token.setId(record.id);
        fillEmptyFields(token, record, UserSignature);
      } finally {
        // Saved (or failed to save): either way, the renewal this process leased is over.
        // A release that fails leaves the lease to expire; it never fails the save.
        // (A coordinator written when release was synchronous, or one that throws, is fine too.)
        if (leases)
          await Promise.all(
            leaseKeysOf(input).map((key) =>
              Promise.resolve()
                .then(() => leases.release(key))
                .catch(() => undefined),
            ),
          );
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

    async close(): Promise<void> {
      if (owned) await this.#core.close?.();
    }

    [Symbol.asyncDispose](): Promise<void> {
      return this.close();
    }

    toJSON(): unknown {
      return (this.#core as { toJSON?: () => unknown }).toJSON?.() ?? {};
    }
  }

  return new EncryptedZohoTokenStore();
}
