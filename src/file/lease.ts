/**
 * Refresh leases: at most one caller at a time, across the processes of one host, asks
 * the accounts server for a new access token for a given token.
 *
 * A lease is a small file beside the store, `<store>.lease-<hash of the key>`, created
 * with O_EXCL and holding only the holder's pid and start time. It ends when its holder
 * releases it (the fresh token was saved), when the holder's process is gone, or when it
 * is older than `leaseMs` (a failed refresh must not block the others for long).
 *
 * A lease is an optimisation that keeps processes under Zoho's refresh limits, not a
 * safety mechanism: if two callers ever both think they hold one (a race while taking
 * over an expired lease), both refresh, which is what happens without leases at all.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";

export type LeaseOutcome =
  /** This caller holds the lease: it should renew the token, then release. */
  | "acquired"
  /** Another caller renewed the token meanwhile: use the stored one. */
  | "satisfied"
  /** The holder is still at it after `leaseMs`: go ahead without a lease. */
  | "timeout";

interface Held {
  path: string;
  ino: bigint;
  timer: NodeJS.Timeout;
}

const POLL_MS = 20;

export class LeaseTable {
  readonly #held = new Map<string, Held>();

  constructor(
    private readonly storePath: string,
    readonly leaseMs: number,
  ) {}

  /**
   * Takes the lease for `key`, or waits for its holder. `satisfied` says whether the work
   * is done already (the stored token is fresh); it is checked before and while waiting.
   */
  async claim(key: string, satisfied: () => Promise<boolean>): Promise<LeaseOutcome> {
    const path = this.#pathFor(key);
    const deadline = Date.now() + this.leaseMs;
    for (;;) {
      if (await satisfied()) return "satisfied";
      if (!this.#held.has(key) && this.#tryCreate(key, path)) {
        // The previous holder may have saved and released between the check above and
        // the create: look once more before renewing again.
        if (!(await satisfied())) return "acquired";
        this.release(key);
        return "satisfied";
      }
      if (!this.#held.has(key)) this.#removeIfAbandoned(path);
      if (Date.now() >= deadline) return "timeout";
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Ends this process's lease on `key`, if it holds one. */
  release(key: string): void {
    const held = this.#held.get(key);
    if (!held) return;
    this.#held.delete(key);
    clearTimeout(held.timer);
    try {
      // Only our own lease file: an expired one may have been replaced by a new holder's.
      if (fs.statSync(held.path, { bigint: true }).ino === held.ino) fs.unlinkSync(held.path);
    } catch {
      // Already gone.
    }
  }

  /** True when this process holds the lease on `key`. */
  holds(key: string): boolean {
    return this.#held.has(key);
  }

  #pathFor(key: string): string {
    const digest = createHash("sha256").update("zoho-encrypted-filestore lease v1\0").update(key).digest("hex");
    return `${this.storePath}.lease-${digest.slice(0, 32)}`;
  }

  #tryCreate(key: string, path: string): boolean {
    let fd: number;
    try {
      fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    } catch {
      return false;
    }
    try {
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, since: Date.now() }));
      const ino = fs.fstatSync(fd, { bigint: true }).ino;
      const timer = setTimeout(() => this.release(key), this.leaseMs);
      timer.unref();
      this.#held.set(key, { path, ino, timer });
      return true;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Removes a lease whose holder is dead or that outlived `leaseMs`. */
  #removeIfAbandoned(path: string): void {
    let ino: bigint;
    let holder: { pid?: unknown; since?: unknown };
    try {
      const stats = fs.statSync(path, { bigint: true });
      ino = stats.ino;
      try {
        holder = JSON.parse(fs.readFileSync(path, "utf8")) as typeof holder;
      } catch {
        // Being written this instant, or its writer died before writing: judge by age.
        holder = { pid: process.pid, since: Number(stats.mtimeMs) };
      }
    } catch {
      return; // Gone: look again on the next poll.
    }
    const expired = typeof holder.since !== "number" || Date.now() - holder.since > this.leaseMs;
    if (!expired && !isDead(holder.pid)) return;
    try {
      if (fs.statSync(path, { bigint: true }).ino === ino) fs.unlinkSync(path);
    } catch {
      // Someone else removed it first.
    }
  }
}

function isDead(pid: unknown): boolean {
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0) return true;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
