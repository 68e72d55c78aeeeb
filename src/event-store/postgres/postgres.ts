// The PostgreSQL event store on `pg`: one function call per append, gap-safe global reads.
import type { Pool, PoolClient } from 'pg';
import { type Clock, systemClock } from '../../core/clock.js';
import { checkFunction, checkObject } from '../../core/validate.js';
import { aggregateStream } from '../aggregate.js';
import { ConcurrencyError, DuplicateEventError } from '../errors.js';
import {
  BACKEND,
  type Cursor,
  checkExpected,
  checkStream,
  currentSchema,
  defaultId,
  Notifier,
  type Page,
  paged,
  prepare,
  readAllRange,
  readRange,
  type StoreBackend,
} from '../internal.js';
import { fromRow, type RawRow } from '../rows.js';
import { startSubscription } from '../subscription.js';
import type {
  AggregateOptions,
  AggregateResult,
  AppendOptions,
  AppendResult,
  Event,
  EventStore,
  EventStoreOptions,
  EventStoreSession,
  ExpectedVersion,
  InlineProjection,
  NewEvent,
  ReadAllOptions,
  ReadOptions,
  StoredEvent,
  StreamInfo,
  StreamsOptions,
  SubscribeOptions,
  Subscription,
  Upcasters,
} from '../types.js';
import { pgProjectionBackend } from './projections.js';
import { schemaSql } from './schema.js';

/**
 * Something that runs a query: a `pg` Pool, Client or PoolClient.
 *
 * @example
 * ```ts
 * import { postgresEventStore, type Queryable } from 'breakwater/event-store/postgres';
 *
 * const store = postgresEventStore(pool);
 * // `db`: a pg PoolClient inside your BEGIN … COMMIT, so the update and the event commit together.
 * async function spend(db: Queryable, budgetId: string, cost: number): Promise<void> {
 *   await db.query('UPDATE budgets SET spent = spent + $1 WHERE id = $2', [cost, budgetId]);
 *   await store.withClient(db).append(`budget-${budgetId}`, [{ type: 'Spent', data: { cost } }]);
 * }
 * ```
 */
export interface Queryable {
  /** `pg`'s `query(text, values)`. */
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * Options of {@link postgresEventStore}.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { type PostgresEventStoreOptions, postgresEventStore } from 'breakwater/event-store/postgres';
 *
 * const options: PostgresEventStoreOptions = { schema: 'agents', inline: [costPerModel] };
 * const store = postgresEventStore(new pg.Pool({ connectionString: process.env.DATABASE_URL }), options);
 * await store.migrate(); // creates the `agents` schema and the store's tables in it
 * ```
 */
export interface PostgresEventStoreOptions extends EventStoreOptions {
  /** Schema holding the store's tables (created by `migrate()`). @defaultValue `'public'` */
  readonly schema?: string | undefined;
}

/**
 * An event store on PostgreSQL.
 *
 * @example
 * ```ts
 * import { type PostgresEventStore, postgresEventStore } from 'breakwater/event-store/postgres';
 *
 * const store: PostgresEventStore = postgresEventStore(pool);
 * await store.migrate();
 * const client = await store.client.connect(); // `store.client` is the pg Pool
 * await client.query('BEGIN');
 * await client.query('UPDATE budgets SET spent = spent + 1 WHERE id = $1', [budgetId]);
 * await store.withClient(client).append(`budget-${budgetId}`, [{ type: 'Spent', data: { amount: 1 } }]);
 * await client.query('COMMIT'); // the update and the event commit together
 * client.release();
 * ```
 */
export interface PostgresEventStore extends EventStore {
  /** The pool. */
  readonly client: Pool;
  /** Creates the schema, tables and function if missing; safe to run concurrently and repeatedly. */
  migrate(): Promise<void>;
  /**
   * The store's operations on the caller's own connection, inside whatever transaction the caller
   * has open on it, so events and the caller's writes commit together (`BEGIN` … `COMMIT` is yours).
   */
  withClient(client: Queryable): EventStoreSession;
}

// A checked-out client emits 'error' if its connection drops (pg-pool listens only while it is idle);
// unheard, that crashes the process. The failure shows on the next query, and `release()` of an
// unqueryable client closes it.
const ignore = (): void => undefined;

const COLS = 'position, tx::text AS tx_text, stream, version, id, type, data, metadata, schema_version, ts';
const EXPECTED: Record<string, number> = { any: -1, 'no-stream': -2, exists: -3 };

interface PgError {
  readonly code?: string;
  readonly hint?: string;
  readonly detail?: string;
  readonly constraint?: string;
}

class PgStore implements PostgresEventStore {
  readonly kind = 'postgres' as const;
  readonly client: Pool;
  readonly clock: Clock;
  readonly upcasters: Upcasters | undefined;
  readonly #s: string;
  readonly #generateId: () => string;
  readonly #inline: readonly InlineProjection[];
  readonly #notifier: Notifier;
  readonly [BACKEND]: StoreBackend;

  constructor(pool: Pool, options: PostgresEventStoreOptions | undefined) {
    if (
      pool === null ||
      typeof pool !== 'object' ||
      typeof pool.query !== 'function' ||
      typeof pool.connect !== 'function'
    ) {
      throw new TypeError('Expected `pool` to be a pg Pool');
    }
    checkObject('options', options);
    checkFunction('generateId', options?.generateId);
    const schema = options?.schema ?? 'public';
    if (typeof schema !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(schema)) {
      throw new TypeError('Expected `schema` to be letters, digits and underscores');
    }
    this.client = pool;
    this.#s = `"${schema}"`;
    this.clock = options?.clock ?? systemClock;
    this.upcasters = options?.upcasters;
    this.#generateId = options?.generateId ?? defaultId;
    this.#inline = options?.inline ?? [];
    this.#notifier = new Notifier(this.clock);
    this[BACKEND] = this.#backend();
  }

  async migrate(): Promise<void> {
    const c = await this.client.connect();
    c.on('error', ignore);
    try {
      await c.query('BEGIN');
      await c.query("SELECT pg_advisory_xact_lock(hashtextextended('breakwater.event-store.migrate', 0))");
      await c.query(schemaSql(this.#s));
      await c.query('COMMIT');
    } catch (error) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      c.off('error', ignore);
      c.release();
    }
  }

  #row = (r: unknown): StoredEvent => fromRow(r as RawRow, this.upcasters, false);

  async appendOn(
    q: Queryable,
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions | undefined,
    inline: boolean,
  ): Promise<AppendResult> {
    checkStream(stream);
    const expected: ExpectedVersion = checkExpected(options?.expectedVersion);
    const prepared = prepare(events, this.#generateId);
    let json = '[';
    for (let i = 0; i < prepared.length; i++) {
      const p = prepared[i] as (typeof prepared)[number];
      json += `${i === 0 ? '' : ','}{"id":${JSON.stringify(p.id)},"type":${JSON.stringify(p.type)},"data":${p.dataJson},"metadata":${p.metadataJson},"schema":${currentSchema(this.upcasters, p.type)}}`;
    }
    json += ']';
    const ts = this.clock.now();
    let res: { rows: unknown[] };
    try {
      res = await q.query(`SELECT r_version, r_positions FROM ${this.#s}.bw_append($1, $2, $3, $4, $5)`, [
        stream,
        typeof expected === 'number' ? expected : EXPECTED[expected],
        json,
        ts,
        prepared.some((p) => p.idGiven),
      ]);
    } catch (error) {
      const e = error as PgError;
      if (e.hint === 'breakwater:concurrency') throw new ConcurrencyError(stream, expected, Number(e.detail));
      if (e.hint === 'breakwater:duplicate') throw new DuplicateEventError(String(e.detail));
      if (e.code === '23505' && e.constraint === 'bw_events_id') {
        throw new DuplicateEventError(/\(id\)=\((.*)\)/.exec(e.detail ?? '')?.[1] ?? '', { cause: error });
      }
      throw error;
    }
    const row = res.rows[0] as { r_version: number; r_positions: string[] };
    const positions = row.r_positions.map(Number);
    const result = { version: row.r_version, nextExpectedVersion: row.r_version, positions };
    if (inline && this.#inline.length > 0 && positions.length > 0) {
      const stored: StoredEvent[] = prepared.map((p, i) => ({
        id: p.id,
        stream,
        version: row.r_version - prepared.length + i + 1,
        position: positions[i] as number,
        type: p.type,
        data: p.data,
        metadata: p.metadata,
        timestamp: ts,
      }));
      for (const proj of this.#inline) {
        const mine = stored.filter((e) => proj.types.includes(e.type));
        if (mine.length > 0) await proj.apply(mine, { client: q });
      }
    }
    return result;
  }

  async #inTx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.client.connect();
    c.on('error', ignore);
    try {
      await c.query('BEGIN');
      const result = await fn(c);
      await c.query('COMMIT');
      this.#notifier.notify();
      return result;
    } catch (error) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      c.off('error', ignore);
      c.release();
    }
  }

  async append<E extends Event>(
    stream: string,
    events: readonly NewEvent<E>[],
    options?: AppendOptions,
  ): Promise<AppendResult> {
    if (this.#inline.length > 0) {
      return this.#inTx((c) => this.appendOn(c, stream, events as readonly NewEvent[], options, true));
    }
    const r = await this.appendOn(this.client, stream, events as readonly NewEvent[], options, false);
    this.#notifier.notify();
    return r;
  }

  readOn<E extends Event>(
    q: Queryable,
    stream: string,
    options: ReadOptions | undefined,
  ): AsyncIterable<StoredEvent<E>> {
    checkStream(stream);
    const r = readRange(options);
    const sql = r.backward
      ? `SELECT ${COLS} FROM ${this.#s}.bw_events WHERE stream = $1 AND version <= $2 AND version >= $3 ORDER BY version DESC LIMIT $4`
      : `SELECT ${COLS} FROM ${this.#s}.bw_events WHERE stream = $1 AND version >= $2 AND version <= $3 ORDER BY version LIMIT $4`;
    return paged(
      r.from,
      async (from: number, n) => {
        const res = await q.query(sql, [stream, Math.min(from, 2 ** 31 - 1), Math.min(r.to, 2 ** 31 - 1), n]);
        const items = res.rows.map(this.#row);
        const last = items[items.length - 1];
        return { items, next: last === undefined ? from : last.version + (r.backward ? -1 : 1) };
      },
      r.limit,
    ) as AsyncIterable<StoredEvent<E>>;
  }

  read<E extends Event = Event>(stream: string, options?: ReadOptions): AsyncIterable<StoredEvent<E>> {
    return this.readOn(this.client, stream, options);
  }

  async versionOn(q: Queryable, stream: string): Promise<number> {
    checkStream(stream);
    const res = await q.query(`SELECT version FROM ${this.#s}.bw_streams WHERE stream = $1`, [stream]);
    return (res.rows[0] as { version: number } | undefined)?.version ?? 0;
  }

  version(stream: string): Promise<number> {
    return this.versionOn(this.client, stream);
  }

  async #page(q: Queryable, after: Cursor, limit: number, types: readonly string[] | undefined): Promise<Page> {
    const res = await q.query(
      `SELECT ${COLS} FROM ${this.#s}.bw_events
        WHERE tx < pg_snapshot_xmin(pg_current_snapshot()) AND (tx, position) > ($1::xid8, $2::bigint)
          ${types === undefined ? '' : 'AND type = ANY($4::text[])'}
        ORDER BY bw_events.tx, bw_events.position LIMIT $3`,
      types === undefined ? [after.tx ?? '0', after.position, limit] : [after.tx ?? '0', after.position, limit, types],
    );
    const events = res.rows.map(this.#row);
    const last = res.rows[res.rows.length - 1] as { tx_text: string; position: string } | undefined;
    return { events, next: last === undefined ? after : { tx: last.tx_text, position: Number(last.position) } };
  }

  async #cursorFor(from: number | 'start' | 'end'): Promise<Cursor> {
    if (from === 'start' || from === 0) return { tx: '0', position: 0 };
    const res =
      from === 'end'
        ? await this.client.query(
            `SELECT tx::text AS tx_text, position FROM ${this.#s}.bw_events
              WHERE tx < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY bw_events.tx DESC, position DESC LIMIT 1`,
          )
        : await this.client.query(
            `SELECT tx::text AS tx_text FROM ${this.#s}.bw_events WHERE position <= $1 ORDER BY position DESC LIMIT 1`,
            [from],
          );
    const row = res.rows[0] as { tx_text: string; position?: string } | undefined;
    if (row === undefined) return { tx: '0', position: from === 'end' ? 0 : from };
    return { tx: row.tx_text, position: from === 'end' ? Number(row.position) : from };
  }

  readAll<E extends Event = Event>(options?: ReadAllOptions): AsyncIterable<StoredEvent<E>> {
    const { after, limit, types } = readAllRange(options);
    const self = this;
    return (async function* () {
      const first = await self.#cursorFor(after ?? 'start');
      yield* paged(
        first,
        async (cursor: Cursor, n) => {
          const p = await self.#page(self.client, cursor, n, types);
          return { items: p.events, next: p.next };
        },
        limit,
      );
    })() as AsyncIterable<StoredEvent<E>>;
  }

  streams(options?: StreamsOptions): AsyncIterable<StreamInfo> {
    const prefix = options?.prefix ?? '';
    if (typeof prefix !== 'string') throw new TypeError('Expected `prefix` to be a string');
    return paged(
      '',
      async (after: string, n) => {
        const res = await this.client.query(
          `SELECT stream, version FROM ${this.#s}.bw_streams
            WHERE left(stream, length($1)) = $1 AND stream COLLATE "C" > $2 ORDER BY stream COLLATE "C" LIMIT $3`,
          [prefix, after, n],
        );
        const items = res.rows as StreamInfo[];
        return { items, next: items[items.length - 1]?.stream ?? after };
      },
      Number.MAX_SAFE_INTEGER,
    );
  }

  subscribe<E extends Event = Event>(options: SubscribeOptions<E>): Subscription {
    return startSubscription(this[BACKEND], options);
  }

  aggregate<S, E extends Event = Event>(stream: string, options: AggregateOptions<S, E>): Promise<AggregateResult<S>> {
    return aggregateStream(this, checkStream(stream), options);
  }

  withClient(client: Queryable): EventStoreSession {
    if (client === null || typeof client !== 'object' || typeof client.query !== 'function') {
      throw new TypeError('Expected `client` to be a pg client');
    }
    return {
      client,
      append: (stream, events, options) => this.appendOn(client, stream, events as readonly NewEvent[], options, true),
      read: (stream, options) => this.readOn(client, stream, options),
      version: (stream) => this.versionOn(client, stream),
    };
  }

  transaction<T>(fn: (tx: EventStoreSession) => T | PromiseLike<T>): Promise<T> {
    return this.#inTx(async (c) => fn(this.withClient(c)));
  }

  #backend(): StoreBackend {
    return {
      clock: this.clock,
      cursorFor: (from) => this.#cursorFor(from),
      page: (after, limit, types) => this.#page(this.client, after, limit, types),
      generation: () => this.#notifier.generation,
      wait: (ms, signal, since) => this.#notifier.wait(ms, signal, since),
      ...pgProjectionBackend(this.client, this.#s, this.clock, (q, after, limit, types) =>
        this.#page(q, after, limit, types),
      ),
    };
  }
}

/**
 * An event store in PostgreSQL (`pg` 8). Run `await store.migrate()` once (idempotent). Global
 * reads, subscriptions and async projections are gap-safe: they never move past an event whose
 * transaction has not committed yet.
 *
 * @throws TypeError when `pool` is not a pg Pool or an option is bad.
 * @example
 * ```ts
 * import pg from 'pg';
 * const store = postgresEventStore(new pg.Pool({ connectionString: process.env.DATABASE_URL }));
 * await store.migrate();
 * await store.append('agent-1', [{ type: 'ToolCalled', data: { tool: 'search' } }], { expectedVersion: 'no-stream' });
 * ```
 */
export function postgresEventStore(pool: Pool, options?: PostgresEventStoreOptions): PostgresEventStore {
  return new PgStore(pool, options);
}
