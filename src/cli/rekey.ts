import { KEYCHAIN_ACCOUNT } from "../index.js";
import { StoreLayout } from "../backend/file/index.js";
import { announceKey, defineCommand, openExisting, storeTarget } from "./command.js";
import { usage } from "./exit.js";
import { printable } from "./format.js";
import { newStoreKey, STDIN } from "./key.js";
import { presence } from "./store-file.js";

export const rekey = defineCommand(
  {
    name: "rekey",
    summary: "re-encrypt the store under a new key, atomically",
    usage: "[--file F] (--new-key-file K2 | --new-keychain [NAME2]) [--key-file K | --keychain [NAME]] [--json]",
    description: `Re-encrypts every record under a new key in one atomic write. The current key comes
as for every command; the new one from --new-key-file, --new-keychain (an OS keychain
entry that 'keygen --keychain NAME2' made), ZOHO_TOKEN_STORE_NEW_KEY,
ZOHO_TOKEN_STORE_NEW_PASSPHRASE, or a prompt (asked twice) on a terminal. So
'--key-file K --new-keychain' moves a store from a key file into the keychain, and
'--keychain --new-key-file K' back.
Every process that uses the store needs the new key afterwards. The previous
generation (F.prev) stays sealed with the old key: delete it if the old key may have
leaked.`,
    common: ["file", "key-file", "json"],
    options: {
      "new-key-file": {
        type: "string",
        value: "K2",
        description:
          "file holding the new base64 key, or - for standard input (default: $ZOHO_TOKEN_STORE_NEW_KEY, else $ZOHO_TOKEN_STORE_NEW_PASSPHRASE, else a prompt on a terminal)",
      },
      "new-keychain": {
        type: "string",
        value: "[NAME2]",
        optionalValue: KEYCHAIN_ACCOUNT,
        description: `take the new key from the OS keychain entry NAME2 (default: ${KEYCHAIN_ACCOUNT})`,
      },
    },
  },
  async (ctx) => {
    const newKeyFile = ctx.string("new-key-file");
    if (newKeyFile === STDIN && ctx.string("key-file") === STDIN) {
      throw usage("--key-file - and --new-key-file - cannot both read standard input; give one of the keys as a file");
    }
    const store = await openExisting(ctx);
    const newKey = await newStoreKey(ctx.io, { keyFile: newKeyFile, keychain: ctx.string("new-keychain"), resolvePath: ctx.path });
    announceKey(ctx, "new key", newKey);
    await store.rekey(newKey.option);
    const status = await store.verify();
    const target = storeTarget(ctx);
    const prev = target.kind === "file" ? new StoreLayout(target.path).previous : `the previous generation in ${store.path}`;
    const prevKept = (await presence(target)).previous;
    if (ctx.json) {
      ctx.emit({
        path: store.path,
        generation: status.generation,
        tokens: status.tokens,
        keySource: status.keySource,
        keyFrom: newKey.source,
        previousGeneration: prevKept ? prev : null,
      });
      return;
    }
    ctx.print(
      `re-encrypted ${status.tokens} token${status.tokens === 1 ? "" : "s"} in ${printable(store.path)} under the new ${status.keySource === "passphrase" ? "passphrase" : "key"} (${newKey.source}; generation ${status.generation})`,
    );
    ctx.note("Give the new key to every process that uses this store; the old key no longer opens it.");
    if (prevKept && target.kind === "file")
      ctx.note(`${printable(prev)} (the previous generation) is still sealed with the old key; delete it if the old key may have leaked.`);
    else if (prevKept) ctx.note(`The previous generation kept in ${printable(store.path)} is still sealed with the old key; the next write replaces it.`);
  },
);
