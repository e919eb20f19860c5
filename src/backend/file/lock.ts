/**
 * Mutual exclusion for writers of one store file. (Over 350 lines on purpose: the `fs`
 * handed to proper-lockfile and the takeover protocol share the state of one attempt.)
 *
 * Within a process: a queue per file, kept on `globalThis` so that every copy of this
 * module loaded into one process (ESM and CommonJS, two installed versions) shares it;
 * proper-lockfile alone would make a second writer in the same process poll like a
 * stranger. This registry is the package's one piece of process-wide state.
 *
 * Across processes: `proper-lockfile` takes the lock (an atomic `mkdir <store>.lock`,
 * mode 0700), keeps it fresh (a timer touches its mtime) and reports when it was lost.
 * This module decides everything else, through the `fs` it hands proper-lockfile
 * (one per lock, so no state is shared between stores):
 *
 * - Waiting: in arrival order, through a queue of tickets beside the lock
 *   (lock-queue.ts): a waiter tries again when the lock is released (a watch on the
 *   directory) or after a short random backoff, until `waitMs`, then LOCK_TIMEOUT (never
 *   another code), saying what holds the lock.
 * - Staleness: a lock is stale when its mtime is older than `staleMs`, or when it lies
 *   in the future (a clock change, a restored backup) and has not changed for `staleMs`
 *   as this process watched it: a live holder touches it every `staleMs / 5` at most.
 * - Taking over a stale lock is exclusive. proper-lockfile's own takeover (remove the
 *   directory, create it again) lets two processes that saw the same stale lock both
 *   end up holding a new one. Here the takeover first creates a claim directory whose
 *   name derives from the stale lock's identity (device, inode, mtime): of all the
 *   processes that saw that lock, exactly one creates the claim; it checks that the lock
 *   is still the one it saw, moves it aside (whatever a stranger put inside it) and
 *   removes it; only then do the others and it race to create a new lock, which `mkdir`
 *   decides. A claim whose holder died is itself taken over the same way.
 * - Release removes the lock directory only if it is still this holder's (same inode
 *   and the mtime it last set), so a holder that stalled past `staleMs` never removes
 *   the next holder's lock.
 */
import * as fs from "node:fs";
import lockfile from "proper-lockfile";
import { errnoOf, TokenStoreError } from "../../errors.js";
import type { StoreLayout } from "./layout.js";
import { othersWaiting, QueueTicket } from "./lock-queue.js";

export interface LockSettings {
  /** A lock whose holder stopped refreshing it for this long is taken over. */
  staleMs: number;
  /** How long to wait for the lock before failing with LOCK_TIMEOUT. */
  waitMs: number;
}

/** What the holder learns while it holds the lock. */
export interface HeldLock {
  /**
   * Whether the first attempt did not simply take a free lock: the lock directory was
   * there (another writer held the lock, or a dead one left it, and with it maybe a
   * half-written temp file).
   */
  readonly contended: boolean;
  /** Whether the lock is still this holder's: not reported lost, and the directory is the one it made. */
  stillHeld(): boolean;
}

const QUEUES_KEY = Symbol.for("zoho-encrypted-filestore.file-queues.v1");
type Queues = Map<string, Promise<unknown>>;
const globalQueues = globalThis as typeof globalThis & { [QUEUES_KEY]?: Queues };
globalQueues[QUEUES_KEY] ??= new Map();
const queues: Queues = globalQueues[QUEUES_KEY];

/** Runs `task` after every task queued before it for the same file in this process. */
function inProcessQueue<T>(file: string, task: () => Promise<T>): Promise<T> {
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

/** A lock dated further ahead than this is "in the future" (proper-lockfile dates a first lock up to 1 s ahead). */
const FUTURE_SLACK_MS = 3000;

interface Observation {
  ino: bigint;
  mtimeNs: bigint;
  /** This process's clock when it first saw the lock in this state. */
  since: number;
}

/** Why an attempt failed: the lock is held by someone else. */
const HELD = "ELOCKED";

/** What the calls of one attempt tell each other (they run synchronously, in order). */
interface AttemptState {
  /** Inside lockfile.lock(), whose calls all run before it returns. */
  active: boolean;
  /** mkdir found the lock directory there. */
  existed: boolean;
  /** The lock directory as the staleness check saw it, until it is removed. */
  observed: fs.BigIntStats | undefined;
  /** mkdir just made the lock directory: the next stat of it tells its inode. */
  made: boolean;
  /** When (monotonic ms) mkdir made it. */
  madeAt: number;
}

/** The cross-process lock of one store file. */
export class FileLock {
  readonly #layout: StoreLayout;
  readonly #settings: LockSettings;
  /** The `fs` proper-lockfile uses for this lock (see #synchronousFs). */
  readonly #fs: object;
  #attemptState: AttemptState = { active: false, existed: false, observed: undefined, made: false, madeAt: 0 };
  /** The lock directory this process made, while it holds the lock (see isOwnLock). */
  #own: OwnLock | undefined;
  /** The future-dated lock this process is watching, if any. */
  #watched: Observation | undefined;

  constructor(layout: StoreLayout, settings: LockSettings) {
    this.#layout = layout;
    this.#settings = settings;
    this.#fs = this.#synchronousFs();
  }

  /**
   * Takes the lock (after every earlier task of this process on the same store), runs
   * `task`, and releases the lock.
   */
  hold<T>(task: (held: HeldLock) => Promise<T>): Promise<T> {
    return inProcessQueue(this.#layout.path, () => this.#withLock(task));
  }

  async #withLock<T>(task: (held: HeldLock) => Promise<T>): Promise<T> {
    let compromised = false;
    const started = Date.now();
    let contended = false;
    let release: (() => Promise<void>) | undefined;
    const onCompromised = () => {
      compromised = true;
    };
    // The first attempt straight away, unless others wait already (then behind them).
    if (!othersWaiting(this.#layout)) {
      const outcome = await this.#attempt(onCompromised);
      contended ||= this.#attemptState.existed;
      if (outcome !== HELD) release = outcome;
    }
    let ticket: QueueTicket | undefined;
    if (!release) {
      ticket = new QueueTicket(this.#layout, this.#settings.staleMs);
      try {
        for (let attempt = 0; ; attempt++) {
          if (ticket.shouldTry()) {
            const outcome = await this.#attempt(onCompromised);
            // A lock directory found there, even one taken over at once: its dead holder may
            // have left a temp file behind.
            contended ||= this.#attemptState.existed;
            if (outcome !== HELD) {
              release = outcome;
              break;
            }
            ticket.watchLock();
          }
          const elapsed = Date.now() - started;
          if (elapsed >= this.#settings.waitMs) throw this.#timeout(elapsed);
          // Woken when the writer ahead releases the lock; else a random backoff from
          // 5 ms, growing to 25 ms: many waiters do not poll in step.
          const delay = Math.min(25, 5 * 1.35 ** attempt) * (0.5 + Math.random());
          await ticket.wait(Math.min(delay, this.#settings.waitMs - elapsed + 1));
        }
      } catch (error) {
        ticket.leave();
        throw error;
      }
      ticket.stopWatching();
    }
    const own = this.#own;
    const held: HeldLock = {
      contended,
      stillHeld: () => !compromised && own !== undefined && isOwnLock(this.#layout.lock, own) === true,
    };
    try {
      return await task(held);
    } finally {
      // After a loss the lock directory may belong to another holder now; the release
      // then leaves it alone (see #removeOwnLock), and the caller has refused to write.
      await release().catch(() => undefined);
      this.#own = undefined;
      // After the lock directory is gone: the waiter behind watches this ticket.
      ticket?.leave();
    }
  }

  /** One attempt: the release function, or HELD when another holder has the lock. */
  async #attempt(onCompromised: () => void): Promise<(() => Promise<void>) | typeof HELD> {
    this.#attemptState = { active: true, existed: false, observed: undefined, made: false, madeAt: 0 };
    let attempt: Promise<() => Promise<void>>;
    try {
      attempt = lockfile.lock(this.#layout.path, {
        lockfilePath: this.#layout.lock,
        realpath: false,
        fs: this.#fs,
        stale: this.#settings.staleMs,
        update: Math.max(1000, Math.floor(this.#settings.staleMs / 5)),
        retries: 0,
        // proper-lockfile's default throws from a timer, which kills the process.
        onCompromised,
      });
    } finally {
      // Every fs call of the attempt has run by now (they are synchronous); later ones
      // (the refresh timer, the release) are not part of it.
      this.#attemptState.active = false;
    }
    try {
      return await attempt;
    } catch (error) {
      if (errnoOf(error) === HELD) return HELD;
      // The lock directory vanished between calls (a holder released, or a takeover
      // moved it): the lock is being handed over; try again. Not when the store's
      // directory is gone: no lock can be made there, and waiting would end in a
      // LOCK_TIMEOUT blaming another writer.
      if (errnoOf(error) === "ENOENT" && fs.existsSync(this.#layout.directory)) return HELD;
      throw new TokenStoreError("IO_ERROR", `cannot take the lock on ${this.#layout.path}: ${errnoOf(error)}`, { path: this.#layout.path, cause: error });
    }
  }

  #timeout(elapsed: number): TokenStoreError {
    const { lock } = this.#layout;
    const stats = fs.statSync(lock, { throwIfNoEntry: false });
    const ahead = stats ? stats.mtimeMs - Date.now() : 0;
    const state =
      stats && datedInFuture(stats.mtimeMs)
        ? `the lock directory ${lock} is dated ${Math.round(ahead / 1000)} s in the future (a clock change or a restored backup?), which no live writer does; it is taken over once it has stayed unchanged for ${this.#settings.staleMs} ms`
        : `another process is writing (lock directory ${lock}), or a dead one left the lock, which is taken over once it is ${this.#settings.staleMs} ms old`;
    return new TokenStoreError("LOCK_TIMEOUT", `timed out after ${elapsed} ms waiting for the lock on ${this.#layout.path}: ${state}`, {
      path: this.#layout.path,
      action: "clear-stale-lock",
      advice: "retry later; a lock left by a dead writer is taken over by the next write once stale",
    });
  }

  /**
   * Whether the lock directory, in the state just observed, is stale (see the top of
   * this file). A future-dated lock is watched: stale once unchanged for `staleMs`.
   */
  #isStale(stats: fs.BigIntStats): boolean {
    const mtimeMs = Number(stats.mtimeNs / 1_000_000n);
    const now = Date.now();
    if (!datedInFuture(mtimeMs, now)) {
      this.#watched = undefined;
      return mtimeMs < now - this.#settings.staleMs;
    }
    const watched = this.#watched;
    if (!watched || watched.ino !== stats.ino || watched.mtimeNs !== stats.mtimeNs) {
      this.#watched = { ino: stats.ino, mtimeNs: stats.mtimeNs, since: now };
      return false;
    }
    return now - watched.since >= this.#settings.staleMs;
  }

  /** Removes the lock directory if it is still the one this process made. */
  #removeOwnLock(path: string): void {
    if (!this.#own) return; // This process made none (or released it).
    const own = isOwnLock(path, this.#own);
    if (own === undefined) throw Object.assign(new Error("lock directory gone"), { code: "ENOENT" });
    if (!own) return; // Not the one this process made (another holder's now).
    try {
      fs.rmdirSync(path);
    } catch (error) {
      // Something was put inside it: move it aside whole, then remove it.
      if (errnoOf(error) !== "ENOTEMPTY" && errnoOf(error) !== "EEXIST") throw error;
      const trash = this.#layout.lockTrash();
      fs.renameSync(path, trash);
      fs.rmSync(trash, { recursive: true, force: true });
    }
  }

  /**
   * The `fs` handed to proper-lockfile: its callback API, carried out by synchronous
   * calls. Taking a free lock is then a few system calls in a row (mkdir, stat; rmdir to
   * release), where the callback form waits for a thread-pool round trip per call, each
   * one longer than the call itself on a busy machine. Waits between attempts go through
   * timers, so a held lock never blocks the process.
   *
   * Because every call of one attempt runs synchronously and in order, `#attemptState`
   * carries what one call saw to the next: proper-lockfile calls mkdir; on EEXIST, stat
   * to judge staleness and rmdir to remove a stale lock (here: #removeStale) before
   * mkdir again; on success, stat (to learn the mtime it keeps fresh).
   */
  #synchronousFs(): object {
    const lockPath = this.#layout.lock;
    return {
      mkdir: callbackForm((path: string) => {
        try {
          fs.mkdirSync(path, 0o700);
        } catch (error) {
          if (errnoOf(error) === "EEXIST") this.#attemptState.existed = true;
          throw error;
        }
        this.#attemptState.made = true;
        this.#attemptState.madeAt = performance.now();
      }),
      stat: callbackForm((path: string) => {
        const stats = fs.statSync(path, { bigint: true });
        const state = this.#attemptState;
        if (path === lockPath && state.active && state.made) {
          state.made = false;
          // The directory seen is the one made only if no one could have taken it over
          // in between, which takes staleMs: a process stopped right after its mkdir may
          // see another holder's directory by now. Then this attempt failed.
          if (performance.now() - state.madeAt >= this.#settings.staleMs / 2) throw held();
          this.#own = { ino: stats.ino, mtimeMs: toMs(stats.mtimeNs) };
        } else if (path === lockPath && state.active && state.existed && !state.observed) {
          // Judging a lock found taken: report it as stale (mtime 0) or fresh (now).
          state.observed = stats;
          return { mtime: new Date(this.#isStale(stats) ? 0 : Date.now()) };
        }
        return { mtime: new Date(toMs(stats.mtimeNs)) };
      }),
      rmdir: callbackForm((path: string) => {
        const observed = this.#attemptState.active ? this.#attemptState.observed : undefined;
        if (path === lockPath && observed) {
          // proper-lockfile judged the lock stale and wants it gone.
          this.#attemptState.observed = undefined;
          this.#watched = undefined;
          removeStale(this.#layout, path, observed, this.#settings.staleMs);
        } else if (path === lockPath) {
          this.#removeOwnLock(path);
        } else {
          fs.rmdirSync(path);
        }
      }),
      utimes: callbackForm((path: string, atime: Date, mtime: Date) => {
        fs.utimesSync(path, atime, mtime);
        // proper-lockfile refreshing the lock it holds (it checked the mtime was its own first).
        if (path === lockPath && this.#own) this.#own.mtimeMs = mtime.getTime();
      }),
      realpath: callbackForm((path: string) => fs.realpathSync(path)),
      // Called by proper-lockfile's exit handler, to drop locks still held when the process exits.
      rmdirSync: (path: string) => (path === lockPath ? this.#removeOwnLock(path) : fs.rmdirSync(path)),
    };
  }
}

/**
 * Removes the directory at `path` (the lock, or a dead claim) if it is still exactly
 * `observed`, exclusively: only the one process that creates the claim named after
 * `observed` may. Returns when it is gone; throws (code ELOCKED) when another process is
 * at it or it changed, and the caller tries again later.
 */
export function removeStale(layout: StoreLayout, path: string, observed: fs.BigIntStats, staleMs: number, depth = 0): void {
  const claim = layout.lockClaim(observed);
  try {
    fs.mkdirSync(claim, 0o700);
  } catch (error) {
    if (errnoOf(error) !== "EEXIST") throw error;
    // Someone is removing it this instant, or died doing so: a claim older than the
    // stale time is removed the same way (by a claim of that claim), then try again.
    const dead = fs.statSync(claim, { bigint: true, throwIfNoEntry: false });
    if (dead && depth < 2 && Number(dead.mtimeNs / 1_000_000n) < Date.now() - staleMs) {
      try {
        removeStale(layout, claim, dead, staleMs, depth + 1);
      } catch {
        // Someone else is removing the dead claim.
      }
    }
    throw held();
  }
  try {
    const now = fs.statSync(path, { bigint: true, throwIfNoEntry: false });
    if (!now) return;
    if (now.ino !== observed.ino || now.mtimeNs !== observed.mtimeNs || now.dev !== observed.dev) throw held();
    // Moved aside first: the rename takes it whole, whatever a stranger put inside.
    const trash = layout.lockTrash();
    fs.renameSync(path, trash);
    fs.rmSync(trash, { recursive: true, force: true });
  } finally {
    try {
      fs.rmdirSync(claim);
    } catch {
      // Swept by the next holder.
    }
  }
}

/** Whether a lock directory in this state lies in the future, beyond what a live holder ever writes. */
export function datedInFuture(mtimeMs: number, now = Date.now()): boolean {
  return mtimeMs > now + FUTURE_SLACK_MS;
}

/**
 * A file time in whole ms, rounded as node:fs does for `Stats.mtime`: utimes() stores a
 * Date's ms as a float number of seconds, often read back a microsecond short
 * (…122.999 ms), and proper-lockfile compares what it set with what stat returns.
 */
function toMs(ns: bigint): number {
  return Number((ns + 500_000n) / 1_000_000n);
}

function held(): Error {
  return Object.assign(new Error("Lock file is already being held"), { code: HELD });
}

/** The lock directory a holder made: its inode, and the mtime it last gave it. */
interface OwnLock {
  ino: bigint;
  mtimeMs: number;
}

/**
 * Whether the lock directory at `path` is `own` (undefined: there is none). The inode
 * alone does not tell: a file system hands the inode of a removed directory to the next
 * one made (ext4 does, every time), so the next holder's lock has the inode of the last.
 * Its mtime does: only the holder sets it, and a directory taken over was not refreshed
 * for `staleMs` before the next one was made. (Not the creation time: where statx() is
 * missing, Node reports the ctime as such, and every refresh changes the ctime.)
 */
function isOwnLock(path: string, own: OwnLock): boolean | undefined {
  const stats = fs.statSync(path, { bigint: true, throwIfNoEntry: false });
  return stats && stats.ino === own.ino && toMs(stats.mtimeNs) === own.mtimeMs;
}

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
