// Writes the CommonJS entry after `tsup`: a re-export of the ESM build, so that
// require() and import share one copy of the library (Node >= 20.19 can require ESM).
import { copyFileSync, writeFileSync } from "node:fs";

writeFileSync("dist/index.cjs", '"use strict";\nmodule.exports = require("./index.js");\n');
copyFileSync("dist/index.d.ts", "dist/index.d.cts");
