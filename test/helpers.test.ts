/**
 * The child-process runner's deadline agrees with the test's own timeout: by default a
 * child may use the test's time (less a margin to report its output), and a deadline
 * longer than the test allows is refused instead of being cut short by the test.
 */
import { describe, expect, it } from "vitest";
import { childDeadline, runCommand } from "./helpers.js";

describe("runCommand's deadline (test/helpers.ts)", () => {
  it("defaults to the running test's timeout less 5 s", () => {
    expect(childDeadline(undefined)).toBe(175_000);
  }, 180_000);

  it("refuses a deadline longer than the test allows, keeps one that fits", () => {
    expect(() => childDeadline(120_000)).toThrow(/a child deadline of 120000 ms does not fit in its test's timeout of 60000 ms/);
    expect(childDeadline(30_000)).toBe(30_000);
  });

  it("a child that outlives its deadline is killed and reported", async () => {
    const result = await runCommand(process.execPath, ["-e", "setTimeout(() => {}, 60_000)"], { timeoutMs: 300 });
    expect(result.signal).toBe("SIGKILL");
  });
});
