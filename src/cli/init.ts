import { existsSync } from "node:fs";
import { BIN, defineCommand, keyArgsFor, openStore, storePath } from "./command.js";
import { CliError } from "./exit.js";
import { printable, quote } from "./format.js";

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
    if (existsSync(path)) throw new CliError("EXISTS", `${path} already exists; nothing was changed. Use another --file, or '${BIN} verify' to check it`);
    const { store, key } = await openStore(ctx, path, { create: true, authenticate: false });
    // Re-sealing the (empty) document under the same key writes the first generation.
    await store.rekey(key.option);
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
