/**
 * Once per run: a file where tests skipped for a missing system tool (test/system-tools.ts)
 * record themselves, printed as a summary when the run ends, so a skip cannot pass unseen.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), "zefs-not-run-"));
  const file = join(dir, "not-run.txt");
  project.provide("notRunFile", file);
  return () => {
    let lines: string[] = [];
    try {
      lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
    } catch {
      // Nothing was skipped.
    }
    rmSync(dir, { recursive: true, force: true });
    if (lines.length === 0) return;
    const unique = [...new Set(lines)];
    process.stderr.write(
      `\n${"!".repeat(78)}\n${unique.length} test(s) were NOT RUN for a missing system tool:\n${unique.map((line) => `  ${line}`).join("\n")}\n${"!".repeat(78)}\n\n`,
    );
  };
}
