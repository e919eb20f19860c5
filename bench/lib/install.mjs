// The benchmark's own dependencies (better-sqlite3, a native addon compiled on install)
// live in bench/package.json, so that installing the package builds nothing. They are
// installed here on first use, and again whenever bench/package-lock.json changes.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { BENCH } from "./paths.mjs";

const LOCK = join(BENCH, "package-lock.json");
// npm writes the tree it installed here; it lists every package of the lockfile.
const INSTALLED = join(BENCH, "node_modules", ".package-lock.json");
const ADDON = join(BENCH, "node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node");

/** Whether bench/node_modules holds what bench/package-lock.json asks for, addon built. */
export function dependenciesInstalled() {
  let lock;
  let installed;
  try {
    lock = JSON.parse(fs.readFileSync(LOCK, "utf8"));
    installed = JSON.parse(fs.readFileSync(INSTALLED, "utf8"));
  } catch {
    return false;
  }
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    if (path !== "" && installed.packages?.[path]?.version !== entry.version) return false;
  }
  return fs.existsSync(ADDON);
}

/**
 * Runs `npm ci` in bench/ unless its dependencies are already in place. npm's own
 * output goes to stderr, so that stdout stays the report.
 */
export function ensureDependencies() {
  if (dependenciesInstalled()) return;
  console.error("installing the benchmark's dependencies (bench/package-lock.json; better-sqlite3 compiles once, about a minute on 2 cores)");
  // Under `npm run`, npm_execpath is the npm that runs us: use the same one. `--prefix`
  // wins over the npm_config_local_prefix that `npm run` sets to the package's root.
  const npmCli = process.env.npm_execpath;
  const [command, args] = npmCli && /\.c?js$/.test(npmCli) ? [process.execPath, [npmCli]] : ["npm", []];
  execFileSync(command, [...args, "ci", "--prefix", BENCH, "--prefer-offline", "--no-audit", "--no-fund"], {
    cwd: BENCH,
    stdio: ["ignore", process.stderr, process.stderr],
    shell: command === "npm" && process.platform === "win32",
  });
  if (!dependenciesInstalled()) throw new Error(`npm ci in ${BENCH} did not install better-sqlite3 with its addon`);
}
