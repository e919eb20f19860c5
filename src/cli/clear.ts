import { defineCommand, openExisting } from "./command.js";
import { usage } from "./exit.js";
import { printable } from "./format.js";

export const clear = defineCommand(
  {
    name: "clear",
    summary: "delete every record (needs --yes)",
    usage: "[--file F] [--key-file K] --yes [--json]",
    description: `Deletes every record in the store; the file itself stays, empty. Ids are still never
reused. The previous generation (F.prev) keeps the records until the next write.`,
    common: ["file", "key-file", "json"],
    options: { yes: { type: "boolean", short: "y", description: "confirm that every record is to be deleted" } },
  },
  async (ctx) => {
    if (!ctx.values.yes) throw usage("'clear' deletes every token in the store; add --yes to confirm");
    const store = await openExisting(ctx);
    const count = (await store.getTokens()).length;
    await store.deleteTokens();
    if (ctx.json) ctx.emit({ deleted: count });
    else ctx.print(`deleted ${count} token${count === 1 ? "" : "s"} from ${printable(store.path)}`);
  },
);
