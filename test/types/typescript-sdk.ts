/**
 * A TypeScript user of `@zohocrm/typescript-sdk-8.0`: the README's initialize chain and
 * the store's methods, typed by the SDK's own classes. No cast, no `any`.
 */
import * as ZOHOCRMSDK from "@zohocrm/typescript-sdk-8.0";
import { EncryptedFileStore, zohoTokenStore, type ZohoSdkToken, type ZohoTokenStore } from "zoho-encrypted-filestore";

export async function initialize(): Promise<void> {
  const store = await zohoTokenStore(ZOHOCRMSDK, { path: "./zoho-tokens.enc", keyFile: "./zoho.key" });
  const environment = ZOHOCRMSDK.USDataCenter.PRODUCTION();
  const token = new ZOHOCRMSDK.OAuthBuilder().userSignature(new ZOHOCRMSDK.UserSignature("me@example.com")).build();
  await (await new ZOHOCRMSDK.InitializeBuilder()).environment(environment).token(token).store(store).initialize();

  // The SDK's own TokenStore interface takes the store as it is.
  const sdkStore: ZOHOCRMSDK.TokenStore.TokenStore = store;
  new ZOHOCRMSDK.InitializeBuilder().store(sdkStore);
  const named: ZohoTokenStore<typeof ZOHOCRMSDK> = store;
  named.encryptedStore.path.toUpperCase();
}

export async function methods(token: ZOHOCRMSDK.OAuthToken): Promise<void> {
  const store = await zohoTokenStore(ZOHOCRMSDK, { store: await EncryptedFileStore.open({ path: "./zoho-tokens.enc" }), refreshLeaseMs: 0 });
  // Every method speaks in the SDK's own OAuthToken.
  const found: ZOHOCRMSDK.OAuthToken | null = await store.findToken(token);
  const byId: ZOHOCRMSDK.OAuthToken = await store.findTokenById("1");
  const all: ZOHOCRMSDK.OAuthToken[] = await store.getTokens();
  const sdkToken: ZohoSdkToken<typeof ZOHOCRMSDK> = byId;
  await store.saveToken(sdkToken);
  await store.deleteToken("1");
  await store.deleteTokens();
  found?.getUserSignature()?.getName().toUpperCase();
  all.map((t) => t.getAccessToken());
  const encrypted: EncryptedFileStore = store.encryptedStore;
  await encrypted.getTokens();

  // @ts-expect-error a plain object is not the SDK's token
  await store.saveToken({ accessToken: "1000.abc" });
  // @ts-expect-error findTokenById never resolves to null (an unknown id throws NOT_FOUND)
  const none: null = await store.findTokenById("2");
  // @ts-expect-error not an SDK namespace
  await zohoTokenStore({ OAuthToken: 1 }, { path: "./zoho-tokens.enc" });
  // @ts-expect-error an option that does not exist
  await zohoTokenStore(ZOHOCRMSDK, { path: "./zoho-tokens.enc", refreshLease: 10 });
  void none;
}
