import { defineConfig } from "tsup";

// One ESM build of two entries, the library and the `zoho-encrypted-filestore` command
// line tool; with splitting they share one chunk, so the tool carries no second copy of
// the store. The CommonJS entry is a one-line re-export of it (Node >= 20.19 can
// require() ES modules), so a process that loads the package both ways gets one copy
// of the library, and with it one in-process lock queue per file. scripts/cjs-entry.mjs
// writes that entry and its types after the build.
export default defineConfig({
  entry: { index: "src/index.ts", cli: "src/cli/main.ts" },
  format: ["esm"],
  target: "node20",
  platform: "node",
  dts: { entry: { index: "src/index.ts" } },
  sourcemap: true,
  clean: true,
  splitting: true,
});
