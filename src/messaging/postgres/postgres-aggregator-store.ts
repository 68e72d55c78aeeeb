import type { AggregatorStore, GroupUpdate, StoredGroup } from '../aggregator-store.js';
import type { CompletedBy } from '../completion.js';

/**
 * A `pg` query result, as far as the store reads it.
 *
 * @example
 * ```ts
 * import { durableAggregator } from 'breakwater/messaging';
 * import { postgresAggregatorStore, type PgResult } from 'breakwater/messaging/postgres';
 *
 * const results = durableAggregator({
 *   store: postgresAggregatorStore(pool),
 *   correlate: (r: ToolResult) => r.taskId,
 *   complete: { size: 3 },
 *   onComplete: async (results, { key }, tx) => {
 *     const updated: PgResult = await tx.query('UPDATE tasks SET done = true WHERE id = $1', [key]);
 *     if (updated.rowCount === 0) throw new Error(`no task ${key}`); // nothing commits: the group stays open
 *   },
 * });
 * ```
 */
export interface PgResult {
  readonly rows: any[];
  readonly rowCount: number | null;
}

/**
 * What the store needs from a `pg` `Client` / `PoolClient`: one parameterised statement at a time.
 *
 * @example
 * ```ts
 * import { durableAggregator } from 'breakwater/messaging';
 * import { postgresAggregatorStore, type PgClientLike } from 'breakwater/messaging/postgres';
 *
 * // `tx` is the client inside the store's transaction: this insert commits with the completion.
 * const save = (tx: PgClientLike, key: string, results: readonly ToolResult[]) =>
 *   tx.query('INSERT INTO answers (task, results) VALUES ($1, $2)', [key, JSON.stringify(results)]);
 * const results = durableAggregator({
 *   store: postgresAggregatorStore(pool),
 *   correlate: (r: ToolResult) => r.taskId,
 *   complete: { size: 3 },
 *   onComplete: (results, { key }, tx) => save(tx, key, results),
 * });
 * ```
 */
export interface PgClientLike {
  /** Runs one parameterised statement. */
  query(text: string, values?: unknown[]): Promise<PgResult>;
}

/**
 * A client checked out of a pool, as far as the store uses it.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { postgresAggregatorStore, type PgPoolClientLike, type PgPoolLike } from 'breakwater/messaging/postgres';
 *
 * const pool = new pg.Pool();
 * // A pool whose clients log how long each of the store's transactions held them.
 * const timed: PgPoolLike = {
 *   query: (text, values) => pool.query(text, values),
 *   async connect(): Promise<PgPoolClientLike> {
 *     const client = await pool.connect();
 *     const start = Date.now();
 *     return {
 *       query: (text, values) => client.query(text, values),
 *       release: (error) => {
 *         log.debug(`held ${Date.now() - start} ms`);
 *         client.release(error); // `release(error)` destroys a broken client
 *       },
 *     };
 *   },
 * };
 * const store = postgresAggregatorStore(timed);
 * ```
 */
export interface PgPoolClientLike extends PgClientLike {
  /** Returns the client to the pool; `release(error)` destroys a broken one. */
  release(error?: Error | boolean): void;
}

/**
 * What the store needs from a `pg` `Pool`: statements, and a client checked out for a transaction.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { postgresAggregatorStore, type PgPoolLike } from 'breakwater/messaging/postgres';
 *
 * const pool: PgPoolLike = new pg.Pool({ max: 10 }); // a `pg` Pool fits as it is
 * const store = postgresAggregatorStore(pool, { table: 'tool_results' });
 * ```
 */
export interface PgPoolLike extends PgClientLike {
  /** Checks out a client for a transaction. */
  connect(): Promise<PgPoolClientLike>;
}

/**
 * Options for {@link postgresAggregatorStore}.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { postgresAggregatorStore, type PostgresAggregatorStoreOptions } from 'breakwater/messaging/postgres';
 *
 * const options: PostgresAggregatorStoreOptions = { table: 'app.tool_results' }; // one table per aggregator
 * const store = postgresAggregatorStore(new pg.Pool(), options);
 * await store.migrate();
 * ```
 */
export interface PostgresAggregatorStoreOptions {
  /**
   * Table name, optionally schema-qualified (`app.tool_results`); letters, digits and `_` only. Use
   * one table per aggregator.
   * @defaultValue 'breakwater_aggregator'
   */
  readonly table?: string | undefined;
}

/**
 * A PostgreSQL aggregator store: the interface plus schema helpers.
 *
 * @example
 * ```ts
 * import { durableAggregator } from 'breakwater/messaging';
 * import { postgresAggregatorStore, type PostgresAggregatorStore } from 'breakwater/messaging/postgres';
 *
 * const store: PostgresAggregatorStore = postgresAggregatorStore(pool, { table: 'tool_results' });
 * await store.migrate(); // once per deploy; safe from many processes
 * const results = durableAggregator({ store, correlate: (r: ToolResult) => r.taskId, complete: { size: 3 } });
 * log.info(`${await store.count()} groups open`);
 * ```
 */
export interface PostgresAggregatorStore extends AggregatorStore<PgClientLike> {
  /** Creates the table and its indexes if missing. Idempotent; safe from many processes at once. */
  migrate(): Promise<void>;
  /**
   * The same store inside your own transaction: `withGroup` then runs its statements on `client`
   * (which must be inside `BEGIN`) without a transaction of its own, so the group's change commits
   * or rolls back with your writes.
   */
  withClient(client: PgClientLike): AggregatorStore<PgClientLike>;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;

interface Sql {
  readonly create: readonly string[];
  readonly lock: string;
  readonly placeholder: string;
  readonly upsert: string;
  readonly remove: string;
  readonly due: string;
  readonly count: string;
  readonly trim: string;
}

function statements(table: string): Sql {
  const t = table
    .split('.')
    .map((p) => `"${p}"`)
    .join('.');
  const ix = table.replace('.', '_');
  const cols = 'status, generation, messages, ids, first_at, last_at, due_at, closed_at, completed_by';
  return {
    create: [
      `CREATE TABLE IF NOT EXISTS ${t} (
        key TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        generation INTEGER NOT NULL,
        messages TEXT NOT NULL,
        ids TEXT NOT NULL,
        first_at BIGINT NOT NULL,
        last_at BIGINT NOT NULL,
        due_at BIGINT,
        closed_at BIGINT,
        completed_by TEXT
      )`,
      `CREATE INDEX IF NOT EXISTS "${ix}_due" ON ${t} (due_at) WHERE status = 'open'`,
      `CREATE INDEX IF NOT EXISTS "${ix}_closed" ON ${t} (closed_at) WHERE status = 'closed'`,
    ],
    // One writer per key: the row lock. A key without a row gets a placeholder row first (its
    // insert waits for a concurrent insert of the same key to commit), then the lock.
    lock: `SELECT ${cols} FROM ${t} WHERE key = $1 FOR UPDATE`,
    placeholder: `INSERT INTO ${t} (key, status, generation, messages, ids, first_at, last_at)
      VALUES ($1, 'none', 0, '[]', '[]', 0, 0) ON CONFLICT (key) DO NOTHING`,
    upsert: `INSERT INTO ${t} (key, ${cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
      ON CONFLICT (key) DO UPDATE SET status = EXCLUDED.status, generation = EXCLUDED.generation,
        messages = EXCLUDED.messages, ids = EXCLUDED.ids, first_at = EXCLUDED.first_at,
        last_at = EXCLUDED.last_at, due_at = EXCLUDED.due_at, closed_at = EXCLUDED.closed_at,
        completed_by = EXCLUDED.completed_by`,
    remove: `DELETE FROM ${t} WHERE key = $1`,
    due: `SELECT key FROM ${t} WHERE status = 'open' AND due_at <= $1 ORDER BY due_at LIMIT $2`,
    count: `SELECT count(*)::int AS n FROM ${t} WHERE status = 'open'`,
    trim: `DELETE FROM ${t} WHERE key IN (
      SELECT key FROM ${t} WHERE status = 'closed' ORDER BY closed_at DESC, key OFFSET $1)`,
  };
}

function toGroup(row: Record<string, unknown>): StoredGroup | undefined {
  if (row.status === 'none') return undefined;
  const num = (v: unknown): number => (typeof v === 'string' ? Number(v) : (v as number));
  return {
    status: row.status as 'open' | 'closed',
    generation: num(row.generation),
    messages: JSON.parse(row.messages as string) as string[],
    ids: JSON.parse(row.ids as string) as string[],
    firstAt: num(row.first_at),
    lastAt: num(row.last_at),
    dueAt: row.due_at == null ? undefined : num(row.due_at),
    closedAt: row.closed_at == null ? undefined : num(row.closed_at),
    completedBy: (row.completed_by ?? undefined) as CompletedBy | undefined,
  };
}

async function locked<T>(
  sql: Sql,
  client: PgClientLike,
  key: string,
  fn: (group: StoredGroup | undefined, tx: PgClientLike) => Promise<GroupUpdate<T>>,
): Promise<T> {
  let row = (await client.query(sql.lock, [key])).rows[0] as Record<string, unknown> | undefined;
  // No row to lock yet: insert a placeholder (this waits for a concurrent insert of the key to
  // commit), then lock whichever row is there. A row deleted in between: again.
  for (let i = 0; row === undefined; i++) {
    if (i === 10) throw new Error(`Could not lock the aggregator group ${JSON.stringify(key)}: it kept disappearing`);
    await client.query(sql.placeholder, [key]);
    row = (await client.query(sql.lock, [key])).rows[0] as Record<string, unknown> | undefined;
  }
  const before = toGroup(row);
  const u = await fn(before, client);
  const w = u.write;
  if (w === null || (w === undefined && before === undefined)) await client.query(sql.remove, [key]);
  else if (w !== undefined) {
    await client.query(sql.upsert, [
      key,
      w.status,
      w.generation,
      JSON.stringify(w.messages),
      JSON.stringify(w.ids),
      w.firstAt,
      w.lastAt,
      w.dueAt ?? null,
      w.closedAt ?? null,
      w.completedBy ?? null,
    ]);
  }
  return u.value;
}

class Store implements PostgresAggregatorStore {
  readonly #pool: PgPoolLike | undefined;
  readonly #client: PgClientLike;
  readonly #sql: Sql;

  constructor(pool: PgPoolLike | undefined, client: PgClientLike, sql: Sql) {
    this.#pool = pool;
    this.#client = client;
    this.#sql = sql;
  }

  async migrate(): Promise<void> {
    for (const text of this.#sql.create) {
      try {
        await this.#client.query(text);
      } catch (error) {
        // Two processes creating the same table at once: one loses a catalog race.
        const code = (error as { code?: string }).code;
        if (code !== '23505' && code !== '42P07') throw error;
      }
    }
  }

  withClient(client: PgClientLike): AggregatorStore<PgClientLike> {
    checkClient(client, 'client');
    return new Store(undefined, client, this.#sql);
  }

  async withGroup<T>(
    key: string,
    fn: (group: StoredGroup | undefined, tx: PgClientLike) => Promise<GroupUpdate<T>>,
  ): Promise<T> {
    const pool = this.#pool;
    if (pool === undefined) return locked(this.#sql, this.#client, key, fn);
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      let value: T;
      try {
        value = await locked(this.#sql, client, key, fn);
      } catch (error) {
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
        throw error;
      }
      await client.query('COMMIT');
      return value;
    } catch (error) {
      broken ??= isConnectionError(error) ? (error as Error) : undefined;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async due(now: number, limit: number): Promise<string[]> {
    return (await this.#client.query(this.#sql.due, [now, limit])).rows.map((r: { key: string }) => r.key);
  }

  async count(): Promise<number> {
    return (await this.#client.query(this.#sql.count)).rows[0].n as number;
  }

  async trim(keep: number): Promise<number> {
    return (await this.#client.query(this.#sql.trim, [keep])).rowCount ?? 0;
  }
}

// A statement that failed for a reason of its own leaves a usable client; a dropped connection does not.
function isConnectionError(error: unknown): boolean {
  return (
    typeof (error as { code?: unknown })?.code !== 'string' || !/^[0-9A-Z]{5}$/.test((error as { code: string }).code)
  );
}

function checkClient(db: unknown, name: string): void {
  if (db === null || typeof db !== 'object' || typeof (db as { query?: unknown }).query !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a pg Pool, Client or PoolClient`);
  }
}

/**
 * An aggregator store in PostgreSQL (`pg` 8): groups survive restarts and are shared by a fleet.
 * `withGroup` runs in a transaction holding the key's row lock (`SELECT … FOR UPDATE`), so one
 * process at a time changes a group, and `onComplete` gets the transaction's client: write your
 * result with it and the result commits with the completion, exactly once. Call `migrate()` once.
 *
 * @throws TypeError when `pool` is not a `pg` Pool or `table` is not a plain identifier.
 * @example
 * ```ts
 * const store = postgresAggregatorStore(pool, { table: 'tool_results' });
 * await store.migrate();
 * const results = durableAggregator({ store, correlate: (r: ToolResult) => r.taskId, complete: { size: 3 } });
 * ```
 */
export function postgresAggregatorStore(
  pool: PgPoolLike,
  options?: PostgresAggregatorStoreOptions,
): PostgresAggregatorStore {
  checkClient(pool, 'pool');
  if (typeof pool.connect !== 'function') throw new TypeError('Expected `pool` to be a pg Pool (with `connect`)');
  const table = options?.table ?? 'breakwater_aggregator';
  if (typeof table !== 'string' || !IDENT.test(table)) {
    throw new TypeError(`Expected \`table\` to be a plain SQL identifier, got ${JSON.stringify(table)}`);
  }
  return new Store(pool, pool, statements(table));
}
