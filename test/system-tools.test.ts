/**
 * A test that needs a system tool, on a machine without it: the rest of its file runs and
 * passes, and the output says loudly what was not run and which apt package to install;
 * under CI=true it fails instead, so CI cannot pass without running it. Shown with the
 * ACL case of test/faults/permissions.test.ts (setfacl, Debian package acl), run by
 * vitest in a child process whose PATH has no setfacl.
 */
import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { ROOT, runCommand } from "./helpers.js";
import { hasTool } from "./system-tools.js";

const VITEST = join(ROOT, "node_modules", "vitest", "vitest.mjs");
const FILE = "test/faults/permissions.test.ts";
/** This machine's PATH without any directory that holds setfacl. */
const PATH_WITHOUT_SETFACL = (process.env.PATH ?? "")
  .split(delimiter)
  .filter((dir) => dir !== "" && !existsSync(join(dir, "setfacl")))
  .join(delimiter);

/** `vitest run FILE` in a child process, with PATH stripped of setfacl. */
function runWithoutSetfacl(ci: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: PATH_WITHOUT_SETFACL, CI: ci, NO_COLOR: "1", FORCE_COLOR: "0" };
  delete env.VITEST;
  delete env.VITEST_WORKER_ID;
  delete env.VITEST_POOL_ID;
  delete env.TEST;
  return runCommand(process.execPath, [VITEST, "run", FILE], { cwd: ROOT, env, timeoutMs: 170_000 });
}

describe("tests that need a system tool (test/system-tools.ts)", () => {
  it("hasTool finds a binary on PATH and not elsewhere", () => {
    expect(hasTool("node", join(process.execPath, ".."))).toBe(true);
    expect(hasTool("setfacl", PATH_WITHOUT_SETFACL)).toBe(false);
    expect(hasTool("node", "")).toBe(false);
  });

  it("without setfacl: the ACL case is reported NOT RUN with the package to install, the rest passes; under CI=true it fails", async () => {
    const local = await runWithoutSetfacl("");
    const output = local.stdout + local.stderr;
    expect(local.code, output).toBe(0);
    expect(output).toMatch(/Tests\s+2 passed \| 1 skipped \(3\)/);
    // In the file's own output, and again in the summary after the run.
    expect(output.match(/NOT RUN: the store's directory: an ACL .*needs `setfacl` \(Debian\/Ubuntu: apt-get install acl\)/g)).toHaveLength(2);
    expect(output).toContain("1 test(s) were NOT RUN for a missing system tool");

    const ci = await runWithoutSetfacl("true");
    const ciOutput = ci.stdout + ci.stderr;
    expect(ci.code, ciOutput).toBe(1);
    expect(ciOutput).toMatch(/Tests\s+1 failed \| 2 passed \(3\)/);
    expect(ciOutput).toContain("install the acl package");
  }, 180_000);
});
