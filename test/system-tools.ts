/**
 * Tests that need a system tool (a binary from an apt package) declare it here, so a
 * machine without it still runs the rest of the suite and says loudly what it did not
 * run and what to install. Under CI=true nothing is skipped: a missing tool fails the
 * test with the package to install (`.ci/run` installs every one).
 *
 * Each skipped test warns in its file's output, and test/global-setup.ts repeats every
 * one in a summary after the run.
 */
import { appendFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { accessSync, constants } from "node:fs";
import { beforeAll, inject, it, type TestAPI } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** The file each test skipped for a missing tool appends a line to (see test/global-setup.ts). */
    notRunFile: string;
  }
}

/** True when `binary` is an executable file in a directory of PATH. */
export function hasTool(binary: string, path = process.env.PATH ?? ""): boolean {
  return path
    .split(delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        accessSync(join(dir, binary), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** The words used when a tool is missing: what was not run and how to get the tool. */
export function notRunMessage(binary: string, aptPackage: string, what: string): string {
  return `NOT RUN: ${what}: needs \`${binary}\` (Debian/Ubuntu: apt-get install ${aptPackage}); .ci/run installs it`;
}

/** Adds a line to the end-of-run summary of tests not run (test/global-setup.ts). */
export function recordNotRun(message: string): void {
  const file = inject("notRunFile");
  if (file) appendFileSync(file, `${message}\n`);
}

/** True when a missing tool must fail the run instead of skipping (CI=true, as .ci/run sets). */
export const MUST_RUN = process.env.CI === "true";

/**
 * `it` for tests that need `binary` (from the apt package `aptPackage`): the test itself
 * when the tool is on PATH or CI=true; otherwise a skipped test, named so, with a warning
 * in the output and a line in the end-of-run summary.
 */
export function itNeeds(binary: string, aptPackage: string): TestAPI {
  if (hasTool(binary) || MUST_RUN) return it;
  const skipped = ((name: string, ...rest: unknown[]) => {
    const message = notRunMessage(binary, aptPackage, name);
    beforeAll(() => {
      console.warn(`\n*** ${message} ***\n`);
      recordNotRun(message);
    });
    return (it.skip as (...args: unknown[]) => void)(`${name} [NOT RUN: install ${aptPackage}]`, ...rest);
  }) as unknown as TestAPI;
  return skipped;
}
