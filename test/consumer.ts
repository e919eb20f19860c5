/**
 * A throwaway consumer project, as a user of the package has one: its own package.json
 * and tsconfig.json, and a node_modules where `zoho-encrypted-filestore` is this
 * repository (so it resolves through package.json `exports` to the built dist/) and the
 * Zoho SDKs and @types/node are this repository's copies. Used by the type and example
 * tests to compile with the repository's TypeScript.
 */
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { ROOT, runNode, type ChildResult } from "./helpers.js";

export const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

const LINKED = ["@zohocrm/typescript-sdk-8.0", "@zohocrm/nodejs-sdk-8.0", "@types/node"];

export interface ConsumerOptions {
  /** package.json `type`. */
  type: "module" | "commonjs";
  /** tsconfig.json `compilerOptions`, over strict defaults. */
  compilerOptions: Record<string, unknown>;
  /** Files to copy in, as `{ name in the project: source path }`. */
  files: Record<string, string>;
}

/** Creates the project in a new temporary directory; the caller removes it. */
export function consumerProject({ type, compilerOptions, files }: ConsumerOptions): string {
  const dir = mkdtempSync(join(tmpdir(), "zefs-consumer-"));
  mkdirSync(join(dir, "node_modules", "@zohocrm"), { recursive: true });
  mkdirSync(join(dir, "node_modules", "@types"));
  symlinkSync(ROOT, join(dir, "node_modules", "zoho-encrypted-filestore"), "dir");
  for (const name of LINKED) symlinkSync(join(ROOT, "node_modules", name), join(dir, "node_modules", name), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type }, null, 2));
  const tsconfig = {
    compilerOptions: { strict: true, target: "es2022", types: ["node"], noEmit: true, ...compilerOptions },
    files: Object.keys(files),
  };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  for (const [name, source] of Object.entries(files)) copyFileSync(source, join(dir, basename(name)));
  return dir;
}

/** Runs the repository's `tsc -p dir` (extra arguments after). */
export function tsc(dir: string, args: string[] = [], timeoutMs = 180_000): Promise<ChildResult> {
  return runNode(TSC, ["-p", dir, "--pretty", "false", ...args], {}, timeoutMs);
}
