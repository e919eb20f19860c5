/**
 * A backend that keeps sealed records in memory, for tests and for programs that want
 * the store's API without a file. It proves the seam: the token store runs on it
 * unchanged. Exclusive changes are serialised in process (across every instance over the
 * same {@link MemorySpace}); a replacement is a compare-and-set on a version counter,
 * staged and applied only when the change resolves, so a change that throws writes
 * nothing, as a server's transaction. Nothing survives the process.
 *
 * With granularity `"records"` it keeps per-record versions and tombstones and answers
 * a read with `since` by what changed since, as a server backend does: the store's
 * delta path can be tested without a server.
 */
import { TokenStoreError } from "../../errors.js";
import {
  DOCUMENT_RECORD,
  UNCHANGED,
  HEAD_RECORD,
  type Check,
  type ExclusiveSession,
  type HeadCheck,
  type Peek,
  type ReadOptions,
  type ReadResult,
  type RecordId,
  type Replacement,
  type Snapshot,
  type StorageBackend,
  type StoredRecord,
} from "../types.js";

interface Held {
  bytes: Uint8Array;
  /** The version of the store when this record was last written. */
  written: number;
}

interface State {
  records: Map<RecordId, Held>;
  /** Ids removed, with the version that removed them. */
  removed: Map<RecordId, number>;
  version: number;
}

/**
 * The storage several {@link MemoryBackend} instances share, as processes share a file or
 * a database: their exclusive sections never overlap, and each sees the others' writes.
 */
export class MemorySpace {
  current: State | undefined;
  previous: Map<RecordId, Uint8Array> | undefined;
  versions = 0;
  queue: Promise<unknown> = Promise.resolve();
}

export interface MemoryBackendOptions {
  /** Named in messages. Default "memory". */
  location?: string;
  /** Default "document". */
  granularity?: "document" | "records";
  /** Shared with other instances (default: a new one). */
  space?: MemorySpace;
}

export class MemoryBackend implements StorageBackend {
  readonly location: string;
  readonly granularity: "document" | "records";
  /** The storage of this instance, to open another instance over the same records. */
  readonly space: MemorySpace;
  #closed = false;

  constructor(options: string | MemoryBackendOptions = {}) {
    const { location = "memory", granularity = "document", space = new MemorySpace() } = typeof options === "string" ? { location: options } : options;
    this.location = location;
    this.granularity = granularity;
    this.space = space;
  }

  async create(): Promise<{ created: boolean }> {
    this.#open();
    return { created: false };
  }

  async read(options: ReadOptions = {}): Promise<ReadResult> {
    this.#open();
    return this.#read(options);
  }

  async hasPrevious(): Promise<boolean> {
    this.#open();
    return this.space.previous !== undefined;
  }

  async readPrevious(check?: HeadCheck): Promise<Snapshot | undefined> {
    this.#open();
    const previous = this.space.previous;
    if (!previous) return undefined;
    return {
      kind: "snapshot",
      version: undefined,
      complete: true,
      records: checked(
        [...previous].map(([id, bytes]) => ({ id, bytes })),
        check,
      ),
      removed: [],
    };
  }

  async peek(options: { headBytes: number; id?: RecordId; previous?: boolean }): Promise<Peek | undefined> {
    this.#open();
    const id = options.id ?? (this.granularity === "records" ? HEAD_RECORD : DOCUMENT_RECORD);
    const bytes = options.previous ? this.space.previous?.get(id) : this.space.current?.records.get(id)?.bytes;
    return bytes && { head: bytes.subarray(0, options.headBytes), length: bytes.length };
  }

  async inspect(): Promise<Check[]> {
    this.#open();
    const records = this.space.current?.records.size ?? 0;
    return [{ check: "memory", status: "ok", message: `${this.location}: ${records} record${records === 1 ? "" : "s"} in memory` }];
  }

  exclusive<T>(change: (session: ExclusiveSession) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const { space } = this;
    const run = space.queue.then(async () => {
      this.#open();
      let staged: (() => void) | undefined;
      const session: ExclusiveSession = {
        read: async (options) => this.#read(options ?? {}),
        currentVersion: async () => space.current?.version,
        replace: async (replacement, expected, { keepPrevious }) => {
          if (staged) throw new TypeError("replace may be called once per exclusive section");
          if (space.current?.version !== expected) {
            throw new TokenStoreError("WRITE_CONFLICT", `${this.location} changed since it was read; the change was not written`, {
              location: this.location,
              action: "retry",
            });
          }
          const version = ++space.versions;
          const next = this.#apply(replacement, version);
          staged = () => {
            if (keepPrevious && space.current) space.previous = new Map([...space.current.records].map(([id, held]) => [id, held.bytes]));
            space.current = next;
          };
          return version;
        },
      };
      const value = await change(session);
      staged?.();
      return value;
    });
    space.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** The bytes of the document as stored, for tests that tamper with them. */
  get bytes(): Uint8Array | undefined {
    return this.space.current?.records.get(DOCUMENT_RECORD)?.bytes;
  }

  /** Replaces the stored document from outside the store (tests: tampering, rollback). */
  set bytes(bytes: Uint8Array | undefined) {
    const version = ++this.space.versions;
    this.space.current = bytes === undefined ? undefined : { records: new Map([[DOCUMENT_RECORD, { bytes, written: version }]]), removed: new Map(), version };
  }

  #open(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): TokenStoreError {
    return new TokenStoreError("CLOSED", `${this.location} was closed`, { location: this.location });
  }

  #read({ since, check }: ReadOptions): ReadResult {
    const state = this.space.current;
    if (!state) return { kind: "missing" };
    if (since !== undefined && since === state.version) return UNCHANGED;
    if (this.granularity === "records" && typeof since === "number" && since < state.version && since > 0) {
      const records = [...state.records].filter(([, held]) => held.written > since).map(([id, held]) => ({ id, bytes: held.bytes }));
      const removed = [...state.removed].filter(([, at]) => at > since).map(([id]) => id);
      return { kind: "snapshot", version: state.version, complete: false, records: checked(records, check), removed };
    }
    const records = [...state.records].map(([id, held]) => ({ id, bytes: held.bytes }));
    return { kind: "snapshot", version: state.version, complete: true, records: checked(records, check), removed: [] };
  }

  /** The state after `replacement`, at `version`; refuses what this granularity cannot take. */
  #apply(replacement: Replacement, version: number): State {
    const { space } = this;
    if (this.granularity === "document" && (!replacement.whole || replacement.put.length !== 1 || replacement.put[0]!.id !== DOCUMENT_RECORD)) {
      throw new TypeError(`a backend of granularity "document" takes one whole record named ${JSON.stringify(DOCUMENT_RECORD)}`);
    }
    const records = replacement.whole ? new Map<RecordId, Held>() : new Map(space.current?.records);
    const removed = new Map(space.current?.removed);
    if (replacement.whole) {
      for (const id of space.current?.records.keys() ?? []) removed.set(id, version);
    }
    for (const id of replacement.remove) {
      if (records.delete(id)) removed.set(id, version);
    }
    for (const record of replacement.put) {
      records.set(record.id, { bytes: concat(record.parts), written: version });
      removed.delete(record.id);
    }
    return { records, removed, version };
  }
}

function checked(records: StoredRecord[], check: HeadCheck | undefined): StoredRecord[] {
  if (check) for (const { bytes } of records) check.check(bytes.subarray(0, check.headBytes), bytes.length);
  return records;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((part) => Buffer.from(part.buffer, part.byteOffset, part.byteLength))));
}
