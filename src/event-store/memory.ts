// The in-memory event store: the default, for tests, demos and single-process agents.
import { type Clock, systemClock } from '../core/clock.js';
import { checkFunction, checkObject } from '../core/validate.js';
import { aggregateStream } from './aggregate.js';
import { ConcurrencyError } from './errors.js';
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
  type ProjectionLock,
  paged,
  prepare,
  readAllRange,
  readRange,
  replayResult,
  type StoreBackend,
  upcast,
} from './internal.js';
import { startSubscription } from './subscription.js';
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
  ProjectionContext,
  ReadAllOptions,
  ReadOptions,
  StoredEvent,
  StreamInfo,
  StreamsOptions,
  SubscribeOptions,
  Subscription,
  Upcasters,
} from './types.js';

interface Rec {
  readonly event: StoredEvent;
  readonly schema: number;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Options of {@link memoryEventStore}.
 *
 * @example
 * ```ts
 * import { type MemoryEventStoreOptions, memoryEventStore } from 'breakwater/event-store';
 *
 * const options: MemoryEventStoreOptions = { inline: [costPerModel], generateId: () => ulid() };
 * const store = memoryEventStore(options); // nothing survives the process
 * ```
 */
export type MemoryEventStoreOptions = EventStoreOptions;

class Tx implements EventStoreSession {
  readonly client: undefined = undefined;
  readonly pending: Rec[] = [];
  readonly streams = new Map<string, Rec[]>();
  readonly ids = new Map<string, Rec>();
  readonly #store: MemoryStore;
  open = true;

  constructor(store: MemoryStore) {
    this.#store = store;
  }

  streamRecs(stream: string): { committed: readonly Rec[]; pending: readonly Rec[] } {
    return { committed: this.#store.streamRecs(stream), pending: this.streams.get(stream) ?? [] };
  }

  version(stream: string): Promise<number> {
    const { committed, pending } = this.streamRecs(checkStream(stream));
    return Promise.resolve(committed.length + pending.length);
  }

  read<E extends Event = Event>(stream: string, options?: ReadOptions): AsyncIterable<StoredEvent<E>> {
    const { committed, pending } = this.streamRecs(checkStream(stream));
    return this.#store.readRecs([...committed, ...pending], options) as AsyncIterable<StoredEvent<E>>;
  }

  append<E extends Event>(
    stream: string,
    events: readonly NewEvent<E>[],
    options?: AppendOptions,
  ): Promise<AppendResult> {
    try {
      return Promise.resolve(this.appendSync(stream, events, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  appendSync(stream: string, events: readonly NewEvent[], options: AppendOptions | undefined): AppendResult {
    if (!this.open) throw new Error('Transaction is already finished');
    checkStream(stream);
    const expected = checkExpected(options?.expectedVersion);
    const store = this.#store;
    const prepared = prepare(events, store.generateId);
    const { committed, pending } = this.streamRecs(stream);
    const replay = this.#replayed(stream, prepared);
    if (replay !== undefined) return replay;
    const actual = committed.length + pending.length;
    if (!matches(expected, actual)) throw new ConcurrencyError(stream, expected, actual);
    const positions: number[] = [];
    let list = this.streams.get(stream);
    if (list === undefined && prepared.length > 0) {
      list = [];
      this.streams.set(stream, list);
    }
    const now = store.clock.now();
    for (let i = 0; i < prepared.length; i++) {
      const p = prepared[i] as PreparedEvent;
      const position = store.size + this.pending.length + 1;
      const event: StoredEvent = deepFreeze({
        id: p.id,
        stream,
        version: actual + i + 1,
        position,
        type: p.type,
        data: p.data,
        metadata: p.metadata,
        timestamp: now,
      });
      const rec = { event, schema: currentSchema(store.upcasters, p.type) };
      this.pending.push(rec);
      list?.push(rec);
      this.ids.set(p.id, rec);
      positions.push(position);
    }
    return { version: actual + prepared.length, nextExpectedVersion: actual + prepared.length, positions };
  }

  /** A retried append of events already stored returns the original result. */
  #replayed(stream: string, prepared: readonly PreparedEvent[]): AppendResult | undefined {
    const recs = prepared.map((p) => this.ids.get(p.id) ?? this.#store.byId(p.id));
    return replayResult(
      stream,
      prepared,
      recs.map((r) => r?.event),
    );
  }
}

class MemoryStore implements EventStore {
  readonly kind = 'memory' as const;
  readonly client: undefined = undefined;
  readonly clock: Clock;
  readonly upcasters: Upcasters | undefined;
  readonly generateId: () => string;
  readonly #inline: readonly InlineProjection[];
  readonly #all: Rec[] = [];
  readonly #streams = new Map<string, Rec[]>();
  readonly #ids = new Map<string, Rec>();
  readonly #mutex = new Mutex();
  readonly #notifier: Notifier;
  readonly #checkpoints = new Map<string, number>();
  readonly #locks = new Map<string, { owner: string; until: number }>();
  readonly [BACKEND]: StoreBackend;

  constructor(options: MemoryEventStoreOptions | undefined) {
    checkObject('options', options);
    checkFunction('generateId', options?.generateId);
    this.clock = options?.clock ?? systemClock;
    this.upcasters = options?.upcasters;
    this.generateId = options?.generateId ?? defaultId;
    this.#inline = options?.inline ?? [];
    this.#notifier = new Notifier(this.clock);
    this[BACKEND] = this.#backend();
  }

  get size(): number {
    return this.#all.length;
  }

  streamRecs(stream: string): readonly Rec[] {
    return this.#streams.get(stream) ?? [];
  }

  byId(id: string): Rec | undefined {
    return this.#ids.get(id);
  }

  #out(rec: Rec): StoredEvent {
    return rec.schema < currentSchema(this.upcasters, rec.event.type)
      ? upcast(this.upcasters, rec.event, rec.schema)
      : rec.event;
  }

  async *readRecs(recs: readonly Rec[], options: ReadOptions | undefined): AsyncGenerator<StoredEvent> {
    const r = readRange(options);
    let left = r.limit;
    if (r.backward) {
      for (let v = Math.min(r.from, recs.length); v >= Math.max(r.to, 1) && left > 0; v--, left--) {
        yield this.#out(recs[v - 1] as Rec);
      }
    } else {
      for (let v = Math.max(r.from, 1); v <= Math.min(r.to, recs.length) && left > 0; v++, left--) {
        yield this.#out(recs[v - 1] as Rec);
      }
    }
  }

  transaction<T>(fn: (tx: EventStoreSession) => T | PromiseLike<T>): Promise<T> {
    return this.#mutex.run(async () => {
      const tx = new Tx(this);
      try {
        const result = await fn(tx);
        await this.#commit(tx);
        return result;
      } finally {
        tx.open = false;
      }
    });
  }

  async #commit(tx: Tx): Promise<void> {
    if (tx.pending.length === 0) return;
    const events = tx.pending.map((r) => this.#out(r));
    const ctx: ProjectionContext = { client: undefined };
    for (const p of this.#inline) {
      const mine = events.filter((e) => p.types.includes(e.type));
      if (mine.length > 0) await p.apply(mine, ctx);
    }
    for (const rec of tx.pending) {
      this.#all.push(rec);
      this.#ids.set(rec.event.id, rec);
      let list = this.#streams.get(rec.event.stream);
      if (list === undefined) {
        list = [];
        this.#streams.set(rec.event.stream, list);
      }
      list.push(rec);
    }
    this.#notifier.notify();
  }

  append<E extends Event>(
    stream: string,
    events: readonly NewEvent<E>[],
    options?: AppendOptions,
  ): Promise<AppendResult> {
    return this.transaction((tx) => (tx as Tx).appendSync(stream, events, options));
  }

  read<E extends Event = Event>(stream: string, options?: ReadOptions): AsyncIterable<StoredEvent<E>> {
    checkStream(stream);
    readRange(options);
    return this.readRecs(this.streamRecs(stream), options) as AsyncIterable<StoredEvent<E>>;
  }

  version(stream: string): Promise<number> {
    return Promise.resolve(this.streamRecs(checkStream(stream)).length);
  }

  #page(after: number, limit: number, types: readonly string[] | undefined): Page {
    const events: StoredEvent[] = [];
    let i = after;
    for (; i < this.#all.length && events.length < limit; i++) {
      const rec = this.#all[i] as Rec;
      if (types === undefined || types.includes(rec.event.type)) events.push(this.#out(rec));
    }
    return { events, next: { position: i } };
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

  async *streams(options?: StreamsOptions): AsyncGenerator<StreamInfo> {
    const prefix = options?.prefix ?? '';
    if (typeof prefix !== 'string') throw new TypeError('Expected `prefix` to be a string');
    const names = [...this.#streams.keys()].filter((s) => s.startsWith(prefix)).sort();
    for (const stream of names) yield { stream, version: this.streamRecs(stream).length };
  }

  subscribe<E extends Event = Event>(options: SubscribeOptions<E>): Subscription {
    return startSubscription(this[BACKEND], options);
  }

  aggregate<S, E extends Event = Event>(stream: string, options: AggregateOptions<S, E>): Promise<AggregateResult<S>> {
    return aggregateStream(this, checkStream(stream), options);
  }

  #backend(): StoreBackend {
    const locks = this.#locks;
    const clock = this.clock;
    const owns = (name: string, owner: string): boolean => {
      const l = locks.get(name);
      return l !== undefined && l.owner === owner && l.until > clock.now();
    };
    return {
      clock,
      cursorFor: (from) =>
        Promise.resolve<Cursor>({ position: from === 'start' ? 0 : from === 'end' ? this.#all.length : from }),
      page: (after, limit, types) => Promise.resolve(this.#page(after.position, limit, types)),
      generation: () => this.#notifier.generation,
      wait: (_ms, signal, since) => this.#notifier.wait(Number.POSITIVE_INFINITY, signal, since),
      lockProjection: (name, owner, leaseMs) => {
        const l = locks.get(name);
        if (l !== undefined && l.owner !== owner && l.until > clock.now()) return Promise.resolve(undefined);
        locks.set(name, { owner, until: clock.now() + leaseMs });
        const lock: ProjectionLock = {
          renew: () => {
            if (!owns(name, owner)) return Promise.resolve(false);
            locks.set(name, { owner, until: clock.now() + leaseMs });
            return Promise.resolve(true);
          },
          release: () => {
            if (locks.get(name)?.owner === owner) locks.delete(name);
            return Promise.resolve();
          },
        };
        return Promise.resolve(lock);
      },
      runBatch: async (name, owner, limit, types, apply) => {
        if (!owns(name, owner)) throw new Error('Projection lease lost');
        const page = this.#page(this.#checkpoints.get(name) ?? 0, limit, types);
        if (page.events.length > 0) await apply(page.events, { client: undefined });
        this.#checkpoints.set(name, page.next.position);
        return page.events.length;
      },
      resetProjection: async (name, owner, truncate) => {
        if (!owns(name, owner)) throw new Error('Projection lease lost');
        await truncate({ client: undefined });
        this.#checkpoints.delete(name);
      },
    };
  }
}

/**
 * An event store held in memory: the default for tests, demos and single-process agents. Appends
 * are atomic (inline projections included); nothing survives the process.
 *
 * @example
 * ```ts
 * const store = memoryEventStore();
 * await store.append('agent-1', [{ type: 'ToolCalled', data: { tool: 'search' } }], { expectedVersion: 'no-stream' });
 * for await (const e of store.read('agent-1')) console.log(e.version, e.type);
 * ```
 */
export function memoryEventStore(options?: MemoryEventStoreOptions): EventStore {
  return new MemoryStore(options);
}
