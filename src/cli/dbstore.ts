/**
 * The table the Zoho SDKs' own `DBStore` keeps in MySQL (`oauthtoken` by default), read
 * for `import --from-dbstore-env`. The layout, from the SDK's README (nodejs-sdk-8.0):
 *
 *     CREATE TABLE oauthtoken (id varchar(10) NOT NULL, user_name varchar(255),
 *       client_id varchar(255), client_secret varchar(255), refresh_token varchar(255),
 *       access_token varchar(255), grant_token varchar(255), expiry_time varchar(20),
 *       redirect_url varchar(255), api_domain varchar(255), primary key (id));
 *
 * Every value is plaintext; `expiry_time` is the access token's expiry in ms since the
 * epoch. The table is only read: one SELECT inside a READ ONLY transaction (the server
 * refuses any change in it), then a rollback. `mysql2` is loaded only here, when the
 * option is used.
 */
import { TokenStoreError, TOKEN_FIELDS, type TokenField, type TokenInput } from "../index.js";
import { describeMysqlConfig } from "../backend/mysql/backend.js";
import { mysqlDialect } from "../backend/mysql/dialect.js";
import { rowProblem } from "./csv.js";
import { CliError, usage } from "./exit.js";

/** The DBStore's columns after `id`, in the order of the record fields. */
const COLUMNS: Readonly<Record<TokenField, string>> = {
  userName: "user_name",
  clientId: "client_id",
  clientSecret: "client_secret",
  refreshToken: "refresh_token",
  accessToken: "access_token",
  grantToken: "grant_token",
  expiryTime: "expiry_time",
  redirectUrl: "redirect_url",
  apiDomain: "api_domain",
};

export const DBSTORE_COLUMNS = ["id", ...TOKEN_FIELDS.map((field) => COLUMNS[field])];

/** A table name the DBStore could have been given (MySQL's unquoted identifiers). */
const TABLE = /^[A-Za-z0-9_$]{1,64}$/;

export interface DbStoreRow {
  /** The DBStore's own row id (not a secret; the store gives its own ids). */
  rowId: string;
  token: TokenInput;
}

export interface DbStoreTable {
  /** Where the table is, without user or password: `mysql://host:3306/db`. */
  location: string;
  table: string;
  rows: DbStoreRow[];
  bad: Array<{ rowId: string; reason: string }>;
}

/** Reads every row of the DBStore table `table` of the server the connection string names. */
export async function readDbStoreTable(url: string, table: string): Promise<DbStoreTable> {
  if (!TABLE.test(table)) throw usage("--table must be a table name (letters, digits, _ and $, at most 64)");
  if (!/^(mysql|mariadb):\/\//.test(url)) throw usage("the DBStore connection string must start with mysql:// (mysql://USER:PASSWORD@HOST:3306/DATABASE)");
  let database: string;
  try {
    database = decodeURIComponent(new URL(url).pathname.slice(1));
  } catch {
    throw usage("the DBStore connection string is not a valid URL (mysql://USER:PASSWORD@HOST:3306/DATABASE)");
  }
  if (!database) throw usage("the DBStore connection string names no database (mysql://USER:PASSWORD@HOST:3306/DATABASE)");
  const uri = url.replace(/^mariadb:/, "mysql:");
  const location = describeMysqlConfig({ uri });
  let mysql: typeof import("mysql2/promise");
  try {
    mysql = (await import("mysql2/promise")).default as unknown as typeof import("mysql2/promise");
  } catch (error) {
    throw new TokenStoreError("INVALID_OPTION", "reading a DBStore table needs the mysql2 package: npm install mysql2", { cause: error });
  }
  let connection: import("mysql2/promise").Connection;
  try {
    connection = await mysql.createConnection({ uri, connectTimeout: 10_000, flags: ["-LOCAL_FILES"] });
  } catch (error) {
    throw unreadable(error, location);
  }
  connection.on("error", () => undefined);
  try {
    // The server refuses any change inside a READ ONLY transaction: the source stays as it is.
    await connection.query("START TRANSACTION READ ONLY");
    const [rows] = await connection.query(
      `SELECT ${DBSTORE_COLUMNS.map((column) => `\`${column}\``).join(", ")} FROM \`${table}\` ORDER BY LENGTH(\`id\`), \`id\``,
    );
    await connection.query("ROLLBACK");
    return { location, table, ...convert(rows as Array<Record<string, unknown>>) };
  } catch (error) {
    const errno = (error as { errno?: unknown }).errno;
    if (errno === 1146) throw new CliError("BAD_SOURCE", `${location} has no table ${table} (give the DBStore's table with --table NAME)`);
    if (errno === 1054) {
      throw new CliError("BAD_SOURCE", `the table ${table} of ${location} is not a DBStore table: it needs the columns ${DBSTORE_COLUMNS.join(", ")}`);
    }
    throw unreadable(error, location);
  } finally {
    await connection.end().catch(() => undefined);
  }
}

function convert(rows: Array<Record<string, unknown>>): Pick<DbStoreTable, "rows" | "bad"> {
  const good: DbStoreRow[] = [];
  const bad: DbStoreTable["bad"] = [];
  for (const row of rows) {
    const rowId = String(row.id ?? "");
    const token: Record<string, string | null> = {};
    for (const field of TOKEN_FIELDS) {
      const value = row[COLUMNS[field]];
      // The DBStore writes null for a value it does not have; an empty one means the same.
      token[field] = value === null || value === undefined || value === "" ? null : Buffer.isBuffer(value) ? value.toString("utf8") : String(value);
    }
    const reason = rowProblem(token);
    if (reason) bad.push({ rowId, reason });
    else good.push({ rowId, token: token as TokenInput });
  }
  return { rows: good, bad };
}

/** A server that cannot be reached or refuses the user: coded, naming the server without user or password. */
function unreadable(error: unknown, location: string): Error {
  const kind = mysqlDialect.classify(error);
  const errno = (error as { errno?: unknown }).errno;
  if (kind === "unavailable") {
    return new TokenStoreError("UNAVAILABLE", `the DBStore's server ${location} cannot be reached; nothing was read`, {
      location,
      cause: error,
      action: "retry",
    });
  }
  if (kind === "permission" || errno === 1045) {
    return new CliError("BAD_SOURCE", `${location} refused the DBStore's user (wrong password, or no SELECT on the table); nothing was read`);
  }
  return new CliError("BAD_SOURCE", `${location} refused the query for the DBStore table (MySQL error ${String(errno ?? "unknown")}); nothing was read`);
}
