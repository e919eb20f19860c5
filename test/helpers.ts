import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { afterEach } from "vitest";

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

/** Runs a command to its end and collects its output (killed after `timeoutMs`, generous for a loaded machine). */
export function runCommand(
  command: string,
  args: string[],
  { cwd, env = process.env, timeoutMs = 120_000 }: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `node script args...` with this process's environment plus `env`, and collects its output. */
export function runNode(script: string, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<ChildResult> {
  return runCommand(process.execPath, [script, ...args], { env: { ...process.env, ...env }, timeoutMs });
}

export function fixture(name: string): string {
  return join(ROOT, "test", "fixtures", name);
}
