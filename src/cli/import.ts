import { TOKEN_FIELDS, type TokenInput, type TokenRecord } from "../index.js";
import { readBounded } from "../fs/private-files.js";
import { BIN, defineCommand, openStore, storeTarget, type Context } from "./command.js";
import { parseSdkCsv } from "./csv.js";
import { readDbStoreTable } from "./dbstore.js";
import { CliError, usage } from "./exit.js";
import { printable, quote } from "./format.js";
import { presence } from "./store-file.js";

type Action = "added" | "updated" | "unchanged";

/** Largest CSV file read: more than any store holds (a document is at most 64 MiB). */
const MAX_CSV_BYTES = 64 * 1024 * 1024;

/** The DBStore's default table name (the SDK's README). */
const DBSTORE_TABLE = "oauthtoken";

/** Rows to import, from a CSV file or a DBStore table: what the report says of each. */
interface Source {
  /** One row: its place in the source (a CSV line, a DBStore row id), for the report and the JSON. */
  rows: Array<{ token: TokenInput; where: string; ref: Record<string, string | number> }>;
  bad: Array<{ where: string; reason: string; ref: Record<string, string | number> }>;
  /** The rows that cannot be read, for the error: "lines 3, 4", "row ids 2, 7". */
  badList(): string;
  /** The key naming a row that is the same token as an earlier one, in the JSON ("sameAsLine"). */
  sameAs: string;
  /** "read 3 rows from ..." */
  describe(total: number): string;
  /** What --json reports about the source. */
  json: Record<string, unknown>;
  /** A note to print before the rows (layout caveats), or undefined. */
  caveat?: string;
  /** The lines that say the plaintext source still holds the tokens and how to remove it. */
  plaintext(ctx: Context, storePath: string): string[];
  /** The same, in one line for stderr under --json. */
  plaintextNote: string;
}

export const importCommand = defineCommand(
  {
    name: "import",
    summary: "take every token from a Zoho SDK FileStore CSV or DBStore table into the store",
    usage: "[--file F] (--from-csv PATH | --from-dbstore-env VAR [--table T]) [--key-file K] [--skip-bad] [--dry-run] [--json]",
    description: `Reads the tokens the Zoho SDKs' own stores keep in plaintext, and saves each into the
store, creating the store if needed:

--from-csv PATH: the CSV file the SDKs' FileStore writes. Every layout the SDKs have
written is read: 10 columns (nodejs-sdk-6.0 and later), 9 (before api_domain), and the 6 of
the first SDKs (user_mail,client_id,refresh_token,access_token,grant_token,expiry_time).

--from-dbstore-env VAR: the MySQL table the SDKs' DBStore keeps (columns id, user_name,
client_id, client_secret, refresh_token, access_token, grant_token, expiry_time,
redirect_url, api_domain), on the server whose connection string
(mysql://USER:PASSWORD@HOST:3306/DATABASE) is in the environment variable VAR, so that the
password never appears on a command line. --table names the table (default ${DBSTORE_TABLE}).
The table is only read, in a read-only transaction.

Rows are merged by the SDK's own matching rules (user name; else access token; else grant
or refresh token), so a token already in the store is updated, not duplicated. The source's
ids are not kept: the store gives its own. All rows are written at once, in one locked
write; --dry-run reports what would be added, updated or left unchanged, and writes nothing.
A row that cannot be read is reported by its line or row id (never its values), and then
nothing is written unless --skip-bad is given.`,
    common: ["file", "key-file", "json"],
    options: {
      "from-csv": { type: "string", value: "PATH", description: "the SDK FileStore CSV file to read" },
      "from-dbstore-env": {
        type: "string",
        value: "VAR",
        description: "the environment variable holding the SDK DBStore's MySQL connection string (mysql://USER:PASSWORD@HOST:3306/DATABASE)",
      },
      table: { type: "string", value: "T", description: `the DBStore's table (default ${DBSTORE_TABLE})` },
      "skip-bad": { type: "boolean", description: "import the rows that can be read, skipping the others" },
      "dry-run": { type: "boolean", description: "report what the import would do; write nothing" },
    },
  },
  async (ctx) => {
    const csvGiven = ctx.string("from-csv");
    const dbstoreEnv = ctx.string("from-dbstore-env");
    if ((csvGiven === undefined) === (dbstoreEnv === undefined)) {
      throw usage(`'import' needs one of --from-csv PATH and --from-dbstore-env VAR; usage: ${BIN} import --file F --from-csv PATH`);
    }
    if (ctx.string("table") !== undefined && dbstoreEnv === undefined) throw usage("--table goes with --from-dbstore-env");
    // --table here names the DBStore table read; a server store takes its default table.
    const target = storeTarget({ ...ctx, string: (name) => (name === "table" ? undefined : ctx.string(name)) });
    const path = target.location;
    const source = csvGiven !== undefined ? csvSource(ctx, csvGiven) : await dbstoreSource(ctx, dbstoreEnv!);
    const total = source.rows.length + source.bad.length;
    if (source.bad.length > 0) {
      for (const bad of source.bad) ctx.note(`${bad.where}: ${bad.reason}`);
      if (!ctx.values["skip-bad"]) {
        throw new CliError(
          csvGiven !== undefined ? "BAD_CSV" : "BAD_SOURCE",
          `${source.bad.length} of ${total} rows cannot be read (${source.badList()}); ` +
            "nothing was written. Fix them, or add --skip-bad to import the other rows",
        );
      }
      ctx.warn(`skipping ${source.bad.length} row${source.bad.length === 1 ? "" : "s"} that cannot be read`);
    }

    const dryRun = ctx.values["dry-run"] === true;
    const exists = (await presence(target)).stored;
    // A dry run creates nothing: without a store, every row would be added.
    const opened = dryRun && !exists ? undefined : (await openStore(ctx, target, { create: !exists || target.kind !== "file" })).store;
    const matches = opened ? await Promise.all(source.rows.map((row) => opened.findToken(row.token))) : source.rows.map(() => null);
    const generationBefore = opened ? (await opened.verify()).generation : 0;
    if (dryRun || !opened) {
      const results = source.rows.map((row, index) => {
        const match = matches[index];
        if (match) return { ...row.ref, id: match.id, userName: match.userName, action: (holds(match, row.token) ? "unchanged" : "updated") as Action, index };
        return { ...row.ref, id: null, userName: row.token.userName ?? null, action: "added" as Action, index };
      });
      // A row that is the same new token as an earlier row would update the record that row adds.
      for (const [index, result] of results.entries()) {
        if (result.id !== null) continue;
        const earlier = results
          .slice(0, index)
          .find((other) => other.id === null && other.action === "added" && sameToken(source.rows[other.index]!.token, source.rows[index]!.token));
        if (earlier) Object.assign(result, { action: "updated", [source.sameAs]: Object.values(source.rows[earlier.index]!.ref)[0] });
      }
      return report(ctx, source, total, { path: opened?.path ?? path, dryRun: true, generation: generationBefore, writes: 0, results });
    }
    const store = opened;
    const before = new Map((await store.getTokens()).map((record) => [record.id, record]));
    // When every row is already in the store as it is, nothing is written (a second run
    // of the same import leaves the store and its previous generation alone).
    const allPresent = matches.every((match, index) => match !== null && holds(match, source.rows[index]!.token));
    // One change: one lock and one write of the store, every row or none.
    const saved = allPresent ? (matches as TokenRecord[]) : await store.saveTokens(source.rows.map((row) => row.token));
    const generation = (await store.verify()).generation;

    const first = new Map<string, string | number>();
    const results = source.rows.map((row, index) => {
      const record = saved[index]!;
      const earlier = first.get(record.id);
      const old = before.get(record.id);
      let action: Action;
      if (earlier !== undefined) action = "updated";
      else if (old) action = sameValues(old, record) ? "unchanged" : "updated";
      else action = "added";
      if (earlier === undefined) first.set(record.id, Object.values(row.ref)[0]!);
      return { ...row.ref, id: record.id, userName: record.userName, action, index, ...(earlier === undefined ? {} : { [source.sameAs]: earlier }) };
    });
    return report(ctx, source, total, {
      path: store.path,
      dryRun,
      generation,
      writes: source.rows.length === 0 ? 0 : generation - generationBefore,
      results,
    });
  },
);

interface Outcome {
  path: string;
  dryRun: boolean;
  generation: number;
  writes: number;
  results: Array<Record<string, unknown> & { id: string | null; userName: string | null; action: Action; index: number }>;
}

function report(ctx: Context, source: Source, total: number, outcome: Outcome): void {
  const count = (action: Action) => outcome.results.filter((result) => result.action === action).length;
  if (ctx.json) {
    ctx.emit({
      path: outcome.path,
      ...source.json,
      rows: total,
      ...(outcome.dryRun ? { dryRun: true } : {}),
      added: count("added"),
      updated: count("updated"),
      unchanged: count("unchanged"),
      skipped: source.bad.map((bad) => bad.ref),
      results: outcome.results.map(({ index: _index, ...result }) => result),
      generation: outcome.generation,
      writes: outcome.writes,
    });
    ctx.note(source.plaintextNote);
    return;
  }
  ctx.print(source.describe(total));
  if (source.caveat) ctx.note(source.caveat);
  const verb = outcome.dryRun
    ? { added: "would add", updated: "would update", unchanged: "unchanged" }
    : { added: "added", updated: "updated", unchanged: "unchanged" };
  for (const result of outcome.results) {
    const row = source.rows[result.index]!;
    const who = result.userName ? ` (${printable(result.userName)})` : "";
    const sameAs = result[source.sameAs];
    const earlier = sameAs === undefined ? undefined : source.rows.find((other) => Object.values(other.ref)[0] === sameAs);
    const detail = earlier ? `, same token as ${earlier.where}` : "";
    const id = result.id === null ? "a new token" : `token ${printable(result.id)}`;
    ctx.print(`  ${row.where}: ${verb[result.action]} ${id}${who}${detail}`);
  }
  const skipped = source.bad.length ? `, skipped ${source.bad.length}` : "";
  if (outcome.dryRun) {
    ctx.print(
      `dry run: would add ${count("added")}, update ${count("updated")}, leave ${count("unchanged")} unchanged${skipped} in ${printable(outcome.path)}; nothing was written`,
    );
    return;
  }
  ctx.print(`added ${count("added")}, updated ${count("updated")}, unchanged ${count("unchanged")}${skipped} in ${printable(outcome.path)}`);
  ctx.print("");
  for (const line of source.plaintext(ctx, outcome.path)) ctx.print(line);
}

function csvSource(ctx: Context, given: string): Source {
  const csvPath = ctx.path(given);
  // Bounded: a CSV larger than any store could hold is the wrong file, not one to read whole.
  const text = readBounded(csvPath, MAX_CSV_BYTES, printable(csvPath)).toString("utf8");
  const csv = parseSdkCsv(text, csvPath);
  const removal = removalCommand(csvPath);
  return {
    rows: csv.rows.map((row) => ({ token: row.token, where: `line ${row.line}`, ref: { line: row.line } })),
    bad: csv.bad.map((bad) => ({ where: `${printable(csvPath)}: line ${bad.line}`, reason: bad.reason, ref: { line: bad.line } })),
    badList: () => `line${csv.bad.length === 1 ? "" : "s"} ${csv.bad.map((bad) => bad.line).join(", ")}`,
    sameAs: "sameAsLine",
    describe: (total) => `read ${total} row${total === 1 ? "" : "s"} from ${printable(csvPath)} (${csv.columns}-column layout)`,
    json: { csv: csvPath, columns: csv.columns },
    caveat: csv.layout.columns.includes("clientSecret")
      ? undefined
      : "This layout holds no client secret and no redirect URL (those SDKs took them from the program's configuration): " +
        "the program must keep giving them to the SDK when it builds its OAuth token.",
    plaintext: (ctx, storePath) => [
      `${ctx.out.yellow(printable(csvPath))} still holds these tokens in plaintext. Check the store`,
      `('${BIN} list --file ${quote(storePath)}'), stop every program that uses the CSV file,`,
      "then remove it (and any backup or version-control copy of it):",
      `  ${removal}`,
    ],
    plaintextNote: `${printable(csvPath)} still holds these tokens in plaintext; once the store is checked, remove it: ${removal}`,
  };
}

async function dbstoreSource(ctx: Context, variable: string): Promise<Source> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) {
    throw usage("--from-dbstore-env takes the NAME of an environment variable that holds the connection string (so that its password is on no command line)");
  }
  const url = ctx.io.env[variable];
  if (!url)
    throw usage(`the environment variable ${variable} is not set; it must hold the DBStore's connection string (mysql://USER:PASSWORD@HOST:3306/DATABASE)`);
  const table = ctx.string("table") ?? DBSTORE_TABLE;
  const db = await readDbStoreTable(url, table);
  const where = `${db.location} table ${db.table}`;
  const drop = `DROP TABLE \`${db.table}\`;`;
  return {
    rows: db.rows.map((row) => ({ token: row.token, where: `row id ${printable(row.rowId)}`, ref: { rowId: row.rowId } })),
    bad: db.bad.map((bad) => ({ where: `${where}: row id ${printable(bad.rowId)}`, reason: bad.reason, ref: { rowId: bad.rowId } })),
    badList: () => `row id${db.bad.length === 1 ? "" : "s"} ${db.bad.map((bad) => printable(bad.rowId)).join(", ")}`,
    sameAs: "sameAsRow",
    describe: (total) => `read ${total} row${total === 1 ? "" : "s"} from the DBStore table ${db.table} of ${db.location}`,
    json: { dbstore: db.location, table: db.table },
    plaintext: (ctx, storePath) => [
      `The table ${ctx.out.yellow(db.table)} of ${db.location} still holds these tokens, the client secrets with them, in plaintext.`,
      `Nothing in it was changed. Check the store ('${BIN} list --file ${quote(storePath)}'), move every program`,
      "from DBStore to this store, then drop the table (and purge the backups and binary logs that hold it):",
      `  ${drop}`,
      "Revoke the DBStore user's grants on it as well.",
    ],
    plaintextNote: `the table ${db.table} of ${db.location} still holds these tokens in plaintext; once every program has moved, drop it: ${drop}`,
  };
}

/** True when `record` already has every value the row gives. */
export function holds(record: TokenRecord, token: TokenInput): boolean {
  return TOKEN_FIELDS.every((field) => token[field] == null || token[field] === record[field]);
}

/** The SDK's matching between two rows of one import: user name; else access token; else grant or refresh token. */
function sameToken(a: TokenInput, b: TokenInput): boolean {
  if (a.userName != null || b.userName != null) return a.userName === b.userName;
  if (a.accessToken != null && a.accessToken === b.accessToken) return true;
  return (a.grantToken != null && a.grantToken === b.grantToken) || (a.refreshToken != null && a.refreshToken === b.refreshToken);
}

function sameValues(a: TokenRecord, b: TokenRecord): boolean {
  return TOKEN_FIELDS.every((field) => a[field] === b[field]);
}

/** How to delete the plaintext file on this platform. */
export function removalCommand(path: string): string {
  if (process.platform === "linux") return `shred -u ${quote(path)}`;
  if (process.platform === "win32") return `del "${printable(path)}"`;
  return `rm ${quote(path)}`;
}
