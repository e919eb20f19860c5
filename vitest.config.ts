import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Prints, after the run, every test skipped for a missing system tool (test/system-tools.ts).
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Child-process tests share two cores; run files one after another would be slow,
    // all at once would make lock waits flaky.
    maxWorkers: 2,
  },
});
