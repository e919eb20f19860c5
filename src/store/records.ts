/**
 * A store kept as separately sealed records (backends of granularity "records": a
 * server), so that a save seals and writes the head and the token it changed, not every
 * token, and a changed read decrypts only what changed.
 *
 * - The head record (`head`): the document without its tokens: `{"format":1,
 *   "records":1,"nextId":N,"nextRecord":M, ...meta}` (meta: the key history).
 * - One record per token, `r.<n>`: the token as the document's JSON holds it. `n` is
 *   handed out once, from the head's counter, in the order tokens were first stored,
 *   which is the order the matching rules call "oldest first". A record id says nothing
 *   of the token in it.
 *
 * Each record is a sealed envelope (crypto/envelope.ts) of the store's generation that
 * wrote it, with the backend's binding (engine, table, namespace) and the record's id as
 * context in its associated data: a row copied to another namespace, table or record id
 * fails authentication there. Every record is sealed with the head's key (a write that
 * moves the store to another key rewrites every record), and no record may be of a later
 * generation than the head, or of an earlier one than this process has seen it at.
 */
import { TokenStoreError } from "../errors.js";
import { readHeader, unseal, type Header } from "../crypto/envelope.js";
import { sameKeyId, type MasterKey } from "../crypto/keys.js";
import { HEAD_RECORD, type RecordId, type Snapshot } from "../backend/types.js";
import { isPlainObject } from "../tokens/input.js";
import { parseRecordJson, recordJson, TokenDocument } from "../tokens/document.js";
import type { TokenRecord } from "../tokens/types.js";

const RECORD_PREFIX = "r.";
const HEAD_FORMAT = 1;

/** Where each token's record is, and at which generation this process last saw it. */
export interface RecordsIndex {
  /** Token id to record id and generation. */
  readonly byToken: Map<string, { record: RecordId; generation: number }>;
  /** Record id to token id. */
  readonly byRecord: Map<RecordId, string>;
  /** The next record number to hand out. */
  nextRecord: number;
}

export function emptyIndex(): RecordsIndex {
  return { byToken: new Map(), byRecord: new Map(), nextRecord: 1 };
}

function copyIndex(index: RecordsIndex): RecordsIndex {
  return { byToken: new Map(index.byToken), byRecord: new Map(index.byRecord), nextRecord: index.nextRecord };
}

/** The associated data that binds a record to its place. */
export function contextOf(binding: string, id: RecordId): Uint8Array {
  return new Uint8Array(Buffer.from(`zoho-encrypted-filestore record\u0000${binding}\u0000${id}`, "utf8"));
}

export function headPlaintext(nextId: number, nextRecord: number, meta: Readonly<Record<string, unknown>>): Uint8Array {
  return new Uint8Array(Buffer.from(JSON.stringify({ format: HEAD_FORMAT, records: 1, nextId, nextRecord, ...meta }), "utf8"));
}

export function recordPlaintext(record: TokenRecord): Uint8Array {
  return new Uint8Array(Buffer.from(JSON.stringify(recordJson(record)), "utf8"));
}

function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch {
    // JSON.parse's message quotes the text; it is not kept.
    throw damaged(where, "decrypted but does not hold a token record");
  }
}

function recordNumber(id: RecordId): number | undefined {
  if (!id.startsWith(RECORD_PREFIX)) return undefined;
  const text = id.slice(RECORD_PREFIX.length);
  return /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : undefined;
}

/** What opening a snapshot gives: the document, its index, and the head's facts. */
export interface OpenedRecords {
  doc: TokenDocument;
  index: RecordsIndex;
}

/**
 * Authenticates the records of `snapshot` and makes the document: the whole document for
 * a complete snapshot; for one with only what changed, `base` (the document and index this
 * process holds) with the changes applied, in place when `inPlace`, else on a copy.
 * `head` is the head record, its header already read and its key found (`master`).
 */
export async function openRecords(options: {
  snapshot: Snapshot;
  head: { bytes: Uint8Array };
  header: Header;
  master: MasterKey;
  binding: string;
  where: string;
  base: { doc: TokenDocument; index: RecordsIndex } | undefined;
  inPlace: boolean;
}): Promise<OpenedRecords> {
  const { snapshot, head, header, master, binding, where } = options;
  const headData = parseJson(await unseal(head.bytes, master, `${where} (head)`, contextOf(binding, HEAD_RECORD)), where);
  if (!isPlainObject(headData) || headData.format !== HEAD_FORMAT || headData.records !== 1) throw damaged(where, "decrypted but does not hold a store head");
  const { format: _format, records: _records, nextId, nextRecord, ...meta } = headData;
  if (!Number.isSafeInteger(nextId) || !Number.isSafeInteger(nextRecord) || (nextRecord as number) < 1) throw damaged(where, "has a malformed head");

  // Every record first (the awaits), then the document changes, all at once.
  const opened: Array<{ id: RecordId; number: number; record: TokenRecord; generation: number }> = [];
  for (const stored of snapshot.records) {
    if (stored.id === HEAD_RECORD) continue;
    const number = recordNumber(stored.id);
    const at = `${where} (record ${stored.id})`;
    if (number === undefined || number >= (nextRecord as number)) throw damaged(at, "is not a record this store handed out");
    const recordHeader = readHeader(stored.bytes, at);
    if (!sameKeyId(recordHeader.keyId, header.keyId)) throw damaged(at, "is sealed with another key than the store's head");
    if (recordHeader.generation > header.generation) throw damaged(at, "is of a later generation than the store's head");
    const record = parseRecordJson(parseJson(await unseal(stored.bytes, master, at, contextOf(binding, stored.id)), at), at);
    opened.push({ id: stored.id, number, record, generation: recordHeader.generation });
  }
  opened.sort((a, b) => a.number - b.number);

  const complete = snapshot.complete || !options.base;
  const index = complete ? emptyIndex() : options.inPlace ? options.base!.index : copyIndex(options.base!.index);
  index.nextRecord = nextRecord as number;
  const checkPlace = (entry: (typeof opened)[number]) => {
    const known = index.byRecord.get(entry.id);
    if (known !== undefined && known !== entry.record.id) throw damaged(`${where} (record ${entry.id})`, "holds another token than it did");
    const seen = index.byToken.get(entry.record.id);
    if (seen && seen.record !== entry.id) throw damaged(`${where} (record ${entry.id})`, "holds a token another record holds");
    if (seen && entry.generation < seen.generation) {
      throw new TokenStoreError(
        "ROLLBACK_DETECTED",
        `${where} (record ${entry.id}) holds generation ${entry.generation}, older than generation ${seen.generation} which this process has already read: an older copy was put in its place. Nothing was changed`,
        { location: where, action: "recover" },
      );
    }
  };
  let doc: TokenDocument;
  if (complete) {
    for (const entry of opened) {
      if (options.base) checkPlaceAgainst(options.base.index, entry, where);
      if (index.byToken.has(entry.record.id)) throw damaged(`${where} (record ${entry.id})`, "holds a token another record holds");
      index.byToken.set(entry.record.id, { record: entry.id, generation: entry.generation });
      index.byRecord.set(entry.id, entry.record.id);
    }
    doc = TokenDocument.fromRecords(
      nextId as number,
      meta,
      opened.map((entry) => entry.record),
      where,
    );
  } else {
    const base = options.base!.doc;
    const removedTokens: string[] = [];
    // Removals first: a token deleted and saved again since comes back in a new record.
    for (const id of snapshot.removed) {
      const token = index.byRecord.get(id);
      if (token === undefined) continue;
      removedTokens.push(token);
      index.byRecord.delete(id);
      index.byToken.delete(token);
    }
    for (const entry of opened) checkPlace(entry);
    for (const entry of opened) {
      index.byToken.set(entry.record.id, { record: entry.id, generation: entry.generation });
      index.byRecord.set(entry.id, entry.record.id);
    }
    if (options.inPlace) {
      doc = base;
      for (const token of removedTokens) doc.delete(token);
      for (const entry of opened) doc.upsert(entry.record);
      doc.nextId = nextId as number;
      doc.meta = meta;
    } else {
      // A copy: the held document may be the base of a change being written.
      const gone = new Set(removedTokens);
      const changed = new Map(opened.map((entry) => [entry.record.id, entry.record]));
      const kept = base.all().filter((record) => !gone.has(record.id));
      const merged = kept.map((record) => changed.get(record.id) ?? record);
      const known = new Set(kept.map((record) => record.id));
      for (const entry of opened) if (!known.has(entry.record.id)) merged.push(entry.record);
      doc = TokenDocument.fromRecords(nextId as number, meta, merged, where);
    }
  }
  return { doc, index };
}

function checkPlaceAgainst(index: RecordsIndex, entry: { id: RecordId; record: TokenRecord; generation: number }, where: string): void {
  const seen = index.byToken.get(entry.record.id);
  if (seen && seen.record === entry.id && entry.generation < seen.generation) {
    throw new TokenStoreError(
      "ROLLBACK_DETECTED",
      `${where} (record ${entry.id}) holds generation ${entry.generation}, older than generation ${seen.generation} which this process has already read: an older copy was put in its place. Nothing was changed`,
      { location: where, action: "recover" },
    );
  }
}

/**
 * The records a write puts and removes: every record when `whole`, else the ones `changes`
 * touched. Record numbers for new tokens come from the index's counter. Nothing is
 * changed until `commit` (once the write is stored), which updates `index` in place and
 * marks the records written as seen at `generation`: no copy of the index, whose maps at
 * 10,000 tokens cost more to copy than the save's statements.
 */
export function plannedRecords(
  index: RecordsIndex,
  changes: { put: readonly TokenRecord[]; removed: readonly string[] } | { all: readonly TokenRecord[] },
): { nextRecord: number; put: Array<{ id: RecordId; record: TokenRecord }>; remove: RecordId[]; commit(generation: number): void } {
  const whole = "all" in changes;
  let nextRecord = index.nextRecord;
  const put: Array<{ id: RecordId; record: TokenRecord }> = [];
  const remove: RecordId[] = [];
  const removedTokens: string[] = [];
  if (whole) {
    // A token keeps its record id (readers holding the index know it by it); the others go.
    for (const record of changes.all) put.push({ id: index.byToken.get(record.id)?.record ?? `${RECORD_PREFIX}${nextRecord++}`, record });
  } else {
    for (const token of changes.removed) {
      const at = index.byToken.get(token);
      if (!at) continue;
      remove.push(at.record);
      removedTokens.push(token);
    }
    for (const record of changes.put) {
      const id = index.byToken.get(record.id)?.record ?? `${RECORD_PREFIX}${nextRecord++}`;
      put.push({ id, record });
    }
  }
  return {
    nextRecord,
    put,
    remove,
    commit(generation) {
      if (whole) {
        index.byToken.clear();
        index.byRecord.clear();
      }
      for (const token of removedTokens) {
        const at = index.byToken.get(token);
        if (!at) continue;
        index.byToken.delete(token);
        index.byRecord.delete(at.record);
      }
      for (const { id, record } of put) {
        index.byToken.set(record.id, { record: id, generation });
        index.byRecord.set(id, record.id);
      }
      index.nextRecord = nextRecord;
    },
  };
}

function damaged(where: string, what: string): TokenStoreError {
  return new TokenStoreError("DAMAGED_FILE", `${where} ${what}; nothing was changed`, { location: where, action: "recover" });
}
