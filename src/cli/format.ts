/** Formatting shared by the commands: expiry times, token presence, tables, terminal-safe text. */
import { SECRET_FIELDS, TOKEN_FIELDS, type TokenRecord } from "../index.js";
import { duration } from "../backend/file/index.js";
import type { Style } from "./io.js";

export interface Expiry {
  /** The stored value: ms since the epoch as a decimal string (the SDK's format). */
  expiryTime: string | null;
  /** ISO 8601 time, or null when there is no expiry or it is not a number. */
  expiresAt: string | null;
  /** True when the access token's expiry has passed; null when unknown. */
  expired: boolean | null;
}

export function expiryOf(record: Pick<TokenRecord, "expiryTime">, now: number): Expiry {
  const value = record.expiryTime;
  const ms = value !== null && /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(ms)) return { expiryTime: value, expiresAt: null, expired: null };
  return { expiryTime: value, expiresAt: new Date(ms).toISOString(), expired: ms <= now };
}

/** "2026-11-29 09:45Z (in 59 min)", "... (expired 3 h ago)", or "-". */
export function describeExpiry(record: Pick<TokenRecord, "expiryTime">, now: number, style?: Style): string {
  const { expiresAt, expired, expiryTime } = expiryOf(record, now);
  if (expiryTime === null) return "-";
  if (expiresAt === null) return "unreadable";
  const when = `${expiresAt.slice(0, 16).replace("T", " ")}Z`;
  const ms = Number(expiryTime);
  if (expired) return `${when} (${style ? style.red("expired") : "expired"} ${duration(now - ms)} ago)`;
  return `${when} (in ${duration(ms - now)})`;
}

export function presentSecrets(record: TokenRecord): Record<(typeof SECRET_FIELDS)[number], boolean> {
  return {
    clientSecret: record.clientSecret !== null,
    refreshToken: record.refreshToken !== null,
    accessToken: record.accessToken !== null,
    grantToken: record.grantToken !== null,
  };
}

/** "secret refresh access": the short names of the secrets present. */
export function describePresent(record: TokenRecord): string {
  const names = { clientSecret: "secret", refreshToken: "refresh", accessToken: "access", grantToken: "grant" };
  const present = SECRET_FIELDS.filter((field) => record[field] !== null).map((field) => names[field]);
  return present.length > 0 ? present.join(" ") : "-";
}

/** Left-aligned columns; `visible` gives a cell's width without colour codes. */
export function table(rows: string[][]): string[] {
  const visible = (text: string) => text.replace(/\u001b\[\d+m/g, "").length;
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, index) => {
      widths[index] = Math.max(widths[index] ?? 0, visible(cell));
    });
  }
  return rows.map((row) =>
    row
      .map((cell, index) => (index === row.length - 1 ? cell : cell + " ".repeat(widths[index]! - visible(cell))))
      .join("  ")
      .trimEnd(),
  );
}

/** A plain object with every field of a record, for output that is meant to show secrets. */
export function plainRecord(record: TokenRecord): TokenRecord {
  const out = { id: record.id } as TokenRecord;
  for (const field of TOKEN_FIELDS) out[field] = record[field];
  return out;
}

/**
 * A path as a shell word: unchanged when plain, else in single quotes; a path holding
 * a character of UNPRINTABLE is written as `$'...'` with visible escapes, which bash,
 * zsh and ksh read back as the same path.
 */
export function quote(path: string): string {
  if (/^[\w./@:+-]+$/.test(path)) return path;
  UNPRINTABLE.lastIndex = 0;
  if (!UNPRINTABLE.test(path)) return `'${path.replace(/'/g, "'\\''")}'`;
  return `$'${printable(path.replace(/[\\']/g, (char) => `\\${char}`))}'`;
}

/**
 * Characters that act on a terminal instead of showing: C0 controls (ESC, CR, LF, BEL,
 * ...), DEL, C1 controls (U+0080..U+009F, which some terminals obey like ESC
 * sequences), the line and paragraph separators, and the Unicode bidirectional
 * controls (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) that reorder the
 * text after them.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * A value as it may reach a terminal: every character of UNPRINTABLE written visibly
 * (`\x1b`, `\n`, `\u202e`), so a stored or file-derived value cannot retitle the
 * window, move the cursor, forge a row of a table or reverse the text after it. Used
 * for every such value in human output; JSON output keeps values exact.
 *
 * @example
 * printable("a\u001b]0;x\u0007b") // "a\\x1b]0;x\\x07b"
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => {
    const named = NAMED[char];
    if (named) return named;
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
