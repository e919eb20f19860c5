import { defineCommand, openExisting } from "./command.js";
import { printable } from "./format.js";
import { notFound } from "./show.js";

export const deleteCommand = defineCommand(
  {
    name: "delete",
    summary: "delete one record",
    usage: "ID [--file F] [--key-file K] [--json]",
    description: "Deletes the record with this id. Its id is never handed out again.",
    positionals: ["ID"],
    common: ["file", "key-file", "json"],
  },
  async (ctx) => {
    const id = ctx.positionals[0]!;
    const store = await openExisting(ctx);
    const record = await store.findTokenById(id);
    if (!record || !(await store.deleteToken(id))) throw notFound(id, store.path);
    if (ctx.json) ctx.emit({ deleted: id, userName: record.userName });
    else ctx.print(`deleted token ${printable(id)}${record.userName ? ` (${printable(record.userName)})` : ""} from ${printable(store.path)}`);
  },
);
