import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { storeFileAt, writeExport } from "../backend/file/index.js";
import { defineCommand, openExisting, storeTarget } from "./command.js";
import { toSdkCsv } from "./csv.js";
import { CliError, usage } from "./exit.js";
import { plainRecord, printable } from "./format.js";
import { removalCommand } from "./import.js";
import { STDIN } from "./key.js";

export const exportCommand = defineCommand(
  {
    name: "export",
    summary: "write every token in plaintext (mode 600) to move them to another store",
    usage: "[--file F] --out PATH [--format csv|json] [--key-file K] [--force] [--json]",
    description: `Writes every record, secrets included, in plaintext: csv is the Zoho SDK FileStore
layout (10 columns; the SDKs' FileStore and 'import' read it), json is
{"format":"zoho-encrypted-filestore-export","version":1,"tokens":[...]}.
The file is created with mode 600, whole or not at all, while holding the store's lock;
an export killed half-way leaves no plaintext unaccounted for: the next export removes
its temp file (and says so), and 'doctor' reports it ('doctor --fix' removes it).
Refuses to write to stdout (--out -) or over an existing file unless --force is given.
Delete the file once the tokens are moved.`,
    common: ["file", "key-file", "json"],
    options: {
      out: { type: "string", short: "o", value: "PATH", description: "the plaintext file to write ('-' for stdout, with --force)" },
      format: { type: "string", value: "FMT", description: "csv (default) or json" },
      force: { type: "boolean", description: "write to stdout, or replace an existing file" },
    },
  },
  async (ctx) => {
    const format = ctx.string("format") ?? "csv";
    if (format !== "csv" && format !== "json") throw usage(`--format must be csv or json`);
    const outGiven = ctx.string("out");
    if (outGiven === undefined) throw usage(`'export' needs --out PATH (a new file; it will hold every token in plaintext)`);
    const force = ctx.values.force === true;
    const toStdout = outGiven === "-";
    if (toStdout && !force) throw usage("refusing to print every token in plaintext on stdout; add --force if that is really meant");
    if (toStdout && ctx.json) throw usage("--json cannot be combined with --out - (both use stdout)");
    const out = toStdout ? "-" : ctx.path(outGiven);
    const target = storeTarget(ctx);
    const path = target.location;
    const keyFile = ctx.string("key-file");
    // By identity, not by spelling: a symbolic link to the directory, another letter case,
    // "dir/../file" all name the same file.
    const clash =
      toStdout || target.kind !== "file" ? undefined : storeFileAt(path, out, keyFile === undefined || keyFile === STDIN ? undefined : ctx.path(keyFile));
    if (clash) throw new CliError("REFUSED", `--out ${printable(out)} is ${clash}; nothing was written. Choose another file`);
    if (!toStdout && !force && existsSync(out)) {
      throw new CliError("EXISTS", `${out} already exists; nothing was written. Choose a new file, or add --force to replace it`);
    }

    const store = await openExisting(ctx);
    const records = (await store.getTokens()).map(plainRecord);
    const content =
      format === "csv" ? toSdkCsv(records) : `${JSON.stringify({ format: "zoho-encrypted-filestore-export", version: 1, tokens: records }, null, 2)}\n`;
    const count = `${records.length} token${records.length === 1 ? "" : "s"}`;
    if (toStdout) {
      ctx.warn(`printing ${count} in plaintext: anyone who sees this output can use them`);
      ctx.io.stdout.write(content);
      return;
    }
    // A file store's export is written under its lock beside it (doctor finds a leftover);
    // a server store's goes straight to a new file, mode 600.
    const { written, removed } = target.kind === "file" ? await writeExport(store.path, out, content, { replace: force }) : await writeNew(out, content, force);
    for (const leftover of removed) ctx.warn(`removed ${printable(leftover)}: every token in plaintext, left by an export that was interrupted`);
    if (!written) {
      throw new CliError("EXISTS", `${printable(out)} already exists; nothing was written. Choose a new file, or add --force to replace it`);
    }
    ctx.warn(`${printable(out)} holds ${count} in plaintext (mode 600): anyone who can read it can use them. Delete it once moved: ${removalCommand(out)}`);
    if (ctx.json) ctx.emit({ out, format, tokens: records.length });
    else ctx.print(`exported ${count} from ${printable(store.path)} to ${printable(out)} (${format}, mode 600)`);
  },
);

/** Writes a new file, mode 600 (replacing one only with `replace`); written: false when it exists. */
async function writeNew(out: string, content: string, replace: boolean): Promise<{ written: boolean; removed: string[] }> {
  try {
    await writeFile(out, content, { mode: 0o600, flag: replace ? "w" : "wx" });
    return { written: true, removed: [] };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return { written: false, removed: [] };
    throw error;
  }
}
