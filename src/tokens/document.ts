/**
 * Over 350 lines on purpose: the records, their indexes and the journal that undoes and
 * redoes changes are one data structure, and every change touches all three.
 *
 * The decrypted document: every token record, with constant-time look-ups by id,
 * user name, access, refresh and grant token, and the SDK FileStore's matching rules.
 *
 * JSON shape (format 1): `{"format":1,"nextId":N,"tokens":[{"id":"1","userName":"...",...}]}`.
 * Fields that are null are left out. `nextId` only grows, so an id is never handed
 * out twice, even after deletes; it never passes 2^53 - 1, the largest integer JSON
 * numbers hold exactly (a change that would take it further is refused), so what is
 * written always parses back. Other top-level fields (the store keeps its key history
 * there) are carried through unchanged as `meta`.
 */
import { TokenStoreError } from "../errors.js";
import { isPlainObject, type NormalizedInput } from "./input.js";
import { TOKEN_FIELDS, type TokenField, type TokenRecord } from "./types.js";

const DOCUMENT_FORMAT = 1;

const INDEXED = ["userName", "accessToken", "refreshToken", "grantToken"] as const;
type IndexedField = (typeof INDEXED)[number];
/** Fields whose values are usually the same in many records. */
const SHARED_FIELDS: ReadonlySet<string> = new Set<TokenField>(["clientId", "clientSecret", "redirectUrl", "apiDomain"]);

/** A stored record plus its position, which decides which record wins when several match. */
interface Entry {
  readonly record: TokenRecord;
  readonly seq: number;
  /** The record's size in the serialized document (UTF-8 bytes), once measured. */
  bytes?: number;
}

/**
 * The most UTF-8 bytes one UTF-16 code unit of a value takes in JSON: a control
 * character or a lone surrogate is written `\u001f` (6 bytes); anything else takes 1 to 3
 * bytes (a surrogate pair, two units, takes 4).
 */
const MAX_BYTES_PER_UNIT = 6;

/**
 * What an index holds for one value: the entry, or (only when several records share
 * the value) the entries oldest first. Never changed in place: a change stores a new
 * slot, so undoing a change can put the old slot back as it was.
 */
type Slot = Entry | readonly Entry[];
type Indexes = Record<IndexedField, Map<string, Slot>>;

function isList(slot: Slot): slot is readonly Entry[] {
  return Array.isArray(slot);
}

export class TokenDocument {
  private nextSeq = 0;
  /** While `tentatively` runs: every change to a map, in order. */
  private journal: MapChange[] | undefined;

  private constructor(
    public nextId: number,
    /** Top-level fields other than format, nextId and tokens, kept as they were read. */
    public meta: Readonly<Record<string, unknown>> = {},
    private readonly byId = new Map<string, Entry>(),
    private readonly indexes: Indexes = { userName: new Map(), accessToken: new Map(), refreshToken: new Map(), grantToken: new Map() },
  ) {}

  /**
   * Runs `change` on this document, then puts the document back exactly as it was, and
   * returns what `change` returned and the changes it made, which `redo` makes again.
   * A write changes the document it read in place, serializes the result and undoes it,
   * all synchronously (so no reader ever sees a change that is not on disk), and redoes
   * it once the file is replaced: no copy of the document, whose maps at 10,000 tokens
   * took longer to copy than the disk took to write the file.
   */
  tentatively<T>(change: () => T): { value: T; changes: Changes } {
    if (this.journal) throw new Error("TokenDocument.tentatively does not nest");
    const before = { nextId: this.nextId, nextSeq: this.nextSeq };
    const journal: MapChange[] = [];
    this.journal = journal;
    try {
      const value = change();
      return { value, changes: { journal, before, after: { nextId: this.nextId, nextSeq: this.nextSeq } } };
    } finally {
      this.journal = undefined;
      let reinserted = false;
      for (let i = journal.length - 1; i >= 0; i--) {
        const { map, key, before, after } = journal[i]!;
        put(map, key, before);
        reinserted ||= map === this.byId && after === undefined;
      }
      // A record put back after a delete went to the end of the map; the map's order is
      // the file's order, which decides which record is the oldest once read back.
      if (reinserted) this.restoreOrder();
      this.nextId = before.nextId;
      this.nextSeq = before.nextSeq;
    }
  }

  /**
   * Inside `tentatively`: a point to come back to. The function returned undoes every
   * change made since (and only those), so that one change of several can be left out.
   */
  mark(): () => void {
    const journal = this.journal;
    if (!journal) throw new Error("TokenDocument.mark outside tentatively");
    const at = journal.length;
    const before = { nextId: this.nextId, nextSeq: this.nextSeq };
    return () => {
      if (this.journal !== journal || journal.length < at) throw new Error("TokenDocument.mark undone out of order");
      let reinserted = false;
      for (let i = journal.length - 1; i >= at; i--) {
        const { map, key, before: value, after } = journal[i]!;
        put(map, key, value);
        reinserted ||= map === this.byId && after === undefined;
      }
      journal.length = at;
      if (reinserted) this.restoreOrder();
      this.nextId = before.nextId;
      this.nextSeq = before.nextSeq;
    };
  }

  private restoreOrder(): void {
    const entries = [...this.byId.values()].sort((a, b) => a.seq - b.seq);
    this.byId.clear();
    for (const entry of entries) this.byId.set(entry.record.id, entry);
  }

  /** Makes again the changes `tentatively` made and undid; the document must be as it left it. */
  redo(changes: Changes): void {
    if (this.nextId !== changes.before.nextId || this.nextSeq !== changes.before.nextSeq) {
      throw new Error("TokenDocument.redo on a document that changed since");
    }
    for (const { map, key, after } of changes.journal) put(map, key, after);
    this.nextId = changes.after.nextId;
    this.nextSeq = changes.after.nextSeq;
  }

  static empty(): TokenDocument {
    return new TokenDocument(1);
  }

  /** Parses an authenticated document. A malformed one is reported as damaged. */
  static parse(json: Uint8Array, path: string): TokenDocument {
    let data: unknown;
    try {
      data = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString("utf8"));
    } catch {
      // JSON.parse's message quotes the text it read; it is not kept.
      throw malformed(path);
    }
    if (!isPlainObject(data) || data.format !== DOCUMENT_FORMAT || !Number.isSafeInteger(data.nextId) || !Array.isArray(data.tokens)) {
      throw malformed(path);
    }
    const { format: _format, nextId, tokens, ...meta } = data;
    const doc = new TokenDocument(nextId as number, meta);
    // JSON.parse makes a new string for every occurrence of a value; the values most
    // records share (one app's client id and secret, redirect URL, API domain) are kept
    // once instead, which for many users is a good part of the memory the cache takes.
    const shared = new Map<string, string>();
    for (const raw of tokens as unknown[]) {
      if (!isPlainObject(raw) || typeof raw.id !== "string" || doc.byId.has(raw.id)) throw malformed(path);
      const record = emptyRecord(raw.id);
      for (const field of TOKEN_FIELDS) {
        const value = raw[field];
        if (value === undefined) continue;
        if (typeof value !== "string") throw malformed(path);
        if (SHARED_FIELDS.has(field)) {
          const known = shared.get(value);
          if (known === undefined) shared.set(value, value);
          record[field] = known ?? value;
        } else {
          record[field] = value;
        }
      }
      doc.add(record);
    }
    return doc;
  }

  /**
   * A document from records already authenticated one by one (a store kept as several
   * records), oldest first. A repeated id is reported as damaged.
   */
  static fromRecords(nextId: number, meta: Readonly<Record<string, unknown>>, records: Iterable<TokenRecord>, path: string): TokenDocument {
    const doc = new TokenDocument(nextId, meta);
    for (const record of records) {
      if (doc.byId.has(record.id)) throw malformed(path);
      doc.add(record);
    }
    return doc;
  }

  /**
   * Sets the record with this id as read from storage: replaces it in place (its position
   * kept) or adds it as the newest. Not for changes a caller makes (see `save`).
   */
  upsert(record: TokenRecord): void {
    const old = this.get(record.id);
    if (old) this.replace(old, record);
    else this.add(record);
  }

  /** What `changes` did to the records: the ids written (with their records now) and the ids removed. */
  recordChanges(changes: Changes): { put: TokenRecord[]; removed: string[] } {
    const last = new Map<string, Entry | undefined>();
    for (const change of changes.journal) {
      if (change.map === (this.byId as Map<string, unknown>)) last.set(change.key, change.after as Entry | undefined);
    }
    const put: TokenRecord[] = [];
    const removed: string[] = [];
    for (const [id, entry] of last) {
      if (entry) put.push(entry.record);
      else removed.push(id);
    }
    return { put, removed };
  }

  toJSON(): unknown {
    return this.json(this.meta);
  }

  private json(meta: Readonly<Record<string, unknown>>): unknown {
    return { format: DOCUMENT_FORMAT, nextId: this.nextId, ...meta, tokens: Array.from(this.byId.values(), ({ record }) => recordJson(record)) };
  }

  /**
   * The document as UTF-8 JSON. Encoded with byteLength and write: Buffer.from(json) took
   * 2-3x as long on the freshly built string of a large document (0.4-4 MB). Writing it
   * record by record was faster still, but doubled the resident memory a writing process
   * keeps (docs/performance.md).
   */
  serialize(meta: Readonly<Record<string, unknown>> = this.meta, maxBytes = Number.POSITIVE_INFINITY): Uint8Array {
    const over = this.sizeOver(meta, maxBytes);
    if (over !== undefined) throw tooLarge(over, maxBytes);
    let json: string;
    try {
      json = JSON.stringify(this.json(meta));
    } catch (error) {
      // Past the longest string the engine makes (about 2^29 characters).
      if (error instanceof RangeError) throw tooLarge(undefined, maxBytes);
      throw error;
    }
    const length = Buffer.byteLength(json, "utf8");
    if (length > maxBytes) throw tooLarge(length, maxBytes);
    const bytes = Buffer.allocUnsafe(length);
    bytes.write(json, "utf8");
    return bytes;
  }

  /**
   * The size of the serialized document in bytes when it is more than `maxBytes`, else
   * undefined; without building the document's JSON, so that a document far past any
   * limit (past the longest string the engine makes) is measured in the memory of one
   * record. Cheap while an upper bound from the values' lengths alone stays within
   * `maxBytes`; past it, each record is measured once (kept with its entry).
   */
  sizeOver(meta: Readonly<Record<string, unknown>> = this.meta, maxBytes = Number.POSITIVE_INFINITY): number | undefined {
    if (maxBytes === Number.POSITIVE_INFINITY) return undefined;
    const frame = Buffer.byteLength(JSON.stringify({ format: DOCUMENT_FORMAT, nextId: this.nextId, ...meta, tokens: [] }), "utf8");
    // The records, separated by commas, go between the brackets of "tokens":[].
    const separators = Math.max(0, this.byId.size - 1);
    let bound = frame + separators;
    for (const { record } of this.byId.values()) {
      bound += '{"id":""}'.length + MAX_BYTES_PER_UNIT * record.id.length;
      for (const field of TOKEN_FIELDS) {
        const value = record[field];
        if (value !== null) bound += ',"":""'.length + field.length + MAX_BYTES_PER_UNIT * value.length;
      }
      if (bound > maxBytes) break;
    }
    if (bound <= maxBytes) return undefined;
    let exact = frame + separators;
    for (const entry of this.byId.values()) {
      entry.bytes ??= Buffer.byteLength(JSON.stringify(recordJson(entry.record)), "utf8");
      exact += entry.bytes;
    }
    return exact > maxBytes ? exact : undefined;
  }

  get size(): number {
    return this.byId.size;
  }

  /** The stored record (not a copy: callers copy before handing it out). */
  get(id: string): TokenRecord | undefined {
    return this.byId.get(id)?.record;
  }

  all(): TokenRecord[] {
    return Array.from(this.byId.values(), (entry) => entry.record);
  }

  /**
   * The record the SDK's FileStore would pick for `token`:
   * 1. a user name is given: the record with that user name, and nothing else;
   * 2. else an access token without client id and secret: the record with that access token;
   * 3. else a refresh token, or a grant token with client id and secret: the oldest record
   *    with that grant token or that refresh token.
   * When several records match, the oldest wins.
   */
  match(token: NormalizedInput): TokenRecord | undefined {
    if (token.userName !== null) return this.first("userName", token.userName);
    if (token.accessToken !== null && token.clientId === null && token.clientSecret === null) {
      return this.first("accessToken", token.accessToken);
    }
    const grantUsable = token.grantToken !== null && token.clientId !== null && token.clientSecret !== null;
    if (token.refreshToken !== null || grantUsable) {
      // The SDK tests each row for "same grant token, or else same refresh token" in file
      // order, so the oldest record matching either wins (not a grant match over an older
      // refresh match).
      const byGrant = token.grantToken !== null ? this.firstEntry("grantToken", token.grantToken) : undefined;
      const byRefresh = token.refreshToken !== null ? this.firstEntry("refreshToken", token.refreshToken) : undefined;
      if (byGrant && byRefresh) return (byGrant.seq <= byRefresh.seq ? byGrant : byRefresh).record;
      return (byGrant ?? byRefresh)?.record;
    }
    return undefined;
  }

  /**
   * Upsert with the SDK FileStore's rules: a token with an id updates that record
   * (inserting it under that id when absent); otherwise the matching record is
   * updated; otherwise a record is inserted with a new id. On update the given
   * fields replace the stored ones and the fields not given are kept.
   */
  save(token: NormalizedInput): TokenRecord {
    const target = token.id !== null ? this.get(token.id) : this.match(token);
    if (target) {
      const updated = { ...target };
      for (const field of TOKEN_FIELDS) {
        const value = token[field];
        if (value !== null) updated[field] = value;
      }
      this.replace(target, updated);
      return updated;
    }
    if (token.refreshToken === null && token.grantToken === null && token.accessToken === null) {
      throw new TokenStoreError("INVALID_TOKEN", "a new token record needs a refresh token, a grant token or an access token");
    }
    let id = token.id;
    if (id === null) {
      if (this.nextId >= Number.MAX_SAFE_INTEGER) {
        throw new TokenStoreError(
          "LIMIT_EXCEEDED",
          `no id left to give a new record: the id counter is at ${this.nextId}, the largest the store counts exactly (an explicit id near it was saved before); nothing was changed. Save new records with explicit ids, or move the records to a new store`,
        );
      }
      id = String(this.nextId);
      this.nextId += 1;
    } else if (/^[1-9][0-9]{0,15}$/.test(id) && Number(id) >= this.nextId && Number(id) < Number.MAX_SAFE_INTEGER) {
      // The counter moves past a numeric id given explicitly, so that no id is handed out
      // twice. Past 2^53 - 2 it could not (the counter must stay a number JSON holds
      // exactly): such ids are kept as plain names, which the counter never reaches.
      this.nextId = Number(id) + 1;
    }
    const record: TokenRecord = { ...token, id };
    this.add(record);
    return record;
  }

  delete(id: string): boolean {
    const entry = this.byId.get(id);
    if (!entry) return false;
    this.put(this.byId, id, undefined);
    for (const field of INDEXED) this.unindex(field, entry);
    return true;
  }

  clear(): void {
    for (const id of [...this.byId.keys()]) this.delete(id);
  }

  /** Sets (or, for undefined, deletes) a map entry, noting the change while `tentatively` runs. */
  private put<V>(map: Map<string, V>, key: string, value: V | undefined): void {
    this.journal?.push({ map: map as Map<string, unknown>, key, before: map.get(key), after: value });
    put(map, key, value);
  }

  private first(field: IndexedField, value: string): TokenRecord | undefined {
    return this.firstEntry(field, value)?.record;
  }

  /** The oldest entry with this value. */
  private firstEntry(field: IndexedField, value: string): Entry | undefined {
    const slot = this.indexes[field].get(value);
    return slot !== undefined && isList(slot) ? slot[0] : slot;
  }

  private add(record: TokenRecord): void {
    const entry = { record, seq: this.nextSeq++ };
    this.put(this.byId, record.id, entry);
    for (const field of INDEXED) this.index(field, entry);
  }

  private replace(old: TokenRecord, updated: TokenRecord): void {
    // A new entry, not a changed one: entries and slots are never changed in place, so
    // undoing a change can put the old ones back as they were.
    const entry = this.byId.get(old.id)!;
    const next: Entry = { record: updated, seq: entry.seq };
    this.put(this.byId, old.id, next);
    for (const field of INDEXED) {
      if (old[field] !== updated[field]) {
        this.unindex(field, entry);
        this.index(field, next);
      } else if (updated[field] !== null) {
        const index = this.indexes[field];
        const slot = index.get(updated[field]!)!;
        this.put(index, updated[field]!, isList(slot) ? slot.map((e) => (e === entry ? next : e)) : next);
      }
    }
  }

  private index(field: IndexedField, entry: Entry): void {
    const value = entry.record[field];
    if (value === null) return;
    const index = this.indexes[field];
    const slot = index.get(value);
    if (slot === undefined) {
      this.put(index, value, entry);
      return;
    }
    // Keep the oldest record first, as the SDK's FileStore scans its rows in order.
    const list = isList(slot) ? slot : [slot];
    let at = list.length;
    while (at > 0 && list[at - 1]!.seq > entry.seq) at--;
    this.put(index, value, [...list.slice(0, at), entry, ...list.slice(at)]);
  }

  private unindex(field: IndexedField, entry: Entry): void {
    const value = entry.record[field];
    if (value === null) return;
    const index = this.indexes[field];
    const slot = index.get(value);
    if (slot === undefined) return;
    if (!isList(slot)) {
      if (slot === entry) this.put(index, value, undefined);
      return;
    }
    const rest = slot.filter((e) => e !== entry);
    this.put(index, value, rest.length === 0 ? undefined : rest.length === 1 ? rest[0]! : rest);
  }
}

/** A record as stored in the document: its fields, null ones left out. */
export function recordJson(record: TokenRecord): Record<string, string> {
  const out: Record<string, string> = { id: record.id };
  for (const field of TOKEN_FIELDS) {
    const value = record[field];
    if (value !== null) out[field] = value;
  }
  return out;
}

/** One change `tentatively` noted: a map entry set (or, for undefined, deleted). */
interface MapChange {
  map: Map<string, unknown>;
  key: string;
  before: unknown;
  after: unknown;
}

/** What `tentatively` changed, for `redo`. */
export interface Changes {
  journal: readonly MapChange[];
  before: { nextId: number; nextSeq: number };
  after: { nextId: number; nextSeq: number };
}

function put<V>(map: Map<string, V>, key: string, value: V | undefined): void {
  if (value === undefined) map.delete(key);
  else map.set(key, value);
}

function emptyRecord(id: string): TokenRecord {
  return {
    id,
    userName: null,
    clientId: null,
    clientSecret: null,
    refreshToken: null,
    accessToken: null,
    grantToken: null,
    expiryTime: null,
    redirectUrl: null,
    apiDomain: null,
  };
}

/** A record from its JSON form (as {@link recordJson} writes it); anything else is reported as damaged. */
export function parseRecordJson(raw: unknown, path: string): TokenRecord {
  if (!isPlainObject(raw) || typeof raw.id !== "string" || raw.id.length === 0) throw malformed(path);
  const record = emptyRecord(raw.id);
  for (const field of TOKEN_FIELDS) {
    const value = raw[field];
    if (value === undefined) continue;
    if (typeof value !== "string") throw malformed(path);
    record[field] = value;
  }
  return record;
}

/** The document would not fit in `maxBytes` (its size: `bytes`, when known). */
function tooLarge(bytes: number | undefined, maxBytes: number): TokenStoreError {
  return new TokenStoreError(
    "LIMIT_EXCEEDED",
    `the document would be ${bytes === undefined ? "larger than the longest string this engine builds" : `${bytes} bytes`}, more than the ${maxBytes} a store file holds; nothing was changed. Move some tokens to another store`,
  );
}

function malformed(path: string): TokenStoreError {
  return new TokenStoreError("DAMAGED_FILE", `${path} decrypted but does not hold a token document; nothing was changed`, { path, action: "recover" });
}
