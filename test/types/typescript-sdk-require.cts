/**
 * A CommonJS TypeScript user of `@zohocrm/typescript-sdk-8.0`, with `import = require()`.
 */
import ZOHOCRMSDK = require("@zohocrm/typescript-sdk-8.0");
import zefs = require("zoho-encrypted-filestore");

export async function initialize(): Promise<void> {
  const store = await zefs.zohoTokenStore(ZOHOCRMSDK, { path: "./zoho-tokens.enc", keyFile: "./zoho.key" });
  const environment = new ZOHOCRMSDK.Environment("https://www.zohoapis.com", "https://accounts.zoho.com/oauth/v2/token", "https://content.zohoapis.com");
  const token = new ZOHOCRMSDK.OAuthBuilder().clientId("1000.ID").clientSecret("secret").grantToken("1000.grant").build();
  await (await new ZOHOCRMSDK.InitializeBuilder()).environment(environment).token(token).store(store).initialize();
  const sdkStore: ZOHOCRMSDK.TokenStore.TokenStore = store;
  const tokens: ZOHOCRMSDK.OAuthToken[] = await store.getTokens();
  void sdkStore;
  void tokens;
}
