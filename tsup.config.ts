import { defineConfig } from "tsup";

// One ESM build of five entries: the library, the `zoho-encrypted-filestore` command
// line tool, `internal` (the cipher layer, for the project's own benchmark only), and
// `postgres` and `mysql` (the PostgreSQL and MySQL/MariaDB stores, whose drivers `pg` and
// `mysql2` stay external: optional peers).
// With splitting they share one chunk, so no entry carries a second copy of the store.
// The CommonJS entries are one-line re-exports of the ESM ones (Node >= 20.19 can
// require() ES modules), so a process that loads the package both ways gets one copy
// of the library, and with it one in-process lock queue per file.
// scripts/cjs-entry.mjs writes those entries and their types after the build.
//
// Only the library's types are built here. Two type entries in one build would share a
// chunk of declarations, and a .d.cts that imports an ES module's declarations fails to
// type-check under `module: node16`; `npm run build` builds internal.d.ts on its own.
export default defineConfig({
  entry: {
    index: "src/index.ts",
    cli: "src/cli/main.ts",
    internal: "src/internal.ts",
    postgres: "src/backend/postgres/index.ts",
    mysql: "src/backend/mysql/index.ts",
  },
  format: ["esm"],
  target: "node20",
  platform: "node",
  dts: { entry: { index: "src/index.ts" } },
  sourcemap: true,
  clean: true,
  splitting: true,
});
