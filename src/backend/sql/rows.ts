/**
 * Reading and writing column values the same way on every dialect: a head row's numbers
 * (drivers hand back BIGINT as strings), a binary column, and bytes as the drivers take them.
 */
import type { HeadRow, SqlRow } from "./dialect.js";

/** A head row's version and previous version, or undefined for no row. */
export function toHead(row: SqlRow | undefined): HeadRow | undefined {
  if (!row || row.version === null || row.version === undefined) return undefined;
  return { version: Number(row.version), previous: row.previous === null || row.previous === undefined ? null : Number(row.previous) };
}

/** A binary column's bytes, or null. */
export function toBytes(value: unknown): Uint8Array | null {
  if (value === null || value === undefined) return null;
  return value as Uint8Array;
}

/** Bytes as a Buffer over the same memory (what both drivers bind as binary). */
export function buffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
