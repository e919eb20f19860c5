/**
 * Mutual exclusion for writers of one store file.
 *
 * Across processes: `proper-lockfile` (an atomic `mkdir <file>.lock`, kept fresh by a
 * timer, taken over once older than `staleMs`). Within a process: a queue per file,
 * kept on `globalThis` so that every copy of this module loaded into one process
 * (ESM and CommonJS, two installed versions) shares it; proper-lockfile alone would
 * make a second writer in the same process poll like a stranger.
 */
import * as fs from "node:fs";
import lockfile from "proper-lockfile";
import { TokenStoreError } from "../errors.js";

export interface LockSettings {
  /** A lock whose holder stopped refreshing it for this long is taken over. */
  staleMs: number;
  /** How long to wait for the lock before failing with LOCK_TIMEOUT. */
  waitMs: number;
}

/** What the holder learns while it holds the lock. */
export interface HeldLock {
  /** Set when proper-lockfile found the lock lost or taken over while held. */
  compromised: Error | undefined;
  /**
   * Whether the first attempt did not simply take a free lock: the lock directory was
   * there (another writer held the lock, or a dead one left it, and with it maybe a
   * half-written temp file), or the attempt failed in another way and was retried.
   */
  contended: boolean;
}

const QUEUES_KEY = Symbol.for("zoho-encrypted-filestore.file-queues.v1");
type Queues = Map<string, Promise<unknown>>;
const globalQueues = globalThis as typeof globalThis & { [QUEUES_KEY]?: Queues };
const queues: Queues = (globalQueues[QUEUES_KEY] ??= new Map());

/** Runs `task` after every task queued before it for the same file in this process. */
export function inProcessQueue<T>(file: string, task: () => Promise<T>): Promise<T> {
  const previous = queues.get(file) ?? Promise.resolve();
  const run = previous.then(task, task);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  queues.set(file, tail);
  void tail.then(() => {
    if (queues.get(file) === tail) queues.delete(file);
  });
  return run;
}

/** Set by a failed mkdir of a lock directory; read right after a synchronous attempt. */
let lockDirectoryExisted = false;

/**
 * The `fs` handed to proper-lockfile: its callback API, carried out by the synchronous
 * calls. Taking a free lock is then a few system calls in a row (mkdir, stat; rmdir to
 * release), where the callback form waits for a thread-pool round trip per call, each
 * one longer than the call itself on a busy machine. Waits between attempts still go
 * through timers, so a held lock never blocks the process. (proper-lockfile's own
 * `lockSync` does the same but builds a new wrapper per call, which both costs time and
 * loses its cached probe of the file system's mtime precision.)
 */
const synchronousFs = {
  mkdir: callbackForm((path: string) => {
    try {
      fs.mkdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") lockDirectoryExisted = true;
      throw error;
    }
  }),
  rmdir: callbackForm((path: string) => fs.rmdirSync(path)),
  stat: callbackForm((path: string) => fs.statSync(path)),
  utimes: callbackForm((path: string, atime: Date, mtime: Date) => fs.utimesSync(path, atime, mtime)),
  realpath: callbackForm((path: string) => fs.realpathSync(path)),
  // Called by proper-lockfile's exit handler, to drop locks still held when the process exits.
  rmdirSync: (path: string) => fs.rmdirSync(path),
};

function callbackForm<A extends unknown[]>(call: (...args: A) => unknown) {
  return (...args: [...A, (error: unknown, result?: unknown) => void]): void => {
    const callback = args.pop() as (error: unknown, result?: unknown) => void;
    let result: unknown;
    try {
      result = call(...(args as unknown as A));
    } catch (error) {
      callback(error);
      return;
    }
    callback(null, result);
  };
}

/**
 * Takes the cross-process lock on `file` (lock directory `lockPath`), runs `task`, and
 * releases the lock. The caller must already hold the in-process queue for `file`.
 */
export async function withFileLock<T>(
  file: string,
  lockPath: string,
  settings: LockSettings,
  task: (held: HeldLock) => Promise<T>,
): Promise<T> {
  const held: HeldLock = { compromised: undefined, contended: false };
  const started = Date.now();
  let release: () => Promise<void>;
  const options = {
    lockfilePath: lockPath,
    realpath: false,
    fs: synchronousFs,
    stale: settings.staleMs,
    update: Math.max(1000, Math.floor(settings.staleMs / 5)),
    // proper-lockfile's default throws from a timer, which kills the process.
    onCompromised: (error: Error) => {
      held.compromised = error;
    },
  };
  try {
    try {
      // One attempt first: with retries, proper-lockfile (through `retry`) computes and
      // sorts every timeout up front, thousands of them for a 15 s wait, which cost
      // more CPU than the rest of an uncontended write. Most locks are free.
      lockDirectoryExisted = false;
      const attempt = lockfile.lock(file, { ...options, retries: 0 });
      // Every fs call of this attempt has run by now (they are synchronous).
      held.contended = lockDirectoryExisted;
      release = await attempt;
    } catch {
      held.contended = true;
      // Held (or any other failure, which the retries below retry as before).
      release = await lockfile.lock(file, {
        ...options,
        retries: {
          retries: Math.ceil(settings.waitMs / 5) + 10,
          factor: 1.35,
          minTimeout: 5,
          maxTimeout: 25,
          randomize: true,
          maxRetryTime: Math.max(1, settings.waitMs - (Date.now() - started)),
        },
      });
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOCKED") {
      throw new TokenStoreError(
        "LOCK_TIMEOUT",
        `timed out after ${Date.now() - started} ms waiting for the lock on ${file} (lock directory ${lockPath}); ` +
          `another process is writing, or a dead one left the lock, which is taken over once it is ${settings.staleMs} ms old`,
        { path: file, cause: error },
      );
    }
    throw new TokenStoreError("IO_ERROR", `cannot take the lock on ${file}: ${code ?? "error"}`, { path: file, cause: error });
  }
  try {
    return await task(held);
  } finally {
    // After a compromise the lock directory may belong to another holder now; the
    // release then fails or removes it, and the caller has refused to write anyway.
    await release().catch(() => undefined);
  }
}
