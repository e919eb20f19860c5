/**
 * A backend that keeps the sealed bytes in memory, for tests and for programs that want
 * the store's API without a file. It proves the seam: the token store runs on it
 * unchanged. Exclusive changes are serialised in process; a replace is a
 * compare-and-set on a version counter. Nothing survives the process.
 */
import { TokenStoreError } from "../../errors.js";
import type { ExclusiveSession, HeadCheck, StorageBackend, Stored, Version } from "../types.js";

interface Slot {
  bytes: Uint8Array;
  version: number;
}

export class MemoryBackend implements StorageBackend {
  readonly location: string;
  #current: Slot | undefined;
  #previous: Slot | undefined;
  #versions = 0;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(location = "memory") {
    this.location = location;
  }

  isCurrent(version: Version): boolean {
    return this.#current !== undefined && this.#current.version === version;
  }

  async read(head?: HeadCheck): Promise<Stored | undefined> {
    return view(this.#current, head);
  }

  hasPrevious(): boolean {
    return this.#previous !== undefined;
  }

  async readPrevious(head?: HeadCheck): Promise<Stored | undefined> {
    return view(this.#previous, head);
  }

  exclusive<T>(change: (session: ExclusiveSession) => Promise<T>): Promise<T> {
    const session: ExclusiveSession = {
      isCurrent: (version) => this.isCurrent(version),
      read: (head) => this.read(head),
      currentVersion: () => this.#current?.version,
      replace: async (parts, expected, { keepPrevious }) => {
        if (this.#current?.version !== expected) {
          throw new TokenStoreError("LOCK_COMPROMISED", `${this.location} changed since it was read; the change was not written`, { action: "retry" });
        }
        const bytes = Buffer.concat(parts.map((part) => Buffer.from(part.buffer, part.byteOffset, part.byteLength)));
        if (keepPrevious && this.#current) this.#previous = this.#current;
        this.#current = { bytes: new Uint8Array(bytes), version: ++this.#versions };
        return this.#current.version;
      },
    };
    const run = this.#queue.then(() => change(session));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Bytes as stored, for tests that tamper with them. */
  get bytes(): Uint8Array | undefined {
    return this.#current?.bytes;
  }

  /** Replaces the stored bytes from outside the store (tests: tampering, rollback). */
  set bytes(bytes: Uint8Array | undefined) {
    this.#current = bytes === undefined ? undefined : { bytes, version: ++this.#versions };
  }
}

function view(slot: Slot | undefined, head: HeadCheck | undefined): Stored | undefined {
  if (!slot) return undefined;
  head?.check(slot.bytes.subarray(0, head.headBytes), slot.bytes.length);
  return { bytes: slot.bytes, version: slot.version };
}
