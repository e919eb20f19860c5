/**
 * How this tool was started, so that a command it suggests ("Next: ...") runs when
 * pasted into the shell that started it: `npx zoho-encrypted-filestore` under npx, the
 * bare name when that name on PATH is this very executable, else node and the script.
 */
import { accessSync, constants, realpathSync } from "node:fs";
import { delimiter, join } from "node:path";
import { quote } from "./format.js";

export const BIN = "zoho-encrypted-filestore";

/** The executable named `name` in a directory of `path`, if any. */
function onPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

function real(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The command line prefix that starts this tool again from the same shell.
 * @param env The process's environment (npx sets npm_lifecycle_event=npx).
 * @param script The script being run (process.argv[1]).
 * @param node The Node.js executable (process.execPath).
 */
export function invocation(env: Record<string, string | undefined>, script: string | undefined, node: string): string {
  if (env.npm_lifecycle_event === "npx") return `npx ${BIN}`;
  if (script === undefined) return BIN;
  const found = onPath(BIN, env.PATH ?? "");
  const self = real(script);
  if (found !== undefined && self !== undefined && real(found) === self) return BIN;
  return `${quote(node)} ${quote(self ?? script)}`;
}
