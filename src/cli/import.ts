import { TOKEN_FIELDS, type TokenInput, type TokenRecord } from "../index.js";
import { readBounded } from "../fs/private-files.js";
import { BIN, defineCommand, openStore, storePath } from "./command.js";
import { parseSdkCsv } from "./csv.js";
import { CliError, usage } from "./exit.js";
import { printable, quote } from "./format.js";
import { presence } from "./store-file.js";

type Action = "added" | "updated" | "unchanged";

/** Largest CSV file read: more than any store holds (a document is at most 64 MiB). */
const MAX_CSV_BYTES = 64 * 1024 * 1024;

export const importCommand = defineCommand(
  {
    name: "import",
    summary: "take every token from a Zoho SDK FileStore CSV into the store",
    usage: "[--file F] --from-csv PATH [--key-file K] [--skip-bad] [--json]",
    description: `Reads the CSV file the Zoho SDKs' FileStore writes and saves each row into the store,
creating the store if needed. Every layout the SDKs have written is read: 10 columns
(nodejs-sdk-6.0 and later), 9 (before api_domain), and the 6 of the first SDKs
(user_mail,client_id,refresh_token,access_token,grant_token,expiry_time). Rows are merged by the SDK's own
matching rules (user name; else access token; else grant or refresh token), so a token
already in the store is updated, not duplicated. The CSV's ids are not kept: the store
gives its own.

All rows are written at once, in one locked write. A row that cannot be read is
reported by its line number (never its values), and then nothing is written unless
--skip-bad is given.`,
    common: ["file", "key-file", "json"],
    options: {
      "from-csv": { type: "string", value: "PATH", description: "the SDK FileStore CSV file to read" },
      "skip-bad": { type: "boolean", description: "import the rows that can be read, skipping the others" },
    },
  },
  async (ctx) => {
    const csvGiven = ctx.string("from-csv");
    if (csvGiven === undefined) throw usage(`'import' needs --from-csv PATH; usage: ${BIN} import --file F --from-csv PATH`);
    const path = storePath(ctx);
    const csvPath = ctx.path(csvGiven);
    // Bounded: a CSV larger than any store could hold is the wrong file, not one to read whole.
    const text = readBounded(csvPath, MAX_CSV_BYTES, printable(csvPath)).toString("utf8");
    const csv = parseSdkCsv(text, csvPath);
    const total = csv.rows.length + csv.bad.length;
    if (csv.bad.length > 0) {
      for (const bad of csv.bad) ctx.note(`${printable(csvPath)}: line ${bad.line}: ${bad.reason}`);
      if (!ctx.values["skip-bad"]) {
        throw new CliError(
          "BAD_CSV",
          `${csv.bad.length} of ${total} rows cannot be read (line${csv.bad.length === 1 ? "" : "s"} ${csv.bad.map((bad) => bad.line).join(", ")}); ` +
            "nothing was written. Fix them, or add --skip-bad to import the other rows",
        );
      }
      ctx.warn(`skipping ${csv.bad.length} row${csv.bad.length === 1 ? "" : "s"} that cannot be read`);
    }

    const { store } = await openStore(ctx, path, { create: !(await presence(path)).stored });
    const before = new Map((await store.getTokens()).map((record) => [record.id, record]));
    const generationBefore = (await store.verify()).generation;
    // When every row is already in the store as it is, nothing is written (a second run
    // of the same import leaves the file and its previous generation alone).
    const matches = await Promise.all(csv.rows.map((row) => store.findToken(row.token)));
    const allPresent = matches.every((match, index) => match !== null && holds(match, csv.rows[index]!.token));
    // One change: one lock and one write of the file, every row or none.
    const saved = allPresent ? (matches as TokenRecord[]) : await store.saveTokens(csv.rows.map((row) => row.token));
    const generation = (await store.verify()).generation;

    const firstLine = new Map<string, number>();
    const results = csv.rows.map((row, index) => {
      const record = saved[index]!;
      const earlier = firstLine.get(record.id);
      const old = before.get(record.id);
      let action: Action;
      if (earlier !== undefined) action = "updated";
      else if (old) action = sameValues(old, record) ? "unchanged" : "updated";
      else action = "added";
      if (earlier === undefined) firstLine.set(record.id, row.line);
      return { line: row.line, id: record.id, userName: record.userName, action, ...(earlier === undefined ? {} : { sameAsLine: earlier }) };
    });
    const count = (action: Action) => results.filter((result) => result.action === action).length;
    const removal = removalCommand(csvPath);

    if (ctx.json) {
      ctx.emit({
        path: store.path,
        csv: csvPath,
        columns: csv.columns,
        rows: total,
        added: count("added"),
        updated: count("updated"),
        unchanged: count("unchanged"),
        skipped: csv.bad,
        results,
        generation,
        writes: csv.rows.length === 0 ? 0 : generation - generationBefore,
      });
      ctx.note(`${printable(csvPath)} still holds these tokens in plaintext; once the store is checked, remove it: ${removal}`);
      return;
    }
    ctx.print(`read ${total} row${total === 1 ? "" : "s"} from ${printable(csvPath)} (${csv.columns}-column layout)`);
    if (!csv.layout.columns.includes("clientSecret")) {
      ctx.note(
        "This layout holds no client secret and no redirect URL (those SDKs took them from the program's configuration): " +
          "the program must keep giving them to the SDK when it builds its OAuth token.",
      );
    }
    for (const result of results) {
      const who = result.userName ? ` (${printable(result.userName)})` : "";
      const detail = result.sameAsLine === undefined ? "" : `, same token as line ${result.sameAsLine}`;
      ctx.print(`  line ${result.line}: ${result.action} token ${printable(result.id)}${who}${detail}`);
    }
    ctx.print(
      `added ${count("added")}, updated ${count("updated")}, unchanged ${count("unchanged")}${csv.bad.length ? `, skipped ${csv.bad.length}` : ""} in ${printable(store.path)}`,
    );
    ctx.print("");
    ctx.print(`${ctx.out.yellow(printable(csvPath))} still holds these tokens in plaintext. Check the store`);
    ctx.print(`('${BIN} list --file ${quote(store.path)}'), stop every program that uses the CSV file,`);
    ctx.print(`then remove it (and any backup or version-control copy of it):`);
    ctx.print(`  ${removal}`);
  },
);

/** True when `record` already has every value the row gives. */
function holds(record: TokenRecord, token: TokenInput): boolean {
  return TOKEN_FIELDS.every((field) => token[field] == null || token[field] === record[field]);
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
