import { defineCommand, openExisting } from "./command.js";
import { describeExpiry, describePresent, expiryOf, presentSecrets, printable, table } from "./format.js";
import { shortenClientId } from "../tokens/record.js";

export const list = defineCommand(
  {
    name: "list",
    summary: "list the tokens: id, user, client id (shortened), which tokens are present, expiry",
    usage: "[--file F] [--key-file K] [--json]",
    description: `Lists every token record: its id, user, client id (shortened), which secrets it holds
(client secret, refresh, access, grant token) and when its access token expires.
Never prints a secret value.`,
    common: ["file", "key-file", "json"],
  },
  async (ctx) => {
    const store = await openExisting(ctx);
    const records = await store.getTokens();
    const now = ctx.now();
    if (ctx.json) {
      ctx.emit({
        path: store.path,
        tokens: records.map((record) => ({
          id: record.id,
          userName: record.userName,
          clientId: record.clientId === null ? null : shortenClientId(record.clientId),
          present: presentSecrets(record),
          ...expiryOf(record, now),
          apiDomain: record.apiDomain,
        })),
      });
      return;
    }
    if (records.length === 0) {
      ctx.print(`no tokens in ${printable(store.path)}`);
      return;
    }
    const rows = records.map((record) => [
      printable(record.id),
      record.userName === null ? "-" : printable(record.userName),
      record.clientId === null ? "-" : printable(shortenClientId(record.clientId)),
      describePresent(record),
      describeExpiry(record, now, ctx.out),
    ]);
    for (const line of table([["ID", "USER", "CLIENT", "TOKENS", "ACCESS TOKEN EXPIRES"].map(ctx.out.bold), ...rows])) ctx.print(line);
    ctx.print(ctx.out.dim(`${records.length} token${records.length === 1 ? "" : "s"} in ${printable(store.path)}`));
  },
);
