/**
 * The CSV file the Zoho SDKs' own `FileStore` writes (nodejs-sdk-8.0 and
 * typescript-sdk-8.0, `models/authenticator/store/file_store.js`):
 *
 *     id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain
 *
 * one row per token, values joined with "," without quoting or escaping (a value that
 * holds a comma or a newline breaks its row), null written as an empty value, rows
 * joined with "\n". The typescript SDK names the second column `user_mail`. Older
 * files have 9 columns, without `api_domain`; the SDKs add it on open.
 */
import { TOKEN_FIELDS, type TokenField, type TokenInput, type TokenRecord } from "../index.js";
import { MAX_FIELD_LENGTH } from "../maintenance.js";
import { CliError } from "./exit.js";

/** Column order of the SDK file after `id`: the record fields, in the same order. */
export const CSV_FIELDS: readonly TokenField[] = TOKEN_FIELDS;

export const CSV_HEADER = "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain";
const HEADER_NAMES = CSV_HEADER.split(",");

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
  /** 9 (older files, no api_domain) or 10 columns. */
  columns: 9 | 10;
  rows: CsvRow[];
  bad: BadRow[];
}

/** Reads an SDK FileStore CSV. Throws BAD_CSV when the first line is not its header. */
export function parseSdkCsv(text: string, path: string): ParsedCsv {
  const lines = text.replace(/^\uFEFF/, "").split("\n").map((line) => line.replace(/\r$/, ""));
  const header = (lines[0] ?? "").split(",").map((name) => name.trim().toLowerCase());
  const columns = header.length;
  const headerOk =
    (columns === 9 || columns === 10) &&
    header.every((name, index) => name === HEADER_NAMES[index] || (index === 1 && name === "user_mail"));
  if (!headerOk) {
    // The line is not quoted back: without a header it could be a row of tokens.
    throw new CliError(
      "BAD_CSV",
      `line 1 of ${path} is not the header of a Zoho SDK FileStore CSV (expected ${CSV_HEADER}, or its first 9 columns); nothing was written`,
    );
  }
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
    const token: Record<string, string | null> = {};
    CSV_FIELDS.forEach((field, at) => {
      const value = values[at + 1];
      token[field] = value === undefined || value === "" ? null : value;
    });
    const reason = rowProblem(token);
    if (reason) bad.push({ line, reason });
    else rows.push({ line, token: token as TokenInput });
  });
  return { columns: columns as 9 | 10, rows, bad };
}

function rowProblem(token: Record<string, string | null>): string | undefined {
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
