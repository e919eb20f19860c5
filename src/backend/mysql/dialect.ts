/**
 * The MySQL/MariaDB dialect of the SQL backend (see ../sql/dialect.ts for the rows), for
 * MySQL 8 and MariaDB 10.11. What differs from PostgreSQL, and why:
 *
 * - Placeholders are `?`, expanded by the driver on the client (text protocol: nothing is
 *   prepared on the server, so nothing lives in the session between transactions).
 * - No `RETURNING` and no data-modifying CTEs: a write is a few statements inside the
 *   transaction that locked the head, and the head's own update is a compare-and-set
 *   checked by its affected rows (`... WHERE version = <expected>` must touch one row).
 * - `SELECT ... FOR UPDATE` on the head row is the lock of an exclusive section (it ends
 *   with the transaction); `GET_LOCK` is held by a session, not a transaction, and only
 *   serves the one-off schema creation, on one connection held throughout.
 * - Transactions run at READ COMMITTED, so a section locks the rows it touches and no
 *   gaps: writers of other namespaces in the same table never wait for each other.
 * - A section's settings are session variables, set by one statement when it begins and
 *   put back to the server's defaults by one statement when it ends, so a pooled
 *   connection is left as it was: the lock and idle limits in whole seconds
 *   (`innodb_lock_wait_timeout`, `wait_timeout`), the isolation level, and `autocommit`
 *   off, so that the section's first statement opens its transaction (no START
 *   TRANSACTION). The statement that ends a section sets `autocommit` back on, which
 *   commits, then to the server's default: the COMMIT and the restore are one round trip.
 *   A section that writes one token is five: the settings, the head's lock, the head's
 *   compare-and-set, the rows, the commit. (MariaDB's `SET STATEMENT ... FOR` takes
 *   neither `wait_timeout`, `autocommit` nor the isolation level, and MySQL's `SET_VAR`
 *   hint takes none of the InnoDB or idle limits; several statements in one call need a
 *   driver flag a pool given might not have, and the compare-and-set must be checked
 *   before the COMMIT is sent.) The isolation variable is named by the server's flavour
 *   (`tx_isolation` on MariaDB 10.11, `transaction_isolation` on MySQL 8), read once per
 *   pool from the server's greeting.
 * - The server's clock: `UTC_TIMESTAMP(6)` (NOW(6) in UTC), into `DATETIME(6)` columns, so
 *   clients with different session time zones agree, and a daylight saving change moves
 *   no lease.
 * - Binary columns: `LONGBLOB`; text columns compare byte for byte (`utf8mb4_bin`,
 *   `ascii_bin`): the default collations would make the namespaces "A" and "a" one.
 * - `UPDATE ... SET a = ..., b = ...` assigns left to right, each later expression seeing
 *   the earlier assignment: `prev` is always assigned before `sealed` and `written`.
 * - Affected rows depend on the client's FOUND_ROWS flag (set by mysql2 by default, maybe
 *   not in a pool the program gives): every check here reads the same either way.
 */
import { TokenStoreError } from "../../errors.js";
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

/** Rows put by one INSERT: a bound on the statement's size (max_allowed_packet is 16 MiB on MariaDB's defaults). */
const MAX_ROWS_PER_INSERT = 500;
const MAX_BYTES_PER_INSERT = 4 * 1024 * 1024;

/** A MySQL identifier, quoted (names are checked by the options: letters, digits, underscores). */
function ident(name: string): string {
  return `\`${name.replaceAll("`", "``")}\``;
}

/** The tables, in the connection's database (MySQL's schema is the database of the connection string). */
function tables(names: SqlNames) {
  return {
    records: ident(names.table),
    heads: ident(`${names.table}_heads`),
    leases: ident(`${names.table}_leases`),
    schema: ident(`${names.table}_schema`),
    schemaName: `${names.table}_schema`,
    writtenIndex: ident(`${names.table}_written`),
  };
}

/** Whole seconds, at least one (the session variables take no fractions). */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** `?, ?, ?` for `count` values. */
function marks(count: number): string {
  return Array.from({ length: count }, () => "?").join(", ");
}

/** The value of the previous generation of a record row: its bytes when last written at or before it, else the ones kept. */
const PREVIOUS_VALUE = "CASE WHEN r.written <= h.previous THEN r.sealed ELSE r.prev END";

export const mysqlDialect: SqlDialect = {
  engine: "MySQL",
  grantsDoc: "docs/mysql.md",

  async beginLocked(connection, names, namespace, { lockTimeoutMs, idleTimeoutMs }) {
    const isolation = isolationVariable(await flavourOf(connection));
    await connection.query(`SET SESSION autocommit = 0, ${isolation} = 'READ-COMMITTED', innodb_lock_wait_timeout = ?, wait_timeout = ?`, [
      seconds(lockTimeoutMs),
      seconds(idleTimeoutMs),
    ]);
    return mysqlDialect.lockHead(connection, names, namespace);
  },

  async commit(connection) {
    try {
      await connection.query(endStatement(await flavourOf(connection)));
    } catch (error) {
      // Not committed (a commit refused is rolled back): the settings are put back all the same.
      await mysqlDialect.rollback(connection);
      throw error;
    }
  },

  async rollback(connection) {
    await connection.query("ROLLBACK");
    // autocommit back on commits nothing: the transaction is over.
    await connection.query(endStatement(await flavourOf(connection)));
  },

  async schemaVersion(connection, names) {
    try {
      const { rows } = await connection.query(`SELECT version FROM ${tables(names).schema} WHERE component = ?`, [COMPONENT]);
      return rows.length === 0 ? 0 : Number(rows[0]!.version);
    } catch (error) {
      if (mysqlDialect.classify(error) === "no-schema") return undefined;
      throw error;
    }
  },

  async createSchema(connection: PooledConnection, names, version) {
    const t = tables(names);
    // DDL commits on its own in MySQL, so no transaction holds the creators apart (or hides
    // the tables from openers until they are all there): a named lock does the first, held
    // by this one connection from the first statement to the last, and the order the second.
    // The lock's name: MySQL refuses one over 64 characters (ER_USER_LOCK_WRONG_NAME), and a
    // database's name alone may have 64, so it is the component and a digest of both names.
    const lockName = `CONCAT('${COMPONENT}:', LEFT(SHA2(CONCAT(DATABASE(), ':', ?), 256), 40))`;
    const { rows } = await connection.query(`SELECT GET_LOCK(${lockName}, 30) AS got`, [names.table]);
    if (Number(rows[0]?.got) !== 1) throw new TokenStoreError("LOCK_TIMEOUT", "another process has been creating the tables for 30 s");
    try {
      const before = await connection.query("SELECT COUNT(*) AS found FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", [
        t.schemaName,
      ]);
      const text = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";
      const options = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
      await connection.query(
        `CREATE TABLE IF NOT EXISTS ${t.heads} (namespace VARCHAR(200) ${text} PRIMARY KEY, version BIGINT NOT NULL, previous BIGINT NULL) ${options}`,
      );
      await connection.query(
        `CREATE TABLE IF NOT EXISTS ${t.records} (namespace VARCHAR(200) ${text} NOT NULL, id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
           written BIGINT NOT NULL, sealed LONGBLOB NULL, prev LONGBLOB NULL, PRIMARY KEY (namespace, id), KEY ${t.writtenIndex} (namespace, written)) ${options}`,
      );
      await connection.query(
        `CREATE TABLE IF NOT EXISTS ${t.leases} (namespace VARCHAR(200) ${text} NOT NULL, name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
           owner VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, expires_at DATETIME(6) NOT NULL, PRIMARY KEY (namespace, name)) ${options}`,
      );
      // The schema table last: an opener that sees it finds every other table in place.
      await connection.query(`CREATE TABLE IF NOT EXISTS ${t.schema} (component VARCHAR(64) ${text} PRIMARY KEY, version INT NOT NULL) ${options}`);
      await connection.query(`INSERT IGNORE INTO ${t.schema} (component, version) VALUES (?, ?)`, [COMPONENT, version]);
      return Number(before.rows[0]?.found) === 0;
    } finally {
      await connection.query(`SELECT RELEASE_LOCK(${lockName})`, [names.table]).catch(() => undefined);
    }
  },

  async setSchemaVersion(connection, names, from, to) {
    const { rowCount } = await connection.query(`UPDATE ${tables(names).schema} SET version = ? WHERE component = ? AND version = ?`, [to, COMPONENT, from]);
    return rowCount === 1;
  },

  async pruneTombstones(connection, names, namespace, { below, version, limit }) {
    const t = tables(names);
    const { rowCount } = await connection.query(
      `DELETE FROM ${t.records} WHERE namespace = ? AND sealed IS NULL AND written <= ? AND id <> ? ORDER BY written LIMIT ?`,
      [namespace, below, PRUNED_MARKER, limit],
    );
    const pruned = rowCount ?? 0;
    if (pruned > 0) {
      await connection.query(
        `INSERT INTO ${t.records} (namespace, id, written, sealed, prev) VALUES (?, ?, ?, NULL, NULL) ON DUPLICATE KEY UPDATE written = VALUES(written)`,
        [namespace, PRUNED_MARKER, version],
      );
    }
    return pruned;
  },

  async lockHead(connection, names, namespace) {
    // Inside a section (autocommit off): the first statement opens the transaction.
    const t = tables(names);
    const select = `SELECT version, previous FROM ${t.heads} WHERE namespace = ? FOR UPDATE`;
    let head = toHead((await connection.query(select, [namespace])).rows[0]);
    if (head) return head;
    // A new namespace: its head row is created in a transaction of its own (nothing was
    // done in this one yet), so two first writers never hold a lock each that the other's
    // insert needs.
    await connection.query("ROLLBACK");
    await connection.query(`INSERT IGNORE INTO ${t.heads} (namespace, version) VALUES (?, 0)`, [namespace]);
    await connection.query("COMMIT");
    head = toHead((await connection.query(select, [namespace])).rows[0]);
    if (!head) throw new Error("the head row was not created");
    return head;
  },

  async readSince(connection, names, namespace, since) {
    const t = tables(names);
    // Two forms, so that each uses an index: rows written after `since` (namespace, written),
    // or every live row. One statement either way, but for a reader whose version is above
    // the head's (the namespace was recreated), which then reads everything.
    const read = async (complete: boolean) => {
      const { rows } = await connection.query(
        `SELECT h.version, h.previous, r.id, r.sealed
           FROM ${t.heads} h
           LEFT JOIN ${t.records} r ON r.namespace = h.namespace AND ${complete ? "r.sealed IS NOT NULL" : "r.written > ?"}
          WHERE h.namespace = ?`,
        complete ? [namespace] : [since, namespace],
      );
      const records: RecordRow[] = [];
      for (const row of rows) if (row.id !== null && row.id !== undefined) records.push({ id: row.id as string, sealed: toBytes(row.sealed) });
      return { head: toHead(rows[0]), complete, rows: records };
    };
    if (since === undefined) return read(true);
    const delta = await read(false);
    return delta.head && since > delta.head.version ? read(true) : delta;
  },

  async readPrevious(connection, names, namespace) {
    const t = tables(names);
    const { rows } = await connection.query(
      `SELECT h.previous, r.id, ${PREVIOUS_VALUE} AS sealed
         FROM ${t.heads} h LEFT JOIN ${t.records} r ON r.namespace = h.namespace
        WHERE h.namespace = ? AND h.previous IS NOT NULL`,
      [namespace],
    );
    if (rows.length === 0) return undefined;
    const records: RecordRow[] = [];
    for (const row of rows) if (row.id !== null && row.sealed !== null) records.push({ id: row.id as string, sealed: toBytes(row.sealed) });
    return records;
  },

  async peek(connection, names, namespace, id, headBytes, previous) {
    const t = tables(names);
    const value = previous ? PREVIOUS_VALUE : "r.sealed";
    const { rows } = await connection.query(
      `SELECT SUBSTRING(v, 1, ?) AS head, LENGTH(v) AS length
         FROM (SELECT ${value} AS v FROM ${t.heads} h JOIN ${t.records} r ON r.namespace = h.namespace
                WHERE h.namespace = ? AND r.id = ? ${previous ? "AND h.previous IS NOT NULL" : ""}) x
        WHERE v IS NOT NULL`,
      [headBytes, namespace, id],
    );
    const row = rows[0];
    return row ? { head: toBytes(row.head)!, length: Number(row.length) } : undefined;
  },

  async write(connection, names, namespace, write: RowWrite) {
    const t = tables(names);
    // The head first, as a compare-and-set: it moves from the version this section locked
    // to the next one, or nothing is written.
    const head = await connection.query(`UPDATE ${t.heads} SET version = ?, previous = ? WHERE namespace = ? AND version = ?`, [
      write.version,
      write.previous,
      namespace,
      write.version - 1,
    ]);
    if (head.rowCount !== 1) {
      throw new TokenStoreError("WRITE_CONFLICT", "the store changed since this write began; the change was not written", { action: "retry" });
    }
    // prev keeps a row's bytes as of the previous generation: replaced only when the row
    // was last written at or before that version (else prev holds them already).
    const keep = "prev = CASE WHEN written <= ? THEN sealed ELSE prev END";
    const ids = write.put.map((record) => record.id);
    const gone: string[] = [];
    const params: unknown[] = [write.previous, write.version, namespace];
    if (write.remove.length > 0) {
      gone.push(`id IN (${marks(write.remove.length)})`);
      params.push(...write.remove);
    }
    if (write.whole) {
      gone.push(ids.length > 0 ? `id NOT IN (${marks(ids.length)})` : "TRUE");
      params.push(...ids);
    }
    if (gone.length > 0) {
      await connection.query(
        `UPDATE ${t.records} SET ${keep}, sealed = NULL, written = ? WHERE namespace = ? AND sealed IS NOT NULL AND (${gone.join(" OR ")})`,
        params,
      );
    }
    let start = 0;
    while (start < write.put.length) {
      let end = start;
      let size = 0;
      while (end < write.put.length && end - start < MAX_ROWS_PER_INSERT && (end === start || size + write.put[end]!.bytes.length <= MAX_BYTES_PER_INSERT)) {
        size += write.put[end]!.bytes.length;
        end++;
      }
      const rows = write.put.slice(start, end);
      const values: unknown[] = [];
      for (const record of rows) values.push(namespace, record.id, write.version, buffer(record.bytes));
      values.push(write.previous);
      await connection.query(
        `INSERT INTO ${t.records} (namespace, id, written, sealed, prev) VALUES ${rows.map(() => "(?, ?, ?, ?, NULL)").join(", ")}
         ON DUPLICATE KEY UPDATE ${keep}, sealed = VALUES(sealed), written = VALUES(written)`,
        values,
      );
      start = end;
    }
  },

  async writeAndCommit(connection, names, namespace, write: RowWrite) {
    // The same statements as write, then the one that commits and puts the settings back;
    // a failure before it leaves the transaction open for the caller to roll back.
    await mysqlDialect.write(connection, names, namespace, write);
    await connection.query(endStatement(await flavourOf(connection)));
  },

  async takeLease(connection, names, namespace, name, owner, leaseMs) {
    const t = tables(names);
    const micros = Math.max(1, Math.round(leaseMs * 1000));
    // Affected rows of INSERT ... ON DUPLICATE KEY UPDATE cannot tell "taken over" from
    // "left alone" under FOUND_ROWS; an insert that is ignored, then a conditional update,
    // each touch one row exactly when the lease is this claim's.
    const inserted = await connection.query(
      `INSERT IGNORE INTO ${t.leases} (namespace, name, owner, expires_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND)`,
      [namespace, name, owner, micros],
    );
    if (inserted.rowCount === 1) return true;
    const updated = await connection.query(
      `UPDATE ${t.leases} SET owner = ?, expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND
        WHERE namespace = ? AND name = ? AND (expires_at <= UTC_TIMESTAMP(6) OR owner = ?)`,
      [owner, micros, namespace, name, owner],
    );
    return updated.rowCount === 1;
  },

  async releaseLease(connection, names, namespace, name, owner) {
    await connection.query(`DELETE FROM ${tables(names).leases} WHERE namespace = ? AND name = ? AND owner = ?`, [namespace, name, owner]);
  },

  async leaseCounts(connection, names, namespace) {
    const { rows } = await connection.query(
      `SELECT COUNT(*) AS total, COALESCE(SUM(expires_at <= UTC_TIMESTAMP(6)), 0) AS expired FROM ${tables(names).leases} WHERE namespace = ?`,
      [namespace],
    );
    return { total: Number(rows[0]?.total ?? 0), expired: Number(rows[0]?.expired ?? 0) };
  },

  async removeExpiredLeases(connection, names, namespace) {
    const { rowCount } = await connection.query(`DELETE FROM ${tables(names).leases} WHERE namespace = ? AND expires_at <= UTC_TIMESTAMP(6)`, [namespace]);
    return rowCount ?? 0;
  },

  async missingGrants(connection, names) {
    const t = tables(names);
    // EXPLAIN of a statement needs the privileges of the statement and changes nothing:
    // it answers for grants given directly, by database, or through a role alike.
    const probes: Array<[string, string]> = [];
    const columns: Array<[string, string]> = [
      [t.records, "namespace, id, written"],
      [t.heads, "namespace, version"],
      [t.leases, "namespace, name, owner, expires_at"],
    ];
    for (const [table, names] of columns) {
      const values = names.split(", ").map((name) => (name === "expires_at" ? "UTC_TIMESTAMP(6)" : name === "written" || name === "version" ? "0" : "''"));
      probes.push([`SELECT on ${table}`, `EXPLAIN SELECT 1 FROM ${table} WHERE FALSE`]);
      probes.push([`INSERT on ${table}`, `EXPLAIN INSERT INTO ${table} (${names}) SELECT ${values.join(", ")} FROM DUAL WHERE FALSE`]);
      probes.push([`UPDATE on ${table}`, `EXPLAIN UPDATE ${table} SET namespace = namespace WHERE FALSE`]);
    }
    probes.push([`DELETE on ${t.leases}`, `EXPLAIN DELETE FROM ${t.leases} WHERE FALSE`]);
    probes.push([`SELECT on ${t.schema}`, `EXPLAIN SELECT 1 FROM ${t.schema} WHERE FALSE`]);
    const missing: string[] = [];
    for (const [what, probe] of probes) {
      try {
        await connection.query(probe);
      } catch (error) {
        if (mysqlDialect.classify(error) !== "permission") throw error;
        missing.push(what);
      }
    }
    return missing;
  },

  classify(error: unknown): ErrorKind {
    const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
    const message = error instanceof Error ? error.message : "";
    // Lock wait timeout; a deadlock (the server rolled the transaction back: try again).
    if (errno === 1205 || errno === 1213) return "lock-timeout";
    // No such table; no such database.
    if (errno === 1146 || errno === 1049) return "no-schema";
    // Table, column, database access denied; a command denied.
    if (errno === 1142 || errno === 1143 || errno === 1044 || errno === 1227) return "permission";
    // The server shuts down (1053), killed this connection (1927 MariaDB; 1317 the statement
    // was interrupted), had too many connections (1040), ended an idle session (4031 MySQL),
    // or the client lost it (2006, 2013).
    if ([1053, 1927, 1317, 1040, 4031, 2006, 2013].includes(errno as number)) return "unavailable";
    if (typeof code === "string") {
      if (/^(PROTOCOL_CONNECTION_LOST|PROTOCOL_SEQUENCE_TIMEOUT|PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR|POOL_CLOSED)$/.test(code)) return "unavailable";
      if (/^(ECONN|EPIPE|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)/.test(code)) return "unavailable";
    }
    if (/closed state|Connection lost|connect ETIMEDOUT|Pool is closed|Query inactivity timeout/i.test(message)) return "unavailable";
    return "other";
  },
};

/** The server's flavour: MariaDB and MySQL name the isolation variable differently. */
export type MysqlFlavour = "MariaDB" | "MySQL";

/** A connection that knows its server's flavour (the backend's pool reads it once). */
export interface FlavouredConnection extends SqlConnection {
  flavour?: () => Promise<MysqlFlavour>;
}

/** The flavour of the server behind `connection`: from the pool when it knows, else asked. */
async function flavourOf(connection: SqlConnection): Promise<MysqlFlavour> {
  const known = (connection as FlavouredConnection).flavour;
  if (known) return known();
  const { rows } = await connection.query("SELECT VERSION() AS version");
  return flavourOfVersion(String(rows[0]?.version ?? ""));
}

/** "10.11.6-MariaDB-0+deb12u1" is MariaDB; "8.0.36" is MySQL. */
export function flavourOfVersion(version: string): MysqlFlavour {
  return /mariadb/i.test(version) ? "MariaDB" : "MySQL";
}

function isolationVariable(flavour: MysqlFlavour): string {
  // MySQL 8 dropped tx_isolation; MariaDB has transaction_isolation from 11.1 only.
  return flavour === "MariaDB" ? "tx_isolation" : "transaction_isolation";
}

/**
 * Ends a section: autocommit back on (which commits an open transaction, or reports why
 * it could not), then to the server's default, and every other setting of the section
 * back to the server's default. One statement, so one round trip.
 */
function endStatement(flavour: MysqlFlavour): string {
  const isolation = isolationVariable(flavour);
  return (
    `SET SESSION autocommit = 1, autocommit = @@GLOBAL.autocommit, ${isolation} = @@GLOBAL.${isolation}, ` +
    "innodb_lock_wait_timeout = @@GLOBAL.innodb_lock_wait_timeout, wait_timeout = @@GLOBAL.wait_timeout"
  );
}
