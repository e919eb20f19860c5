/**
 * The adapter's contract with each real Zoho SDK's classes, in process: the SDK's own
 * OAuthToken, UserSignature and TokenStore (no mocks), this package's store underneath.
 * The end-to-end flows through the SDKs' API calls are in zoho-e2e.test.ts.
 */
import { describe, expect, it } from "vitest";
import { createRequire } from "node:module";
import { join } from "node:path";
import { EncryptedFileStore, generateKey, zohoTokenStore, type ZohoOAuthToken, type ZohoSdkNamespace } from "../src/index.js";
import { assertNoSecrets, tempDir } from "./helpers.js";

const require = createRequire(import.meta.url);
const SDKS = ["ts", "nodejs"] as const;

type Sdk = ZohoSdkNamespace & Record<string, any>;

async function loadSdk(sdk: (typeof SDKS)[number]): Promise<Sdk> {
  const nodejsSdk: string = "@zohocrm/nodejs-sdk-8.0";
  return sdk === "ts" ? require("@zohocrm/typescript-sdk-8.0") : await import(nodejsSdk);
}

const HOUR = 3_600_000;

describe.each(SDKS)("zohoTokenStore with the %s SDK's classes", (sdkName) => {
  async function setup() {
    const ZOHOCRMSDK = await loadSdk(sdkName);
    const key = generateKey();
    const path = join(tempDir(), "tokens.enc");
    const store = await zohoTokenStore(ZOHOCRMSDK, { path, key });
    /** A token as an application builds it, with the SDK's OAuthBuilder. */
    const build = (fields: {
      user?: string;
      clientId?: string;
      clientSecret?: string;
      refreshToken?: string;
      grantToken?: string;
      accessToken?: string;
      id?: string;
    }) => {
      let builder = new ZOHOCRMSDK.OAuthBuilder();
      if (fields.clientId) builder = builder.clientId(fields.clientId);
      if (fields.clientSecret) builder = builder.clientSecret(fields.clientSecret);
      if (fields.refreshToken) builder = builder.refreshToken(fields.refreshToken);
      if (fields.grantToken) builder = builder.grantToken(fields.grantToken);
      if (fields.accessToken) builder = builder.accessToken(fields.accessToken);
      if (fields.id) builder = builder.id(fields.id);
      if (fields.user) builder = builder.userSignature(new ZOHOCRMSDK.UserSignature(fields.user));
      return builder.build() as ZohoOAuthToken;
    };
    /** A token the SDK has just renewed: access token and expiry set, as its parseResponse does. */
    const renewed = (user: string, tag: string, expiry = Date.now() + HOUR) => {
      const token = build({ user, clientId: `1000.CLIENT${tag}`, clientSecret: `secret-${tag}`, refreshToken: `1000.refresh-${tag}` });
      token.setAccessToken(`1000.access-${tag}`);
      token.setExpiresIn(String(expiry));
      token.setAPIDomain("https://www.zohoapis.com");
      return token;
    };
    return { ZOHOCRMSDK, key, path, store, build, renewed };
  }

  it("is accepted by the SDK's InitializeBuilder.store(); for the nodejs SDK it is an instance of the SDK's TokenStore", async () => {
    const { ZOHOCRMSDK, store } = await setup();
    if (sdkName === "nodejs") expect(store).toBeInstanceOf((ZOHOCRMSDK.TokenStore as { TokenStore: new () => unknown }).TokenStore);
    const builder = await new ZOHOCRMSDK.InitializeBuilder();
    expect(() => builder.store(store)).not.toThrow();
    expect(typeof store.findToken).toBe("function");
  });

  it("accepts the namespace as an ES module import of a CommonJS SDK (classes under default)", async () => {
    const { ZOHOCRMSDK, key, path } = await setup();
    const store = await zohoTokenStore({ default: ZOHOCRMSDK } as unknown as ZohoSdkNamespace, { path, key });
    expect(await store.getTokens()).toEqual([]);
  });

  it("refuses something that is not an SDK namespace", async () => {
    const { key, path } = await setup();
    for (const bad of [null, {}, { OAuthToken: {} }, "ZOHOCRMSDK"]) {
      await expect(zohoTokenStore(bad as unknown as ZohoSdkNamespace, { path, key })).rejects.toMatchObject({
        name: "TokenStoreError",
        code: "INVALID_OPTION",
      });
    }
  });

  it("saveToken stores the SDK's token, sets the assigned id on it, and updates the same record next time", async () => {
    const { key, path, store, renewed } = await setup();
    const token = renewed("ana@example.com", "a");
    await store.saveToken(token);
    expect(token.getId()).toBe("1");
    const record = (await (await EncryptedFileStore.open({ path, key })).findTokenById("1"))!;
    expect({ ...record }).toMatchObject({
      userName: "ana@example.com",
      clientId: "1000.CLIENTa",
      clientSecret: "secret-a",
      refreshToken: "1000.refresh-a",
      accessToken: "1000.access-a",
      expiryTime: token.getExpiresIn(),
      apiDomain: "https://www.zohoapis.com",
    });

    // A renewal of the same user's token: same record, new access token, other fields kept.
    const again = renewed("ana@example.com", "a");
    again.setAccessToken("1000.access-a2");
    again.setClientSecret(null as unknown as string);
    await store.saveToken(again);
    expect(again.getId()).toBe("1");
    expect(again.getClientSecret()).toBe("secret-a"); // filled from the stored record, as the FileStore's setMergeData does
    const tokens = await (await EncryptedFileStore.open({ path, key })).getTokens();
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ accessToken: "1000.access-a2", clientSecret: "secret-a" });
  });

  it("findToken fills the SDK's own token object and returns it, or returns null", async () => {
    const { ZOHOCRMSDK, store, build, renewed } = await setup();
    await store.saveToken(renewed("ben@example.com", "b"));

    const configured = build({ user: "ben@example.com", clientId: "1000.CLIENTb", clientSecret: "secret-b", grantToken: "1000.spent-grant" });
    const found = await store.findToken(configured);
    expect(found).toBe(configured);
    expect(configured.getRefreshToken()).toBe("1000.refresh-b");
    expect(configured.getAccessToken()).toBe("1000.access-b");
    expect(configured.getGrantToken()).toBe("1000.spent-grant"); // fields already set are kept
    expect(configured.getId()).toBe("1");

    expect(await store.findToken(build({ user: "nobody@example.com", clientId: "x", clientSecret: "y", refreshToken: "1000.r" }))).toBeNull();
    // Not the SDK's OAuthToken: handed back untouched, as the SDK's stores do.
    const foreign = { getUserSignature: () => new ZOHOCRMSDK.UserSignature("ben@example.com") };
    expect(await store.findToken(foreign)).toBe(foreign);
  });

  it("findToken matches by access token alone when there is no user, client id or secret (the SDK's rule)", async () => {
    const { store, build, renewed } = await setup();
    await store.saveToken(renewed("cleo@example.com", "c"));
    const byAccess = build({ accessToken: "1000.access-c" });
    expect(await store.findToken(byAccess)).toBe(byAccess);
    expect(byAccess.getUserSignature()?.getName()).toBe("cleo@example.com");
    expect(byAccess.getRefreshToken()).toBe("1000.refresh-c");
  });

  it("findToken hands out an access token another process renewed later, for the same refresh token only", async () => {
    const { store, renewed } = await setup();
    const soon = Date.now() + 60_000;
    const inMemory = renewed("dan@example.com", "d", soon);
    await store.saveToken(inMemory);
    // Another process renews and saves.
    const other = renewed("dan@example.com", "d", Date.now() + HOUR);
    other.setAccessToken("1000.access-d-renewed");
    await store.saveToken(other);

    expect(await store.findToken(inMemory)).toBe(inMemory);
    expect(inMemory.getAccessToken()).toBe("1000.access-d-renewed");
    expect(Number(inMemory.getExpiresIn())).toBeGreaterThan(soon);

    // A token in memory for another refresh token keeps its own access token.
    const stranger = renewed("dan@example.com", "other-refresh", soon);
    await store.findToken(stranger);
    expect(stranger.getAccessToken()).toBe("1000.access-other-refresh");
  });

  it("getTokens and findTokenById build the SDK's own OAuthToken, with a UserSignature when there is a user", async () => {
    const { ZOHOCRMSDK, store, build, renewed } = await setup();
    await store.saveToken(renewed("eve@example.com", "e"));
    const anonymous = build({ clientId: "1000.CLIENTf", clientSecret: "secret-f", refreshToken: "1000.refresh-f" });
    anonymous.setAccessToken("1000.access-f");
    anonymous.setExpiresIn(String(Date.now() + HOUR));
    await store.saveToken(anonymous);

    const tokens = (await store.getTokens()) as ZohoOAuthToken[];
    expect(tokens).toHaveLength(2);
    for (const token of tokens) expect(token).toBeInstanceOf(ZOHOCRMSDK.OAuthToken);
    expect(tokens[0]!.getUserSignature()).toBeInstanceOf(ZOHOCRMSDK.UserSignature);
    expect(tokens[0]!.getUserSignature()!.getName()).toBe("eve@example.com");
    expect(tokens[1]!.getUserSignature()).toBeNull();
    expect(tokens[1]!.getRefreshToken()).toBe("1000.refresh-f");

    const byId = (await store.findTokenById(String(tokens[1]!.getId()))) as ZohoOAuthToken;
    expect(byId).toBeInstanceOf(ZOHOCRMSDK.OAuthToken);
    expect(byId.getAccessToken()).toBe("1000.access-f");
  });

  it("an unknown id is NOT_FOUND for findTokenById and deleteToken; deleteToken and deleteTokens delete", async () => {
    const { store, renewed } = await setup();
    await expect(store.findTokenById("42")).rejects.toMatchObject({ name: "TokenStoreError", code: "NOT_FOUND" });
    await expect(store.deleteToken("42")).rejects.toMatchObject({ name: "TokenStoreError", code: "NOT_FOUND" });
    await store.saveToken(renewed("fay@example.com", "g"));
    await store.saveToken(renewed("gus@example.com", "h"));
    await store.deleteToken("1");
    expect(((await store.getTokens()) as ZohoOAuthToken[]).map((t) => t.getId())).toEqual(["2"]);
    await store.deleteTokens();
    expect(await store.getTokens()).toEqual([]);
  });

  it("errors reach the SDK as TokenStoreError with a code, and name no token or secret", async () => {
    const { store, build } = await setup();
    // A user but no refresh, grant or access token: the SDK FileStore's refusal.
    const empty = build({ user: "hal@example.com", clientId: "1000.CLIENTSECRETID", clientSecret: "secret-never-printed" });
    const error = await store.saveToken(empty).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ name: "TokenStoreError", code: "INVALID_TOKEN" });
    const text = `${String(error)} ${(error as Error).stack ?? ""} ${JSON.stringify(error)}`;
    assertNoSecrets(text, ["secret-never-printed", "1000.CLIENTSECRETID"]);
  });

  it("works on a store that is already open ({ store })", async () => {
    const { ZOHOCRMSDK, key, path, renewed } = await setup();
    const core = await EncryptedFileStore.open({ path, key });
    const store = await zohoTokenStore(ZOHOCRMSDK, { store: core });
    expect(store.encryptedStore).toBe(core);
    await store.saveToken(renewed("ivy@example.com", "i"));
    expect(await core.getTokens()).toHaveLength(1);
  });
});
