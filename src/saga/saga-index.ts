// The saga status index: an inline projection of the saga logs, written in the same transaction as
// every log append, so `list({ status })` and `resume()` read one table instead of folding every
// saga stream. The log stays the truth: `rebuild` recomputes the index from it.
import { checkObject, fail } from '../core/validate.js';
import type { EventStore, InlineProjection, ProjectionContext, StoredEvent } from '../event-store/index.js';
import { SAGA_EVENT_TYPES, type SagaLogEvent, type SagaStatus } from './state.js';

/**
 * One saga in the index.
 *
 * @example
 * ```ts
 * import { sagaIndex, type SagaIndexEntry } from 'breakwater/saga';
 *
 * const index = sagaIndex();
 * const stuck: SagaIndexEntry[] = await index.entries(store, 'saga-', new Set(['compensation-failed']));
 * for (const { stream, status, version } of stuck) console.log(stream, status, version);
 * ```
 */
export interface SagaIndexEntry {
  /** The saga's stream (stream prefix + saga id). */
  readonly stream: string;
  readonly status: SagaStatus;
  /** The stream version of the last saga event folded in. */
  readonly version: number;
}

/**
 * Options of {@link sagaIndex}.
 *
 * @example
 * ```ts
 * import { postgresEventStore } from 'breakwater/event-store/postgres';
 * import { sagaIndex, type SagaIndexOptions, sagaOrchestrator } from 'breakwater/saga';
 *
 * const options: SagaIndexOptions = { table: 'ops.saga_index' }; // the schema `ops` must exist
 * const index = sagaIndex(options);
 * const store = postgresEventStore(pool, { inline: [index.projection] });
 * const sagas = sagaOrchestrator({ store, index });
 * ```
 */
export interface SagaIndexOptions {
  /**
   * The index table on SQL stores, optionally schema-qualified (`'app.saga_index'`).
   * @defaultValue `'breakwater_saga_index'`
   */
  readonly table?: string | undefined;
}

/**
 * A saga status index; built by {@link sagaIndex}.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { sqliteEventStore } from 'breakwater/event-store/sqlite';
 * import { type SagaIndex, sagaIndex, sagaOrchestrator } from 'breakwater/saga';
 *
 * const index: SagaIndex = sagaIndex();
 * const store = sqliteEventStore(new Database('app.db'), { inline: [index.projection] });
 * const sagas = sagaOrchestrator({ store, index });
 * await index.rebuild(store, 'saga-'); // once, after adding the index to a store that already has sagas
 * ```
 */
export interface SagaIndex {
  /** Register it on the store (`inline: [index.projection]`) so every saga log append updates it atomically. */
  readonly projection: InlineProjection;
  /** Creates the index table if missing (SQL stores; nothing in memory). The orchestrator calls it. */
  setup(store: EventStore): Promise<void>;
  /** Sagas whose stream starts with `prefix`, optionally only those in `statuses`, by stream name. */
  entries(store: EventStore, prefix: string, statuses?: ReadonlySet<string>): Promise<SagaIndexEntry[]>;
  /**
   * Recomputes the entry of every saga stream with `prefix` from its log, each in one transaction
   * with a read of that stream, and removes entries whose stream is gone.
   */
  rebuild(store: EventStore, prefix: string): Promise<void>;
}

const DDL = (table: string): string =>
  `CREATE TABLE IF NOT EXISTS ${table} (stream TEXT PRIMARY KEY, status TEXT NOT NULL, version INTEGER NOT NULL)`;

/**
 * The status after `event`, given the status before it (`undefined` before `saga.started`): the
 * same transitions as `evolveSaga`, which a property test holds it to.
 * @internal
 */
export function nextStatus(status: SagaStatus | undefined, event: Pick<SagaLogEvent, 'type'>): SagaStatus | undefined {
  const t = event.type;
  if (status === undefined) return t === 'saga.started' ? 'running' : undefined;
  switch (t) {
    case 'saga.compensating':
      return 'compensating';
    case 'saga.completed':
    case 'saga.compensated':
    case 'saga.compensation-failed':
    case 'saga.failed':
      return t.slice(5) as SagaStatus;
    case 'saga.redriven':
      return status === 'compensation-failed' ? 'compensating' : status === 'failed' ? 'running' : status;
    default:
      return status;
  }
}

interface Sql {
  /** Runs `sql` with `$1…` parameters (in text order: SQLite binds them by position); returns rows. */
  all(sql: string, params: readonly unknown[]): Promise<Record<string, unknown>[]>;
}

/** A pg client / pool, or a better-sqlite3 database, as a tiny uniform query interface. */
function sqlOf(client: unknown): Sql | undefined {
  const c = client as {
    query?: (sql: string, params: readonly unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;
    prepare?: (sql: string) => { reader: boolean; all(...p: unknown[]): unknown[]; run(...p: unknown[]): unknown };
  } | null;
  if (typeof c?.prepare === 'function') {
    const db = c as Required<Pick<typeof c & object, 'prepare'>>;
    return {
      all: (sql, params) =>
        new Promise((resolve) => {
          const st = db.prepare(sql.replace(/\$\d+/g, '?'));
          if (st.reader) resolve(st.all(...params) as Record<string, unknown>[]);
          else {
            st.run(...params);
            resolve([]);
          }
        }),
    };
  }
  if (typeof c?.query === 'function') {
    const pg = c as Required<Pick<typeof c & object, 'query'>>;
    return { all: (sql, params) => pg.query(sql, params).then((r) => r.rows) };
  }
  return undefined;
}

/**
 * Makes a saga status index. Register its projection on the store and pass it to the orchestrator;
 * `list({ status })` and `resume()` then read the index instead of folding every saga stream. On
 * SQL stores the index row is written in the transaction of the log append, so it never disagrees
 * with the log; in memory it is a map updated with each append.
 *
 * @throws TypeError when `table` is not a plain (optionally schema-qualified) SQL identifier.
 * @example
 * ```ts
 * const index = sagaIndex();
 * const store = sqliteEventStore(new Database('app.db'), { inline: [index.projection] });
 * const sagas = sagaOrchestrator({ store, index, sagas: [trip] });
 * const stuck = await sagas.list({ status: 'compensation-failed' }); // one query
 * ```
 */
export function sagaIndex(options?: SagaIndexOptions): SagaIndex {
  checkObject('options', options);
  const table = options?.table ?? 'breakwater_saga_index';
  if (typeof table !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(table)) {
    fail('table', 'a SQL identifier (optionally schema-qualified)', table);
  }
  const memory = new Map<string, SagaIndexEntry>();
  let created = false;
  const ready = new WeakMap<object, Promise<void>>();

  const upsert = async (sql: Sql | undefined, e: SagaIndexEntry | undefined, stream: string): Promise<void> => {
    if (sql === undefined) {
      if (e === undefined) memory.delete(stream);
      else memory.set(stream, e);
      return;
    }
    if (e === undefined) await sql.all(`DELETE FROM ${table} WHERE stream = $1`, [stream]);
    else {
      await sql.all(
        `INSERT INTO ${table} (stream, status, version) VALUES ($1, $2, $3)
         ON CONFLICT (stream) DO UPDATE SET status = excluded.status, version = excluded.version`,
        [e.stream, e.status, e.version],
      );
    }
  };

  const current = async (sql: Sql | undefined, stream: string, lock: string): Promise<SagaIndexEntry | undefined> => {
    if (sql === undefined) return memory.get(stream);
    const rows = await sql.all(`SELECT stream, status, version FROM ${table} WHERE stream = $1${lock}`, [stream]);
    const r = rows[0];
    return r === undefined ? undefined : { stream, status: r.status as SagaStatus, version: Number(r.version) };
  };

  const projection: InlineProjection = {
    name: `saga-index:${table}`,
    types: SAGA_EVENT_TYPES,
    async apply(events: readonly StoredEvent[], ctx: ProjectionContext): Promise<void> {
      const sql = sqlOf(ctx.client);
      // Appends made before any `setup` (a plain `store.append` to a saga stream) create the table.
      if (sql !== undefined && !created) {
        await sql.all(DDL(table), []);
        created = true;
      }
      const lock = typeof (ctx.client as { query?: unknown } | null)?.query === 'function' ? ' FOR UPDATE' : '';
      // One append writes one stream; still, group by stream in case a store batches more.
      let i = 0;
      while (i < events.length) {
        const stream = (events[i] as StoredEvent).stream;
        const before = await current(sql, stream, lock);
        let status = before?.status;
        let version = before?.version ?? 0;
        for (; i < events.length && (events[i] as StoredEvent).stream === stream; i++) {
          const e = events[i] as StoredEvent;
          status = nextStatus(status, e as unknown as SagaLogEvent);
          version = e.version;
        }
        await upsert(sql, status === undefined ? undefined : { stream, status, version }, stream);
      }
    },
  };

  const setup = (store: EventStore): Promise<void> => {
    const sql = sqlOf(store.client);
    if (sql === undefined) return Promise.resolve();
    let p = ready.get(store);
    if (p === undefined) {
      p = sql.all(DDL(table), []).then(() => {
        created = true;
      });
      // A failed setup is retried by the next call.
      p.catch(() => ready.delete(store));
      ready.set(store, p);
    }
    return p;
  };

  return {
    projection,
    setup,
    async entries(store, prefix, statuses) {
      await setup(store);
      const sql = sqlOf(store.client);
      let all: SagaIndexEntry[];
      if (sql === undefined) all = [...memory.values()].filter((e) => e.stream.startsWith(prefix));
      else {
        const rows = await sql.all(
          `SELECT stream, status, version FROM ${table} WHERE substr(stream, 1, $1) = $2 ORDER BY stream`,
          [prefix.length, prefix],
        );
        all = rows.map((r) => ({
          stream: String(r.stream),
          status: r.status as SagaStatus,
          version: Number(r.version),
        }));
      }
      if (sql === undefined) all.sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
      return statuses === undefined ? all : all.filter((e) => statuses.has(e.status));
    },
    async rebuild(store, prefix) {
      await setup(store);
      const live = new Set<string>();
      for await (const { stream } of store.streams({ prefix })) {
        live.add(stream);
        await store.transaction(async (tx) => {
          const sql = sqlOf(tx.client);
          const lock = typeof (tx.client as { query?: unknown } | null)?.query === 'function' ? ' FOR UPDATE' : '';
          await current(sql, stream, lock); // hold the row while the log is read (PostgreSQL)
          let status: SagaStatus | undefined;
          let version = 0;
          for await (const e of tx.read(stream)) {
            if (!SAGA_EVENT_TYPES.includes(e.type as SagaLogEvent['type'])) continue;
            status = nextStatus(status, e as unknown as SagaLogEvent);
            version = e.version;
          }
          await upsert(sql, status === undefined ? undefined : { stream, status, version }, stream);
        });
      }
      for (const e of await this.entries(store, prefix)) {
        if (!live.has(e.stream)) await upsert(sqlOf(store.client), undefined, e.stream);
      }
    },
  };
}
