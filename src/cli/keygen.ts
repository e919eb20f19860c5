import { createKeychainKey, generateKey, KEYCHAIN_ACCOUNT, KEYCHAIN_SERVICE, TokenStoreError } from "../index.js";
import { writePrivateFile } from "../fs/private-files.js";
import { BIN, defineCommand, storePath } from "./command.js";
import { CliError, usage } from "./exit.js";
import { printable, quote } from "./format.js";
import { presence } from "./store-file.js";

export const keygen = defineCommand(
  {
    name: "keygen",
    summary: "print a new random key (base64), or write it to a new 0600 file or the OS keychain",
    usage: "[--out K | --keychain [NAME]] [--json]",
    description: `Prints a new random 32-byte key, base64 encoded, on stdout. With --out, writes it to a
new file readable by you only (mode 600) and prints nothing secret; an existing file is
never overwritten. Use the key through --key-file K or ZOHO_TOKEN_STORE_KEY.

With --keychain, creates the key straight in the OS keychain (macOS Keychain, Windows
Credential Manager, the Secret Service of a Linux desktop) as entry NAME (default:
${KEYCHAIN_ACCOUNT}) of service ${KEYCHAIN_SERVICE}: it never touches the disk or the terminal,
and an existing entry is never overwritten. Use it through --keychain NAME. Needs the
optional package @napi-rs/keyring.`,
    common: ["json"],
    options: {
      out: { type: "string", short: "o", value: "K", description: "write the key to this new file (mode 600) instead of stdout" },
      keychain: {
        type: "string",
        value: "[NAME]",
        optionalValue: KEYCHAIN_ACCOUNT,
        description: `create the key in the OS keychain entry NAME (default: ${KEYCHAIN_ACCOUNT}) instead of stdout`,
      },
    },
  },
  async (ctx) => {
    const out = ctx.string("out");
    const entry = ctx.string("keychain");
    if (entry !== undefined) {
      if (out !== undefined) throw usage("give --out or --keychain, not both");
      if (entry.length === 0) throw usage("--keychain needs an entry name, or none at all for the default one");
      try {
        await createKeychainKey({ account: entry });
      } catch (error) {
        if (error instanceof TokenStoreError && error.code === "KEYCHAIN_ENTRY_EXISTS") {
          throw new CliError("EXISTS", `${error.reason.split(";")[0]}; nothing was written. Choose a new name (${BIN} never overwrites a key)`);
        }
        throw error;
      }
      if (ctx.json) ctx.emit({ keychain: { service: KEYCHAIN_SERVICE, account: entry } });
      else {
        ctx.print(`created a new key in the OS keychain: entry ${printable(JSON.stringify(entry))} of service ${KEYCHAIN_SERVICE}`);
        ctx.note(`Use it with --keychain ${quote(entry)}. The keychain holds the only copy: keep the keychain backed up.`);
      }
      return;
    }
    const key = generateKey();
    if (out === undefined) {
      if (ctx.json) ctx.emit({ key });
      else ctx.print(key);
      return;
    }
    const path = ctx.path(out);
    writeNewSecretFile(path, `${key}\n`);
    if (ctx.json) ctx.emit({ keyFile: path });
    else {
      ctx.print(`wrote a new key to ${printable(path)} (mode 600)`);
      ctx.note("Keep a copy somewhere safe: without it the store cannot be opened.");
      // Only where init would run: with a store already there (a rotation), it would refuse.
      if (!(await presence(storePath(ctx))).stored) ctx.next(`init --key-file ${quote(path)}`, "creates an empty store sealed with this key");
    }
  },
);

/** Creates `path` whole (never replacing a file), mode 600, durably. */
function writeNewSecretFile(path: string, content: string | Uint8Array): void {
  if (!writePrivateFile(path, content, { replace: false })) {
    throw new CliError("EXISTS", `${path} already exists; nothing was written. Choose a new file name (${BIN} never overwrites a key)`);
  }
}
