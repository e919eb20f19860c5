/**
 * Refresh leases on a SQL server: the refresh coordinator of every SQL backend.
 *
 * A lease is a row (namespace, name, owner, expires_at). Its name is an HMAC of the token
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
 * token. A server that cannot be reached makes a claim go ahead without a lease: leases
 * are an optimisation, never a reason to fail a refresh.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { LeaseOutcome, RefreshCoordinator } from "../types.js";

const POLL_MS = 50;

export interface SqlLeaseOperations {
  leaseMs: number;
  nameKey: () => Uint8Array;
  take(name: string, owner: string, ms: number): Promise<boolean>;
  release(name: string, owner: string): Promise<void>;
}

export class SqlLeases implements RefreshCoordinator {
  readonly leaseMs: number;
  readonly #ops: SqlLeaseOperations;
  /** The owner token of each lease this process holds, by key. */
  readonly #held = new Map<string, string>();

  constructor(ops: SqlLeaseOperations) {
    this.#ops = ops;
    this.leaseMs = ops.leaseMs;
  }

  async claim(key: string, satisfied: () => Promise<boolean>): Promise<LeaseOutcome> {
    const name = this.#nameOf(key);
    const deadline = Date.now() + this.leaseMs;
    for (;;) {
      if (await satisfied()) return "satisfied";
      // Asking again while holding it (the renewal ended without a save): renew it under the same owner.
      const owner = this.#held.get(key) ?? randomBytes(16).toString("hex");
      let taken: boolean;
      try {
        taken = await this.#ops.take(name, owner, this.leaseMs);
      } catch {
        // The server cannot be asked: renew without a lease.
        return "timeout";
      }
      if (taken) {
        this.#held.set(key, owner);
        // The previous holder may have saved and released between the check and the take.
        if (!(await satisfied())) return "acquired";
        await this.release(key);
        return "satisfied";
      }
      if (Date.now() >= deadline) return "timeout";
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async release(key: string): Promise<void> {
    const owner = this.#held.get(key);
    if (owner === undefined) return;
    this.#held.delete(key);
    await this.#ops.release(this.#nameOf(key), owner);
  }

  #nameOf(key: string): string {
    return createHmac("sha256", this.#ops.nameKey()).update(key).digest("hex").slice(0, 32);
  }
}
