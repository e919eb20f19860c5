import { generateKey } from "../index.js";
import { writePrivateFile } from "../maintenance.js";
import { existsSync } from "node:fs";
import { BIN, defineCommand, storePath } from "./command.js";
import { CliError } from "./exit.js";
import { printable, quote } from "./format.js";

export const keygen = defineCommand(
  {
    name: "keygen",
    summary: "print a new random key (base64), or write it to a new 0600 file",
    usage: "[--out K] [--json]",
    description: `Prints a new random 32-byte key, base64 encoded, on stdout. With --out, writes it to a
new file readable by you only (mode 600) and prints nothing secret; an existing file is
never overwritten. Use the key through --key-file K or ZOHO_TOKEN_STORE_KEY.`,
    common: ["json"],
    options: { out: { type: "string", short: "o", value: "K", description: "write the key to this new file (mode 600) instead of stdout" } },
  },
  async (ctx) => {
    const key = generateKey();
    const out = ctx.string("out");
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
      if (!existsSync(storePath(ctx))) ctx.next(`init --key-file ${quote(path)}`, "creates an empty store sealed with this key");
    }
  },
);

/** Creates `path` whole (never replacing a file), mode 600, durably. */
function writeNewSecretFile(path: string, content: string | Uint8Array): void {
  if (!writePrivateFile(path, content, { replace: false })) {
    throw new CliError("EXISTS", `${path} already exists; nothing was written. Choose a new file name (${BIN} never overwrites a key)`);
  }
}
