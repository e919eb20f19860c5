/** The package's version, for `--version` and the help. */
import { readFileSync } from "node:fs";

export const VERSION: string = packageVersion();

/** The version in this package's package.json: one level up from dist/cli.js, two from src/cli/. */
function packageVersion(): string {
  for (const relative of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "zoho-encrypted-filestore" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // Not there: try the next level.
    }
  }
  return "unknown";
}
