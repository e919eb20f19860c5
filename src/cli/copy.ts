import { isTokenStoreError, type EncryptedTokenStore, type TokenInput, type TokenRecord } from "../index.js";
import type { KeyOption } from "./key.js";
import { defineCommand, missing, openStore, storeTarget, type Context } from "./command.js";
import { CliError, usage } from "./exit.js";
import { printable } from "./format.js";
import { holds } from "./import.js";
import { presence } from "./store-file.js";
import { openTargetStore, serverTarget, type ServerKind, type Target } from "./target.js";

export const copy = defineCommand(
  {
    name: "copy",
    summary: "copy every token into another store (file, PostgreSQL, MySQL)",
    usage:
      "[--file F | --postgres URL | --mysql URL] (--to-file PATH | --to-postgres URL | --to-mysql URL | --to-env VAR) [--to-key-file K2] [--dry-run] [--json]",
    description: `Copies every token of the store (chosen as for every command) into another store, in
one write there (one transaction on a server). The destination is created when it does
not exist yet. A token already there is matched as 'import' matches (user name, else
access, grant or refresh token): one that already holds the same values is left alone,
one that differs is updated, the others are added; running it again changes nothing.
The destination is sealed with the same key unless --to-key-file is given. A connection
string with a password is refused on the command line: put it in an environment variable
and name it with --to-env VAR (postgres:// or mysql:// decides the kind), or use
PGPASSWORD/~/.pgpass for PostgreSQL. Never prints a secret.`,
    common: ["file", "key-file", "json"],
    options: {
      "to-file": { type: "string", value: "PATH", description: "copy into this store file" },
      "to-postgres": { type: "string", value: "URL", description: "copy into this PostgreSQL store (no password in the URL)" },
      "to-mysql": { type: "string", value: "URL", description: "copy into this MySQL/MariaDB store (no password in the URL)" },
      "to-env": { type: "string", value: "VAR", description: "copy into the server store whose connection string is in the environment variable VAR" },
      "to-namespace": { type: "string", value: "NS", description: "the destination server store's namespace (default: default)" },
      "to-table": { type: "string", value: "T", description: "the destination server store's table (default: zoho_tokens)" },
      "to-schema": { type: "string", value: "S", description: "the destination PostgreSQL store's schema (default: public)" },
      "to-key-file": { type: "string", value: "K2", description: "seal the destination with the key in this file (default: the source's key)" },
      "dry-run": { type: "boolean", description: "say what would be copied; write nothing" },
    },
  },
  async (ctx) => {
    const destination = destinationOf(ctx);
    const from = storeTarget(ctx);
    const found = await presence(from);
    if (!found.stored && !found.previous) throw missing(from);
    const { store: source, key: sourceKey } = await openStore(ctx, from);
    const records = await source.getTokens();
    const keyFile = ctx.string("to-key-file");
    const key = keyFile !== undefined ? { keyFile: ctx.path(keyFile) } : sourceKey.option;
    const dryRun = ctx.values["dry-run"] === true;
    const exists = (await presence(destination)).stored;
    // A dry run creates nothing: without a destination store, every token would be added.
    const target = dryRun && !exists ? undefined : await openDestination(destination, key, !dryRun);
    if (target) ctx.closeAtEnd(target);
    const where = target?.toJSON().location ?? destination.location;
    // Both named as their backends name them: the same location is the same store.
    if (where === source.path) throw new CliError("REFUSED", `the destination is the store itself (${printable(source.path)}); nothing was copied`);
    const matches = target && exists ? await Promise.all(records.map((record) => target.findToken(input(record)))) : records.map(() => null);
    const counts = { added: 0, updated: 0, unchanged: 0 };
    for (const [index, record] of records.entries()) {
      const match = matches[index];
      counts[match ? (holds(match, input(record)) ? "unchanged" : "updated") : "added"] += 1;
    }
    const changed = counts.added + counts.updated;
    if (target && !dryRun && changed > 0) {
      await target.create();
      await target.saveTokens(records.filter((_, index) => !(matches[index] && holds(matches[index]!, input(records[index]!)))).map(input));
    }
    ctx.emit({ from: source.path, to: where, dryRun, tokens: records.length, ...counts });
    if (!ctx.json) {
      const what = `${counts.added} added, ${counts.updated} updated, ${counts.unchanged} unchanged`;
      ctx.print(
        dryRun
          ? `dry run: copying ${records.length} token${records.length === 1 ? "" : "s"} from ${printable(source.path)} to ${printable(where)} would give ${what}; nothing was written`
          : `copied ${records.length} token${records.length === 1 ? "" : "s"} from ${printable(source.path)} to ${printable(where)}: ${what}`,
      );
    }
  },
);

/** The destination store; in a dry run, undefined when a server has no store there yet. */
async function openDestination(destination: Target, key: KeyOption, create: boolean): Promise<EncryptedTokenStore | undefined> {
  try {
    return await openTargetStore(destination, key, { create });
  } catch (error) {
    if (!create && isTokenStoreError(error) && error.code === "FILE_MISSING") return undefined;
    throw error;
  }
}

function input(record: TokenRecord): TokenInput {
  const { id: _id, ...fields } = record;
  return fields;
}

function destinationOf(ctx: Context): Target {
  const given = (["to-file", "to-postgres", "to-mysql", "to-env"] as const).filter((name) => ctx.string(name) !== undefined);
  if (given.length !== 1) throw usage("'copy' needs one of --to-file PATH, --to-postgres URL, --to-mysql URL and --to-env VAR");
  const names = { namespace: ctx.string("to-namespace"), table: ctx.string("to-table"), schema: ctx.string("to-schema") };
  const option = given[0]!;
  if (option === "to-file") {
    if (names.namespace !== undefined || names.table !== undefined || names.schema !== undefined) {
      throw usage("--to-namespace, --to-table and --to-schema are for a server destination");
    }
    const path = ctx.path(ctx.string("to-file")!);
    return { kind: "file", path, location: path };
  }
  if (option === "to-env") {
    const variable = ctx.string("to-env")!;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,100}$/.test(variable)) throw usage("--to-env takes the name of an environment variable");
    const url = ctx.io.env[variable];
    if (!url) throw usage(`${variable} is not set; put the destination's connection string in it`);
    const kind: ServerKind | undefined = /^postgres(ql)?:/.test(url) ? "postgres" : /^(mysql|mariadb):/.test(url) ? "mysql" : undefined;
    if (kind === undefined) throw usage(`${variable} holds no postgres:// or mysql:// connection string`);
    return serverTarget(kind, url, undefined, names);
  }
  const kind = option === "to-postgres" ? "postgres" : "mysql";
  return serverTarget(kind, ctx.string(option)!, `--${option}`, names);
}
