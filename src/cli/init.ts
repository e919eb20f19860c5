import { BIN, defineCommand, keyArgsFor, openStore, storePath } from "./command.js";
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
    const path = storePath(ctx);
    if ((await presence(path)).stored)
      throw new CliError("EXISTS", `${path} already exists; nothing was changed. Use another --file, or '${BIN} verify' to check it`);
    const { store, key } = await openStore(ctx, path, { create: true, authenticate: false });
    // The explicit create step: the location, then the first generation of an empty store.
    await store.create();
    const status = await store.verify();
    if (ctx.json) ctx.emit({ path, generation: status.generation, keySource: status.keySource });
    else {
      ctx.print(`created an empty store at ${printable(path)} (${status.keySource === "passphrase" ? "passphrase" : "raw key"})`);
      const keyArgs = keyArgsFor(key);
      if (keyArgs !== undefined) {
        const args = `--file ${quote(path)}${keyArgs ? ` ${keyArgs}` : ""}`;
        ctx.next(`import ${args} --from-csv tokens.csv`, "moves the tokens of an SDK FileStore CSV (here tokens.csv) into the store");
        ctx.next(`list ${args}`, "lists the tokens stored");
      }
    }
  },
);
