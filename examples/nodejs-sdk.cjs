/**
 * The Zoho CRM nodejs SDK with its tokens in an encrypted file, from CommonJS.
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
 * Run: node examples/nodejs-sdk.cjs (in this repository, after `npm run build`).
 */
const ZOHOCRMSDK = require("@zohocrm/nodejs-sdk-8.0"); // an ES module: Node 20.19+ can require() it
const { configFromEnv, zohoTokenStore } = require("zoho-encrypted-filestore");

// CommonJS has no top-level await: the program is an async function.
async function main() {
  const { env } = process;
  const userName = env.ZOHO_USER;
  if (!userName) throw new Error("Set ZOHO_USER to the CRM user's email");

  // ZOHO_TOKEN_STORE_FILE and ZOHO_TOKEN_STORE_KEY_FILE, default ./zoho-tokens.enc and ./zoho.key:
  // the names and defaults the command-line tool reads too.
  const store = await zohoTokenStore(ZOHOCRMSDK, configFromEnv());

  // With a grant code: the client and the code. Without: the user alone, the store has the rest.
  const oauth = new ZOHOCRMSDK.OAuthBuilder().userSignature(new ZOHOCRMSDK.UserSignature(userName));
  if (env.ZOHO_GRANT_CODE) {
    oauth.clientId(env.ZOHO_CLIENT_ID).clientSecret(env.ZOHO_CLIENT_SECRET).grantToken(env.ZOHO_GRANT_CODE);
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
}

main().catch((error) => {
  process.exitCode = 1;
  console.error(error);
});
