// Runs after `tsup`: builds the declarations of the entries typed on their own, then
// writes the CommonJS entries, re-exports of the ESM build, so that require() and import
// share one copy of the library (Node >= 20.19 can require ESM). Entries: entries.mjs.
import { execFileSync } from "node:child_process";
import { copyFileSync, writeFileSync } from "node:fs";
import { ENTRIES } from "./entries.mjs";

for (const entry of ENTRIES.filter((candidate) => candidate.types === "own")) {
  execFileSync(
    process.execPath,
    ["node_modules/tsup/dist/cli-default.js", `--entry.${entry.name}`, entry.source, "--no-config", "--dts-only", "--format", "esm"],
    {
      stdio: "inherit",
    },
  );
}
for (const entry of ENTRIES.filter((candidate) => candidate.subpath !== null)) {
  writeFileSync(`dist/${entry.name}.cjs`, `"use strict";\nmodule.exports = require("./${entry.name}.js");\n`);
  copyFileSync(`dist/${entry.name}.d.ts`, `dist/${entry.name}.d.cts`);
}
