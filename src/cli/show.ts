import { redact, TOKEN_FIELDS, TokenStoreError } from "../index.js";
import { BIN, defineCommand, openExisting } from "./command.js";
import { describeExpiry, expiryOf, plainRecord, printable, table } from "./format.js";

export const show = defineCommand(
  {
    name: "show",
    summary: "show one record; secret values only with --reveal",
    usage: "ID [--file F] [--key-file K] [--reveal] [--json]",
    description: `Shows every field of the record with this id. Secret fields (client secret, refresh,
access and grant token) read "[redacted]" and the client id is shortened, unless
--reveal is given.`,
    positionals: ["ID"],
    common: ["file", "key-file", "json"],
    options: { reveal: { type: "boolean", description: "print the secret values and the whole client id" } },
  },
  async (ctx) => {
    const id = ctx.positionals[0]!;
    const store = await openExisting(ctx);
    const record = await store.findTokenById(id);
    if (!record) throw notFound(id, store.path);
    const fields: Record<string, string | null> = ctx.values.reveal ? { ...plainRecord(record) } : redact(record);
    const expiry = expiryOf(record, ctx.now());
    if (ctx.json) {
      ctx.emit({ ...fields, expiresAt: expiry.expiresAt, expired: expiry.expired });
      return;
    }
    const rows = (["id", ...TOKEN_FIELDS] as const).map((field) => {
      const value = fields[field] ?? null;
      const shown =
        value === null ? ctx.out.dim("-") : field === "expiryTime" ? `${printable(value)}  ${describeExpiry(record, ctx.now(), ctx.out)}` : printable(value);
      return [field, shown];
    });
    for (const line of table(rows)) ctx.print(line);
  },
);

export function notFound(id: string, path: string): TokenStoreError {
  // The id is repeated only when it looks like one the store hands out: a mistyped argument could be a secret.
  const shown = /^\d{1,12}$/.test(id) ? ` ${JSON.stringify(id)}` : "";
  return new TokenStoreError("NOT_FOUND", `no token with id${shown} in ${path}; '${BIN} list' shows the ids`, { path });
}
