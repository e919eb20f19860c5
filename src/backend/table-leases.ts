/**
 * Refresh leases kept in a table: the refresh coordinator of every SQL backend (a row per
 * lease on the server), and the store's own for a backend without one (a map in memory).
 *
 * A lease is an entry (on a server, a row: namespace, name, owner, expires_at). Its name is an HMAC of the token
 * under a key derived from the store's key (a blind name: the row says nothing of the
 * token to someone who reads the table). Taking it is one autocommit statement that
 * inserts the row, or takes it over when it expired on the server's clock or is already
 * this claim's; ending it deletes the row only if its owner is still this claim's random
 * owner token, so a holder whose lease expired and was taken by another cannot end the
 * newer lease (fencing). No session state and no advisory lock: it works the same
 * through PgBouncer's transaction pooling.
 *
 * A holder killed mid-refresh holds the others up no longer than `leaseMs` (its row
 * expires); waiters poll `satisfied` (one read of the store each) and get the renewed
 * token. Callers of one coordinator wait for each other the same way (concurrent API
 * calls through one adapter); a holder releases when its renewal ends, saved or not. A server that cannot be reached makes a claim go ahead without a lease: leases
 * are an optimisation, never a reason to fail a refresh.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { LeaseOutcome, RefreshCoordinator } from "./types.js";

const POLL_MS = 50;

export interface LeaseTableOperations {
  leaseMs: number;
  nameKey: () => Uint8Array;
  take(name: string, owner: string, ms: number): Promise<boolean>;
  release(name: string, owner: string): Promise<void>;
}

export class TableLeases implements RefreshCoordinator {
  readonly leaseMs: number;
  readonly #ops: LeaseTableOperations;
  /** The owner token of each lease this coordinator holds, by key, and when it runs out. */
  readonly #held = new Map<string, { owner: string; until: number }>();

  constructor(ops: LeaseTableOperations) {
    this.#ops = ops;
    this.leaseMs = ops.leaseMs;
  }

  async claim(key: string, satisfied: () => Promise<boolean>): Promise<LeaseOutcome> {
    const name = this.#nameOf(key);
    const deadline = Date.now() + this.leaseMs;
    for (;;) {
      if (await satisfied()) return "satisfied";
      // A lease this coordinator holds is another caller's renewal in flight (two API calls
      // through one adapter): waited for like any other holder's, until it is released
      // (saved, or the renewal failed) or its time is out.
      const held = this.#held.get(key);
      if (held !== undefined && Date.now() >= held.until) this.#held.delete(key);
      if (!this.#held.has(key)) {
        const owner = randomBytes(16).toString("hex");
        let taken: boolean;
        try {
          taken = await this.#ops.take(name, owner, this.leaseMs);
        } catch {
          // The server cannot be asked: renew without a lease.
          return "timeout";
        }
        if (taken) {
          this.#held.set(key, { owner, until: Date.now() + this.leaseMs });
          // The previous holder may have saved and released between the check and the take.
          if (!(await satisfied())) return "acquired";
          await this.release(key);
          return "satisfied";
        }
      }
      if (Date.now() >= deadline) return "timeout";
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async release(key: string): Promise<void> {
    const held = this.#held.get(key);
    if (held === undefined) return;
    this.#held.delete(key);
    await this.#ops.release(this.#nameOf(key), held.owner);
  }

  #nameOf(key: string): string {
    return createHmac("sha256", this.#ops.nameKey()).update(key).digest("hex").slice(0, 32);
  }
}

/**
 * The operations of a lease table held in this process's memory: the leases of a store
 * whose backend coordinates nothing itself (one process), so that callers of that store
 * (concurrent API calls through one adapter, or several adapters on one store) still
 * renew a token once. Expiry is on this process's clock.
 */
export function memoryLeaseTable(): Pick<LeaseTableOperations, "take" | "release"> {
  const leases = new Map<string, { owner: string; until: number }>();
  return {
    take: async (name, owner, ms) => {
      const now = Date.now();
      const held = leases.get(name);
      if (held !== undefined && held.owner !== owner && held.until > now) return false;
      leases.set(name, { owner, until: now + ms });
      return true;
    },
    release: async (name, owner) => {
      if (leases.get(name)?.owner === owner) leases.delete(name);
    },
  };
}
