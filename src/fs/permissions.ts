/**
 * The one permission policy, shared by everything that opens a store and by the
 * maintenance checks (`doctor`), so that what one accepts the other never calls a
 * problem, and the reverse.
 *
 * - A private file (the store, its previous generation, a key file) is a regular file
 *   owned by this user that no one else may read or write: no group or other bits.
 * - The directory of a store is owned by this user (or root) and no one else may change
 *   its entries: no group or other write bit. Anyone who can create, rename or delete
 *   names in it could replace the store with an older copy, plant a directory where
 *   the previous generation or the lock goes, or delete the store. An access-control
 *   list that grants another user write access shows in the group bits (they hold the
 *   ACL mask), so it is refused the same way.
 * - Every directory above it, by the name given and where it really is (symbolic links
 *   resolved), up to `/`, is checked the way OpenSSH's StrictModes checks the path to
 *   `authorized_keys`: owned by this user or root, and not writable by its group or
 *   others unless it is sticky (`/tmp`: in a sticky directory only an entry's owner may
 *   rename or delete it). Anyone who can rename a directory on the way could move the
 *   store's directory away and put one of their own in its place.
 *   These are shared beyond the store: the repair is named (`chmod go-w`), never made
 *   by a maintenance tool.
 *
 * Each check returns the problem, with the least change that repairs it (only the
 * wrong bits are cleared: set-group-id and sticky bits stay), or undefined.
 * Permission checks are skipped on Windows, whose modes do not mean this.
 */
import { realpathSync, statSync, type BigIntStats, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { ioError, TokenStoreError } from "../errors.js";

export interface PermissionProblem {
  path: string;
  /** What is wrong, in a sentence fragment ("can be read by other users (mode 644)"). */
  reason: string;
  /** The mode that repairs it, when a chmod can (the owner is right). */
  repairMode: number | undefined;
  /** The shell command that repairs it, or the advice when no chmod can. */
  fix: string;
}

const CHECKED = process.platform !== "win32";

function modeOf(stats: Stats | BigIntStats): number {
  return Number(stats.mode) & 0o7777;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8);
}

/** `path` quoted for a POSIX shell, as repairs name it. */
export function shellQuoted(path: string): string {
  return `'${path.replace(/'/g, "'\\''")}'`;
}

/** This process's user id, read once (undefined on Windows): the check runs on every read. */
const UID = process.getuid?.();

function ownerProblem(path: string, stats: Stats | BigIntStats, allowRoot: boolean): PermissionProblem | undefined {
  const uid = UID;
  if (uid === undefined) return undefined;
  const owner = Number(stats.uid);
  if (owner === uid || (allowRoot && owner === 0)) return undefined;
  return {
    path,
    reason: `is owned by another user (uid ${owner}), who can change it`,
    repairMode: undefined,
    fix: `move it to a ${allowRoot ? "directory" : "file"} of your own`,
  };
}

/** A store file, previous generation or key file: only its owner (this user) may use it. */
export function privateFileProblem(path: string, stats: Stats | BigIntStats): PermissionProblem | undefined {
  if (!CHECKED) return undefined;
  const mode = modeOf(stats);
  if ((mode & 0o077) !== 0) {
    const repairMode = mode & ~0o077;
    return { path, reason: `can be accessed by other users (mode ${octal(mode)})`, repairMode, fix: `chmod ${octal(repairMode)} ${shellQuoted(path)}` };
  }
  return ownerProblem(path, stats, false);
}

/** The directory holding a store: no one but its owner (this user, or root) may change its entries. */
export function privateDirectoryProblem(dir: string, stats: Stats | BigIntStats): PermissionProblem | undefined {
  if (!CHECKED) return undefined;
  const owner = ownerProblem(dir, stats, true);
  if (owner) return owner;
  const mode = modeOf(stats);
  if ((mode & 0o022) !== 0) {
    const who = (mode & 0o002) !== 0 ? "every user" : "its group (or a user an access-control list names)";
    const repairMode = mode & ~0o022;
    // A directory shared with others by design (sticky /tmp, someone else's) is not
    // ours to chmod: the store belongs in a directory of its own.
    const ours = Number(stats.uid) === UID;
    return {
      path: dir,
      reason: `is writable by ${who} (mode ${octal(mode)}), who could replace, lock or delete the store file`,
      repairMode: ours && (mode & 0o1000) === 0 ? repairMode : undefined,
      fix: ours && (mode & 0o1000) === 0 ? `chmod go-w ${shellQuoted(dir)}` : "move the store to a directory of your own (mode 700)",
    };
  }
  return undefined;
}

/**
 * A directory above a store's, or above a key file (see the top of this file): owned by
 * this user or root, and no one else may rename its entries (no group or other write bit,
 * unless sticky). `what` names what such a rename would replace. `repairMode` is always
 * undefined: the repair is left to the user.
 */
export function ancestorDirectoryProblem(dir: string, stats: Stats | BigIntStats, what = "the store's directory"): PermissionProblem | undefined {
  if (!CHECKED || UID === undefined) return undefined;
  const owner = Number(stats.uid);
  if (owner !== UID && owner !== 0) {
    return {
      path: dir,
      reason: `is owned by another user (uid ${owner}), who could move ${what} away and put another in its place`,
      repairMode: undefined,
      fix: `keep ${what} under directories owned by you or root`,
    };
  }
  const mode = modeOf(stats);
  if ((mode & 0o022) === 0 || (mode & 0o1000) !== 0) return undefined;
  const who = (mode & 0o002) !== 0 ? "every user" : "its group (or a user an access-control list names)";
  const command = `chmod go-w ${shellQuoted(dir)}`;
  return {
    path: dir,
    reason: `is writable by ${who} and not sticky (mode ${octal(mode)}), who could move ${what} away and put another in its place`,
    repairMode: undefined,
    fix: owner === UID ? `run: ${command}` : `have its owner (uid ${owner}) run: ${command}, or keep ${what} under directories owned by you`,
  };
}

/**
 * The directories whose entries decide what `dir` names, closest first: each one above
 * it by the name given, and each one above where it really is (symbolic links resolved).
 */
export function directoriesAbove(dir: string): string[] {
  const found: string[] = [];
  const add = (from: string) => {
    for (let current = dirname(from); ; current = dirname(current)) {
      if (!found.includes(current)) found.push(current);
      if (dirname(current) === current) break;
    }
  };
  add(resolve(dir));
  let real: string | undefined;
  try {
    real = realpathSync.native(dir);
  } catch {
    // Reported by whoever stats the directory itself.
  }
  if (real !== undefined && real !== resolve(dir)) add(real);
  return found;
}

/**
 * Every problem of the directories above `path` (see {@link ancestorDirectoryProblem}),
 * closest first: above a store's directory, or above a key file (`what`: "the key file").
 */
export function ancestorProblems(path: string, what?: string): PermissionProblem[] {
  if (!CHECKED) return [];
  const problems: PermissionProblem[] = [];
  for (const above of directoriesAbove(path)) {
    let stats: Stats | undefined;
    try {
      // Missing (the store's directory moved away with it): reported as the directory's absence.
      stats = statSync(above, { throwIfNoEntry: false });
    } catch (error) {
      throw ioError(above, "stat", error, "nothing was changed");
    }
    const problem = stats && ancestorDirectoryProblem(above, stats, what);
    if (problem) problems.push(problem);
  }
  return problems;
}

/** Throws INSECURE_PERMISSIONS for a problem, saying how to repair it. */
export function refuse(problem: PermissionProblem, what: string): never {
  throw new TokenStoreError("INSECURE_PERMISSIONS", `${what} ${problem.path} ${problem.reason}`, {
    path: problem.path,
    action: "restrict-permissions",
    advice: problem.repairMode === undefined ? problem.fix : `run: ${problem.fix}`,
  });
}
