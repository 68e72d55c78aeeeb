// The SQLite event store on better-sqlite3: one file, one writer, commit order = position order.
import type { Database } from 'better-sqlite3';
import { type Clock, systemClock } from '../../core/clock.js';
import { checkFunction, checkObject } from '../../core/validate.js';
import { aggregateStream } from '../aggregate.js';
import { ConcurrencyError } from '../errors.js';
import {
  BACKEND,
  type Cursor,
  checkExpected,
  checkStream,
  currentSchema,
  defaultId,
  Mutex,
  matches,
  Notifier,
  type Page,
  type PreparedEvent,
  paged,
  prepare,
  readAllRange,
  readRange,
  replayResult,
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
import { type Stmts, statements } from './statements.js';

/**
 * Options of {@link sqliteEventStore}.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { type SqliteEventStoreOptions, sqliteEventStore } from 'breakwater/event-store/sqlite';
 *
 * const options: SqliteEventStoreOptions = { tablePrefix: 'agent_', inline: [costPerModel] };
 * const store = sqliteEventStore(new Database('app.db'), options); // tables agent_events, agent_streams, …
 * ```
 */
export interface SqliteEventStoreOptions extends EventStoreOptions {
  /** Prefix of the store's table names (letters, digits, `_`). @defaultValue `'bw_'` */
  readonly tablePrefix?: string | undefined;
}

/**
 * An event store on SQLite; `client` is the better-sqlite3 `Database`.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { type SqliteEventStore, sqliteEventStore } from 'breakwater/event-store/sqlite';
 *
 * const store: SqliteEventStore = sqliteEventStore(new Database('app.db'));
 * store.client.exec('BEGIN');
 * await store.append('order-7', [{ type: 'OrderPlaced', data: { total: 42 } }]); // joins the open transaction
 * store.client.prepare('INSERT INTO orders (id) VALUES (?)').run('order-7');
 * store.client.exec('COMMIT');
 * ```
 */
export interface SqliteEventStore extends EventStore {
  /** The better-sqlite3 database. */
  readonly client: Database;
  /** Creates the tables if missing (the factory already did; safe to call again). */
  migrate(): void;
}

class SqliteStore implements SqliteEventStore {
  readonly kind = 'sqlite' as const;
  readonly client: Database;
  readonly clock: Clock;
  readonly upcasters: Upcasters | undefined;
  readonly #generateId: () => string;
  readonly #inline: readonly InlineProjection[];
  readonly #p: string;
  readonly #mutex = new Mutex();
  readonly #notifier: Notifier;
  #s!: Stmts;
  readonly [BACKEND]: StoreBackend;

  constructor(db: Database, options: SqliteEventStoreOptions | undefined) {
    if (db === null || typeof db !== 'object' || typeof (db as Database).prepare !== 'function') {
      throw new TypeError('Expected `db` to be a better-sqlite3 Database');
    }
    checkObject('options', options);
    checkFunction('generateId', options?.generateId);
    const prefix = options?.tablePrefix ?? 'bw_';
    if (typeof prefix !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(prefix)) {
      throw new TypeError('Expected `tablePrefix` to be letters, digits and underscores');
    }
    this.client = db;
    this.#p = prefix;
    this.clock = options?.clock ?? systemClock;
    this.upcasters = options?.upcasters;
    this.#generateId = options?.generateId ?? defaultId;
    this.#inline = options?.inline ?? [];
    this.#notifier = new Notifier(this.clock);
    this.migrate();
    this[BACKEND] = this.#backend();
  }

  migrate(): void {
    const p = this.#p;
    this.client.exec(`
      CREATE TABLE IF NOT EXISTS ${p}events (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        stream TEXT NOT NULL, version INTEGER NOT NULL, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
        data TEXT NOT NULL, metadata TEXT NOT NULL, schema_version INTEGER NOT NULL, ts INTEGER NOT NULL,
        UNIQUE (stream, version));
      CREATE TABLE IF NOT EXISTS ${p}streams (stream TEXT PRIMARY KEY, version INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS ${p}checkpoints (
        name TEXT PRIMARY KEY, position INTEGER NOT NULL, owner TEXT, lease_until INTEGER);`);
    this.#s = statements(this.client, p);
  }

  #row = (r: unknown): StoredEvent => fromRow(r as RawRow, this.upcasters, true);

  /** The synchronous core of an append; the caller holds a transaction. */
  appendCore(
    stream: string,
    prepared: readonly PreparedEvent[],
    options: AppendOptions | undefined,
  ): AppendResult & { events: StoredEvent[] } {
    const expected = checkExpected(options?.expectedVersion);
    const s = this.#s;
    const found = prepared.map((p) => {
      const row = p.idGiven ? s.byId.get(p.id) : undefined;
      return row === undefined ? undefined : this.#row(row);
    });
    const replay = replayResult(stream, prepared, found);
    if (replay !== undefined) return { ...replay, events: [] };
    const actual = (s.version.get(stream) as { version: number } | undefined)?.version ?? 0;
    if (!matches(expected, actual)) throw new ConcurrencyError(stream, expected, actual);
    const ts = this.clock.now();
    const positions: number[] = [];
    const events: StoredEvent[] = [];
    for (let i = 0; i < prepared.length; i++) {
      const p = prepared[i] as PreparedEvent;
      const version = actual + i + 1;
      const info = s.insert.run(
        stream,
        version,
        p.id,
        p.type,
        p.dataJson,
        p.metadataJson,
        currentSchema(this.upcasters, p.type),
        ts,
      );
      const position = Number(info.lastInsertRowid);
      positions.push(position);
      events.push({
        id: p.id,
        stream,
        version,
        position,
        type: p.type,
        data: p.data,
        metadata: p.metadata,
        timestamp: ts,
      });
    }
    if (prepared.length > 0) s.setVersion.run(stream, actual + prepared.length);
    const version = actual + prepared.length;
    return { version, nextExpectedVersion: version, positions, events };
  }

  async runInline(events: readonly StoredEvent[]): Promise<void> {
    for (const p of this.#inline) {
      const mine = events.filter((e) => p.types.includes(e.type));
      if (mine.length > 0) await p.apply(mine, { client: this.client });
    }
  }

  /** Runs `fn` in a transaction (a savepoint inside the caller's), on this store's mutex unless nested. */
  async atomic<T>(fn: () => T | PromiseLike<T>, locked = false, appends = false): Promise<T> {
    const run = async (): Promise<T> => {
      const db = this.client;
      const nested = db.inTransaction;
      db.exec(nested ? 'SAVEPOINT bw_es' : 'BEGIN IMMEDIATE');
      try {
        const result = await fn();
        db.exec(nested ? 'RELEASE bw_es' : 'COMMIT');
        if (!nested && appends) this.#notifier.notify();
        return result;
      } catch (error) {
        if (db.inTransaction) db.exec(nested ? 'ROLLBACK TO bw_es; RELEASE bw_es' : 'ROLLBACK');
        throw error;
      }
    };
    return locked ? run() : this.#mutex.run(run);
  }

  async appendIn(
    stream: string,
    events: readonly NewEvent[],
    options: AppendOptions | undefined,
    locked: boolean,
  ): Promise<AppendResult> {
    checkStream(stream);
    checkExpected(options?.expectedVersion);
    const prepared = prepare(events, this.#generateId);
    if (this.#inline.length === 0 && !locked) {
      // Fast path: a synchronous better-sqlite3 transaction (a savepoint inside the caller's).
      return this.#mutex.run(() => {
        const { events: _e, ...result } = this.client
          .transaction(() => this.appendCore(stream, prepared, options))
          .immediate();
        if (!this.client.inTransaction) this.#notifier.notify();
        return result;
      });
    }
    return this.atomic(
      async () => {
        const { events: stored, ...result } = this.appendCore(stream, prepared, options);
        await this.runInline(stored);
        return result;
      },
      locked,
      true,
    );
  }

  append<E extends Event>(
    stream: string,
    events: readonly NewEvent<E>[],
    options?: AppendOptions,
  ): Promise<AppendResult> {
    try {
      return this.appendIn(stream, events, options, false);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  readIn<E extends Event>(stream: string, options: ReadOptions | undefined): AsyncIterable<StoredEvent<E>> {
    checkStream(stream);
    const r = readRange(options);
    const s = this.#s;
    return paged(
      r.from,
      (from: number, n) => {
        const rows = r.backward ? s.readBwd.all(stream, from, r.to, n) : s.readFwd.all(stream, from, r.to, n);
        const items = rows.map(this.#row);
        const last = items[items.length - 1];
        return Promise.resolve({ items, next: last === undefined ? from : last.version + (r.backward ? -1 : 1) });
      },
      r.limit,
    ) as AsyncIterable<StoredEvent<E>>;
  }

  read<E extends Event = Event>(stream: string, options?: ReadOptions): AsyncIterable<StoredEvent<E>> {
    return this.readIn(stream, options);
  }

  version(stream: string): Promise<number> {
    checkStream(stream);
    return Promise.resolve((this.#s.version.get(stream) as { version: number } | undefined)?.version ?? 0);
  }

  #page(after: number, limit: number, types: readonly string[] | undefined): Page {
    const s = this.#s;
    const rows = types === undefined ? s.all.all(after, limit) : s.allTypes.all(after, JSON.stringify(types), limit);
    const events = rows.map(this.#row);
    const last = events[events.length - 1];
    return { events, next: { position: last === undefined ? after : last.position } };
  }

  readAll<E extends Event = Event>(options?: ReadAllOptions): AsyncIterable<StoredEvent<E>> {
    const { after, limit, types } = readAllRange(options);
    return paged(
      after ?? 0,
      (cursor: number, n) => {
        const p = this.#page(cursor, n, types);
        return Promise.resolve({ items: p.events, next: p.next.position });
      },
      limit,
    ) as AsyncIterable<StoredEvent<E>>;
  }

  streams(options?: StreamsOptions): AsyncIterable<StreamInfo> {
    const prefix = options?.prefix ?? '';
    if (typeof prefix !== 'string') throw new TypeError('Expected `prefix` to be a string');
    return paged(
      '',
      (after: string, n) => {
        const items = (this.#s.streams.all(prefix, prefix, after, n) ?? []) as StreamInfo[];
        return Promise.resolve({ items, next: items[items.length - 1]?.stream ?? after });
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

  transaction<T>(fn: (tx: EventStoreSession) => T | PromiseLike<T>): Promise<T> {
    const tx: EventStoreSession = {
      client: this.client,
      append: (stream, events, options) => this.appendIn(stream, events as readonly NewEvent[], options, true),
      read: (stream, options) => this.readIn(stream, options),
      version: (stream) => this.version(stream),
    };
    return this.atomic(() => fn(tx), false, true);
  }

  #backend(): StoreBackend {
    const s = this.#s;
    const clock = this.clock;
    const owned = (name: string, owner: string): { position: number } => {
      const row = s.owned.get(name, owner, clock.now()) as { position: number } | undefined;
      if (row === undefined) throw new Error('Projection lease lost');
      return row;
    };
    return {
      clock,
      cursorFor: (from) =>
        Promise.resolve<Cursor>({
          position: from === 'start' ? 0 : from === 'end' ? (s.last.get() as { p: number }).p : from,
        }),
      // Inside an open transaction this connection would see uncommitted rows: wait instead.
      page: (after, limit, types) =>
        this.#mutex.run(() =>
          this.client.inTransaction ? { events: [], next: after } : this.#page(after.position, limit, types),
        ),
      generation: () => this.#notifier.generation,
      wait: (ms, signal, since) => this.#notifier.wait(ms, signal, since),
      lockProjection: (name, owner, leaseMs) =>
        this.#mutex.run(() => {
          const now = clock.now();
          if (s.lock.run(name, owner, now + leaseMs, now).changes !== 1) return undefined;
          return {
            renew: () => this.#mutex.run(() => s.renew.run(clock.now() + leaseMs, name, owner).changes === 1),
            release: () => this.#mutex.run(() => void s.release.run(name, owner)),
          };
        }),
      runBatch: (name, owner, limit, types, apply) =>
        this.atomic(async () => {
          const { position } = owned(name, owner);
          const page = this.#page(position, limit, types);
          if (page.events.length > 0) await apply(page.events, { client: this.client });
          s.setCheckpoint.run(page.next.position, name);
          return page.events.length;
        }),
      resetProjection: (name, owner, truncate) =>
        this.atomic(async () => {
          owned(name, owner);
          await truncate({ client: this.client });
          s.setCheckpoint.run(0, name);
        }),
    };
  }
}

/**
 * An event store in a SQLite database (better-sqlite3 12). Creates its tables on first use. Appends
 * made while the caller has a transaction open on `db` join it (as a savepoint), so events and the
 * caller's own writes commit together.
 *
 * @throws TypeError when `db` is not a better-sqlite3 Database or an option is bad.
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * const db = new Database('agent.db');
 * db.pragma('journal_mode = WAL');
 * const store = sqliteEventStore(db);
 * await store.append('agent-1', [{ type: 'ToolCalled', data: { tool: 'search' } }]);
 * ```
 */
export function sqliteEventStore(db: Database, options?: SqliteEventStoreOptions): SqliteEventStore {
  return new SqliteStore(db, options);
}
