/**
 * The PostgreSQL dialect of the SQL backend (see ../sql/dialect.ts for the rows).
 *
 * Every statement has its values as parameters (never in the text) and no name, so the
 * driver uses the unnamed statement: nothing is prepared across transactions, which
 * PgBouncer's transaction pooling (1.18) does not carry. A write is one statement: the
 * removed rows, the rows put and the head, in data-modifying CTEs.
 */
import {
  type ErrorKind,
  type PooledConnection,
  PRUNED_MARKER,
  type RecordRow,
  type RowWrite,
  type SqlConnection,
  type SqlDialect,
  type SqlNames,
} from "../sql/dialect.js";
import { buffer, toBytes, toHead } from "../sql/rows.js";

const COMPONENT = "zoho-token-store";

/** A PostgreSQL identifier, quoted (names are checked by the options: letters, digits, underscores). */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function tables(names: SqlNames) {
  const s = ident(names.schema);
  return {
    records: `${s}.${ident(names.table)}`,
    heads: `${s}.${ident(`${names.table}_heads`)}`,
    leases: `${s}.${ident(`${names.table}_leases`)}`,
    schema: `${s}.${ident(`${names.table}_schema`)}`,
    writtenIndex: ident(`${names.table}_written`),
  };
}

/**
 * A string literal, as an escape string (`E'...'`: backslashes and quotes doubled), which
 * means the same whatever the server's `standard_conforming_strings`; a namespace holds no
 * NUL (the options refuse one).
 */
function literal(value: string): string {
  return `E'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/** Positive whole milliseconds, for SET LOCAL (which takes no parameters). */
function ms(value: number): string {
  return `${Math.max(1, Math.floor(value))}ms`;
}

/** The SQL of each value of a write: parameters, or literals for the simple protocol. */
interface WriteValues {
  namespace: string;
  version: string;
  previous: string;
  ids: string;
  bytes: string;
  remove: string;
  whole: string;
}

const PARAMETERS: WriteValues = { namespace: "$1", version: "$2", previous: "$3", ids: "$4", bytes: "$5", remove: "$6", whole: "$7" };

function integerLiteral(value: number): string {
  if (!Number.isSafeInteger(value)) throw new TypeError("a version is a safe integer");
  return String(value);
}

/**
 * One statement: the removed rows, the rows put and the head, in data-modifying CTEs.
 * prev keeps a row's bytes as of the previous generation: replaced only when the row was
 * last written at or before that version (else prev holds them already).
 */
function writeStatement(t: ReturnType<typeof tables>, v: WriteValues): string {
  return `WITH gone AS (
         UPDATE ${t.records} AS r SET prev = CASE WHEN r.written <= ${v.previous}::bigint THEN r.sealed ELSE r.prev END, sealed = NULL, written = ${v.version}
          WHERE r.namespace = ${v.namespace} AND r.sealed IS NOT NULL
            AND (r.id = ANY(${v.remove}::text[]) OR (${v.whole}::boolean AND NOT (r.id = ANY(${v.ids}::text[]))))
         RETURNING 1
       ), put AS (
         INSERT INTO ${t.records} AS r (namespace, id, written, sealed, prev)
         SELECT ${v.namespace}, u.id, ${v.version}, u.sealed, NULL FROM unnest(${v.ids}::text[], ${v.bytes}::bytea[]) AS u(id, sealed)
         ON CONFLICT (namespace, id) DO UPDATE
           SET prev = CASE WHEN r.written <= ${v.previous}::bigint THEN r.sealed ELSE r.prev END, written = EXCLUDED.written, sealed = EXCLUDED.sealed
         RETURNING 1
       )
       UPDATE ${t.heads} SET version = ${v.version}, previous = ${v.previous}::bigint WHERE namespace = ${v.namespace}`;
}

export const postgresDialect: SqlDialect = {
  engine: "PostgreSQL",

  async commit(connection) {
    await connection.query("COMMIT");
  },

  async rollback(connection) {
    await connection.query("ROLLBACK");
  },

  async schemaVersion(connection, names) {
    try {
      const { rows } = await connection.query(`SELECT version FROM ${tables(names).schema} WHERE component = $1`, [COMPONENT]);
      return rows.length === 0 ? 0 : Number(rows[0]!.version);
    } catch (error) {
      if (postgresDialect.classify(error) === "no-schema") return undefined;
      throw error;
    }
  },

  async createSchema(connection: PooledConnection, names, version) {
    const t = tables(names);
    await connection.query("BEGIN");
    try {
      // Creators wait for each other (CREATE ... IF NOT EXISTS races otherwise); the lock
      // ends with the transaction, so it works through PgBouncer too.
      await connection.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`${COMPONENT}:${names.schema}.${names.table}`]);
      const before = await connection.query("SELECT to_regclass($1) AS found", [`${ident(names.schema)}.${ident(`${names.table}_schema`)}`]);
      await connection.query(`CREATE SCHEMA IF NOT EXISTS ${ident(names.schema)}`);
      await connection.query(`CREATE TABLE IF NOT EXISTS ${t.schema} (component text PRIMARY KEY, version integer NOT NULL)`);
      await connection.query(`CREATE TABLE IF NOT EXISTS ${t.heads} (namespace text PRIMARY KEY, version bigint NOT NULL, previous bigint)`);
      await connection.query(
        `CREATE TABLE IF NOT EXISTS ${t.records} (namespace text NOT NULL, id text NOT NULL, written bigint NOT NULL, sealed bytea, prev bytea, PRIMARY KEY (namespace, id))`,
      );
      await connection.query(`CREATE INDEX IF NOT EXISTS ${t.writtenIndex} ON ${t.records} (namespace, written)`);
      await connection.query(
        `CREATE TABLE IF NOT EXISTS ${t.leases} (namespace text NOT NULL, name text NOT NULL, owner text NOT NULL, expires_at timestamptz NOT NULL, PRIMARY KEY (namespace, name))`,
      );
      await connection.query(`INSERT INTO ${t.schema} (component, version) VALUES ($1, $2) ON CONFLICT (component) DO NOTHING`, [COMPONENT, version]);
      await connection.query("COMMIT");
      return before.rows[0]?.found === null;
    } catch (error) {
      await connection.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  },

  async setSchemaVersion(connection, names, from, to) {
    const { rowCount } = await connection.query(`UPDATE ${tables(names).schema} SET version = $1 WHERE component = $2 AND version = $3`, [to, COMPONENT, from]);
    return rowCount === 1;
  },

  async pruneTombstones(connection, names, namespace, { below, version, limit }) {
    const t = tables(names);
    const { rows } = await connection.query(
      `WITH gone AS (
         DELETE FROM ${t.records} WHERE namespace = $1 AND id IN (
           SELECT id FROM ${t.records} WHERE namespace = $1 AND sealed IS NULL AND written <= $2 AND id <> $3 ORDER BY written LIMIT $4)
         RETURNING 1
       ), marked AS (
         INSERT INTO ${t.records} AS r (namespace, id, written, sealed, prev) SELECT $1, $3, $5, NULL, NULL WHERE EXISTS (SELECT 1 FROM gone)
         ON CONFLICT (namespace, id) DO UPDATE SET written = EXCLUDED.written
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM gone)::int AS pruned`,
      [namespace, below, PRUNED_MARKER, limit, version],
    );
    return Number(rows[0]?.pruned ?? 0);
  },

  async beginLocked(connection, names, namespace, { lockTimeoutMs, idleTimeoutMs }) {
    // One round trip: the transaction, its limits and the lock on the head row (simple
    // protocol, so the namespace goes in as a quoted literal; it is never a secret).
    const t = tables(names);
    const { rows } = await connection.query(
      `BEGIN; SET LOCAL lock_timeout = '${ms(lockTimeoutMs)}'; SET LOCAL idle_in_transaction_session_timeout = '${ms(idleTimeoutMs)}'; ` +
        `SELECT version, previous FROM ${t.heads} WHERE namespace = ${literal(namespace)} FOR UPDATE`,
    );
    return toHead(rows[0]) ?? (await postgresDialect.lockHead(connection, names, namespace));
  },

  async lockHead(connection, names, namespace) {
    const t = tables(names);
    const select = `SELECT version, previous FROM ${t.heads} WHERE namespace = $1 FOR UPDATE`;
    let head = toHead((await connection.query(select, [namespace])).rows[0]);
    if (head) return head;
    await connection.query(`INSERT INTO ${t.heads} (namespace, version) VALUES ($1, 0) ON CONFLICT (namespace) DO NOTHING`, [namespace]);
    head = toHead((await connection.query(select, [namespace])).rows[0]);
    if (!head) throw new Error("the head row was not created");
    return head;
  },

  async readSince(connection, names, namespace, since) {
    const t = tables(names);
    if (since !== undefined && Number.isSafeInteger(since)) {
      // A warm read: the head row, and the rows written after `since` (none when
      // unchanged), two indexed lookups of one table each, no join; in the simple protocol
      // (values as literals: no parse, bind and describe of a parameterized statement, the
      // same single message as a bare SELECT). One statement, so one snapshot.
      const ns = literal(namespace);
      const { rows } = await connection.query(
        `SELECT version, previous, NULL AS id, NULL::bytea AS sealed FROM ${t.heads} WHERE namespace = ${ns}
         UNION ALL
         SELECT NULL, NULL, id, sealed FROM ${t.records} WHERE namespace = ${ns} AND written > ${since}`,
      );
      const head = toHead(rows.find((row) => row.id === null));
      if (!head || head.version === 0 || head.version === since) return { head, complete: false, rows: [] };
      // Above the head's version (the namespace was recreated): read everything, below.
      if (head.version > since) {
        const records: RecordRow[] = [];
        for (const row of rows) if (row.id !== null && row.id !== undefined) records.push({ id: row.id as string, sealed: toBytes(row.sealed) });
        return { head, complete: false, rows: records };
      }
    }
    // A reader whose version is above the head's (the namespace was recreated) reads everything.
    const { rows } = await connection.query(
      `SELECT h.version, h.previous, ($2::bigint IS NULL OR $2::bigint > h.version) AS complete, r.id, r.sealed
         FROM ${t.heads} h
         LEFT JOIN ${t.records} r ON r.namespace = h.namespace
          AND (CASE WHEN $2::bigint IS NULL OR $2::bigint > h.version THEN r.sealed IS NOT NULL ELSE r.written > $2::bigint END)
        WHERE h.namespace = $1`,
      [namespace, since ?? null],
    );
    const head = toHead(rows[0]);
    const records: RecordRow[] = [];
    for (const row of rows) if (row.id !== null && row.id !== undefined) records.push({ id: row.id as string, sealed: toBytes(row.sealed) });
    return { head, complete: rows[0]?.complete === true, rows: records };
  },

  async readPrevious(connection, names, namespace) {
    const t = tables(names);
    const { rows } = await connection.query(
      `SELECT h.previous, r.id, CASE WHEN r.written <= h.previous THEN r.sealed ELSE r.prev END AS sealed
         FROM ${t.heads} h LEFT JOIN ${t.records} r ON r.namespace = h.namespace
        WHERE h.namespace = $1 AND h.previous IS NOT NULL`,
      [namespace],
    );
    if (rows.length === 0) return undefined;
    const records: RecordRow[] = [];
    for (const row of rows) if (row.id !== null && row.sealed !== null) records.push({ id: row.id as string, sealed: toBytes(row.sealed) });
    return records;
  },

  async peek(connection, names, namespace, id, headBytes, previous) {
    const t = tables(names);
    const value = previous ? "CASE WHEN r.written <= h.previous THEN r.sealed ELSE r.prev END" : "r.sealed";
    const { rows } = await connection.query(
      `SELECT substring(v from 1 for $3) AS head, octet_length(v) AS length
         FROM (SELECT ${value} AS v FROM ${t.heads} h JOIN ${t.records} r ON r.namespace = h.namespace
                WHERE h.namespace = $1 AND r.id = $2 ${previous ? "AND h.previous IS NOT NULL" : ""}) x
        WHERE v IS NOT NULL`,
      [namespace, id, headBytes],
    );
    const row = rows[0];
    return row ? { head: toBytes(row.head)!, length: Number(row.length) } : undefined;
  },

  async write(connection, names, namespace, write: RowWrite) {
    await connection.query(writeStatement(tables(names), PARAMETERS), [
      namespace,
      write.version,
      write.previous,
      write.put.map((record) => record.id),
      write.put.map((record) => buffer(record.bytes)),
      [...write.remove],
      write.whole,
    ]);
  },

  async writeAndCommit(connection, names, namespace, write: RowWrite) {
    // The write and the COMMIT in one simple-protocol call (which takes no parameters):
    // every value is a literal. Record ids are checked (letters, digits, . _ -), the
    // namespace is quoted, and the bytes are sealed records, hex-encoded.
    const text = (values: readonly string[]) => `ARRAY[${values.map(literal).join(",")}]::text[]`;
    const statement = writeStatement(tables(names), {
      namespace: literal(namespace),
      version: integerLiteral(write.version),
      previous: write.previous === null ? "NULL" : integerLiteral(write.previous),
      ids: text(write.put.map((record) => record.id)),
      bytes: `ARRAY[${write.put.map((record) => `decode('${buffer(record.bytes).toString("hex")}','hex')`).join(",")}]::bytea[]`,
      remove: text(write.remove),
      whole: write.whole ? "true" : "false",
    });
    await connection.query(`${statement}; COMMIT`);
  },

  async takeLease(connection, names, namespace, name, owner, leaseMs) {
    const t = tables(names);
    const { rowCount } = await connection.query(
      `INSERT INTO ${t.leases} AS l (namespace, name, owner, expires_at) VALUES ($1, $2, $3, clock_timestamp() + $4 * interval '1 millisecond')
       ON CONFLICT (namespace, name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
        WHERE l.expires_at <= clock_timestamp() OR l.owner = EXCLUDED.owner`,
      [namespace, name, owner, leaseMs],
    );
    return rowCount === 1;
  },

  async releaseLease(connection, names, namespace, name, owner) {
    await connection.query(`DELETE FROM ${tables(names).leases} WHERE namespace = $1 AND name = $2 AND owner = $3`, [namespace, name, owner]);
  },

  async leaseCounts(connection, names, namespace) {
    const { rows } = await connection.query(
      `SELECT count(*) AS total, count(*) FILTER (WHERE expires_at <= clock_timestamp()) AS expired FROM ${tables(names).leases} WHERE namespace = $1`,
      [namespace],
    );
    return { total: Number(rows[0]?.total ?? 0), expired: Number(rows[0]?.expired ?? 0) };
  },

  async removeExpiredLeases(connection, names, namespace) {
    const { rowCount } = await connection.query(`DELETE FROM ${tables(names).leases} WHERE namespace = $1 AND expires_at <= clock_timestamp()`, [namespace]);
    return rowCount ?? 0;
  },

  async missingGrants(connection, names) {
    const t = tables(names);
    const wanted: Array<[string, string]> = [
      [t.records, "SELECT,INSERT,UPDATE"],
      [t.heads, "SELECT,INSERT,UPDATE"],
      [t.leases, "SELECT,INSERT,UPDATE,DELETE"],
      [t.schema, "SELECT"],
    ];
    const missing: string[] = [];
    for (const [table, privileges] of wanted) {
      for (const privilege of privileges.split(",")) {
        const { rows } = await connection.query("SELECT has_table_privilege($1, $2) AS ok", [table, privilege]);
        if (rows[0]?.ok !== true) missing.push(`${privilege} on ${table}`);
      }
    }
    return missing;
  },

  classify(error: unknown): ErrorKind {
    const code = (error as { code?: unknown } | null)?.code;
    const message = error instanceof Error ? error.message : "";
    if (typeof code === "string") {
      if (code === "55P03") return "lock-timeout";
      if (code === "42P01" || code === "3F000") return "no-schema";
      if (code === "42501") return "permission";
      // 08: connection exceptions; 57P01-03: the server shuts down, crashed, or is starting;
      // 25P03: this session idled in a transaction past its limit and was ended.
      if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "25P03" || code === "53300") return "unavailable";
      if (/^E[A-Z]+$/.test(code) && /^(ECONN|EPIPE|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)/.test(code)) return "unavailable";
    }
    if (
      /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Query read timeout|Connection ended|server closed the connection/i.test(
        message,
      )
    ) {
      return "unavailable";
    }
    return "other";
  },
};

export type { SqlConnection };
