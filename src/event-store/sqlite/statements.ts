// The SQL statements of the SQLite event store, prepared once per store.
import type { Database, Statement } from 'better-sqlite3';

const COLS = 'position, stream, version, id, type, data, metadata, schema_version, ts';

/** @internal */
export type Stmts = Readonly<
  Record<
    | 'byId'
    | 'version'
    | 'insert'
    | 'setVersion'
    | 'readFwd'
    | 'readBwd'
    | 'all'
    | 'allTypes'
    | 'last'
    | 'streams'
    | 'lock'
    | 'renew'
    | 'release'
    | 'owned'
    | 'setCheckpoint',
    Statement
  >
>;

/** @internal */
export function statements(db: Database, p: string): Stmts {
  const q = (sql: string): Statement => db.prepare(sql);
  return {
    byId: q(`SELECT ${COLS} FROM ${p}events WHERE id = ?`),
    version: q(`SELECT version FROM ${p}streams WHERE stream = ?`),
    insert: q(
      `INSERT INTO ${p}events (stream, version, id, type, data, metadata, schema_version, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    setVersion: q(
      `INSERT INTO ${p}streams (stream, version) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET version = excluded.version`,
    ),
    readFwd: q(
      `SELECT ${COLS} FROM ${p}events WHERE stream = ? AND version >= ? AND version <= ? ORDER BY version LIMIT ?`,
    ),
    readBwd: q(
      `SELECT ${COLS} FROM ${p}events WHERE stream = ? AND version <= ? AND version >= ? ORDER BY version DESC LIMIT ?`,
    ),
    all: q(`SELECT ${COLS} FROM ${p}events WHERE position > ? ORDER BY position LIMIT ?`),
    allTypes: q(
      `SELECT ${COLS} FROM ${p}events WHERE position > ? AND type IN (SELECT value FROM json_each(?)) ORDER BY position LIMIT ?`,
    ),
    last: q(`SELECT COALESCE(MAX(position), 0) AS p FROM ${p}events`),
    streams: q(
      `SELECT stream, version FROM ${p}streams WHERE substr(stream, 1, length(?)) = ? AND stream > ? ORDER BY stream LIMIT ?`,
    ),
    lock: q(
      `INSERT INTO ${p}checkpoints (name, position, owner, lease_until) VALUES (?, 0, ?, ?) ON CONFLICT (name) DO UPDATE
       SET owner = excluded.owner, lease_until = excluded.lease_until
       WHERE owner IS NULL OR owner = excluded.owner OR lease_until < ?`,
    ),
    renew: q(`UPDATE ${p}checkpoints SET lease_until = ? WHERE name = ? AND owner = ?`),
    release: q(`UPDATE ${p}checkpoints SET owner = NULL, lease_until = NULL WHERE name = ? AND owner = ?`),
    owned: q(`SELECT position FROM ${p}checkpoints WHERE name = ? AND owner = ? AND lease_until >= ?`),
    setCheckpoint: q(`UPDATE ${p}checkpoints SET position = ? WHERE name = ?`),
  };
}
