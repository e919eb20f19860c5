/**
 * The command table and the dispatch: `run(argv, io)` resolves to the exit code.
 * Tests call it (or a command function) directly; main.ts calls it for the process.
 */
import { BIN, optionName, type Command } from "./command.js";
import { EXIT_OK, EXIT_USAGE, reportError, usage } from "./exit.js";
import type { CliIo } from "./io.js";
import { keygen } from "./keygen.js";
import { init } from "./init.js";
import { list } from "./list.js";
import { show } from "./show.js";
import { deleteCommand } from "./delete.js";
import { clear } from "./clear.js";
import { importCommand } from "./import.js";
import { exportCommand } from "./export.js";
import { rekey } from "./rekey.js";
import { verify } from "./verify.js";
import { recover } from "./recover.js";
import { doctor } from "./doctor.js";
import { copy } from "./copy.js";
import { nearest } from "./suggest.js";
import { VERSION } from "./version.js";

export { VERSION };

const COMMANDS: readonly Command[] = [keygen, init, list, show, deleteCommand, clear, importCommand, exportCommand, copy, rekey, verify, recover, doctor];

function toolHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.spec.name.length)) + 2;
  return `Usage: ${BIN} <command> [options]

Look inside, fill, rotate and check an encrypted Zoho CRM token store file.

Commands:
${COMMANDS.map((command) => `  ${command.spec.name.padEnd(width)}${command.spec.summary}`).join("\n")}

The store file comes from --file F or ZOHO_TOKEN_STORE_FILE, else ./zoho-tokens.enc;
a server store from --postgres URL or ZOHO_TOKEN_STORE_POSTGRES, --mysql URL or
ZOHO_TOKEN_STORE_MYSQL (a password only in the environment, never on the command line).
The key comes from --key-file K (--key-file - reads it from a pipe),
ZOHO_TOKEN_STORE_KEY_FILE, ZOHO_TOKEN_STORE_KEY (base64) or a passphrase
(ZOHO_TOKEN_STORE_PASSPHRASE), else ./zoho.key when it exists, else a hidden prompt
when stdin is a terminal and the store is sealed with a passphrase; never from the
command line itself. An application reads the same names (configFromEnv()).

--json prints one object on stdout: {"ok", "command", "result", "error"}.
Colour only on a terminal; NO_COLOR turns it off, FORCE_COLOR on.

Exit codes: 0 success, 1 the operation failed, 2 bad usage, 130 interrupted at a prompt.
'${BIN} <command> --help' describes a command. Version ${VERSION}.
`;
}

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    const named = first === "help" ? COMMANDS.find((command) => command.spec.name === rest[0]) : undefined;
    if (first === undefined) {
      io.stderr.write(toolHelp());
      return EXIT_USAGE;
    }
    io.stdout.write(named ? named.help() : toolHelp());
    return EXIT_OK;
  }
  if (first === "--version" || first === "-V" || first === "version") {
    io.stdout.write(`${VERSION}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS.find((candidate) => candidate.spec.name === first);
  if (!command) {
    // Repeated only when it looks like a command name: a stray argument could be a key.
    // A suggestion names a command, never repeats the argument.
    const what = first.startsWith("-")
      ? `option ${optionName(first) === undefined ? "" : `${optionName(first)} `}before the command`
      : /^[a-z][\w-]{0,19}$/i.test(first)
        ? `command '${first}'`
        : "command";
    const meant = first.startsWith("-")
      ? undefined
      : nearest(
          first,
          COMMANDS.map((candidate) => candidate.spec.name),
        );
    const hint = meant ? `did you mean '${meant}'? ` : "";
    return reportError(usage(`unknown ${what}; ${hint}'${BIN} --help' lists the commands`), io, argv.includes("--json") ? { command: null } : undefined);
  }
  return command([...rest], io);
}
