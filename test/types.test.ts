/**
 * The published types as a TypeScript user meets them: the consumer sources in
 * test/types/ are compiled by tsc (strict) in a project of their own, against the built
 * dist/ (through package.json `exports`) and the real SDK packages, under each module
 * setting a user may have. Each must compile with no output at all; the sources hold
 * `@ts-expect-error` lines that fail the compile if a type gets looser (an error code
 * union widened to string, a token parameter widened to unknown).
 */
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./helpers.js";
import { consumerProject, tsc } from "./consumer.js";

const SOURCES = join(ROOT, "test", "types");
const source = (name: string) => join(SOURCES, name);
const TEST_TIMEOUT_MS = 240_000;

/** The ESM sources, the nodejs SDK's missing declarations, and the plain-record API. */
const ESM_FILES = {
  "typescript-sdk.ts": source("typescript-sdk.ts"),
  "typescript-sdk-copy.mts": source("typescript-sdk.ts"),
  "nodejs-sdk.ts": source("nodejs-sdk.ts"),
  "nodejs-sdk.d.ts": source("nodejs-sdk.d.ts"),
  "plain.ts": source("plain.ts"),
};

const PROJECTS = [
  {
    name: "ES modules, module nodenext (.ts and .mts)",
    type: "module",
    compilerOptions: { module: "nodenext", skipLibCheck: true },
    files: ESM_FILES,
  },
  {
    name: "module esnext, moduleResolution bundler, the strictest options",
    type: "module",
    compilerOptions: {
      module: "esnext",
      moduleResolution: "bundler",
      skipLibCheck: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      noImplicitOverride: true,
      noPropertyAccessFromIndexSignature: true,
    },
    files: ESM_FILES,
  },
  {
    name: "CommonJS, module nodenext (.cts, import = require, and .ts in a CommonJS package)",
    type: "commonjs",
    compilerOptions: { module: "nodenext", skipLibCheck: true },
    files: {
      "typescript-sdk.cts": source("typescript-sdk.ts"),
      "typescript-sdk-require.cts": source("typescript-sdk-require.cts"),
      "typescript-sdk-copy.ts": source("typescript-sdk.ts"),
      "nodejs-sdk.cts": source("nodejs-sdk.ts"),
      "nodejs-sdk.d.ts": source("nodejs-sdk.d.ts"),
      "plain.cts": source("plain.ts"),
    },
  },
  {
    // The SDK's own declarations need skipLibCheck (its SDKException redeclares Error's
    // `cause` as private); this package's must not: checked here without it.
    name: "the plain-record API with skipLibCheck off (this package's declarations checked too)",
    type: "module",
    compilerOptions: { module: "nodenext", skipLibCheck: false },
    files: { "plain.ts": source("plain.ts") },
  },
] as const;

const projects: string[] = [];
afterAll(() => {
  for (const dir of projects) rmSync(dir, { recursive: true, force: true });
});

describe("the published types, compiled by tsc in a consumer project", () => {
  it("are built (npm test builds first)", () => {
    expect(existsSync(join(ROOT, "dist", "index.d.ts")), "run `npm run build` first").toBe(true);
    expect(existsSync(join(ROOT, "dist", "index.d.cts")), "run `npm run build` first").toBe(true);
  });

  it("name no SDK package, in the types or the code (the caller's SDK namespace gives the types)", () => {
    const built = readdirSync(join(ROOT, "dist")).filter((name) => /\.(d\.ts|d\.cts|js|cjs)$/.test(name));
    expect(built).toEqual(expect.arrayContaining(["index.d.ts", "index.d.cts", "index.js", "index.cjs"]));
    for (const name of built) {
      const text = readFileSync(join(ROOT, "dist", name), "utf8");
      // Import declarations, import types, require() and type references (comments may name the SDKs).
      expect(text, name).not.toMatch(/^\s*(import|export)\b[^;]*?\bfrom\s*["']@zohocrm\//m);
      expect(text, name).not.toMatch(/\b(import|require)\(\s*["']@zohocrm\//);
      expect(text, name).not.toMatch(/reference\s+types=["']@zohocrm\//);
    }
  });

  it.each(PROJECTS)(
    "$name",
    async ({ type, compilerOptions, files }) => {
      const dir = consumerProject({ type, compilerOptions, files });
      projects.push(dir);
      const result = await tsc(dir);
      expect(result.stdout + result.stderr).toBe("");
      expect(result.code).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it("the consumer sources and the TypeScript example use no `any` and no cast", () => {
    const files = [
      ...readdirSync(SOURCES)
        .filter((name) => !name.endsWith(".d.ts"))
        .map((name) => join(SOURCES, name)),
      join(ROOT, "examples", "typescript-sdk.ts"),
    ];
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const name of files) {
      // Comments may talk about `any`, and imports rename with `as`; code may do neither.
      const code = readFileSync(name, "utf8")
        .replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "")
        .replace(/^import\b[^;]*;/gm, "");
      expect(code, name).not.toMatch(/\bany\b/);
      expect(code, name).not.toMatch(/\bas\s/);
      expect(code, name).not.toMatch(/<\w+>\s*\w/);
    }
  });
});
