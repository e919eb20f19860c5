/**
 * The token store: the six TokenStore operations, over any storage backend.
 *
 * This file is over 350 lines on purpose: it is the one place where the decrypted cache,
 * the batching of changes and the commit protocol meet, and splitting them would hand
 * state between files.
 *
 * Reads take no lock: they revalidate the decrypted document held in memory against the
 * backend's version and read what changed in the same call (for a file, one `stat`, and a
 * read only when another writer replaced it), and decrypt again only then.
 *
 * Changes are queued in process, then applied in one batch, inside the backend's
 * exclusive section, to the latest document, and land through one compare-and-set
 * replacement of the sealed bytes. When the backend reports that exclusivity was lost
 * or the stored version changed before anything was written (LOCK_COMPROMISED,
 * WRITE_CONFLICT), the whole batch is tried again from a fresh read, a few times, so a
 * lost race costs time, never a change. What a change commits becomes this process's
 * cached document only once the backend's exclusive section has ended (committed).
 */
import { inspect } from "node:util";
import { describeType, TokenStoreError, isTokenStoreError } from "../errors.js";
import { HEADER_BYTES, MAX_DOCUMENT_BYTES, readHeader, sealParts, unseal, type Header } from "../crypto/envelope.js";
import { KeyRing, leaseSecret, readRetired, retiredEntry, withoutRetired, withRetired, type LoadedKey, type RetiredKey } from "../crypto/keyring.js";
import { sameKeyId, type MasterKey } from "../crypto/keys.js";
import type { KeyInput } from "../crypto/key-sources.js";
import {
  DOCUMENT_RECORD,
  HEAD_RECORD,
  type ExclusiveSession,
  type HeadCheck,
  type RefreshCoordinator,
  type Snapshot,
  type StorageBackend,
  type Version,
} from "../backend/types.js";
import { memoryLeaseTable, TableLeases, type LeaseTableOperations } from "../backend/table-leases.js";
import { TokenDocument } from "../tokens/document.js";
import { contextOf, emptyIndex, headPlaintext, openRecords, plannedRecords, recordPlaintext, type RecordsIndex } from "./records.js";
import { normalizeId, normalizeInput } from "../tokens/input.js";
import { exposeRecord } from "../tokens/record.js";
import type { TokenInput, TokenRecord } from "../tokens/types.js";
import { parseStoreOptions, type EncryptedTokenStoreOptions, type StoreSettings } from "./options.js";

/** What `verify()` found. */
export interface StoreStatus {
  /** Where the store lives, safe to print: the file path, or a server URL without its password. */
  location: string;
  /** @deprecated The same as `location`. */
  path: string;
  /** False when nothing is stored yet. */
  exists: boolean;
  /** Generation of the stored document (0 when there is none). */
  generation: number;
  tokens: number;
  keySource: "raw" | "passphrase" | null;
  /** False when the file is sealed with another key than the current one (see previousKeys). */
  currentKey: boolean;
}

/** The sealed document as read, and its version. */
interface Stored {
  bytes: Uint8Array;
  version: Version;
}

/** What a change wrote, made the cached document once its exclusive section has ended. */
interface Commit {
  loaded: Omit<Loaded, "doc">;
  committed: () => TokenDocument;
}

/** One exclusive section: the backend's session, and what was written in it. */
interface Section {
  session: ExclusiveSession;
  commit: Commit | undefined;
}

interface Loaded {
  doc: TokenDocument;
  version: Version | undefined;
  generation: number;
  /** For bytes that could not be opened: the generation their header claims (not authenticated). */
  claimedGeneration?: number;
  /** For bytes that could not be opened: the key of ours their header names (not authenticated). */
  claimedKey?: MasterKey;
  header: Header | undefined;
  /** The key that opened it (undefined: nothing stored, or unreadable). */
  key: MasterKey | undefined;
  /** Granularity "records": where each token's record is. */
  index?: RecordsIndex;
}

/** What a write stores: a serialized document, or (granularity "records") the records it changes. */
type Content =
  | { kind: "document"; plaintext: Uint8Array }
  | {
      kind: "records";
      nextId: number;
      meta: Readonly<Record<string, unknown>>;
      /** Every record (a whole replacement), or the ones changed. */
      changes: { all: readonly TokenRecord[] } | { put: readonly TokenRecord[]; removed: readonly string[] };
    };

interface PendingChange {
  apply(doc: TokenDocument): { value: unknown; changed: boolean };
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Thrown inside the exclusive section when a key must be derived first; the change is retried after `prepare`, outside. */
class NeedsDerivation {
  constructor(readonly prepare: () => Promise<void>) {}
}

/** How many times a change that lost its exclusivity before writing is tried again. */
const MAX_RETRIES = 5;

export class EncryptedTokenStore {
  readonly #backend: StorageBackend;
  readonly #keepPrevious: boolean;
  #keys: KeyRing;
  #cache: Loaded | undefined;
  #highestGeneration = 0;
  #pending: PendingChange[] = [];
  #draining = false;
  #closing: Promise<void> | undefined;
  /** The drain of queued changes under way, if any. */
  #drainRun: Promise<void> | undefined;
  /** The check of stored bytes before they are read whole, made once (reads run it often). */
  #check: HeadCheck | undefined;
  /** Exclusive sections under way, settled. */
  readonly #inflight = new Set<Promise<void>>();
  /** The leases of {@link refreshCoordinator} when the backend keeps none itself. */
  #localLeases: Pick<LeaseTableOperations, "take" | "release"> | undefined;

  protected constructor(backend: StorageBackend, keys: KeyRing, keepPrevious: boolean) {
    this.#backend = backend;
    this.#keys = keys;
    this.#keepPrevious = keepPrevious;
  }

  /**
   * Opens the store kept by `backend` and checks that the key opens it. Throws
   * WRONG_KEY, UNSUPPORTED_VERSION or INVALID_OPTION at once. A damaged or missing store
   * does not stop `open`, so that `recover()` can be called; every other operation
   * reports it.
   *
   * @example
   * const store = await EncryptedTokenStore.openBackend(new MemoryBackend(), { key: generateKey() });
   */
  static async openBackend(backend: StorageBackend, options: EncryptedTokenStoreOptions): Promise<EncryptedTokenStore> {
    const settings = parseStoreOptions(options);
    const keys = await KeyRing.load(settings.key, settings.previousKeys);
    return EncryptedTokenStore.assemble((ring) => new EncryptedTokenStore(backend, ring, settings.keepPrevious), backend, keys, settings);
  }

  /**
   * Builds a store (made by `create` once its keys are ready) on a backend whose keys are
   * already loaded: what every composition root (openBackend, EncryptedFileStore.open) runs.
   */
  protected static async assemble<S extends EncryptedTokenStore>(
    create: (keys: KeyRing) => S,
    backend: StorageBackend,
    keys: { current: LoadedKey; older: LoadedKey[] },
    settings: StoreSettings,
  ): Promise<S> {
    // Read once: the header tells the passphrase's salt, then the same bytes are opened.
    let stored: Snapshot | undefined;
    let header: Header | undefined;
    try {
      const result = await backend.read({ check: headCheck(backend.location) });
      stored = result.kind === "snapshot" ? result : undefined;
      header = stored && readHeader(firstRecord(stored, backend).bytes, backend.location);
    } catch (error) {
      if (!isTokenStoreError(error, "DAMAGED_FILE")) throw error;
    }
    const store = create(await KeyRing.create(keys, header, { log2N: settings.scryptCost, r: 8, p: 1 }));
    try {
      if (stored) await store.#open(backend.location, stored, { checkRollback: true, mayDerive: true, inPlace: false });
      else await store.#read();
    } catch (error) {
      if (!isTokenStoreError(error, "DAMAGED_FILE") && !isTokenStoreError(error, "FILE_MISSING")) throw error;
    }
    return store;
  }

  /**
   * The stored token matching `token` by the SDK FileStore's rules, or null: by user
   * name when one is given; else by access token when no client id or secret is
   * given; else by grant token, then refresh token.
   */
  async findToken(token: TokenInput): Promise<TokenRecord | null> {
    const query = normalizeInput(token);
    const record = (await this.#read()).match(query);
    return record ? exposeRecord(record) : null;
  }

  /** The record with this id, or null when there is none. */
  async findTokenById(id: string): Promise<TokenRecord | null> {
    const key = normalizeId(id)!;
    const record = (await this.#read()).get(key);
    return record ? exposeRecord(record) : null;
  }

  /** Every stored record, oldest first. */
  async getTokens(): Promise<TokenRecord[]> {
    return (await this.#read()).all().map(exposeRecord);
  }

  /**
   * Inserts or updates a record (see the matching rules of findToken; a token with an
   * id updates the record with that id). Fields given replace stored ones; fields not
   * given are kept. Resolves to the stored record, with its id.
   * @throws INVALID_TOKEN for a malformed token, or a new one with no token in it.
   */
  async saveToken(token: TokenInput): Promise<TokenRecord> {
    const input = normalizeInput(token);
    return this.#change((doc) => ({ value: exposeRecord(doc.save(input)), changed: true }));
  }

  /**
   * Saves several tokens as one change: all of them are stored, one after the other by the
   * rules of saveToken, or none is. Resolves to the stored records, in the same order.
   * @throws INVALID_TOKEN for a malformed token, or a new one with no token in it;
   *   LIMIT_EXCEEDED when they do not fit in the store together. Nothing is stored then.
   */
  async saveTokens(tokens: readonly TokenInput[]): Promise<TokenRecord[]> {
    if (!Array.isArray(tokens)) throw new TokenStoreError("INVALID_TOKEN", `tokens must be an array, got ${describeType(tokens)}`);
    const inputs = Array.from(tokens, (token, index) => normalizeInput(token, `tokens[${index}]`));
    if (inputs.length === 0) return [];
    return this.#change((doc) => ({ value: inputs.map((input) => exposeRecord(doc.save(input))), changed: true }));
  }

  /** Deletes the record with this id. Resolves to false (and writes nothing) when there is none. */
  async deleteToken(id: string): Promise<boolean> {
    const key = normalizeId(id)!;
    return this.#change((doc) => {
      const deleted = doc.delete(key);
      return { value: deleted, changed: deleted };
    });
  }

  /** Deletes every record. Ids are still never reused. */
  async deleteTokens(): Promise<void> {
    await this.#change((doc) => {
      const changed = doc.size > 0;
      doc.clear();
      return { value: undefined, changed };
    });
  }

  /**
   * Provisions the store, idempotently: the backend's create step (a private directory;
   * a server's schema and its version), then, when nothing is stored yet, the first
   * generation of an empty store sealed with the current key. Resolves `created: false`
   * and writes nothing when the store exists. Every sealed header carries the format
   * version, which `open` checks (UNSUPPORTED_VERSION). Throws FILE_MISSING, writing
   * nothing, when the stored document is gone but its previous generation is kept.
   */
  async create(): Promise<{ created: boolean }> {
    this.#assertOpen();
    await this.#backend.create();
    let created = false;
    await this.#exclusive(async (base, section) => {
      created = false;
      if (base.version !== undefined) return;
      await this.#commit(section, base, this.#content(base.doc, base.doc.meta, true), this.#keys.currentKey, false, () => base.doc);
      created = true;
    });
    return { created };
  }

  /**
   * Re-seals the store under `newKey` (default: this store's current key), atomically,
   * in the exclusive section. The key it leaves is retired: no process seals with it
   * again unless a rekey returns to it. This store keeps the old key for reading; other
   * processes need the new key (or it in their previousKeys) from now on.
   */
  async rekey(newKey?: KeyInput): Promise<void> {
    this.#assertOpen();
    const next = newKey === undefined ? undefined : await this.#keys.masterFor(newKey);
    const master = next?.master ?? this.#keys.currentKey;
    // Known before the write: should finishing it fail after the new file is in place, this
    // process still opens its own store.
    this.#keys.know(master);
    await this.#exclusive(async (base, section) => {
      const left = base.key && !sameKeyId(base.key.keyId, master.keyId) ? withRetired(base.doc.meta, retiredEntry(base.key)) : base.doc.meta;
      const meta = withoutRetired(left, master.keyId);
      await this.#commit(section, base, this.#content(base.doc, meta, true), master, this.#keepPrevious, () => {
        base.doc.meta = meta;
        return base.doc;
      });
    });
    if (next) this.#keys.replaceCurrent(next.master, next.source);
  }

  /**
   * Restores the previous generation after checking that it opens and authenticates; it
   * becomes a new generation, numbered above every generation this process has
   * authenticated. Never called automatically.
   * @returns the generation that was restored and how many tokens it holds.
   */
  async recover(): Promise<{ restoredGeneration: number; generation: number; tokens: number }> {
    this.#assertOpen();
    const location = this.#backend.location;
    let result!: { restoredGeneration: number; generation: number; tokens: number };
    await this.#exclusive(
      async (base, section) => {
        // Read in the exclusive section: a write in between makes the previous generation
        // another one, and restoring the one read before would drop that write unseen.
        const snapshot = await this.#backend.readPrevious(headCheck(location));
        const where = `${location} (previous generation)`;
        const previous = snapshot && (await this.#open(where, snapshot, { checkRollback: false, mayDerive: false, inPlace: false }));
        if (!previous) {
          throw new TokenStoreError("FILE_MISSING", `there is no previous generation of ${location} to recover`, { location });
        }
        // Numbered above every authenticated generation, and above the damaged file's
        // claimed one only as far as it can be the successor of the previous generation:
        // its header is not authenticated and could claim any number.
        const claimed = Math.min(base.claimedGeneration ?? 0, previous.generation + 1);
        const floor = Math.max(base.generation, this.#highestGeneration, previous.generation, claimed);
        const { key: fileKey, retired } = this.#recoveryKeys(base, previous);
        const master = this.#keys.sealingKey(fileKey, retired);
        let meta = previous.doc.meta;
        for (const entry of retired) meta = withRetired(meta, entry);
        for (const left of [base.key, base.claimedKey, previous.key]) {
          if (left && !sameKeyId(left.keyId, master.keyId)) meta = withRetired(meta, retiredEntry(left));
        }
        // The current bytes are not kept as the previous generation: they are what is being recovered from.
        await this.#commit(section, { ...base, generation: floor }, this.#content(previous.doc, meta, true), master, false, () => {
          previous.doc.meta = meta;
          return previous.doc;
        });
        result = { restoredGeneration: previous.generation, generation: floor + 1, tokens: previous.doc.size };
      },
      { tolerateCurrent: true },
    );
    return result;
  }

  /**
   * Which key the store is on, for recover(), and the keys it retired. Authenticated facts
   * decide: the current file's key when it opened, else the previous generation's, and
   * both documents' retired keys. A damaged file's header may name another key of ours:
   * then the store moved to that key after the previous generation (a rekey), and the
   * previous generation's key counts as retired, unless an authenticated list retired
   * the named key (a header forged to name an old key changes nothing).
   */
  #recoveryKeys(base: Loaded, previous: Loaded): { key: MasterKey | undefined; retired: RetiredKey[] } {
    const retired = [...readRetired(base.doc.meta), ...readRetired(previous.doc.meta)];
    if (base.header) return { key: base.key, retired };
    const named = base.claimedKey;
    if (!named || !previous.key || sameKeyId(named.keyId, previous.key.keyId) || retired.some((entry) => sameKeyId(entry.keyId, named.keyId))) {
      return { key: previous.key, retired };
    }
    return { key: named, retired: [...retired, retiredEntry(previous.key)] };
  }

  /** Opens and authenticates what is stored and reports what is in it. */
  async verify(): Promise<StoreStatus> {
    const doc = await this.#read();
    const cache = this.#cache;
    const header = cache?.header;
    return {
      location: this.#backend.location,
      path: this.#backend.location,
      exists: header !== undefined,
      generation: cache?.generation ?? 0,
      tokens: doc.size,
      keySource: header ? (header.kdf ? "passphrase" : "raw") : null,
      currentKey: header ? this.#keys.find(header) === this.#keys.currentKey : true,
    };
  }

  /**
   * A refresh coordinator for the processes sharing this store (the SDK adapter uses it):
   * the backend's own when it has one (lease files, lease rows), else leases in this
   * store's memory, which every coordinator of this store shares: one renewal at a time
   * per token within the process, the others wait for it. Leases are named with a key
   * derived from the key the store is sealed with, which every process sharing the store
   * holds.
   */
  refreshCoordinator(options: { leaseMs: number }): RefreshCoordinator {
    const nameKey = () => leaseSecret(this.#cache?.key ?? this.#keys.currentKey);
    const own = this.#backend.refreshCoordinator?.({ leaseMs: options.leaseMs, nameKey });
    if (own !== undefined) return own;
    this.#localLeases ??= memoryLeaseTable();
    return new TableLeases({ leaseMs: options.leaseMs, nameKey, ...this.#localLeases });
  }

  /**
   * Waits for the changes already queued, then closes the backend (ending what it opened,
   * such as a connection pool it created). Idempotent; every later operation rejects
   * with CLOSED.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#drainRun || this.#inflight.size > 0) await (this.#drainRun ?? Promise.all(this.#inflight));
      this.#cache = undefined;
      await this.#backend.close();
    })();
    return this.#closing;
  }

  /** `await using store = await EncryptedFileStore.open(...)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  toJSON(): { location: string; path: string } {
    return { location: this.#backend.location, path: this.#backend.location };
  }

  [inspect.custom](): string {
    return `${this.constructor.name} { location: ${inspect(this.#backend.location)} }`;
  }

  /** What a write of the whole of `doc` (with `meta`) stores. */
  #content(doc: TokenDocument, meta: Readonly<Record<string, unknown>>, _whole: true): Content {
    if (this.#backend.granularity !== "records") return { kind: "document", plaintext: doc.serialize(meta, MAX_DOCUMENT_BYTES) };
    return { kind: "records", nextId: doc.nextId, meta, changes: { all: doc.all() } };
  }

  /** What every record of a records store is bound to. */
  get #binding(): string {
    return this.#backend.binding ?? this.#backend.location;
  }

  // ---- reading -------------------------------------------------------------

  /** The current document: the cached one if the stored bytes are unchanged, else read again (one backend call). */
  async #read(): Promise<TokenDocument> {
    this.#assertOpen();
    const cache = this.#cache;
    const location = this.#backend.location;
    const pending = this.#backend.read({ since: cache?.version, check: this.#headCheck() });
    // A backend that answers at once (a file: one stat) costs no extra turn of the event loop.
    const result = pending instanceof Promise ? await pending : pending;
    if (result.kind === "unchanged" && cache) return cache.doc;
    if (result.kind !== "snapshot") return (await this.#whenMissing()).doc;
    // Not in place: the document held may be the base of a change being written.
    return (await this.#open(location, result, { checkRollback: true, mayDerive: true, inPlace: false })).doc;
  }

  /** The check of stored bytes before they are read whole, made once per store. */
  #headCheck(): HeadCheck {
    this.#check ??= headCheck(this.#backend.location);
    return this.#check;
  }

  #assertOpen(): void {
    if (this.#closing) throw new TokenStoreError("CLOSED", `the store ${this.#backend.location} was closed`, { location: this.#backend.location });
  }

  /** The document of a store with nothing stored: empty, unless it existed before. */
  async #whenMissing(): Promise<Loaded> {
    const location = this.#backend.location;
    const hasPrevious = await this.#backend.hasPrevious();
    if (this.#highestGeneration > 0 || hasPrevious) {
      throw new TokenStoreError(
        "FILE_MISSING",
        `${location} is missing, but the store existed (${hasPrevious ? "its previous generation is kept" : `generation ${this.#highestGeneration} was seen`})`,
        { location, action: "recover", advice: "recover() restores the previous generation; or remove the previous generation to start an empty store" },
      );
    }
    return { doc: TokenDocument.empty(), version: undefined, generation: 0, header: undefined, key: undefined };
  }

  /**
   * Authenticates and parses stored bytes (`where` names them in messages). In the
   * exclusive section (`mayDerive` false) a key that must first be derived is not derived
   * here: NeedsDerivation sends the caller out of it to do so.
   */
  async #open(
    where: string,
    snapshot: Snapshot,
    { checkRollback, mayDerive, inPlace }: { checkRollback: boolean; mayDerive: boolean; inPlace: boolean },
  ): Promise<Loaded> {
    const records = this.#backend.granularity === "records";
    const stored: Stored = records ? { bytes: firstRecord(snapshot, this.#backend).bytes, version: snapshot.version } : documentOf(snapshot, where);
    const header = readHeader(stored.bytes, where);
    if (checkRollback && header.generation < this.#highestGeneration) {
      throw new TokenStoreError(
        "ROLLBACK_DETECTED",
        `${where} holds generation ${header.generation}, older than generation ${this.#highestGeneration} which this process has already read: an older copy was put in its place. Nothing was changed`,
        { location: where, action: "recover", advice: "recover() or restore the newer file" },
      );
    }
    let master = this.#keys.find(header);
    if (!master) {
      if (!mayDerive && this.#keys.needsDerivation(header)) throw new NeedsDerivation(() => this.#keys.prepare(header));
      await this.#keys.prepare(header);
      master = this.#keys.find(header);
    }
    if (!master) throw wrongKey(where);
    let loaded: Loaded;
    if (records) {
      // What changed applies to the cached document only when it is of the same store and key.
      const cache = this.#cache;
      const base = !snapshot.complete && cache?.index && cache.key === master ? { doc: cache.doc, index: cache.index } : undefined;
      if (!snapshot.complete && !base)
        throw new TokenStoreError("WRITE_CONFLICT", `${where} changed while it was read; try again`, { location: where, action: "retry" });
      const opened = await openRecords({
        snapshot,
        head: firstRecord(snapshot, this.#backend),
        header,
        master,
        binding: this.#binding,
        where,
        base: snapshot.complete ? (cache?.index ? { doc: cache.doc, index: cache.index } : undefined) : base,
        inPlace,
      });
      loaded = { doc: opened.doc, version: stored.version, generation: header.generation, header, key: master, index: opened.index };
    } else {
      const doc = TokenDocument.parse(await unseal(stored.bytes, master, where), where);
      loaded = { doc, version: stored.version, generation: header.generation, header, key: master };
    }
    if (checkRollback) this.#remember(loaded);
    return loaded;
  }

  /** The latest document, in the exclusive section: one read at most, and no key derivation. */
  async #loadLocked(session: ExclusiveSession): Promise<Loaded> {
    const cache = this.#cache;
    const location = this.#backend.location;
    const result = await session.read({ since: cache?.version, check: this.#headCheck() });
    if (result.kind === "unchanged" && cache) return cache;
    if (result.kind !== "snapshot") return this.#whenMissing();
    return this.#open(location, result, { checkRollback: true, mayDerive: false, inPlace: true });
  }

  #remember(loaded: Loaded): void {
    this.#cache = loaded;
    if (loaded.generation > this.#highestGeneration) this.#highestGeneration = loaded.generation;
  }

  // ---- writing -------------------------------------------------------------

  /** Queues a change; queued changes share one exclusive section and one write. */
  #change<T>(apply: (doc: TokenDocument) => { value: T; changed: boolean }): Promise<T> {
    this.#assertOpen();
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ apply, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#draining) {
        this.#draining = true;
        const run: Promise<void> = this.#drain().finally(() => {
          if (this.#drainRun === run) this.#drainRun = undefined;
        });
        this.#drainRun = run;
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      // Let every change issued in the same tick (Promise.all over saveToken calls) join the first batch.
      await Promise.resolve();
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0);
        let outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>;
        try {
          outcomes = await this.#exclusive((base, section) => this.#applyBatch(batch, base, section));
        } catch (error) {
          outcomes = batch.map(() => ({ ok: false as const, error }));
        }
        // Settled only now, after the exclusive section ended.
        outcomes.forEach((outcome, index) => {
          if (outcome.ok) batch[index]!.resolve(outcome.value);
          else batch[index]!.reject(outcome.error);
        });
      }
    } finally {
      this.#draining = false;
    }
  }

  /**
   * Applies a batch of changes to the latest document and writes it once, when any
   * change changed it. The changes are made in place, serialized and undone before
   * anything awaits (no reader in the process sees a change that is not stored), then
   * made again once the bytes are replaced.
   *
   * Each change stands on its own: one that throws is undone and fails alone; and when
   * the changes together would make the document larger than a store file holds, they
   * are made again one at a time, in order, and only those that would not fit fail
   * (LIMIT_EXCEEDED), so a change that fits is never refused for another caller's.
   */
  async #applyBatch(batch: readonly PendingChange[], base: Loaded, section: Section) {
    const doc = base.doc;
    // A file sealed with another key moves to the current key, unless a rotation retired it.
    const retired = readRetired(doc.meta);
    if (this.#keys.needsRetiredCheck(base.key, retired)) throw new NeedsDerivation(() => this.#keys.prepareRetiredCheck(retired));
    const master = this.#keys.sealingKey(base.key, retired);
    const meta = base.key && master !== base.key ? withRetired(doc.meta, retiredEntry(base.key)) : doc.meta;
    const records = this.#backend.granularity === "records";
    // Records: a store moving to another key (or not read yet) is rewritten whole.
    const whole = records && (master !== base.key || !base.index);
    let content: Content | undefined;
    let anyChanged = false;
    const { value: results, changes } = doc.tentatively(() => {
      const start = doc.mark();
      let { results, changed } = applyEach(doc, batch);
      anyChanged = changed;
      if (!changed) return results;
      if (records) {
        // Records: no whole document to measure; a whole write lists every record now.
        if (whole) content = this.#content(doc, meta, true);
        return results;
      }
      let plaintext: Uint8Array | undefined;
      try {
        plaintext = doc.serialize(meta, MAX_DOCUMENT_BYTES);
      } catch (error) {
        if (batch.length === 1 || !isTokenStoreError(error, "LIMIT_EXCEEDED")) throw error;
        // Too large together (serialize measured it before building anything): again, one at a time.
        start();
        ({ results, changed } = applyEach(doc, batch, meta));
        anyChanged = changed;
        if (changed) plaintext = doc.serialize(meta, MAX_DOCUMENT_BYTES);
      }
      if (plaintext) content = { kind: "document", plaintext };
      return results;
    });
    if (records && !whole && anyChanged) {
      content = { kind: "records", nextId: changes.after.nextId, meta, changes: doc.recordChanges(changes) };
    }
    if (content) {
      await this.#commit(section, base, content, master, this.#keepPrevious, () => {
        doc.redo(changes);
        doc.meta = meta;
        return doc;
      });
    }
    return results;
  }

  /**
   * Runs `task` in the backend's exclusive section on the latest document. Keys that
   * need deriving are derived outside it, then it runs again; so does a task whose
   * exclusivity was lost or whose compare-and-set failed before it wrote anything
   * (LOCK_COMPROMISED, WRITE_CONFLICT), a few times. What it committed becomes the cached
   * document once the section has ended.
   */
  #exclusive<T>(task: (base: Loaded, section: Section) => Promise<T>, options: { tolerateCurrent?: boolean } = {}): Promise<T> {
    // close() waits for the sections under way (a queued batch, a rekey, a recover).
    const run = this.#exclusiveRetrying(task, options);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#inflight.add(settled);
    void settled.then(() => this.#inflight.delete(settled));
    return run;
  }

  async #exclusiveRetrying<T>(task: (base: Loaded, section: Section) => Promise<T>, { tolerateCurrent = false }: { tolerateCurrent?: boolean }): Promise<T> {
    let derivations = 0;
    for (let retries = 0; ; ) {
      const section: Section = { session: undefined as unknown as ExclusiveSession, commit: undefined };
      try {
        const value = await this.#backend.exclusive(async (session) => {
          section.session = session;
          section.commit = undefined;
          let base: Loaded;
          try {
            base = await this.#loadLocked(session);
          } catch (error) {
            if (!tolerateCurrent || error instanceof NeedsDerivation) throw error;
            base = await this.#unreadableBase(session);
          }
          return task(base, section);
        });
        const commit = section.commit as Commit | undefined;
        if (commit) this.#remember({ ...commit.loaded, doc: commit.committed() });
        return value;
      } catch (error) {
        // The cached document may be the one the change was applied to.
        this.#cache = undefined;
        if (error instanceof NeedsDerivation) {
          if (derivations++ >= 3) throw wrongKey(this.#backend.location);
          await error.prepare();
          continue;
        }
        if ((isTokenStoreError(error, "LOCK_COMPROMISED") || isTokenStoreError(error, "WRITE_CONFLICT")) && retries++ < MAX_RETRIES) continue;
        throw error;
      }
    }
  }

  /** The base for recover() when the stored bytes cannot be opened: replace whatever is there. */
  async #unreadableBase(session: ExclusiveSession): Promise<Loaded> {
    // The damaged file's header is not authenticated: what it claims counts only within
    // bounds (see recover and #recoveryKeys).
    let claimedGeneration: number | undefined;
    let claimedKey: MasterKey | undefined;
    try {
      const result = await session.read({ check: headCheck(this.#backend.location) });
      const stored = result.kind === "snapshot" ? documentOf(result, this.#backend.location) : undefined;
      if (stored) {
        const header = readHeader(stored.bytes, this.#backend.location);
        claimedGeneration = header.generation;
        claimedKey = this.#keys.find(header);
      }
    } catch {
      // Unreadable header too.
    }
    return {
      doc: TokenDocument.empty(),
      version: await session.currentVersion(),
      generation: 0,
      claimedGeneration,
      claimedKey,
      header: undefined,
      key: undefined,
    };
  }

  /**
   * Seals `plaintext` (a serialized document) as the next generation and replaces the
   * stored bytes, if they are still the version read. `committed` gives the document
   * that is the store's once the section has ended (see #exclusive).
   */
  async #commit(section: Section, base: Loaded, content: Content, master: MasterKey, keepPrevious: boolean, committed: () => TokenDocument): Promise<void> {
    const generation = base.generation + 1;
    if (content.kind === "records") {
      const index = base.index ?? emptyIndex();
      const plan = plannedRecords(index, content.changes);
      const binding = this.#binding;
      const headParts = await sealParts(headPlaintext(content.nextId, plan.nextRecord, content.meta), master, generation, contextOf(binding, HEAD_RECORD));
      const put = [{ id: HEAD_RECORD, parts: headParts }];
      for (const { id, record } of plan.put) put.push({ id, parts: await sealParts(recordPlaintext(record), master, generation, contextOf(binding, id)) });
      const version = await section.session.replace({ whole: "all" in content.changes, put, remove: plan.remove }, base.version, { keepPrevious });
      const header = readHeader(headParts[0], this.#backend.location, headParts[0].length + headParts[1].length);
      // The index changes with the document, once the section has ended (see #exclusive).
      const commitDoc = () => {
        plan.commit(generation);
        return committed();
      };
      section.commit = { loaded: { version, generation, header, key: master, index }, committed: commitDoc };
      return;
    }
    const parts = await sealParts(content.plaintext, master, generation);
    const version = await section.session.replace({ whole: true, put: [{ id: DOCUMENT_RECORD, parts }], remove: [] }, base.version, { keepPrevious });
    const header = readHeader(parts[0], this.#backend.location, parts[0].length + parts[1].length);
    section.commit = { loaded: { version, generation, header, key: master }, committed };
  }
}

/** The first record of a snapshot: a document, or a records store's head (DAMAGED_FILE when there is none). */
function firstRecord(snapshot: Snapshot, backend: StorageBackend): { bytes: Uint8Array } {
  // A records store's head, or a document store's document.
  if (backend.granularity !== "records") return documentOf(snapshot, backend.location);
  const head = snapshot.records.find((record) => record.id === HEAD_RECORD);
  if (!head) {
    throw new TokenStoreError("DAMAGED_FILE", `${backend.location} has records but no head record; nothing was changed`, {
      location: backend.location,
      action: "recover",
    });
  }
  return head;
}

/**
 * The sealed document of a snapshot of a `"document"` backend: its one record. Anything
 * else is not a store this version wrote (DAMAGED_FILE).
 */
function documentOf(snapshot: Snapshot, location: string): Stored {
  const record = snapshot.records[0];
  if (!snapshot.complete || snapshot.records.length !== 1 || record?.id !== DOCUMENT_RECORD) {
    throw new TokenStoreError("DAMAGED_FILE", `${location} does not hold one sealed document; nothing was changed`, { location, action: "recover" });
  }
  return { bytes: record.bytes, version: snapshot.version };
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Makes each change of a batch on `doc` (inside `tentatively`), undoing one that throws.
 * With `fitting` (the document's meta), a change after which the document would no
 * longer fit in a store file is undone too and fails with LIMIT_EXCEEDED.
 */
function applyEach(doc: TokenDocument, batch: readonly PendingChange[], fitting?: Readonly<Record<string, unknown>>): { results: Outcome[]; changed: boolean } {
  let changed = false;
  const results = batch.map((change): Outcome => {
    const undo = doc.mark();
    try {
      const result = change.apply(doc);
      if (fitting && result.changed) {
        const bytes = doc.sizeOver(fitting, MAX_DOCUMENT_BYTES);
        if (bytes !== undefined) {
          undo();
          return { ok: false, error: changeTooLarge(bytes) };
        }
      }
      changed ||= result.changed;
      return { ok: true, value: result.value };
    } catch (error) {
      undo();
      return { ok: false, error };
    }
  });
  return { results, changed };
}

function changeTooLarge(bytes: number): TokenStoreError {
  return new TokenStoreError(
    "LIMIT_EXCEEDED",
    `this change would make the document ${bytes} bytes, more than the ${MAX_DOCUMENT_BYTES} a store file holds; it was not made (the changes made with it that fit were). Move some tokens to another store`,
  );
}

/** The check of stored bytes before they are read whole: an intact header and a plausible length. */
function headCheck(location: string): HeadCheck {
  return { headBytes: HEADER_BYTES, check: (head, length) => void readHeader(head, location, length) };
}

function wrongKey(where: string): TokenStoreError {
  return new TokenStoreError("WRONG_KEY", `${where} was sealed with a different key or passphrase than the ones given; nothing was changed`, {
    location: where,
    action: "use-store-key",
    advice: "use the store's key, or add the old key to previousKeys while rotating",
  });
}
