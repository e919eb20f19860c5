/**
 * The keys a store holds: the current key and older keys, and which one seals a write.
 *
 * Passphrase keys depend on the salt in the file's header; each (passphrase, salt) is
 * derived once and kept, and never while the store's lock is held.
 *
 * Key rotation never goes backwards by itself. Every time a store moves to a new key
 * (`rekey`, or the first write of a process whose current key differs from the file's),
 * the key it leaves is recorded in the sealed, authenticated document as retired (its
 * key id, and for a passphrase its salt and KDF parameters). A write seals with the
 * current key only when that key is not retired; otherwise it keeps the key the file is
 * sealed with. So a process still configured with the old key as current (and the new
 * one among its previous keys) keeps writing with the new key instead of undoing the
 * rotation. Only an explicit `rekey` may return to a key used before; that key is then
 * current again and the one it leaves is retired.
 */
import type { Header } from "./envelope.js";
import { toKeySource, type KeyInput, type KeySource } from "./key-sources.js";
import { DEFAULT_SCRYPT, derivePassphraseKey, leaseNameKey, newKdfSalt, rawMasterKey, sameKeyId, type MasterKey, type ScryptParams } from "./keys.js";

/** A key source's key, loaded. */
export type LoadedKey = { kind: "raw"; master: MasterKey; description: string } | { kind: "passphrase"; passphrase: string; description: string };
type Loaded = LoadedKey;

/** A key the store moved away from: never sealed with again. */
export interface RetiredKey {
  keyId: Uint8Array;
  /** For a passphrase key: the salt and parameters it was derived with. */
  kdf?: { salt: Uint8Array; params: ScryptParams };
}

/** How many retired keys a document remembers (the newest). */
const MAX_RETIRED_KEYS = 16;

export class KeyRing {
  private readonly derived: MasterKey[] = [];
  private readonly triedSalts = new Set<string>();

  private constructor(
    private current: MasterKey,
    private currentSource: Loaded,
    private readonly older: Loaded[],
    readonly scryptParams: ScryptParams,
  ) {}

  /** Loads the key sources (reads key files, asks a keychain, ...). */
  static async load(current: KeySource, older: readonly KeySource[]): Promise<{ current: LoadedKey; older: LoadedKey[] }> {
    return { current: await load(current), older: await Promise.all(older.map(load)) };
  }

  /**
   * Builds the ring from loaded keys. For a passphrase, the current key reuses the salt
   * of the existing file when the passphrase matches it (so every process agrees),
   * otherwise a new salt.
   */
  static async create(keys: { current: LoadedKey; older: LoadedKey[] }, header: Header | undefined, scrypt: ScryptParams = DEFAULT_SCRYPT): Promise<KeyRing> {
    const source = keys.current;
    const olderSources = keys.older;
    let ring: KeyRing;
    if (source.kind === "raw") {
      ring = new KeyRing(source.master, source, olderSources, scrypt);
    } else if (header?.kdf) {
      // Same salt as the file: if the passphrase is the file's, every process agrees on the key.
      const existing = await derivePassphraseKey(source.passphrase, header.kdf.salt, header.kdf.params);
      const master = sameKeyId(existing.keyId, header.keyId) ? existing : await derivePassphraseKey(source.passphrase, newKdfSalt(), scrypt);
      ring = new KeyRing(master, source, olderSources, scrypt);
      ring.derived.push(existing);
      ring.triedSalts.add(saltKey(source.passphrase, header.kdf));
    } else {
      ring = new KeyRing(await derivePassphraseKey(source.passphrase, newKdfSalt(), scrypt), source, olderSources, scrypt);
    }
    if (header) await ring.prepare(header);
    return ring;
  }

  /** What the current key is, for messages ("key file ./zoho.key"); never the key. */
  get currentDescription(): string {
    return this.currentSource.description;
  }

  /** The key a new store is sealed with. */
  get currentKey(): MasterKey {
    return this.current;
  }

  /** The master key for a new current key (rekey), with a fresh salt for a passphrase. */
  async masterFor(input: KeyInput): Promise<{ master: MasterKey; source: Loaded }> {
    const source = await load(toKeySource(input, "new key"));
    const master = source.kind === "raw" ? source.master : await derivePassphraseKey(source.passphrase, newKdfSalt(), this.scryptParams);
    return { master, source };
  }

  /** Makes `master` the current key; the old current key stays usable. */
  replaceCurrent(master: MasterKey, source: Loaded): void {
    this.derived.push(this.current);
    this.older.unshift(this.currentSource);
    this.currentSource = source;
    this.current = master;
  }

  /**
   * The key a write seals with, given the key the file is sealed with (`fileKey`,
   * undefined for a new store) and the keys the file's document says were retired:
   * the current key unless it was retired, else the file's own key. Call
   * {@link prepareRetiredCheck} first when {@link needsRetiredCheck} says so.
   */
  sealingKey(fileKey: MasterKey | undefined, retired: readonly RetiredKey[]): MasterKey {
    if (fileKey === undefined || fileKey === this.current) return this.current;
    return this.#currentRetired(retired) ? fileKey : this.current;
  }

  /**
   * Whether telling if the current key (a passphrase) was retired needs a key derivation
   * first: a retired passphrase key is recognised only by deriving the passphrase with
   * that key's salt. Derivations are slow, so they happen outside the store's lock.
   */
  needsRetiredCheck(fileKey: MasterKey | undefined, retired: readonly RetiredKey[]): boolean {
    if (fileKey === undefined || fileKey === this.current || this.currentSource.kind !== "passphrase") return false;
    if (this.#currentRetired(retired, false)) return false;
    return retired.some((entry) => entry.kdf && !this.#retiredChecks.has(kdfKey(entry.kdf)));
  }

  /** Derives the current passphrase with each retired passphrase key's salt (outside any lock), until one matches. */
  async prepareRetiredCheck(retired: readonly RetiredKey[]): Promise<void> {
    if (this.currentSource.kind !== "passphrase") return;
    for (const entry of retired) {
      if (!entry.kdf) continue;
      const known = this.#retiredChecks.get(kdfKey(entry.kdf));
      if (known && sameKeyId(known, entry.keyId)) return; // Retired: nothing more to learn.
      if (known) continue;
      const master = await derivePassphraseKey(this.currentSource.passphrase, entry.kdf.salt, entry.kdf.params);
      this.#retiredChecks.set(kdfKey(entry.kdf), master.keyId);
      if (sameKeyId(master.keyId, entry.keyId)) return;
    }
  }

  /** The current passphrase's key ids under retired keys' salts, by salt and parameters. */
  readonly #retiredChecks = new Map<string, Uint8Array>();

  /** Whether the current key is among `retired`; a passphrase not yet derived with a retired salt counts as retired when `unknownIsRetired`. */
  #currentRetired(retired: readonly RetiredKey[], unknownIsRetired = true): boolean {
    return retired.some((entry) => {
      if (sameKeyId(entry.keyId, this.current.keyId)) return true;
      if (!entry.kdf || this.currentSource.kind !== "passphrase") return false;
      // Unknown (not derived): counted as retired, so the file keeps its key.
      const derived = this.#retiredChecks.get(kdfKey(entry.kdf));
      return derived === undefined ? unknownIsRetired : sameKeyId(derived, entry.keyId);
    });
  }

  /** Makes `master` a key this ring opens files with (not the current one): the key a rekey is moving to. */
  know(master: MasterKey): void {
    if (!this.derived.includes(master)) this.derived.push(master);
  }

  /** The key that opens a file with this header, if this ring has it ready. */
  find(header: Header): MasterKey | undefined {
    if (sameKeyId(this.current.keyId, header.keyId)) return this.current;
    for (const source of this.older) {
      if (source.kind === "raw" && sameKeyId(source.master.keyId, header.keyId)) return source.master;
    }
    return this.derived.find((master) => sameKeyId(master.keyId, header.keyId));
  }

  /** True when a passphrase of this ring has not been tried against this header's salt yet. */
  needsDerivation(header: Header): boolean {
    if (!header.kdf || this.find(header)) return false;
    const kdf = header.kdf;
    return this.passphrases().some((passphrase) => !this.triedSalts.has(saltKey(passphrase, kdf)));
  }

  /** Derives, outside any lock, every passphrase key this header could have been sealed with. */
  async prepare(header: Header): Promise<void> {
    if (!header.kdf || this.find(header)) return;
    for (const passphrase of this.passphrases()) {
      const tag = saltKey(passphrase, header.kdf);
      if (this.triedSalts.has(tag)) continue;
      this.triedSalts.add(tag);
      const master = await derivePassphraseKey(passphrase, header.kdf.salt, header.kdf.params);
      this.derived.push(master);
      if (sameKeyId(master.keyId, header.keyId)) return;
    }
  }

  private passphrases(): string[] {
    return [this.currentSource, ...this.older].flatMap((source) => (source.kind === "passphrase" ? [source.passphrase] : []));
  }
}

/** The retired-key entry for a key a store moves away from. */
export function retiredEntry(master: MasterKey): RetiredKey {
  return master.kdf ? { keyId: master.keyId, kdf: { salt: master.kdf.salt, params: { ...master.kdf.params } } } : { keyId: master.keyId };
}

/** The secret that names refresh leases for a store sealed with `master`. */
export function leaseSecret(master: MasterKey): Uint8Array {
  return leaseNameKey(master.key);
}

async function load(source: KeySource): Promise<Loaded> {
  const material = await source.load();
  return material.kind === "raw"
    ? { kind: "raw", master: rawMasterKey(material.key), description: source.description }
    : { kind: "passphrase", passphrase: material.passphrase, description: source.description };
}

function kdfKey(kdf: { salt: Uint8Array; params: ScryptParams }): string {
  return `${Buffer.from(kdf.salt).toString("hex")}:${kdf.params.log2N}:${kdf.params.r}:${kdf.params.p}`;
}

function saltKey(passphrase: string, kdf: NonNullable<Header["kdf"]>): string {
  // Identifies one derivation attempt in memory; never printed.
  const { salt, params } = kdf;
  return `${Buffer.from(salt).toString("hex")}:${params.log2N}:${params.r}:${params.p}:${passphrase.length}:${passphrase}`;
}

/** The retired keys a document's `retiredKeys` field lists (malformed entries are skipped). */
export function readRetired(meta: Readonly<Record<string, unknown>>): RetiredKey[] {
  const list = meta.retiredKeys;
  if (!Array.isArray(list)) return [];
  const keys: RetiredKey[] = [];
  for (const entry of list as unknown[]) {
    if (typeof entry !== "object" || entry === null) continue;
    const { id, salt, n, r, p } = entry as Record<string, unknown>;
    if (typeof id !== "string" || !/^[0-9a-f]{32}$/.test(id)) continue;
    const keyId = new Uint8Array(Buffer.from(id, "hex"));
    if (salt === undefined) keys.push({ keyId });
    else if (typeof salt === "string" && /^[0-9a-f]{32}$/.test(salt) && [n, r, p].every((v) => Number.isInteger(v))) {
      keys.push({ keyId, kdf: { salt: new Uint8Array(Buffer.from(salt, "hex")), params: { log2N: n as number, r: r as number, p: p as number } } });
    }
  }
  return keys;
}

/** `meta` with `retired` added to its retired keys (the newest kept). */
export function withRetired(meta: Readonly<Record<string, unknown>>, retired: RetiredKey): Record<string, unknown> {
  return writeRetired(meta, [...readRetired(meta).filter((entry) => !sameKeyId(entry.keyId, retired.keyId)), retired]);
}

/** `meta` without `keyId` among its retired keys: an explicit rekey made it current again. */
export function withoutRetired(meta: Readonly<Record<string, unknown>>, keyId: Uint8Array): Record<string, unknown> {
  const list = readRetired(meta);
  const kept = list.filter((entry) => !sameKeyId(entry.keyId, keyId));
  return kept.length === list.length ? { ...meta } : writeRetired(meta, kept);
}

function writeRetired(meta: Readonly<Record<string, unknown>>, entries: readonly RetiredKey[]): Record<string, unknown> {
  const list = entries.slice(-MAX_RETIRED_KEYS);
  return {
    ...meta,
    retiredKeys: list.map(({ keyId, kdf }) => {
      const id = Buffer.from(keyId).toString("hex");
      return kdf ? { id, salt: Buffer.from(kdf.salt).toString("hex"), n: kdf.params.log2N, r: kdf.params.r, p: kdf.params.p } : { id };
    }),
  };
}
