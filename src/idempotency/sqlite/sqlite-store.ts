import type BetterSqlite3 from 'better-sqlite3';
import { IdempotencyStoreUnavailableError, isIdempotencyRecordMalformedError } from '../errors.js';
import type { ClaimRequest, ClaimResult, IdempotencyRecord, IdempotencyStore } from '../store.js';
import { checkRecord, newToken } from '../store.js';

type Database = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

/**
 * Options for {@link sqliteIdempotencyStore}.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { sqliteIdempotencyStore, type SqliteIdempotencyStoreOptions } from 'breakwater/idempotency/sqlite';
 *
 * const options: SqliteIdempotencyStoreOptions = { table: 'agent_tool_calls' };
 * const store = sqliteIdempotencyStore(new Database('state.db'), options);
 * ```
 */
export interface SqliteIdempotencyStoreOptions {
  /**
   * Table name (letters, digits, `_`). Created if missing.
   * @defaultValue 'breakwater_idempotency'
   */
  readonly table?: string | undefined;
}

/**
 * A SQLite idempotency store: the interface plus `purgeExpired`.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { idempotent } from 'breakwater/idempotency';
 * import { sqliteIdempotencyStore, type SqliteIdempotencyStore } from 'breakwater/idempotency/sqlite';
 *
 * const store: SqliteIdempotencyStore = sqliteIdempotencyStore(new Database('state.db'));
 * const once = idempotent({ store });
 * setInterval(async () => log.info('purged', await store.purgeExpired(Date.now())), 3_600_000);
 * ```
 */
export interface SqliteIdempotencyStore extends IdempotencyStore {
  /** Deletes records that lapsed before `now`; returns how many. Run it now and then. */
  purgeExpired(now: number): Promise<number>;
}

interface Row {
  key: string;
  status: unknown;
  token: unknown;
  fingerprint: unknown;
  lease_until: unknown;
  expires_at: unknown;
  result: unknown;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

class SqliteStore implements SqliteIdempotencyStore {
  readonly #claim: (key: string, r: ClaimRequest) => ClaimResult;
  readonly #complete: Statement;
  readonly #renew: Statement;
  readonly #release: Statement;
  readonly #get: Statement;
  readonly #purge: Statement;

  constructor(db: Database, table: string) {
    const t = `"${table}"`;
    db.exec(`CREATE TABLE IF NOT EXISTS ${t} (
      key TEXT PRIMARY KEY NOT NULL,
      status TEXT NOT NULL,
      token TEXT NOT NULL,
      fingerprint TEXT,
      lease_until INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      result TEXT
    )`);
    db.exec(`CREATE INDEX IF NOT EXISTS "${table}_expires_at" ON ${t} (expires_at)`);
    const insert = db.prepare(
      `INSERT INTO ${t} (key, status, token, fingerprint, lease_until, expires_at, result)
       VALUES (@key, 'in-progress', @token, @fp, @lease, @lease, NULL)
       ON CONFLICT (key) DO UPDATE SET status = 'in-progress', token = excluded.token,
         fingerprint = excluded.fingerprint, lease_until = excluded.lease_until,
         expires_at = excluded.expires_at, result = NULL
       WHERE ${t}.expires_at <= @now`,
    );
    const select = db.prepare(`SELECT * FROM ${t} WHERE key = ?`);
    this.#get = select;
    // One transaction: the conditional upsert and the read of the blocking record see the same state.
    const claim = db.transaction((key: string, r: ClaimRequest): ClaimResult => {
      const token = newToken();
      const changed = insert.run({ key, token, fp: r.fingerprint ?? null, lease: r.now + r.lease, now: r.now });
      if (changed.changes === 1) return { claimed: true, token };
      return { claimed: false, record: toRecord(key, select.get(key) as Row) };
    });
    this.#claim = (key, r) => claim.immediate(key, r);
    const owned = `key = @key AND token = @token AND status = 'in-progress' AND lease_until > @now`;
    this.#complete = db.prepare(
      `UPDATE ${t} SET status = 'completed', result = @result, expires_at = @expires WHERE ${owned}`,
    );
    this.#renew = db.prepare(`UPDATE ${t} SET lease_until = @lease, expires_at = @lease WHERE ${owned}`);
    this.#release = db.prepare(`DELETE FROM ${t} WHERE ${owned}`);
    this.#purge = db.prepare(`DELETE FROM ${t} WHERE expires_at <= ?`);
  }

  claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
    return attempt(() => this.#claim(key, request));
  }

  complete(key: string, token: string, result: string, ttl: number, now: number): Promise<boolean> {
    return attempt(() => this.#complete.run({ key, token, result, expires: now + ttl, now }).changes === 1);
  }

  renew(key: string, token: string, lease: number, now: number): Promise<boolean> {
    return attempt(() => this.#renew.run({ key, token, lease: now + lease, now }).changes === 1);
  }

  release(key: string, token: string, now: number): Promise<boolean> {
    return attempt(() => this.#release.run({ key, token, now }).changes === 1);
  }

  get(key: string, now: number): Promise<IdempotencyRecord | undefined> {
    return attempt(() => {
      const row = this.#get.get(key) as Row | undefined;
      if (row === undefined) return undefined;
      const record = toRecord(key, row);
      return record.expiresAt <= now ? undefined : record;
    });
  }

  purgeExpired(now: number): Promise<number> {
    return attempt(() => this.#purge.run(now).changes);
  }
}

function toRecord(key: string, row: Row): IdempotencyRecord {
  return checkRecord(key, row.status, row.token, row.fingerprint, row.lease_until, row.expires_at, row.result);
}

// better-sqlite3 is synchronous: the work runs now (inside any transaction the caller has open), and
// its outcome is handed back as a promise. A driver error (locked, closed, disk) means unavailable.
function attempt<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    if (isIdempotencyRecordMalformedError(error)) return Promise.reject(error);
    return Promise.reject(new IdempotencyStoreUnavailableError('sqlite', { cause: error }));
  }
}

/**
 * An idempotency store in a SQLite database (better-sqlite3 12): durable, for one machine (several
 * processes may share the file; use WAL mode). Creates its table on first use.
 *
 * The methods do their work synchronously when called, so a claim made inside the caller's own
 * `db.transaction(...)` commits or rolls back with it.
 *
 * @throws TypeError when `db` is not a better-sqlite3 database or `table` is not a plain identifier.
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * const db = new Database('state.db');
 * db.pragma('journal_mode = WAL');
 * const once = idempotent({ store: sqliteIdempotencyStore(db) });
 * ```
 */
export function sqliteIdempotencyStore(db: Database, options?: SqliteIdempotencyStoreOptions): SqliteIdempotencyStore {
  if (db === null || typeof db !== 'object' || typeof (db as { prepare?: unknown }).prepare !== 'function') {
    throw new TypeError('Expected `db` to be a better-sqlite3 Database');
  }
  const table = options?.table ?? 'breakwater_idempotency';
  if (typeof table !== 'string' || !IDENT.test(table)) {
    throw new TypeError(`Expected \`table\` to be a plain SQL identifier, got ${JSON.stringify(table)}`);
  }
  return new SqliteStore(db, table);
}
