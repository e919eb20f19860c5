import { BIN, defineCommand, keyArgsFor, openStore, storeTarget } from "./command.js";
import { CliError } from "./exit.js";
import { printable, quote } from "./format.js";
import { presence } from "./store-file.js";

export const init = defineCommand(
  {
    name: "init",
    summary: "create an empty store",
    usage: "[--file F] [--key-file K] [--json]",
    description: `Creates an empty store file (mode 600), sealed with the key, in a directory that
exists (nothing creates a missing one: mkdir -m 700 DIR first). Refuses when the file
already exists. Without --file: $ZOHO_TOKEN_STORE_FILE, else ./zoho-tokens.enc.`,
    common: ["file", "key-file", "json"],
  },
  async (ctx) => {
    const target = storeTarget(ctx);
    const path = target.location;
    // A server store's create step is idempotent (its tables, then a first generation); a file is refused when it exists.
    if (target.kind === "file" && (await presence(target)).stored)
      throw new CliError("EXISTS", `${path} already exists; nothing was changed. Use another --file, or '${BIN} verify' to check it`);
    const { store, key } = await openStore(ctx, target, { create: true, authenticate: false });
    // The explicit create step: the location, then the first generation of an empty store.
    const { created } = await store.create();
    const status = await store.verify();
    if (ctx.json) ctx.emit({ path: store.path, created, generation: status.generation, keySource: status.keySource });
    else if (!created)
      ctx.print(
        `${printable(store.path)} already holds a store (generation ${status.generation}, ${status.tokens} token${status.tokens === 1 ? "" : "s"}); nothing was changed`,
      );
    else {
      ctx.print(`created an empty store at ${printable(store.path)} (${status.keySource === "passphrase" ? "passphrase" : "raw key"})`);
      const keyArgs = keyArgsFor(key);
      if (keyArgs !== undefined) {
        const where = target.kind === "file" ? `--file ${quote(path)}` : target.url === ctx.string(target.kind) ? `--${target.kind} ${quote(target.url)}` : "";
        const args = `${where}${keyArgs ? ` ${keyArgs}` : ""}`.trim();
        ctx.next(`import ${args} --from-csv tokens.csv`, "moves the tokens of an SDK FileStore CSV (here tokens.csv) into the store");
        ctx.next(`list ${args}`, "lists the tokens stored");
      }
    }
  },
);
