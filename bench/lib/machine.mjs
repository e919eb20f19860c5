// What the numbers were measured on: CPU, memory, OS, Node, the temp dir's file system,
// the versions of the baselines, and the load average.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { sqliteVersions } from "../subjects/sqlite.mjs";
import { ROOT } from "./paths.mjs";
import { formatBytes } from "./report.mjs";

function fileSystemOf(dir) {
  try {
    const mounts = fs
      .readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((line) => line.split(" "))
      .filter((parts) => parts.length > 2);
    const real = fs.realpathSync(dir);
    let best;
    for (const [device, mountPoint, type] of mounts) {
      const point = mountPoint.replace(/\\040/g, " ");
      if ((real === point || real.startsWith(point.endsWith("/") ? point : `${point}/`)) && (!best || point.length > best.point.length)) {
        best = { point, type, device };
      }
    }
    if (best) return `${best.type} (${best.device} on ${best.point})`;
  } catch {
    // not Linux: fall through
  }
  try {
    return execFileSync("df", ["-T", dir], { encoding: "utf8" }).split("\n")[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function loadAverage() {
  return os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(" ");
}

/** The machine, with `dir` (the run's temp dir) and the file system it is on. */
export function machine(dir) {
  const cpus = os.cpus();
  const { sqlite, "better-sqlite3": betterSqlite3 } = sqliteVersions();
  const versions = {
    "better-sqlite3": betterSqlite3,
    "@zohocrm/nodejs-sdk-8.0": JSON.parse(fs.readFileSync(join(ROOT, "node_modules/@zohocrm/nodejs-sdk-8.0/package.json"), "utf8")).version,
    sqlite,
  };
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memory: formatBytes(os.totalmem()),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    tempDir: dir,
    fileSystem: fileSystemOf(dir),
    loadAverageAtStart: loadAverage(),
    versions,
  };
}
