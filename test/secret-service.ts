/**
 * A real Secret Service for the keychain tests: a private D-Bus session bus and a
 * gnome-keyring-daemon, in a fresh temporary home (so no keyring of the person running
 * the tests is ever touched or asked for a password). Debian packages: dbus-daemon,
 * gnome-keyring, libsecret-tools (.ci/run installs them).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { recordNotRun } from "./system-tools.js";

/** The programs the suite needs, and the Debian package of each. */
const PROGRAMS: Record<string, string> = { "dbus-daemon": "dbus-daemon", "gnome-keyring-daemon": "gnome-keyring", "secret-tool": "libsecret-tools" };

/** The Debian packages missing for a real Secret Service (empty when all are there). */
export function missingSecretServicePackages(): string[] {
  const dirs = (process.env.PATH ?? "").split(delimiter);
  const found = (program: string) => dirs.some((dir) => spawnSync("test", ["-x", join(dir, program)]).status === 0);
  return Object.entries(PROGRAMS)
    .filter(([program]) => !found(program))
    .map(([, pkg]) => pkg);
}

/** Says loudly that the keychain suite did not run, and what to install (also in the end-of-run summary). */
export function reportNotRun(missing: readonly string[]): void {
  recordNotRun(`NOT RUN: the OS keychain suite (a real Secret Service): apt-get install -y ${missing.join(" ")}; .ci/run installs it`);
  const line = "!".repeat(78);
  console.warn(
    `\n${line}\n!! The OS keychain suite was NOT run: no real Secret Service here.\n` +
      `!! Install it with: apt-get install -y ${missing.join(" ")}\n${line}\n`,
  );
}

export interface SecretService {
  /** The temporary home: HOME, XDG_* directories, the keyring files. */
  root: string;
  home: string;
  /** The environment for a child process that uses this Secret Service. */
  env: Record<string, string>;
  /** Restarts the keyring daemon without unlocking it: the keyring is locked afterwards. */
  lock(): void;
  /** Stops (SIGSTOP) or continues (SIGCONT) the keyring daemons of this home: a Secret Service that hangs. */
  signalKeyring(signal: "SIGSTOP" | "SIGCONT"): number;
  /** Stops the bus and the keyring daemon and removes the temporary home. */
  stop(): void;
}

export const KEYRING_PASSWORD = "test keyring password";

/** Starts a session bus and an unlocked gnome-keyring-daemon (login keyring, a password) in a fresh home. */
export function startSecretService(): SecretService {
  const root = mkdtempSync(join(tmpdir(), "zefs-keychain-"));
  const home = join(root, "home");
  const dirs = { XDG_DATA_HOME: join(home, ".local", "share"), XDG_CONFIG_HOME: join(home, ".config"), XDG_CACHE_HOME: join(home, ".cache") };
  const runtime = join(root, "run");
  for (const dir of [home, ...Object.values(dirs), runtime]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const base: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, ...dirs, XDG_RUNTIME_DIR: runtime };
  const printed = execFileSync("dbus-daemon", ["--session", "--fork", "--print-address=1", "--print-pid=1"], { env: base, encoding: "utf8" })
    .trim()
    .split("\n");
  const address = printed[0]!.trim();
  const busPid = Number(printed[1]);
  const env = { ...base, DBUS_SESSION_BUS_ADDRESS: address };
  const keyring = (args: string[], input: string) =>
    execFileSync("gnome-keyring-daemon", ["--daemonize", "--components=secrets", ...args], { env, input, stdio: "pipe" });
  try {
    keyring(["--unlock"], KEYRING_PASSWORD);
  } catch (error) {
    process.kill(busPid, "SIGTERM");
    throw error;
  }
  return {
    root,
    home,
    env,
    // --replace hands the bus name to a new daemon, which starts with the keyring locked.
    lock: () => void keyring(["--replace"], ""),
    signalKeyring: (signal) => {
      const pids = keyringDaemons(home);
      for (const pid of pids) process.kill(pid, signal);
      return pids.length;
    },
    stop: () => {
      // The keyring daemon ends with its bus.
      try {
        process.kill(busPid, "SIGTERM");
      } catch {
        // Already gone.
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The gnome-keyring-daemon processes started for `home` (found by their environment). */
function keyringDaemons(home: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const command = readFileSync(`/proc/${name}/cmdline`, "utf8");
      if (!command.startsWith("gnome-keyring-daemon")) continue;
      if (readFileSync(`/proc/${name}/environ`, "utf8").split("\0").includes(`HOME=${home}`)) pids.push(Number(name));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}
