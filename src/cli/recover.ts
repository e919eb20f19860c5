import { TokenStoreError } from "../index.js";
import { StoreLayout } from "../backend/file/index.js";
import { defineCommand, openStore, storePath, storeTarget } from "./command.js";
import { fileOnly } from "./target.js";
import { CliError } from "./exit.js";
import { printable } from "./format.js";
import { PREVIOUS_KEY_ENV } from "./key.js";
import { presence } from "./store-file.js";

export const recover = defineCommand(
  {
    name: "recover",
    summary: "restore the previous generation (F.prev) after verifying it",
    usage: "[--file F] [--key-file K] [--force] [--json]",
    description: `Restores the previous generation, kept as F.prev by every write, after checking that it
opens and authenticates with the key. It becomes a new generation of F. When F itself
opens and authenticates, recovering would throw away its latest change, so this is
refused unless --force is given. After a rekey the previous generation is sealed with
the old key: give it with --previous-key-file (or ZOHO_TOKEN_STORE_PREVIOUS_KEY).`,
    common: ["file", "key-file", "json"],
    options: {
      "previous-key-file": {
        type: "string",
        value: "K0",
        description: "file holding the old key that sealed F.prev (default: $ZOHO_TOKEN_STORE_PREVIOUS_KEY)",
      },
      force: { type: "boolean", description: "recover even though the current file is intact" },
    },
  },
  async (ctx) => {
    fileOnly(storeTarget(ctx), "recover", "it restores the file F.prev");
    const path = storePath(ctx);
    const prev = new StoreLayout(path).previous;
    if (!(await presence(path)).previous) {
      throw new TokenStoreError("FILE_MISSING", `there is no previous generation to recover (${prev} does not exist); nothing was changed`, { path });
    }
    const previousKeyFile = ctx.string("previous-key-file");
    const previousKey = ctx.io.env[PREVIOUS_KEY_ENV];
    const previousKeys = previousKeyFile !== undefined ? [{ keyFile: ctx.path(previousKeyFile) }] : previousKey ? [previousKey] : [];
    // Not authenticated here: a damaged current file is what recover is for.
    const { store } = await openStore(ctx, path, { previousKeys, authenticate: false });
    let current: number | undefined;
    try {
      const status = await store.verify();
      if (status.exists) current = status.generation;
    } catch {
      // Damaged or missing: what recover is for.
    }
    if (current !== undefined && ctx.values.force !== true) {
      throw new CliError(
        "REFUSED",
        `${path} opens and authenticates (generation ${current}); recovering would discard its latest change. Nothing was changed; add --force to restore ${prev} anyway`,
      );
    }
    const result = await store.recover().catch((error: unknown) => {
      // The current file is not opened by recover(): a wrong key is the previous generation's.
      if (error instanceof TokenStoreError && error.code === "WRONG_KEY") {
        throw new TokenStoreError(
          "WRONG_KEY",
          `${prev} is sealed with another key than the store's (the key before a rekey?); nothing was changed. Give that key with --previous-key-file`,
          { path: prev },
        );
      }
      throw error;
    });
    if (ctx.json) ctx.emit({ path, ...result });
    else {
      ctx.print(
        `restored generation ${result.restoredGeneration} (${result.tokens} token${result.tokens === 1 ? "" : "s"}) from ${printable(prev)}; it is now generation ${result.generation} of ${printable(path)}`,
      );
    }
  },
);
