import { defineConfig } from "tsup";
import { ENTRIES } from "./scripts/entries.mjs";

// One ESM build of every entry in scripts/entries.mjs: the library, the
// `zoho-encrypted-filestore` command line tool, `internal` (the cipher layer, for the
// project's own benchmark only) and any backend subpath. With splitting they share one
// chunk, so no entry carries a second copy of the store.
// The CommonJS entries are one-line re-exports of the ESM ones (Node >= 20.19 can
// require() ES modules), so a process that loads the package both ways gets one copy
// of the library, and with it one in-process lock queue per file.
// scripts/cjs-entry.mjs writes those entries and their types after the build.
//
// Only the library's types are built here. Two type entries in one build would share a
// chunk of declarations, and a .d.cts that imports an ES module's declarations fails to
// type-check under `module: node16`; scripts/cjs-entry.mjs builds the others on their own.
export default defineConfig({
  entry: Object.fromEntries(ENTRIES.map((entry) => [entry.name, entry.source])),
  format: ["esm"],
  target: "node20",
  platform: "node",
  dts: { entry: Object.fromEntries(ENTRIES.filter((entry) => entry.types === "main").map((entry) => [entry.name, entry.source])) },
  // No source maps: they would point stack traces at src/ files the package does not ship.
  // The built JavaScript is not minified, so a stack trace names real, readable lines.
  sourcemap: false,
  clean: true,
  splitting: true,
  // The optional peer dependency that reaches the OS keychain: imported at run time, and
  // only when a keychain key is used; never bundled.
  external: ["@napi-rs/keyring"],
});
