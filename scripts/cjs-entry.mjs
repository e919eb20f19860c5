// Writes the CommonJS entries after `tsup`: re-exports of the ESM build, so that
// require() and import share one copy of the library (Node >= 20.19 can require ESM).
import { copyFileSync, writeFileSync } from "node:fs";

for (const entry of ["index", "internal", "postgres", "mysql"]) {
  writeFileSync(`dist/${entry}.cjs`, `"use strict";\nmodule.exports = require("./${entry}.js");\n`);
  copyFileSync(`dist/${entry}.d.ts`, `dist/${entry}.d.cts`);
}
