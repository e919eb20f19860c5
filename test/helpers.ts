import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { afterEach } from "vitest";
import { TestRunner } from "vitest";

export const ROOT = join(import.meta.dirname, "..");
export const DIST = join(ROOT, "dist", "index.js");

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh private directory, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "zefs-test-"));
  made.push(dir);
  return dir;
}

/** A token whose every secret value is unique and recognisable, for leak scans. */
export function sampleToken(tag: string, extra: Record<string, string | null> = {}) {
  return {
    userName: `user-${tag}@example.com`,
    clientId: `1000.CLIENTID${tag.toUpperCase()}XYZ`,
    clientSecret: `secret-${tag}-s3cr3t`,
    refreshToken: `1000.refresh-${tag}-rt`,
    accessToken: `1000.access-${tag}-at`,
    expiryTime: String(Date.now() + 3_600_000),
    redirectUrl: "https://example.com/callback",
    apiDomain: "https://www.zohoapis.com",
    ...extra,
  };
}

/** Every secret value of a sample token, to scan output for. */
export function secretsOf(token: Record<string, string | null | undefined>): string[] {
  return ["clientId", "clientSecret", "refreshToken", "accessToken", "grantToken"]
    .map((field) => token[field])
    .filter((value): value is string => typeof value === "string" && value.length > 0);
}

/** Fails if `text` contains any of `secrets`. */
export function assertNoSecrets(text: string, secrets: readonly string[]): void {
  for (const secret of secrets) {
    if (text.includes(secret)) throw new Error(`output contains a secret value (${secret.length} chars)`);
  }
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Time left to a test after its child is killed: enough to report the child's output. */
const REPORT_MARGIN_MS = 5_000;
/** A child's deadline outside a test (in a hook), where no test timeout applies. */
const HOOK_CHILD_TIMEOUT_MS = 120_000;

/**
 * How long a child may run. By default the running test's own timeout, less a margin, so
 * that a child is never killed while its test still allows it time, and a hung child is
 * reported with its output before the test times out. A `timeoutMs` longer than that is
 * refused: the two must agree.
 */
export function childDeadline(timeoutMs: number | undefined): number {
  const test = TestRunner.getCurrentTest();
  const limit = test === undefined ? undefined : test.timeout - REPORT_MARGIN_MS;
  if (timeoutMs === undefined) return limit ?? HOOK_CHILD_TIMEOUT_MS;
  if (limit !== undefined && timeoutMs > limit) {
    throw new Error(
      `a child deadline of ${timeoutMs} ms does not fit in its test's timeout of ${test!.timeout} ms; raise the test's timeout or lower the child's`,
    );
  }
  return timeoutMs;
}

/**
 * The lock wait (lockWaitMs) for writer processes that contend without pause: half of
 * their own deadline (see childDeadline), not the library's default (lockStaleMs + 5 s).
 * Under sustained contention a writer waits for every write the others make in between
 * (a process that releases the lock and writes again at once usually takes it again
 * before a waiter polls); on a loaded 2-core host one such wait was measured at over
 * 5 s, and a test that passes only on a quiet machine is a defect. What these tests
 * assert (one writer at a time, nothing lost, no save failed) does not depend on it.
 */
export function contendedLockWaitMs(): number {
  return Math.floor(childDeadline(undefined) / 2);
}

/** Runs a command to its end and collects its output (killed at `childDeadline(timeoutMs)`). */
export function runCommand(
  command: string,
  args: string[],
  { cwd, env = process.env, timeoutMs }: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ChildResult> {
  const deadline = childDeadline(timeoutMs);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), deadline);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `node script args...` with this process's environment plus `env`, and collects its output. */
export function runNode(script: string, args: string[], env: Record<string, string> = {}, timeoutMs?: number): Promise<ChildResult> {
  return runCommand(process.execPath, [script, ...args], { env: { ...process.env, ...env }, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
}

export function fixture(name: string): string {
  return join(ROOT, "test", "fixtures", name);
}
