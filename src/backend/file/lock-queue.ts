/**
 * The order in which writers of one store take its lock, and their waking when it is
 * released (lock.ts decides when to use it).
 *
 * A writer that finds the lock taken, or others already waiting, puts a ticket in
 * `<store>.lock.queue/`: an empty directory named after the time it arrived, its pid and
 * a random part, so that the names sort in arrival order. Only the writer whose ticket is
 * the oldest live one tries to take the lock; the others wait behind it. A new writer
 * that sees tickets there queues behind them instead of trying first, so a writer that
 * just released the lock cannot take it again ahead of those waiting.
 *
 * A holder that came through the queue keeps its ticket until it has released the lock.
 *
 * Waking: a waiter watches (`fs.watch`) the nearest live ticket ahead of its own, or, when
 * none is, the lock directory; it tries again as soon as that is removed. So a release
 * wakes the one waiter behind the holder, not every waiter. It also polls with back-off,
 * because a watch can miss events or be unavailable (network file systems, an exhausted
 * inotify limit). The watch only makes the hand-over sooner; nothing depends on it.
 *
 * The queue orders, it never excludes: mutual exclusion is still the lock directory's
 * `mkdir` (lock.ts), so a wrong order (a clock step between two arrivals, a ticket
 * misjudged) costs fairness, never safety. The rules for the dead are the lock's:
 * - a waiter refreshes its ticket's mtime every `staleMs / 5`; a ticket not refreshed for
 *   `staleMs` is a dead waiter's, skipped and removed by whoever sees it;
 * - a ticket whose pid runs no process on this machine is skipped at once, not removed (the
 *   pid may live in another pid namespace sharing the directory);
 * - a waiter behind others still tries the lock once it has stayed free for
 *   FREE_GRACE_MS, so that a stopped (not dead) first waiter holds no one up for long.
 * The queue directory is removed by the last waiter to leave it.
 */
import * as fs from "node:fs";
import { randomBytes } from "node:crypto";
import { errnoOf } from "../../errors.js";
import type { StoreLayout } from "./layout.js";

/** How long the lock may stay free, with a live waiter ahead that does not take it, before a waiter behind tries too. */
const FREE_GRACE_MS = 200;

/** Whether any writer waits for the lock: one stat where the file system counts subdirectories in nlink. */
export function othersWaiting(layout: StoreLayout): boolean {
  const stats = fs.statSync(layout.lockQueue, { throwIfNoEntry: false });
  if (!stats) return false;
  // ext4, xfs, tmpfs: 2 + the number of subdirectories. btrfs and some others report 1.
  if (stats.nlink >= 2) return stats.nlink > 2;
  try {
    return fs.readdirSync(layout.lockQueue).length > 0;
  } catch {
    return false;
  }
}

/** One writer's place in the queue, from its arrival until it releases the lock or gives up. */
export class QueueTicket {
  readonly #layout: StoreLayout;
  readonly #staleMs: number;
  #name = "";
  #refreshedAt = 0;
  #watcher: fs.FSWatcher | undefined;
  /** What #watcher watches. */
  #watched: string | undefined;
  /** A change seen since the last wait (so that one between a check and the wait is not missed). */
  #woken = false;
  #wake: (() => void) | undefined;
  /** When the lock was first seen free with a live waiter ahead (monotonic ms), if it still is. */
  #freeSince: number | undefined;

  constructor(layout: StoreLayout, staleMs: number) {
    this.#layout = layout;
    this.#staleMs = staleMs;
    this.#enter();
  }

  /**
   * Whether this writer should try the lock now: no live ticket is ahead of its own, or
   * the lock has stayed free for a while with the waiter ahead not taking it. When not, it
   * watches the nearest live ticket ahead (which goes when that writer releases the lock
   * or gives up), so that each release wakes one waiter, not all of them.
   */
  shouldTry(): boolean {
    this.#refresh();
    const ahead = this.#nearestLiveAhead();
    if (!ahead) {
      this.#freeSince = undefined;
      return true;
    }
    this.#watch(ahead);
    if (fs.existsSync(this.#layout.lock)) {
      this.#freeSince = undefined;
      return false;
    }
    const now = performance.now();
    this.#freeSince ??= now;
    return now - this.#freeSince >= FREE_GRACE_MS;
  }

  /** After a failed try: wakes when the lock directory is removed or moved aside. */
  watchLock(): void {
    this.#watch(this.#layout.lock);
  }

  /** Resolves when what is watched goes, or after `delayMs` at most. */
  wait(delayMs: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, delayMs);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.#wake = undefined;
        self.#woken = false;
        resolve();
      }
      this.#wake = done;
    });
  }

  /** Stops watching: the lock is this writer's. Its ticket stays until leave(), so no newcomer goes ahead of those waiting. */
  stopWatching(): void {
    this.#unwatch();
    this.#wake = undefined;
  }

  /**
   * Removes the ticket (and the queue directory, when it was the last): after the lock is
   * released, which wakes the waiter behind, or when giving up.
   */
  leave(): void {
    this.stopWatching();
    try {
      fs.rmdirSync(this.#path);
    } catch {
      // Removed already (as a dead waiter's, after a long stall).
    }
    try {
      fs.rmdirSync(this.#layout.lockQueue);
    } catch {
      // Others still wait (ENOTEMPTY), or it is gone.
    }
  }

  get #path(): string {
    return `${this.#layout.lockQueue}/${this.#name}`;
  }

  /** Watches `target` (a ticket or the lock directory) for its removal; wakes at once when it is already gone. */
  #watch(target: string): void {
    if (this.#watched === target && this.#watcher) return;
    this.#unwatch();
    const onChange = () => {
      const wake = this.#wake;
      if (wake) wake();
      else this.#woken = true;
    };
    try {
      const watcher = fs.watch(target, { persistent: false }, onChange);
      watcher.on("error", () => {
        // Gone while watched, or the watch failed: polling alone until the next watch.
        if (this.#watcher === watcher) this.#unwatch();
        onChange();
      });
      this.#watcher = watcher;
      this.#watched = target;
    } catch (error) {
      // Gone already: go on at once. No watch here (an inotify limit, a file system
      // without one): polling alone.
      if (errnoOf(error) === "ENOENT") onChange();
      return;
    }
    // Removed just before the watch began.
    if (!fs.existsSync(target)) onChange();
  }

  #unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#watched = undefined;
  }

  /** Makes a ticket named after this moment (padded, so names sort in arrival order). */
  #enter(): void {
    const queue = this.#layout.lockQueue;
    for (let attempt = 0; ; attempt++) {
      this.#name = `${String(Date.now()).padStart(15, "0")}-${process.pid}-${randomBytes(4).toString("hex")}`;
      try {
        fs.mkdirSync(this.#path, 0o700);
        this.#refreshedAt = performance.now();
        return;
      } catch (error) {
        // The queue directory is missing (never made, or removed by the last waiter just now).
        if (errnoOf(error) !== "ENOENT" || attempt >= 3) throw error;
        try {
          fs.mkdirSync(queue, 0o700);
        } catch (made) {
          if (errnoOf(made) !== "EEXIST") throw made;
        }
      }
    }
  }

  /** Keeps the ticket fresh; makes a new one (at the back) if it was removed as a dead waiter's. */
  #refresh(): void {
    const now = performance.now();
    if (now - this.#refreshedAt < this.#staleMs / 5) return;
    const date = new Date();
    try {
      fs.utimesSync(this.#path, date, date);
      this.#refreshedAt = now;
    } catch (error) {
      if (errnoOf(error) !== "ENOENT") throw error;
      this.#enter();
    }
  }

  /** The nearest live waiter's ticket ahead of this one, if any. Dead waiters' tickets are removed. */
  #nearestLiveAhead(): string | undefined {
    let names: string[];
    try {
      names = fs.readdirSync(this.#layout.lockQueue);
    } catch {
      return undefined;
    }
    names.sort();
    for (let i = names.lastIndexOf(this.#name) - 1; i >= 0; i--) {
      const name = names[i] as string;
      const pid = Number(/^\d+-(\d+)-/.exec(name)?.[1]);
      if (!Number.isSafeInteger(pid) || !isRunning(pid)) continue;
      const path = `${this.#layout.lockQueue}/${name}`;
      const stats = fs.statSync(path, { throwIfNoEntry: false });
      if (!stats) continue;
      if (stats.mtimeMs >= Date.now() - this.#staleMs) return path;
      try {
        fs.rmdirSync(path);
      } catch {
        // Another waiter removed it first.
      }
    }
    return undefined;
  }
}

/** Whether a process with this pid runs on this machine (in this pid namespace). */
function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) === "EPERM";
  }
}
