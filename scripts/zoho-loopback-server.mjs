#!/usr/bin/env node
/**
 * A loopback stand-in for Zoho's accounts server and CRM API, so the real,
 * unmodified Zoho CRM SDKs can run end to end on one machine without a Zoho
 * account or network. It listens on 127.0.0.1 only and has no dependencies.
 *
 * Point an SDK at it with
 *   new ZOHOCRMSDK.Environment(server.apiUrl, server.accountsUrl, server.apiUrl)
 * The SDK then POSTs (multipart form) to `server.accountsUrl` (`/oauth/v2/token`)
 * and calls the API at `server.apiUrl + "/crm/v8/..."`.
 *
 * Rules played, from Zoho's published token limits (developer docs, "Token Validity"):
 * - a grant code is single-use and expires after `grantCodeLifetimeMs`;
 * - at most `maxTokensPerWindow` (10) access tokens per refresh token per
 *   `windowMs` (10 minutes); past that the answer is `{"error":"Access Denied"}`
 *   with HTTP 200, as Zoho does;
 * - at most `maxActiveTokens` (15) live access tokens per refresh token: a new
 *   one invalidates the oldest;
 * - an access token lives `accessTokenLifetimeMs` (one hour by default); the
 *   answer's `expires_in` is that lifetime in seconds (may be fractional). The
 *   SDKs refresh when fewer than 5 s are left, so a lifetime under 5 s makes
 *   every token look expired on arrival;
 * - the API accepts only live access tokens sent as
 *   `Authorization: Zoho-oauthtoken <token>`, otherwise 401 INVALID_TOKEN.
 *
 * `GET /crm/v8/users?type=CurrentUser` answers the grant's user (the SDK asks
 * when a token has no user name); every other authorised call answers 204.
 *
 * Simulated secrets (client secret, grant codes, tokens) are random strings with
 * a recognisable prefix; `server.secrets()` lists every one ever issued so tests
 * can scan files and output for them.
 *
 * CLI: `node scripts/zoho-loopback-server.mjs [--write-env F] [--user U] [--port N]
 * [--lifetime-ms N]` prints one JSON line `{ url, accountsUrl, apiUrl, clientId }`;
 * with `--write-env F` it writes F (mode 600; Node's `--env-file=F` reads it): the
 * URLs, the client id and secret, the user (default me@example.com) and a grant code
 * for that user. More grant codes: `POST /loopback/grant-code` (form or JSON field
 * `user`). The client secret is never printed.
 */
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const TOKEN_PATH = "/oauth/v2/token";

/**
 * @typedef {object} ZohoServerOptions
 * @property {number} [port] Port to listen on. Default: 0 (any free port).
 * @property {number} [accessTokenLifetimeMs] Access-token lifetime. Default: 3_600_000.
 * @property {number} [grantCodeLifetimeMs] How long a grant code may be exchanged. Default: 180_000.
 * @property {number} [maxTokensPerWindow] Access tokens per refresh token per window. Default: 10.
 * @property {number} [windowMs] The rate window. Default: 600_000.
 * @property {number} [maxActiveTokens] Live access tokens per refresh token. Default: 15.
 * @property {string} [clientId] The one registered client. Default: random.
 * @property {string} [clientSecret] Its secret. Default: random.
 * @property {number} [latencyMs] Delay before answering token requests. Default: 0.
 * @property {boolean} [controlEndpoint] Serve `POST /loopback/grant-code`. Default: false.
 * @property {string} [refreshTokenSuffix] Appended to every refresh token (tests use commas, quotes, newlines). Default: "".
 * @property {string} [accessTokenSuffix] Appended to every access token (no newlines: it travels in a header). Default: "".
 */

/**
 * Starts the loopback Zoho server.
 * @param {ZohoServerOptions} [options]
 */
export async function startZohoServer(options = {}) {
  const config = {
    port: 0,
    accessTokenLifetimeMs: 3_600_000,
    grantCodeLifetimeMs: 180_000,
    maxTokensPerWindow: 10,
    windowMs: 600_000,
    maxActiveTokens: 15,
    clientId: `1000.${randomId(16).toUpperCase()}`,
    clientSecret: `loopsecret${randomId(20)}`,
    latencyMs: 0,
    controlEndpoint: false,
    refreshTokenSuffix: "",
    accessTokenSuffix: "",
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };

  /** code -> { user, expiresAt, used } */
  const grantCodes = new Map();
  /** refresh token -> { user, issued: number[] (times), active: string[] (access tokens, oldest first) } */
  const refreshTokens = new Map();
  /** access token -> { refreshToken, user, expiresAt, valid } */
  const accessTokens = new Map();
  const issued = new Set([config.clientSecret, config.clientId]);

  const stats = {
    grantsExchanged: 0,
    grantFailures: 0,
    refreshes: 0,
    refreshRefusals: 0,
    refreshFailures: 0,
    accessTokensIssued: 0,
    accessTokensEvicted: 0,
    apiCallsOk: 0,
    apiCallsFailed: 0,
    tokenRequests: 0,
    /** Token requests received, counted on arrival (before `latencyMs`). */
    tokenRequestsReceived: 0,
  };
  /** Token requests still to answer with a server error (see failNextTokenRequests). */
  let failuresAhead = 0;

  function issueAccessToken(refreshToken) {
    const entry = refreshTokens.get(refreshToken);
    const now = Date.now();
    const token = `1000.loopaccess.${randomId(32)}${config.accessTokenSuffix}`;
    issued.add(token);
    entry.issued.push(now);
    entry.active.push(token);
    accessTokens.set(token, { refreshToken, user: entry.user, expiresAt: now + config.accessTokenLifetimeMs, valid: true });
    while (entry.active.length > config.maxActiveTokens) {
      const oldest = entry.active.shift();
      const old = accessTokens.get(oldest);
      if (old?.valid && old.expiresAt > now) stats.accessTokensEvicted += 1;
      if (old) old.valid = false;
    }
    stats.accessTokensIssued += 1;
    return token;
  }

  function tokenAnswer(accessToken, refreshToken) {
    const body = {
      access_token: accessToken,
      scope: "ZohoCRM.modules.ALL,ZohoCRM.users.READ,ZohoCRM.org.READ",
      api_domain: url,
      token_type: "Bearer",
      expires_in: config.accessTokenLifetimeMs / 1000,
    };
    if (refreshToken) body.refresh_token = refreshToken;
    return body;
  }

  function handleToken(fields) {
    stats.tokenRequests += 1;
    const grantType = fields.grant_type;
    if (fields.client_id !== config.clientId || fields.client_secret !== config.clientSecret) {
      if (grantType === "authorization_code") stats.grantFailures += 1;
      else stats.refreshFailures += 1;
      return { error: "invalid_client" };
    }
    if (grantType === "authorization_code") {
      const grant = grantCodes.get(fields.code ?? "");
      if (!grant || grant.used || grant.expiresAt < Date.now()) {
        stats.grantFailures += 1;
        return { error: "invalid_code" };
      }
      grant.used = true;
      const refreshToken = `1000.looprefresh.${randomId(32)}${config.refreshTokenSuffix}`;
      issued.add(refreshToken);
      refreshTokens.set(refreshToken, { user: grant.user, issued: [], active: [] });
      stats.grantsExchanged += 1;
      return tokenAnswer(issueAccessToken(refreshToken), refreshToken);
    }
    if (grantType === "refresh_token") {
      const entry = refreshTokens.get(fields.refresh_token ?? "");
      if (!entry) {
        stats.refreshFailures += 1;
        return { error: "invalid_code" };
      }
      const now = Date.now();
      entry.issued = entry.issued.filter((t) => t > now - config.windowMs);
      if (entry.issued.length >= config.maxTokensPerWindow) {
        stats.refreshRefusals += 1;
        return {
          error: "Access Denied",
          error_description: "You have made too many requests continuously. Please try again after some time.",
          status: "failure",
        };
      }
      stats.refreshes += 1;
      return tokenAnswer(issueAccessToken(fields.refresh_token));
    }
    return { error: "unsupported_grant_type" };
  }

  function liveToken(req) {
    const header = req.headers.authorization ?? "";
    const match = /^Zoho-oauthtoken (.+)$/.exec(header);
    if (!match) return null;
    const entry = accessTokens.get(match[1]);
    if (!entry?.valid || entry.expiresAt <= Date.now()) return null;
    return entry;
  }

  async function handle(req, res) {
    const requestUrl = new URL(req.url ?? "/", url);
    const body = await readBody(req);
    if (req.method === "POST" && requestUrl.pathname === TOKEN_PATH) {
      const fields = { ...Object.fromEntries(requestUrl.searchParams), ...parseForm(req.headers["content-type"], body) };
      stats.tokenRequestsReceived += 1;
      if (config.latencyMs > 0) await new Promise((r) => setTimeout(r, config.latencyMs));
      if (failuresAhead > 0) {
        failuresAhead -= 1;
        stats.tokenRequests += 1;
        stats.refreshFailures += 1;
        return sendJson(res, 200, { error: "internal_error", status: "failure" });
      }
      return sendJson(res, 200, handleToken(fields));
    }
    if (config.controlEndpoint && req.method === "POST" && requestUrl.pathname === "/loopback/grant-code") {
      const fields = parseForm(req.headers["content-type"], body);
      return sendJson(res, 200, { code: issueGrantCode({ user: fields.user }) });
    }
    const entry = liveToken(req);
    if (!entry) {
      stats.apiCallsFailed += 1;
      return sendJson(res, 401, { code: "INVALID_TOKEN", details: {}, message: "invalid oauth token", status: "error" });
    }
    stats.apiCallsOk += 1;
    if (requestUrl.pathname.endsWith("/users") && requestUrl.searchParams.get("type") === "CurrentUser" && entry.user) {
      return sendJson(res, 200, {
        users: [{ id: "1000000000001", email: entry.user, full_name: entry.user, status: "active" }],
        info: { per_page: 200, count: 1, page: 1, more_records: false },
      });
    }
    res.writeHead(204);
    res.end();
  }

  /**
   * Mints a single-use grant code, as the Zoho console's self client does.
   * @param {{ user?: string }} [grant] The user (email) the grant is for.
   * @returns {string}
   */
  function issueGrantCode(grant = {}) {
    const code = `1000.loopgrant.${randomId(32)}`;
    issued.add(code);
    grantCodes.set(code, { user: grant.user ?? null, expiresAt: Date.now() + config.grantCodeLifetimeMs, used: false });
    return code;
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: "internal" });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, "127.0.0.1", resolve);
  });
  const address = server.address();
  const url = `http://127.0.0.1:${address.port}`;

  return {
    url,
    apiUrl: url,
    accountsUrl: url + TOKEN_PATH,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    accessTokenLifetimeMs: config.accessTokenLifetimeMs,
    stats,
    issueGrantCode,
    /** Answers the next `count` token requests with an error, as an accounts server outage would. */
    failNextTokenRequests: (count) => {
      failuresAhead = count;
    },
    /** Changes the delay before answering token requests. */
    setLatency: (ms) => {
      config.latencyMs = ms;
    },
    /** Every simulated secret handed out so far: client id and secret, grant codes, refresh and access tokens. */
    secrets: () => [...issued],
    /** Number of refresh tokens issued (one per exchanged grant). */
    refreshTokenCount: () => refreshTokens.size,
    /** The refresh tokens issued for `user`, oldest first. */
    refreshTokensOf: (user) => [...refreshTokens].filter(([, entry]) => entry.user === user).map(([token]) => token),
    /** Whether `token` is a live access token right now. */
    isLive: (token) => {
      const entry = accessTokens.get(token);
      return Boolean(entry?.valid && entry.expiresAt > Date.now());
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

function randomId(bytes) {
  return randomBytes(bytes).toString("hex");
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Parses urlencoded, JSON or multipart/form-data bodies into a flat object of strings. */
function parseForm(contentType = "", body) {
  const type = contentType.split(";")[0].trim().toLowerCase();
  if (type === "application/x-www-form-urlencoded") {
    return Object.fromEntries(new URLSearchParams(body.toString("utf8")));
  }
  if (type === "application/json") {
    try {
      const value = JSON.parse(body.toString("utf8"));
      return value && typeof value === "object" ? value : {};
    } catch {
      return {};
    }
  }
  if (type === "multipart/form-data") {
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
    if (!boundary) return {};
    const delimiter = `--${(boundary[1] ?? boundary[2]).trim()}`;
    const fields = {};
    for (const part of body.toString("utf8").split(delimiter)) {
      const split = part.indexOf("\r\n\r\n");
      if (split < 0) continue;
      const head = part.slice(0, split);
      const name = /name="([^"]*)"/i.exec(head);
      if (!name) continue;
      fields[name[1]] = part.slice(split + 4).replace(/\r\n$/, "");
    }
    return fields;
  }
  return {};
}

function sendJson(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json;charset=UTF-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The manual mode: starts the server and, with --write-env F, writes (mode 600, never over an
 * existing file) the environment a program needs to run against it: the URLs, the client,
 * the user and one fresh grant code for that user. Secrets go to that file only, never to
 * the screen or the command line. Runs until Ctrl-C.
 */
async function main(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) args[argv[i]] = argv[i + 1];
  const known = new Set(["--port", "--lifetime-ms", "--client-id", "--write-env", "--user"]);
  const unknown = Object.keys(args).filter((name) => !known.has(name));
  if (unknown.length > 0) throw new Error(`unknown option ${unknown[0]}; options: ${[...known].join(", ")}`);
  const server = await startZohoServer({
    port: args["--port"] ? Number(args["--port"]) : 0,
    accessTokenLifetimeMs: args["--lifetime-ms"] ? Number(args["--lifetime-ms"]) : undefined,
    clientId: args["--client-id"],
    controlEndpoint: true,
  });
  const user = args["--user"] ?? "me@example.com";
  if (args["--write-env"]) {
    const lines = {
      ZOHO_USER: user,
      ZOHO_API_URL: server.apiUrl,
      ZOHO_ACCOUNTS_URL: server.url,
      ZOHO_FILE_UPLOAD_URL: server.apiUrl,
      ZOHO_CLIENT_ID: server.clientId,
      ZOHO_CLIENT_SECRET: server.clientSecret,
      ZOHO_GRANT_CODE: server.issueGrantCode({ user }),
    };
    writeFileSync(
      args["--write-env"],
      Object.entries(lines)
        .map(([name, value]) => `${name}=${value}\n`)
        .join(""),
      { mode: 0o600, flag: "wx" },
    );
  }
  process.stdout.write(`${JSON.stringify({ url: server.url, accountsUrl: server.accountsUrl, apiUrl: server.apiUrl, clientId: server.clientId })}\n`);
  process.stderr.write(
    `zoho-loopback-server: listening on ${server.url}${args["--write-env"] ? `; ${args["--write-env"]} holds the environment to run against it (a grant code for ${user})` : ""}; Ctrl-C stops it\n`,
  );
  const stop = () => server.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`zoho-loopback-server: ${error?.message ?? error}\n`);
    process.exitCode = 1;
  });
}
