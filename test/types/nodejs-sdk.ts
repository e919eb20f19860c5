/**
 * A TypeScript user of `@zohocrm/nodejs-sdk-8.0`, which ships no types (see
 * nodejs-sdk.d.ts): the initialize chain compiles, and the store's own members keep
 * their types although the SDK's are `any`.
 */
import * as ZOHOCRMSDK from "@zohocrm/nodejs-sdk-8.0";
import { type EncryptedFileStore, zohoTokenStore } from "zoho-encrypted-filestore";

export async function initialize(): Promise<void> {
  const store = await zohoTokenStore(ZOHOCRMSDK, { path: "./zoho-tokens.enc", keyFile: "./zoho.key" });
  const environment = ZOHOCRMSDK.USDataCenter.PRODUCTION();
  const token = new ZOHOCRMSDK.OAuthBuilder().userSignature(new ZOHOCRMSDK.UserSignature("me@example.com")).build();
  await (await new ZOHOCRMSDK.InitializeBuilder()).environment(environment).token(token).store(store).initialize();

  const encrypted: EncryptedFileStore = store.encryptedStore;
  await encrypted.verify();
  await store.deleteToken("1");
  // @ts-expect-error the store is typed, not `any`
  store.notAMethod();
  // @ts-expect-error ids are strings
  await store.deleteToken(1);
}
