/**
 * `EncryptedFileStore`: the six TokenStore operations over one sealed file.
 *
 * Reads take no lock: they revalidate the decrypted document held in memory against
 * the file's identity (device, inode, size, mtime, ctime) with one `stat`, and read
 * and decrypt again only when another writer replaced the file.
 *
 * Changes are queued in process, then applied in one batch under the cross-process
 * lock to the latest document, re-read inside the lock, and land through one atomic,
 * durable replacement of the file. Just before the replacement the file's identity is
 * checked again, so a write whose lock was lost or stolen fails instead of
 * overwriting a newer generation.
 */
import { inspect } from "node:util";
import { resolve } from "node:path";
import { TokenStoreError } from "../errors.js";
import { readHeader, sealParts, unseal, type Header } from "../crypto/format.js";
import { KeyRing, type KeyInput } from "../crypto/keyring.js";
import { DEFAULT_SCRYPT, describeType, type MasterKey } from "../crypto/keys.js";
import { inProcessQueue, withFileLock, type HeldLock, type LockSettings } from "../file/lock.js";
import {
  fileExists,
  prepareLocation,
  previousPath,
  readWithIdentity,
  replaceFile,
  sameIdentity,
  statIdentity,
  sweepLeftovers,
  type FileIdentity,
} from "../file/durable.js";
import { TokenDocument, normalizeId, normalizeInput } from "./document.js";
import { exposeRecord } from "./record.js";
import type { TokenInput, TokenRecord } from "./types.js";

/** The environment variable read for the key when no key option is given. */
export const KEY_ENV = "ZOHO_TOKEN_STORE_KEY";

export interface EncryptedFileStoreOptions {
  /** Path of the store file. Created 0600 (and its directory 0700) on first write. */
  path: string;
  /** 32-byte key as bytes or base64. Exactly one of key, keyFile, passphrase (or the environment). */
  key?: Uint8Array | string;
  /** A file holding the base64 key; refused when other users can access it. */
  keyFile?: string;
  /** A passphrase, stretched with scrypt once per process. */
  passphrase?: string;
  /** Older keys accepted for reading during a rotation; the next write uses the current key. */
  previousKeys?: readonly KeyInput[];
  /** scrypt cost (log2 N) for new passphrase keys. Default 16 (64 MiB, ~0.3 s). Range 14..20. */
  scryptCost?: number;
  /** A lock not refreshed for this long is taken over (its holder died). Default 10000 ms; at least 2000. */
  lockStaleMs?: number;
  /** Longest wait for the lock before LOCK_TIMEOUT. Default lockStaleMs + 5000 ms. */
  lockWaitMs?: number;
  /** Keep the previous generation as `<path>.prev` for recover(). Default true. */
  keepPrevious?: boolean;
}

/** Longest accepted store path (Linux's PATH_MAX). */
const MAX_PATH_LENGTH = 4096;

const OPTION_NAMES: ReadonlySet<string> = new Set([
  "path",
  "key",
  "keyFile",
  "passphrase",
  "previousKeys",
  "scryptCost",
  "lockStaleMs",
  "lockWaitMs",
  "keepPrevious",
]);

/** What `verify()` found. */
export interface StoreStatus {
  path: string;
  /** False when no store file exists yet. */
  exists: boolean;
  /** Generation of the file (0 when it does not exist). */
  generation: number;
  tokens: number;
  keySource: "raw" | "passphrase" | null;
  /** False when the file is sealed with one of previousKeys: the next write re-encrypts it. */
  currentKey: boolean;
}

interface Loaded {
  doc: TokenDocument;
  identity: FileIdentity | undefined;
  generation: number;
  header: Header | undefined;
}

interface PendingChange {
  apply(doc: TokenDocument): { value: unknown; changed: boolean };
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Thrown inside the lock when a key must be derived first; the batch is retried outside. */
class NeedsDerivation {
  constructor(readonly header: Header) {}
}

export class EncryptedFileStore {
  /** Absolute path of the store file. */
  readonly path: string;
  readonly #lockPath: string;
  readonly #lock: LockSettings;
  readonly #keepPrevious: boolean;
  #keys: KeyRing;
  #cache: Loaded | undefined;
  #highestGeneration = 0;
  #pending: PendingChange[] = [];
  #draining = false;
  #swept = false;

  private constructor(path: string, keys: KeyRing, lock: LockSettings, keepPrevious: boolean) {
    this.path = path;
    this.#lockPath = `${path}.lock`;
    this.#keys = keys;
    this.#lock = lock;
    this.#keepPrevious = keepPrevious;
  }

  /**
   * Opens (without creating) the store at `options.path` and checks that the key opens
   * it. Throws WRONG_KEY, UNSUPPORTED_VERSION, INSECURE_PERMISSIONS, INVALID_PATH or
   * INVALID_OPTION at once. A damaged or missing file does not stop `open`, so that
   * `recover()` can be called; every other operation reports it.
   *
   * @example
   * const store = await EncryptedFileStore.open({ path: "./zoho-tokens.enc", keyFile: "./zoho.key" });
   */
  static async open(options: EncryptedFileStoreOptions): Promise<EncryptedFileStore> {
    const settings = parseOptions(options);
    prepareLocation(settings.path);
    let header: Header | undefined;
    const file = readWithIdentity(settings.path);
    if (file) {
      try {
        header = readHeader(file.bytes, settings.path);
      } catch (error) {
        if (!(error instanceof TokenStoreError) || error.code !== "DAMAGED_FILE") throw error;
      }
    }
    const keys = await KeyRing.create(settings.key, settings.previousKeys, header, { ...DEFAULT_SCRYPT, log2N: settings.scryptCost });
    const store = new EncryptedFileStore(settings.path, keys, settings.lock, settings.keepPrevious);
    try {
      await store.#read();
    } catch (error) {
      if (!(error instanceof TokenStoreError) || (error.code !== "DAMAGED_FILE" && error.code !== "FILE_MISSING")) throw error;
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
   * Re-encrypts the store under `newKey`, atomically, under the lock. This store keeps
   * the old key for reading; other processes need the new key (or it in their
   * previousKeys) from now on.
   */
  async rekey(newKey: KeyInput): Promise<void> {
    const { master, source } = await KeyRing.masterFor(newKey, this.#keys.scryptParams);
    await this.#exclusive(async (base) => {
      await this.#commit(base, base.doc.serialize(), master, this.#keepPrevious, () => base.doc);
      this.#keys.replaceCurrent(master, source);
    });
  }

  /**
   * Restores the previous generation (`<path>.prev`) after checking that it opens and
   * authenticates; it becomes a new generation, sealed with the current key. Never
   * called automatically.
   * @returns the generation that was restored and how many tokens it holds.
   */
  async recover(): Promise<{ restoredGeneration: number; generation: number; tokens: number }> {
    const prevPath = previousPath(this.path);
    const previous = await this.#loadFile(prevPath, { checkRollback: false });
    if (!previous) {
      throw new TokenStoreError("FILE_MISSING", `there is no previous generation to recover (${prevPath} does not exist)`, { path: this.path });
    }
    let result!: { restoredGeneration: number; generation: number; tokens: number };
    await this.#exclusive(
      async (base) => {
        const floor = Math.max(base.generation, this.#highestGeneration, previous.generation);
        // The file being replaced is not kept: it is the one being recovered from.
        await this.#commit({ ...base, generation: floor }, previous.doc.serialize(), this.#keys.writeKey, false, () => previous.doc);
        result = { restoredGeneration: previous.generation, generation: floor + 1, tokens: previous.doc.size };
      },
      { tolerateCurrent: true },
    );
    return result;
  }

  /** Opens and authenticates the file and reports what is in it. */
  async verify(): Promise<StoreStatus> {
    const doc = await this.#read();
    const cache = this.#cache;
    const header = cache?.header;
    return {
      path: this.path,
      exists: header !== undefined,
      generation: cache?.generation ?? 0,
      tokens: doc.size,
      keySource: header ? (header.kdf ? "passphrase" : "raw") : null,
      currentKey: header ? this.#keys.find(header) === this.#keys.writeKey : true,
    };
  }

  toJSON(): { path: string } {
    return { path: this.path };
  }

  [inspect.custom](): string {
    return `EncryptedFileStore { path: ${inspect(this.path)} }`;
  }

  // ---- reading -------------------------------------------------------------

  /** The current document: the cached one if the file is unchanged, else read again. */
  async #read(): Promise<TokenDocument> {
    const identity = statIdentity(this.path);
    const cache = this.#cache;
    if (cache && identity && sameIdentity(cache.identity, identity)) return cache.doc;
    const loaded = await this.#loadFile(this.path, { checkRollback: true });
    return (loaded ?? this.#whenMissing()).doc;
  }

  /** The document of a store whose file does not exist: empty, unless it existed before. */
  #whenMissing(): Loaded {
    if (this.#highestGeneration > 0 || fileExists(previousPath(this.path))) {
      throw new TokenStoreError(
        "FILE_MISSING",
        `${this.path} is missing, but the store existed (${fileExists(previousPath(this.path)) ? `its previous generation is at ${previousPath(this.path)}` : `generation ${this.#highestGeneration} was seen`}); ` +
          `run recover() (CLI: zoho-encrypted-filestore recover) to restore it, or remove ${previousPath(this.path)} to start an empty store`,
        { path: this.path },
      );
    }
    return { doc: TokenDocument.empty(), identity: undefined, generation: 0, header: undefined };
  }

  /** Reads, authenticates and parses a sealed file; undefined when it does not exist. */
  async #loadFile(path: string, { checkRollback }: { checkRollback: boolean }): Promise<Loaded | undefined> {
    const file = readWithIdentity(path);
    return file && this.#open(path, file, { checkRollback, mayDerive: true });
  }

  /**
   * Authenticates and parses bytes read from `path`. Under the lock (`mayDerive` false) a
   * key that must first be derived is not derived here: NeedsDerivation sends the caller
   * out of the lock to do it.
   */
  async #open(
    path: string,
    file: { bytes: Uint8Array; identity: FileIdentity },
    { checkRollback, mayDerive }: { checkRollback: boolean; mayDerive: boolean },
  ): Promise<Loaded> {
    const header = readHeader(file.bytes, path);
    if (checkRollback && header.generation < this.#highestGeneration) {
      throw new TokenStoreError(
        "ROLLBACK_DETECTED",
        `${path} holds generation ${header.generation}, older than generation ${this.#highestGeneration} which this process has already read: an older copy was put in its place. Nothing was changed; recover() or restore the newer file`,
        { path },
      );
    }
    let master = this.#keys.find(header);
    if (!master) {
      if (!mayDerive && this.#keys.needsDerivation(header)) throw new NeedsDerivation(header);
      await this.#keys.prepare(header);
      master = this.#keys.find(header);
    }
    if (!master) throw wrongKey(path);
    const doc = TokenDocument.parse(await unseal(file.bytes, master, path), path);
    const loaded: Loaded = { doc, identity: file.identity, generation: header.generation, header };
    if (path === this.path) this.#remember(loaded);
    return loaded;
  }

  /** The latest document of the store file, under the lock: one read, and no key derivation. */
  async #loadLocked(): Promise<Loaded> {
    const identity = statIdentity(this.path);
    const cache = this.#cache;
    if (cache && identity && sameIdentity(cache.identity, identity)) return cache;
    const file = readWithIdentity(this.path);
    if (!file) return this.#whenMissing();
    return this.#open(this.path, file, { checkRollback: true, mayDerive: false });
  }

  #remember(loaded: Loaded): void {
    this.#cache = loaded;
    if (loaded.generation > this.#highestGeneration) this.#highestGeneration = loaded.generation;
  }

  // ---- writing -------------------------------------------------------------

  /** Queues a change; queued changes share one lock and one write. */
  #change<T>(apply: (doc: TokenDocument) => { value: T; changed: boolean }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ apply, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#draining) {
        this.#draining = true;
        void this.#drain();
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
          outcomes = await this.#exclusive(async (base) => {
            const doc = base.doc;
            let plaintext: Uint8Array | undefined;
            const { value: results, changes } = doc.tentatively(() => {
              let changed = false;
              const results = batch.map((change) => {
                try {
                  const result = change.apply(doc);
                  changed ||= result.changed;
                  return { ok: true as const, value: result.value };
                } catch (error) {
                  return { ok: false as const, error };
                }
              });
              if (changed) plaintext = doc.serialize();
              return results;
            });
            if (plaintext) {
              await this.#commit(base, plaintext, this.#keys.writeKey, this.#keepPrevious, () => {
                doc.redo(changes);
                return doc;
              });
            }
            return results;
          });
        } catch (error) {
          outcomes = batch.map(() => ({ ok: false as const, error }));
        }
        // Settled only now, after the lock is released.
        outcomes.forEach((outcome, index) => (outcome.ok ? batch[index]!.resolve(outcome.value) : batch[index]!.reject(outcome.error)));
      }
    } finally {
      this.#draining = false;
    }
  }

  /**
   * Runs `task` with the in-process queue and the cross-process lock held, on the latest
   * document. Keys that need deriving are derived outside the lock, then it retries.
   */
  async #exclusive<T>(task: (base: Loaded) => Promise<T>, { tolerateCurrent = false } = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await inProcessQueue(this.path, () =>
          withFileLock(this.path, this.#lockPath, this.#lock, async (held) => {
            // What a writer killed mid-write leaves behind (its temp file) is removed by each
            // store's first locked operation, and whenever the lock was found taken (a killed
            // writer leaves it so); not every time, since reading the directory costs more
            // the more files share it. Here, before anything can fail or turn out to change
            // nothing: the taken-over lock is gone afterwards, and with it the sign.
            if (!this.#swept || held.contended) {
              sweepLeftovers(this.path);
              this.#swept = true;
            }
            let base: Loaded;
            try {
              base = await this.#loadLocked();
            } catch (error) {
              if (!tolerateCurrent || error instanceof NeedsDerivation) throw error;
              base = this.#unreadableBase();
            }
            this.#held = held;
            try {
              return await task(base);
            } finally {
              this.#held = undefined;
            }
          }),
        );
      } catch (error) {
        if (error instanceof NeedsDerivation && attempt < 3) {
          await this.#keys.prepare(error.header);
          continue;
        }
        if (error instanceof NeedsDerivation) throw wrongKey(this.path);
        throw error;
      }
    }
  }

  #held: HeldLock | undefined;

  /** The base for recover() when the current file cannot be read: replace whatever is there. */
  #unreadableBase(): Loaded {
    // A file that fails authentication may still have an intact header: the restored
    // generation must number above it, so no reader mistakes one for the other.
    let generation = 0;
    try {
      const file = readWithIdentity(this.path);
      if (file) generation = readHeader(file.bytes, this.path).generation;
    } catch {
      // Unreadable header too: nothing to number above.
    }
    return { doc: TokenDocument.empty(), identity: statIdentityOrUndefined(this.path), generation, header: undefined };
  }

  /**
   * Seals `plaintext` (a serialized document) as the next generation and replaces the
   * file, if nothing changed under us. `committed` gives the document that is now the
   * store's, once the file is replaced.
   */
  async #commit(base: Loaded, plaintext: Uint8Array, master: MasterKey, keepPrevious: boolean, committed: () => TokenDocument): Promise<void> {
    const generation = base.generation + 1;
    const bytes = await sealParts(plaintext, master, generation);
    if (this.#held?.compromised) {
      this.#cache = undefined;
      throw new TokenStoreError(
        "LOCK_COMPROMISED",
        `the lock on ${this.path} was lost while writing (this process stalled longer than ${this.#lock.staleMs} ms?); the change was not written`,
        { path: this.path },
      );
    }
    // Checked before the temp file is written and again just before the rename: a
    // holder that stalled past the stale time anywhere in between (the fsync can take
    // seconds on a busy disk) must not rename its file over a newer generation.
    const assertUnchanged = () => {
      if (!sameVersionOrBothMissing(statIdentityOrUndefined(this.path), base.identity) || this.#held?.compromised) {
        this.#cache = undefined;
        throw new TokenStoreError(
          "LOCK_COMPROMISED",
          `${this.path} was replaced by another writer while this one held the lock (a lock taken over after ${this.#lock.staleMs} ms?); the change was not written, to avoid overwriting a newer generation`,
          { path: this.path },
        );
      }
    };
    assertUnchanged();
    try {
      const identity = replaceFile(this.path, bytes, base.identity, keepPrevious, assertUnchanged);
      const header = readHeader(bytes[0], this.path, bytes[0].length + bytes[1].length);
      this.#remember({ doc: committed(), identity, generation, header });
    } catch (error) {
      this.#cache = undefined;
      throw error;
    }
  }
}

function statIdentityOrUndefined(path: string): FileIdentity | undefined {
  try {
    return statIdentity(path);
  } catch (error) {
    if (error instanceof TokenStoreError && error.code !== "IO_ERROR") return undefined;
    throw error;
  }
}

/**
 * Whether the file is still the version a writer read: identity without the ctime,
 * which the writer's own hard link of `.prev` changes. Another writer's replacement is
 * a new inode with a later mtime (replaceFile guarantees that), so it is still seen.
 */
function sameVersionOrBothMissing(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

function wrongKey(path: string): TokenStoreError {
  return new TokenStoreError(
    "WRONG_KEY",
    `${path} was sealed with a different key or passphrase than the ones given; nothing was changed. Use the store's key, or add the old key to previousKeys while rotating`,
    { path },
  );
}

interface ParsedOptions {
  path: string;
  key: KeyInput;
  previousKeys: KeyInput[];
  scryptCost: number;
  lock: LockSettings;
  keepPrevious: boolean;
}

function parseOptions(options: EncryptedFileStoreOptions): ParsedOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TokenStoreError("INVALID_OPTION", `options must be an object, got ${describeType(options)}`);
  }
  for (const name of Reflect.ownKeys(options)) {
    if (typeof name !== "string" || !OPTION_NAMES.has(name)) {
      throw new TokenStoreError("INVALID_OPTION", `unknown option ${JSON.stringify(String(name)).slice(0, 40)}; known options: ${[...OPTION_NAMES].join(", ")}`);
    }
  }
  const { path } = options;
  if (typeof path !== "string" || path.trim().length === 0 || path.includes("\0")) {
    throw new TokenStoreError("INVALID_OPTION", `path must be a non-empty file path string, got ${describeType(path)}`);
  }
  if (path.length > MAX_PATH_LENGTH) {
    // Longer than any OS accepts; refused here so that no message repeats it.
    throw new TokenStoreError("INVALID_OPTION", `path is longer than ${MAX_PATH_LENGTH} characters`);
  }
  const given = (["key", "keyFile", "passphrase"] as const).filter((name) => options[name] !== undefined);
  if (given.length > 1) {
    throw new TokenStoreError("INVALID_OPTION", `give only one of key, keyFile, passphrase (got ${given.join(" and ")})`);
  }
  let key: KeyInput;
  if (options.key !== undefined) key = { key: options.key };
  else if (options.keyFile !== undefined) key = { keyFile: options.keyFile };
  else if (options.passphrase !== undefined) key = { passphrase: options.passphrase };
  else {
    const fromEnv = process.env[KEY_ENV];
    if (fromEnv === undefined || fromEnv === "") {
      throw new TokenStoreError("INVALID_OPTION", `no key: pass key, keyFile or passphrase, or set ${KEY_ENV} to a base64 key (generateKey() makes one)`);
    }
    key = { key: fromEnv };
  }
  const previousKeys = options.previousKeys ?? [];
  if (!Array.isArray(previousKeys)) {
    throw new TokenStoreError("INVALID_OPTION", `previousKeys must be an array, got ${describeType(previousKeys)}`);
  }
  const scryptCost = integerOption("scryptCost", options.scryptCost, DEFAULT_SCRYPT.log2N, 14, 20);
  const staleMs = integerOption("lockStaleMs", options.lockStaleMs, 10_000, 2_000, 600_000);
  const waitMs = integerOption("lockWaitMs", options.lockWaitMs, staleMs + 5_000, 0, 3_600_000);
  if (options.keepPrevious !== undefined && typeof options.keepPrevious !== "boolean") {
    throw new TokenStoreError("INVALID_OPTION", `keepPrevious must be a boolean, got ${describeType(options.keepPrevious)}`);
  }
  return {
    path: resolve(path),
    key,
    previousKeys: [...previousKeys],
    scryptCost,
    lock: { staleMs, waitMs },
    keepPrevious: options.keepPrevious ?? true,
  };
}

function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new TokenStoreError("INVALID_OPTION", `${name} must be an integer from ${min} to ${max}, got ${typeof value === "number" ? value : describeType(value)}`);
  }
  return value;
}
