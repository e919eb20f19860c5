// The package's entry points, one line each: the one list the build (tsup.config.ts,
// scripts/cjs-entry.mjs) and the check of package.json's "exports" (test/entries.test.ts)
// read. A backend that loads a driver gets an entry of its own (a subpath such as
// `./postgres`), so that the main entry never loads it.
//
// - name: the file name in dist/ (dist/<name>.js, .cjs, .d.ts, .d.cts)
// - source: the TypeScript entry
// - subpath: the package.json "exports" key, or null (the command-line tool)
// - types: "main" (declarations in the main build; only the library's), "own" (built on
//   its own: two type entries in one build would share a chunk of declarations that a
//   .d.cts cannot import), or null (none)
export const ENTRIES = [
  { name: "index", source: "src/index.ts", subpath: ".", types: "main" },
  { name: "cli", source: "src/cli/main.ts", subpath: null, types: null },
  { name: "internal", source: "src/internal.ts", subpath: "./internal", types: "own" },
  { name: "postgres", source: "src/backend/postgres/index.ts", subpath: "./postgres", types: "own" },
  { name: "mysql", source: "src/backend/mysql/index.ts", subpath: "./mysql", types: "own" },
];
