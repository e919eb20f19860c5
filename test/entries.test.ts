/**
 * The package's entry points are one list (scripts/entries.mjs): every entry with a
 * subpath is in package.json's "exports" with its ESM, CommonJS and type files, and
 * "exports" names nothing else, so a backend's subpath (`./postgres`) is added in one
 * line and cannot be half-added.
 */
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ENTRIES } from "../scripts/entries.mjs";
import { ROOT } from "./helpers.js";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { exports: Record<string, unknown> };

describe("entry points", () => {
  it("every entry's source exists, and names are distinct", () => {
    for (const entry of ENTRIES) expect(existsSync(join(ROOT, entry.source)), entry.source).toBe(true);
    expect(new Set(ENTRIES.map((entry) => entry.name)).size).toBe(ENTRIES.length);
  });

  it("package.json exports exactly the entries with a subpath, each with its ESM, CommonJS and type files", () => {
    const withSubpath = ENTRIES.filter((entry) => entry.subpath !== null);
    expect(Object.keys(pkg.exports).sort()).toEqual([...withSubpath.map((entry) => entry.subpath!), "./package.json"].sort());
    for (const entry of withSubpath) {
      expect(entry.types, `${entry.name} needs types`).not.toBeNull();
      expect(pkg.exports[entry.subpath!]).toEqual({
        import: { types: `./dist/${entry.name}.d.ts`, default: `./dist/${entry.name}.js` },
        require: { types: `./dist/${entry.name}.d.cts`, default: `./dist/${entry.name}.cjs` },
      });
    }
  });
});
