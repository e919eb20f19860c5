/**
 * The keys a store holds: the current key (used for every write) and older keys
 * accepted for reading, during a rotation. Passphrase keys depend on the salt in the
 * file's header; each (passphrase, salt) is derived once and kept.
 */
import { TokenStoreError } from "../errors.js";
import type { Header } from "./format.js";
import {
  DEFAULT_SCRYPT,
  derivePassphraseKey,
  describeType,
  newKdfSalt,
  parseKey,
  rawMasterKey,
  readKeyFile,
  sameKeyId,
  type MasterKey,
  type ScryptParams,
} from "./keys.js";

/** A key as a caller gives it: raw bytes, base64 text, a key file or a passphrase. */
export type KeyInput = Uint8Array | string | { key: Uint8Array | string } | { keyFile: string } | { passphrase: string };

type Source = { kind: "raw"; master: MasterKey } | { kind: "passphrase"; passphrase: string };

export class KeyRing {
  private readonly derived: MasterKey[] = [];

  private constructor(
    private current: MasterKey,
    private currentSource: Source,
    private readonly older: Source[],
    private readonly scrypt: ScryptParams,
  ) {}

  /**
   * Builds the ring. For a passphrase, the current key reuses the salt of the existing
   * file when the passphrase matches it (so every process agrees), otherwise a new salt.
   */
  static async create(current: KeyInput, older: readonly KeyInput[], header: Header | undefined, scrypt: ScryptParams = DEFAULT_SCRYPT): Promise<KeyRing> {
    const source = toSource(current, "key");
    const olderSources = older.map((input, index) => toSource(input, `previousKeys[${index}]`));
    let ring: KeyRing;
    if (source.kind === "raw") {
      ring = new KeyRing(source.master, source, olderSources, scrypt);
    } else if (header?.kdf) {
      // Same salt as the file: if the passphrase is the file's, every process agrees on the key.
      const existing = await derivePassphraseKey(source.passphrase, header.kdf.salt, header.kdf.params);
      const master = sameKeyId(existing.keyId, header.keyId)
        ? existing
        : await derivePassphraseKey(source.passphrase, newKdfSalt(), scrypt);
      ring = new KeyRing(master, source, olderSources, scrypt);
      ring.derived.push(existing);
      ring.triedSalts.add(saltKey(source.passphrase, header));
    } else {
      ring = new KeyRing(await derivePassphraseKey(source.passphrase, newKdfSalt(), scrypt), source, olderSources, scrypt);
    }
    if (header) await ring.prepare(header);
    return ring;
  }

  /** Creates the master key for a new current key (rekey), with a fresh salt for a passphrase. */
  static async masterFor(input: KeyInput, scrypt: ScryptParams = DEFAULT_SCRYPT): Promise<{ master: MasterKey; source: Source }> {
    const source = toSource(input, "new key");
    const master = source.kind === "raw" ? source.master : await derivePassphraseKey(source.passphrase, newKdfSalt(), scrypt);
    return { master, source };
  }

  get writeKey(): MasterKey {
    return this.current;
  }

  get scryptParams(): ScryptParams {
    return this.scrypt;
  }

  /** Makes `master` the current key; the old current key stays readable. */
  replaceCurrent(master: MasterKey, source: Source): void {
    this.derived.push(this.current);
    this.older.unshift(this.currentSource);
    this.currentSource = source;
    this.current = master;
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
    return this.passphrases().some((passphrase) => !this.triedSalts.has(saltKey(passphrase, header)));
  }

  /** Derives, outside any lock, every passphrase key this header could have been sealed with. */
  async prepare(header: Header): Promise<void> {
    if (!header.kdf || this.find(header)) return;
    for (const passphrase of this.passphrases()) {
      const tag = saltKey(passphrase, header);
      if (this.triedSalts.has(tag)) continue;
      this.triedSalts.add(tag);
      const master = await derivePassphraseKey(passphrase, header.kdf.salt, header.kdf.params);
      this.derived.push(master);
      if (sameKeyId(master.keyId, header.keyId)) return;
    }
  }

  private readonly triedSalts = new Set<string>();

  private passphrases(): string[] {
    return [this.currentSource, ...this.older].flatMap((source) => (source.kind === "passphrase" ? [source.passphrase] : []));
  }
}

function saltKey(passphrase: string, header: Header): string {
  // Identifies one derivation attempt in memory; never printed.
  const { salt, params } = header.kdf!;
  return `${Buffer.from(salt).toString("hex")}:${params.log2N}:${params.r}:${params.p}:${passphrase.length}:${passphrase}`;
}

function toSource(input: KeyInput, what: string): Source {
  if (input instanceof Uint8Array || typeof input === "string") {
    return { kind: "raw", master: rawMasterKey(parseKey(input, what)) };
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new TokenStoreError("INVALID_OPTION", `${what} must be a key (Uint8Array or base64), { keyFile }, or { passphrase }, got ${describeType(input)}`);
  }
  const keys = Object.keys(input);
  if (keys.length !== 1) {
    throw new TokenStoreError("INVALID_OPTION", `${what} must have exactly one of key, keyFile, passphrase`);
  }
  if ("key" in input) return { kind: "raw", master: rawMasterKey(parseKey(input.key, what)) };
  if ("keyFile" in input) return { kind: "raw", master: rawMasterKey(readKeyFile(input.keyFile)) };
  if ("passphrase" in input) {
    if (typeof input.passphrase !== "string" || input.passphrase.length === 0) {
      throw new TokenStoreError("INVALID_OPTION", `${what}.passphrase must be a non-empty string, got ${describeType(input.passphrase)}`);
    }
    return { kind: "passphrase", passphrase: input.passphrase };
  }
  throw new TokenStoreError("INVALID_OPTION", `${what} must have exactly one of key, keyFile, passphrase`);
}
