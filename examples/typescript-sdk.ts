/**
 * The Zoho CRM typescript SDK with its tokens in an encrypted file, as an ES module.
 *
 * The first run brings a grant code (API Console > Self Client > Generate Code): the SDK
 * exchanges it and the store keeps the tokens. Every later run needs the user's name
 * alone: the SDK finds the stored token by it, and renews the access token when due.
 *
 * Configuration comes from the environment, so no secret is typed on a command line:
 *   ZOHO_USER                     the CRM user's email, the name the token is stored under
 *   ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_GRANT_CODE   the first run only
 *   ZOHO_TOKEN_STORE_FILE         the store, default ./zoho-tokens.enc (configFromEnv())
 *   ZOHO_TOKEN_STORE_KEY_FILE     its key, default ./zoho.key
 *                                 (npx zoho-encrypted-filestore keygen --out ./zoho.key)
 *   ZOHO_API_URL, ZOHO_ACCOUNTS_URL, ZOHO_FILE_UPLOAD_URL   default: Zoho's US data centre;
 *                                 EU: https://www.zohoapis.eu, https://accounts.zoho.eu,
 *                                 https://content.zohoapis.eu (the others alike)
 *
 * Node 20 cannot run TypeScript itself: compile, then run. In this repository, after
 * `npm run build` (examples/tsconfig.json has the settings):
 *   npx tsc -p examples && node .tmp/examples/typescript-sdk.js
 */
import * as ZOHOCRMSDK from "@zohocrm/typescript-sdk-8.0";
import { configFromEnv, zohoTokenStore } from "zoho-encrypted-filestore";

const { env } = process;
const userName = env.ZOHO_USER;
if (!userName) throw new Error("Set ZOHO_USER to the CRM user's email");

// ZOHO_TOKEN_STORE_FILE and ZOHO_TOKEN_STORE_KEY_FILE, default ./zoho-tokens.enc and ./zoho.key:
// the names and defaults the command-line tool reads too.
const store = await zohoTokenStore(ZOHOCRMSDK, configFromEnv());

// With a grant code: the client and the code. Without: the user alone, the store has the rest.
const oauth = new ZOHOCRMSDK.OAuthBuilder().userSignature(new ZOHOCRMSDK.UserSignature(userName));
if (env.ZOHO_GRANT_CODE) {
  const { ZOHO_CLIENT_ID: clientId, ZOHO_CLIENT_SECRET: clientSecret } = env;
  if (!clientId || !clientSecret) throw new Error("A grant code needs ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET");
  oauth.clientId(clientId).clientSecret(clientSecret).grantToken(env.ZOHO_GRANT_CODE);
}
const token = oauth.build();

const environment = new ZOHOCRMSDK.Environment(
  env.ZOHO_API_URL ?? "https://www.zohoapis.com",
  `${env.ZOHO_ACCOUNTS_URL ?? "https://accounts.zoho.com"}/oauth/v2/token`,
  env.ZOHO_FILE_UPLOAD_URL ?? "https://content.zohoapis.com",
);
await (await new ZOHOCRMSDK.InitializeBuilder()).environment(environment).token(token).store(store).initialize();

const response = await new ZOHOCRMSDK.Org.OrgOperations().getOrganization();
console.log(`${userName}: stored token ${token.getId()}, organization API answered HTTP ${response.getStatusCode()}`);
