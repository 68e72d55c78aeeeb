import { IdempotencyStoreUnavailableError } from '../errors.js';
import type { ClaimRequest, ClaimResult, IdempotencyRecord, IdempotencyStore } from '../store.js';
import { checkRecord, newToken } from '../store.js';

/**
 * What the store needs from `pg`: a `Pool`, a `Client`, or a `PoolClient` checked out for a
 * transaction all fit.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { postgresIdempotencyStore, type PgQueryable } from 'breakwater/idempotency/postgres';
 *
 * const pool = new pg.Pool();
 * // A Pool, a Client or a PoolClient fits as it is; so does a wrapper, here one that traces the SQL.
 * const traced: PgQueryable = {
 *   query: (text, values) => {
 *     log.debug(text);
 *     return pool.query(text, values);
 *   },
 * };
 * const store = postgresIdempotencyStore(traced);
 * ```
 */
export interface PgQueryable {
  /** Runs one parameterised statement. */
  query(text: string, values?: unknown[]): Promise<{ readonly rows: any[]; readonly rowCount: number | null }>;
}

/**
 * Options for {@link postgresIdempotencyStore}.
 *
 * @example
 * ```ts
 * import { postgresIdempotencyStore, type PostgresIdempotencyStoreOptions } from 'breakwater/idempotency/postgres';
 *
 * const options: PostgresIdempotencyStoreOptions = { table: 'app.idempotency', timeout: 2_000 };
 * const store = postgresIdempotencyStore(pool, options);
 * await store.migrate();
 * ```
 */
export interface PostgresIdempotencyStoreOptions {
  /**
   * Table name, optionally schema-qualified (`app.idempotency`); letters, digits and `_` only.
   * @defaultValue 'breakwater_idempotency'
   */
  readonly table?: string | undefined;
  /**
   * Longest one store operation may take, in ms, before it fails with
   * `IdempotencyStoreUnavailableError` (the query itself is not cancelled).
   * @defaultValue 5000
   */
  readonly timeout?: number | undefined;
}

/**
 * A PostgreSQL idempotency store: the interface plus schema and housekeeping helpers.
 *
 * @example
 * ```ts
 * import { idempotent } from 'breakwater/idempotency';
 * import { postgresIdempotencyStore, type PostgresIdempotencyStore } from 'breakwater/idempotency/postgres';
 *
 * const store: PostgresIdempotencyStore = postgresIdempotencyStore(pool);
 * await store.migrate();
 * setInterval(() => void store.purgeExpired(Date.now()), 3_600_000); // housekeeping
 * // On a client inside your own BEGIN … COMMIT, the claim and the result commit with your writes:
 * const inTransaction = idempotent({ store: store.withClient(client) });
 * ```
 */
export interface PostgresIdempotencyStore extends IdempotencyStore {
  /** Creates the table and its index if missing. Idempotent; safe to run from many processes at once. */
  migrate(): Promise<void>;
  /** Deletes records that lapsed before `now`; returns how many. */
  purgeExpired(now: number): Promise<number>;
  /** The same store on another connection, e.g. a client inside your own `BEGIN … COMMIT`. */
  withClient(client: PgQueryable): PostgresIdempotencyStore;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;

interface Sql {
  readonly table: string;
  readonly create: string;
  readonly index: string;
  readonly claim: string;
  readonly select: string;
  readonly complete: string;
  readonly renew: string;
  readonly release: string;
  readonly purge: string;
}

function statements(table: string): Sql {
  const t = table
    .split('.')
    .map((p) => `"${p}"`)
    .join('.');
  const owned = `key = $1 AND token = $2 AND status = 'in-progress' AND lease_until > $3`;
  return {
    table,
    create: `CREATE TABLE IF NOT EXISTS ${t} (
      key TEXT PRIMARY KEY,
      status TEXT NOT NULL,
      token TEXT NOT NULL,
      fingerprint TEXT,
      lease_until BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      result TEXT
    )`,
    index: `CREATE INDEX IF NOT EXISTS "${table.replace('.', '_')}_expires_at" ON ${t} (expires_at)`,
    claim: `INSERT INTO ${t} AS r (key, status, token, fingerprint, lease_until, expires_at)
      VALUES ($1, 'in-progress', $2, $3, $4, $4)
      ON CONFLICT (key) DO UPDATE SET status = 'in-progress', token = EXCLUDED.token,
        fingerprint = EXCLUDED.fingerprint, lease_until = EXCLUDED.lease_until,
        expires_at = EXCLUDED.expires_at, result = NULL
      WHERE r.expires_at <= $5
      RETURNING token`,
    select: `SELECT status, token, fingerprint, lease_until, expires_at, result FROM ${t} WHERE key = $1`,
    complete: `UPDATE ${t} SET status = 'completed', result = $4, expires_at = $5 WHERE ${owned}`,
    renew: `UPDATE ${t} SET lease_until = $4, expires_at = $4 WHERE ${owned}`,
    release: `DELETE FROM ${t} WHERE ${owned}`,
    purge: `DELETE FROM ${t} WHERE expires_at <= $1`,
  };
}

class PostgresStore implements PostgresIdempotencyStore {
  readonly #db: PgQueryable;
  readonly #sql: Sql;
  readonly #timeout: number;

  constructor(db: PgQueryable, sql: Sql, timeout: number) {
    this.#db = db;
    this.#sql = sql;
    this.#timeout = timeout;
  }

  withClient(client: PgQueryable): PostgresIdempotencyStore {
    checkQueryable(client, 'client');
    return new PostgresStore(client, this.#sql, this.#timeout);
  }

  async migrate(): Promise<void> {
    for (const text of [this.#sql.create, this.#sql.index]) {
      try {
        await this.#query(text, []);
      } catch (error) {
        // Two processes creating the same table at once: one of them loses a catalog race.
        const code = (error as { cause?: { code?: string } }).cause?.code;
        if (code !== '23505' && code !== '42P07') throw error;
      }
    }
  }

  async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
    const { now } = request;
    for (let i = 0; ; i++) {
      const token = newToken();
      const fp = request.fingerprint ?? null;
      const ins = await this.#query(this.#sql.claim, [key, token, fp, now + request.lease, now]);
      if (ins.rowCount === 1) return { claimed: true, token };
      const sel = await this.#query(this.#sql.select, [key]);
      const row = sel.rows[0];
      if (row !== undefined) return { claimed: false, record: toRecord(key, row) };
      // Released between the two statements: try again (bounded; a hot key is claimed by someone).
      if (i >= 5) throw new IdempotencyStoreUnavailableError('postgres', { cause: new Error('claim kept racing') });
    }
  }

  async complete(key: string, token: string, result: string, ttl: number, now: number): Promise<boolean> {
    return (await this.#query(this.#sql.complete, [key, token, now, result, now + ttl])).rowCount === 1;
  }

  async renew(key: string, token: string, lease: number, now: number): Promise<boolean> {
    return (await this.#query(this.#sql.renew, [key, token, now, now + lease])).rowCount === 1;
  }

  async release(key: string, token: string, now: number): Promise<boolean> {
    return (await this.#query(this.#sql.release, [key, token, now])).rowCount === 1;
  }

  async get(key: string, now: number): Promise<IdempotencyRecord | undefined> {
    const row = (await this.#query(this.#sql.select, [key])).rows[0];
    if (row === undefined) return undefined;
    const record = toRecord(key, row);
    return record.expiresAt <= now ? undefined : record;
  }

  async purgeExpired(now: number): Promise<number> {
    return (await this.#query(this.#sql.purge, [now])).rowCount ?? 0;
  }

  #query(text: string, values: unknown[]): Promise<{ readonly rows: any[]; readonly rowCount: number | null }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new IdempotencyStoreUnavailableError('postgres', {
              cause: new Error(`no answer within ${this.#timeout} ms`),
            }),
          ),
        this.#timeout,
      );
      let pending: Promise<{ readonly rows: any[]; readonly rowCount: number | null }>;
      try {
        pending = this.#db.query(text, values);
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(
        (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(new IdempotencyStoreUnavailableError('postgres', { cause: error }));
        },
      );
    });
  }
}

function toRecord(key: string, row: Record<string, unknown>): IdempotencyRecord {
  return checkRecord(key, row.status, row.token, row.fingerprint, row.lease_until, row.expires_at, row.result);
}

function checkQueryable(db: unknown, name: string): void {
  if (db === null || typeof db !== 'object' || typeof (db as { query?: unknown }).query !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a pg Pool, Client or PoolClient`);
  }
}

/**
 * An idempotency store in PostgreSQL (`pg` 8): durable and shared by a fleet. Claim is one
 * `INSERT … ON CONFLICT DO UPDATE … WHERE expired`, completion an `UPDATE … WHERE token = $n`.
 * Call `migrate()` once (idempotent) to create the table.
 *
 * Pass a `PoolClient` inside your own `BEGIN` (or use `withClient`) to claim and complete in the same
 * transaction as your business writes: one commit covers both.
 *
 * @throws TypeError when `pool` has no `query` method or `table` is not a plain identifier.
 * @example
 * ```ts
 * const store = postgresIdempotencyStore(pool, { table: 'idempotency' });
 * await store.migrate();
 * const once = idempotent({ store });
 * ```
 */
export function postgresIdempotencyStore(
  pool: PgQueryable,
  options?: PostgresIdempotencyStoreOptions,
): PostgresIdempotencyStore {
  checkQueryable(pool, 'pool');
  const table = options?.table ?? 'breakwater_idempotency';
  if (typeof table !== 'string' || !IDENT.test(table)) {
    throw new TypeError(`Expected \`table\` to be a plain SQL identifier, got ${JSON.stringify(table)}`);
  }
  const timeout = options?.timeout ?? 5000;
  if (typeof timeout !== 'number' || !(timeout > 0)) {
    throw new RangeError(`Expected \`timeout\` to be a number > 0, got ${String(timeout)}`);
  }
  return new PostgresStore(pool, statements(table), timeout);
}
