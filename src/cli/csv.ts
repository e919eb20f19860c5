/**
 * The CSV files the Zoho SDKs' own `FileStore` writes. Every version joins values with
 * "," without quoting or escaping (a value that holds a comma or a newline breaks its
 * row), writes null as an empty value, starts with a header line and joins rows with
 * "\n". The layouts, by the header each writes (`models/authenticator/store/file_store.js`
 * of each SDK):
 *
 * - 10 columns, `id,user_name,...,redirect_url,api_domain`: @zohocrm/nodejs-sdk-6.0 and
 *   -8.0; `user_mail` instead of `user_name` in @zohocrm/typescript-sdk-8.0.
 * - 9 columns, `id,user_mail,...,expiry_time,redirect_url`: @zohocrm/nodejs-sdk-2.0 from
 *   3.0.0, nodejs-sdk-2.1, typescript-sdk-2.0 from 2.0.0; `redirect_uri` in
 *   nodejs-sdk-2.0 2.0.0. The 10-column SDKs add `api_domain` when they open one.
 * - 6 columns, `user_mail,client_id,refresh_token,access_token,grant_token,expiry_time`:
 *   zcrmsdk 1.0.x, @zohocrm/nodejs-sdk-2.0 1.0.0, @zohocrm/typescript-sdk 1.0.0 and
 *   typescript-sdk-2.0 1.0.0. No id, no client secret, no redirect URL: those SDKs took
 *   the client secret from the program's own configuration on every call.
 *
 * In every layout `expiry_time` is the access token's expiry in ms since the epoch.
 */
import { TOKEN_FIELDS, type TokenField, type TokenInput, type TokenRecord } from "../index.js";
import { MAX_FIELD_LENGTH } from "../tokens/input.js";
import { CliError } from "./exit.js";

/** Column order of the SDK file after `id`: the record fields, in the same order. */
const CSV_FIELDS: readonly TokenField[] = TOKEN_FIELDS;

/** The layout `export` writes: the 10-column one of nodejs-sdk-8.0. */
const CSV_HEADER = "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain";
const HEADER_NAMES = CSV_HEADER.split(",");

/** One layout `import` reads. */
export interface CsvLayout {
  /** The first line of the file, exactly as the SDK writes it. */
  header: string;
  /** The SDK versions that write it, for messages. */
  writtenBy: string;
  /** The record field each column holds, in order; null for the SDK's row id (the store gives its own). */
  columns: ReadonlyArray<TokenField | null>;
}

const NINE: ReadonlyArray<TokenField | null> = [null, ...TOKEN_FIELDS.filter((field) => field !== "apiDomain")];

/** Every layout `import` reads, newest first. A file must start with one of these headers. */
const CSV_LAYOUTS: readonly CsvLayout[] = [
  { header: CSV_HEADER, writtenBy: "nodejs-sdk-6.0, nodejs-sdk-8.0", columns: [null, ...TOKEN_FIELDS] },
  { header: CSV_HEADER.replace("user_name", "user_mail"), writtenBy: "typescript-sdk-8.0", columns: [null, ...TOKEN_FIELDS] },
  {
    header: HEADER_NAMES.slice(0, 9).join(",").replace("user_name", "user_mail"),
    writtenBy: "nodejs-sdk-2.0 3.0.0+, nodejs-sdk-2.1, typescript-sdk-2.0 2.0.0+",
    columns: NINE,
  },
  { header: HEADER_NAMES.slice(0, 9).join(","), writtenBy: "9 columns, user_name", columns: NINE },
  {
    header: HEADER_NAMES.slice(0, 9).join(",").replace("user_name", "user_mail").replace("redirect_url", "redirect_uri"),
    writtenBy: "nodejs-sdk-2.0 2.0.0",
    columns: NINE,
  },
  {
    header: "user_mail,client_id,refresh_token,access_token,grant_token,expiry_time",
    writtenBy: "zcrmsdk 1.0, nodejs-sdk-2.0 1.0.0, typescript-sdk 1.0.0, typescript-sdk-2.0 1.0.0",
    columns: ["userName", "clientId", "refreshToken", "accessToken", "grantToken", "expiryTime"],
  },
];

export interface CsvRow {
  /** 1-based line number in the file. */
  line: number;
  /** The row's values without its id (ids belong to the store). */
  token: TokenInput;
}

export interface BadRow {
  line: number;
  /** Why the row cannot be read. Never quotes a value. */
  reason: string;
}

export interface ParsedCsv {
  /** 6, 9 or 10: the number of columns of the layout. */
  columns: number;
  layout: CsvLayout;
  rows: CsvRow[];
  bad: BadRow[];
}

/**
 * Reads an SDK FileStore CSV in any layout of CSV_LAYOUTS. Throws BAD_CSV, naming every
 * accepted header, when the first line is none of them; the line itself is not quoted
 * (without a header it could be a row of tokens).
 */
export function parseSdkCsv(text: string, path: string): ParsedCsv {
  const lines = text
    .replace(/^\uFEFF/, "")
    .split("\n")
    .map((line) => line.replace(/\r$/, ""));
  const header = (lines[0] ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .join(",");
  const layout = CSV_LAYOUTS.find((candidate) => candidate.header === header);
  if (!layout) {
    throw new CliError(
      "BAD_CSV",
      `line 1 of ${path} is not the header of a Zoho SDK FileStore CSV; nothing was written. The accepted headers are: ` +
        CSV_LAYOUTS.map((known) => `"${known.header}" (${known.writtenBy})`).join("; "),
    );
  }
  const columns = layout.columns.length;
  const rows: CsvRow[] = [];
  const bad: BadRow[] = [];
  lines.forEach((text, index) => {
    if (index === 0 || text.trim() === "") return; // The SDKs skip blank lines too.
    const line = index + 1;
    const values = text.split(",");
    if (values.length !== columns) {
      const why = values.length > columns ? " (a value holds a comma?)" : "";
      bad.push({ line, reason: `${values.length} values, expected ${columns}${why}` });
      return;
    }
    const token: Record<string, string | null> = Object.fromEntries(CSV_FIELDS.map((field) => [field, null]));
    layout.columns.forEach((field, at) => {
      const value = values[at];
      if (field !== null) token[field] = value === undefined || value === "" ? null : value;
    });
    const reason = rowProblem(token);
    if (reason) bad.push({ line, reason });
    else rows.push({ line, token: token as TokenInput });
  });
  return { columns, layout, rows, bad };
}

/** Why a row cannot be imported (never quoting a value), or undefined. */
export function rowProblem(token: Record<string, string | null>): string | undefined {
  if (token.refreshToken === null && token.grantToken === null && token.accessToken === null) {
    return "no refresh_token, grant_token or access_token";
  }
  const expiry = token.expiryTime;
  if (expiry != null && !/^\d{1,16}$/.test(expiry)) return "expiry_time is not a time in milliseconds";
  for (const field of CSV_FIELDS) {
    if ((token[field]?.length ?? 0) > MAX_FIELD_LENGTH) return `${field} is longer than ${MAX_FIELD_LENGTH} characters`;
  }
  return undefined;
}

/**
 * Writes records in the SDK's 10-column layout, which the SDKs' FileStore and `import`
 * read. Refuses values the layout cannot hold (a comma or a line break).
 */
export function toSdkCsv(records: readonly TokenRecord[]): string {
  const lines = [CSV_HEADER];
  for (const record of records) {
    const values: string[] = [record.id, ...CSV_FIELDS.map((field) => record[field] ?? "")];
    const broken = values.findIndex((value) => /[,\r\n]/.test(value));
    if (broken >= 0) {
      throw new CliError(
        "REFUSED",
        `token ${record.id}: ${HEADER_NAMES[broken]} holds a comma or a line break, which the SDK's CSV layout cannot hold; nothing was written. Use --format json`,
      );
    }
    lines.push(values.join(","));
  }
  return `${lines.join("\n")}\n`;
}
