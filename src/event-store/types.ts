// The public shapes shared by every event store implementation (memory, SQLite, PostgreSQL).
import type { Clock } from '../core/clock.js';
import type { Policy } from '../core/policy.js';

/**
 * Free-form, JSON-serialisable metadata stored beside an event (correlation ids, model name, …).
 *
 * @example
 * ```ts
 * import { type EventMetadata, memoryEventStore } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const metadata: EventMetadata = { correlationId: request.id, model: 'gpt-4o' };
 * await store.append('agent-1', [{ type: 'ToolCalled', data: { tool: 'search' }, metadata }]);
 * ```
 */
export type EventMetadata = Readonly<Record<string, unknown>>;

/**
 * An event as the user writes it: a `type` and JSON-serialisable `data`. Use a union of these to
 * type a stream (`type AgentEvent = Event<'ToolCalled', {...}> | Event<'ModelReplied', {...}>`).
 *
 * @example
 * ```ts
 * import { type Event, memoryEventStore } from 'breakwater/event-store';
 *
 * type AgentEvent = Event<'ToolCalled', { tool: string }> | Event<'ModelReplied', { model: string; cost: number }>;
 * const store = memoryEventStore();
 * for await (const e of store.read<AgentEvent>('agent-1')) {
 *   if (e.type === 'ModelReplied') console.log(e.data.model, e.data.cost);
 * }
 * ```
 */
export interface Event<T extends string = string, D = unknown> {
  /** The event type, e.g. `'ToolCalled'`. */
  readonly type: T;
  /** The payload; must survive `JSON.stringify`/`JSON.parse`. */
  readonly data: D;
  /** Optional metadata. @defaultValue `{}` */
  readonly metadata?: EventMetadata | undefined;
}

/**
 * An event to append. `id` makes a retried append safe: re-appending the same ids with the same
 * content at the same versions is a no-op that returns the original result.
 *
 * @example
 * ```ts
 * import { memoryEventStore, type NewEvent } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const events: NewEvent[] = [{ id: `${turnId}:search`, type: 'ToolCalled', data: { tool: 'search' } }];
 * const first = await store.append('agent-1', events, { expectedVersion: 'no-stream' });
 * // A retry after a lost reply: same ids and content, so nothing is appended twice and the
 * // first result comes back (`again.positions` equals `first.positions`).
 * const again = await store.append('agent-1', events, { expectedVersion: 'no-stream' });
 * ```
 */
export type NewEvent<E extends Event = Event> = E & {
  /** Unique id of the event across the store. @defaultValue a random UUID */
  readonly id?: string | undefined;
};

/**
 * An event as stored and read back.
 *
 * @example
 * ```ts
 * import { memoryEventStore, type StoredEvent } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const show = (e: StoredEvent) => `${e.stream}@${e.version} (#${e.position}) ${e.type} ${e.id}`;
 * for await (const e of store.readAll({ limit: 20 })) console.log(new Date(e.timestamp), show(e), e.metadata);
 * ```
 */
export type StoredEvent<E extends Event = Event> = E & {
  /** Unique id of the event across the store. */
  readonly id: string;
  /** The stream the event belongs to. */
  readonly stream: string;
  /** 1-based position of the event in its stream. */
  readonly version: number;
  /**
   * Global position, unique across the store. Memory and SQLite: increasing in global order.
   * PostgreSQL: global order is commit order, so positions of concurrent transactions may be out of
   * numeric order; always resume from a position you read, never from a computed one.
   */
  readonly position: number;
  /** Metadata (an empty object when none was given). */
  readonly metadata: EventMetadata;
  /** Append time, in milliseconds since the epoch, from the store's clock. */
  readonly timestamp: number;
};

/**
 * What the stream must look like for an append to go through: an exact version (number of events,
 * 0 = no stream), `'any'`, `'no-stream'` or `'exists'`.
 *
 * @example
 * ```ts
 * import { type ExpectedVersion, memoryEventStore } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const seen: ExpectedVersion = await store.version('agent-1'); // exact: fails if another writer got in first
 * await store.append('agent-1', [{ type: 'ToolCalled', data: { tool: 'search' } }], { expectedVersion: seen });
 * const onlyIfStarted: ExpectedVersion = 'exists'; // never creates the stream
 * await store.append('agent-1', [{ type: 'SessionClosed', data: {} }], { expectedVersion: onlyIfStarted });
 * ```
 */
export type ExpectedVersion = number | 'any' | 'no-stream' | 'exists';

/**
 * Options of {@link EventStore.append}.
 *
 * @example
 * ```ts
 * import { type AppendOptions, isConcurrencyError, memoryEventStore } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const options: AppendOptions = { expectedVersion: 'no-stream' };
 * try {
 *   await store.append('agent-1', [{ type: 'SessionOpened', data: {} }], options);
 * } catch (e) {
 *   if (isConcurrencyError(e)) console.log(`agent-1 already has ${e.actual} events`);
 * }
 * ```
 */
export interface AppendOptions {
  /** Optimistic concurrency check, enforced atomically with the append. @defaultValue `'any'` */
  readonly expectedVersion?: ExpectedVersion | undefined;
}

/**
 * The result of an append.
 *
 * @example
 * ```ts
 * import { type AppendResult, memoryEventStore } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const first: AppendResult = await store.append('agent-1', [{ type: 'ToolCalled', data: { tool: 'search' } }]);
 * console.log(first.version, first.positions);
 * await store.append('agent-1', [{ type: 'ToolReturned', data: { hits: 3 } }], {
 *   expectedVersion: first.nextExpectedVersion,
 * });
 * ```
 */
export interface AppendResult {
  /** The stream's version after the append (its number of events). */
  readonly version: number;
  /** Same as `version`: pass it as `expectedVersion` on your next append. */
  readonly nextExpectedVersion: number;
  /** Global positions of the appended events, in order. */
  readonly positions: readonly number[];
}

/**
 * Options of {@link EventStore.read}.
 *
 * @example
 * ```ts
 * import { memoryEventStore, type ReadOptions } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const lastTen: ReadOptions = { direction: 'backward', limit: 10 };
 * for await (const e of store.read('agent-1', lastTen)) console.log(e.version, e.type);
 * ```
 */
export interface ReadOptions {
  /** First version to read (inclusive). @defaultValue `1` forward, the last version backward */
  readonly from?: number | undefined;
  /** Last version to read (inclusive). @defaultValue no bound */
  readonly to?: number | undefined;
  /** Reading direction. @defaultValue `'forward'` */
  readonly direction?: 'forward' | 'backward' | undefined;
  /** Maximum number of events. @defaultValue no limit */
  readonly limit?: number | undefined;
}

/**
 * Options of {@link EventStore.readAll}.
 *
 * @example
 * ```ts
 * import { memoryEventStore, type ReadAllOptions } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * let checkpoint = 0;
 * const options: ReadAllOptions = { after: checkpoint, limit: 500, types: ['ModelReplied'] };
 * for await (const e of store.readAll(options)) checkpoint = e.position; // resume from a position you read
 * ```
 */
export interface ReadAllOptions {
  /** Read events after this global position (exclusive). @defaultValue the start */
  readonly after?: number | undefined;
  /** Maximum number of events. @defaultValue no limit */
  readonly limit?: number | undefined;
  /** Only events of these types. @defaultValue every type */
  readonly types?: readonly string[] | undefined;
}

/**
 * Options of {@link EventStore.streams}.
 *
 * @example
 * ```ts
 * import { memoryEventStore, type StreamsOptions } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const options: StreamsOptions = { prefix: 'agent-' };
 * for await (const { stream, version } of store.streams(options)) console.log(stream, version);
 * ```
 */
export interface StreamsOptions {
  /** Only streams whose name starts with this prefix (e.g. `'saga-'`). @defaultValue every stream */
  readonly prefix?: string | undefined;
}

/**
 * One stream as listed by {@link EventStore.streams}.
 *
 * @example
 * ```ts
 * import type { EventStore, StreamInfo } from 'breakwater/event-store';
 *
 * async function busiest(store: EventStore): Promise<StreamInfo | undefined> {
 *   let top: StreamInfo | undefined;
 *   for await (const info of store.streams({ prefix: 'agent-' })) if (info.version > (top?.version ?? 0)) top = info;
 *   return top;
 * }
 * ```
 */
export interface StreamInfo {
  /** The stream name. */
  readonly stream: string;
  /** Its version (number of events). */
  readonly version: number;
}

/**
 * What a subscription does with an event its handler still fails on after the policy gave up.
 *
 * @example
 * ```ts
 * import { memoryEventStore, type StoredEvent, type SubscriptionErrorAction } from 'breakwater/event-store';
 *
 * const onError = (error: unknown, event: StoredEvent): SubscriptionErrorAction => {
 *   if (!(error instanceof SyntaxError)) return 'stop'; // `done` rejects with a SubscriptionError
 *   console.warn(`skipping malformed event ${event.id}`, error);
 *   return 'skip';
 * };
 * const store = memoryEventStore();
 * store.subscribe({ handler: (e) => searchIndex.add(e), onError });
 * ```
 */
export type SubscriptionErrorAction = 'stop' | 'skip';

/**
 * Options of {@link EventStore.subscribe}.
 *
 * @example
 * ```ts
 * import { memoryEventStore, type SubscribeOptions } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const options: SubscribeOptions = {
 *   from: (await checkpoints.load('costs')) ?? 'start', // a position read earlier
 *   types: ['ModelReplied'],
 *   signal: shutdown.signal,
 *   handler: (e) => checkpoints.save('costs', e.position),
 * };
 * const subscription = store.subscribe(options);
 * ```
 */
export interface SubscribeOptions<E extends Event = Event> {
  /** Called once per event, in global order; the next event waits for it. */
  readonly handler: (event: StoredEvent<E>) => void | PromiseLike<void>;
  /** Where to start: `'start'`, `'end'` (only new events) or after a global position. @defaultValue `'start'` */
  readonly from?: number | 'start' | 'end' | undefined;
  /** Stops the subscription when aborted. */
  readonly signal?: AbortSignal | undefined;
  /** Events fetched per read. @defaultValue `100` */
  readonly batchSize?: number | undefined;
  /** Only events of these types. @defaultValue every type */
  readonly types?: readonly string[] | undefined;
  /**
   * Runs each handler call, and each read from the store (retried from the same position).
   * @defaultValue retry up to 5 times with exponential backoff from 100 ms
   */
  readonly policy?: Policy | undefined;
  /**
   * Told about an event the handler could not process after the policy gave up; returns whether to
   * `'skip'` it or `'stop'` the subscription (`done` then rejects with a `SubscriptionError`).
   * @defaultValue stop
   */
  readonly onError?:
    | ((error: unknown, event: StoredEvent<E>) => SubscriptionErrorAction | PromiseLike<SubscriptionErrorAction>)
    | undefined;
  /** How often SQL stores poll for events appended by other processes. @defaultValue `250` ms */
  readonly pollInterval?: number | undefined;
}

/**
 * A running subscription.
 *
 * @example
 * ```ts
 * import { memoryEventStore, type Subscription } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const subscription: Subscription = store.subscribe({ from: 'end', handler: (e) => console.log(e.type) });
 * process.once('SIGTERM', () => void subscription.close());
 * await subscription.done; // rejects with a SubscriptionError when the handler keeps failing
 * console.log('stopped after position', subscription.position);
 * ```
 */
export interface Subscription {
  /** Global position of the last event handled (or skipped), `undefined` before the first. */
  readonly position: number | undefined;
  /**
   * Resolves when the subscription stops cleanly (abort/close); rejects with a `SubscriptionError`,
   * or with the store's error when the policy gave up on a read.
   */
  readonly done: Promise<void>;
  /** Stops the subscription after the handler in flight, if any; resolves when it has stopped. */
  close(): Promise<void>;
}

/**
 * Options of {@link EventStore.aggregate}.
 *
 * @example
 * ```ts
 * import { type AggregateOptions, memoryEventStore } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const toolCallsBefore2025: AggregateOptions<number> = {
 *   initialState: 0,
 *   evolve: (n, e) => (e.type === 'ToolCalled' ? n + 1 : n),
 *   until: { time: new Date('2025-01-01') },
 * };
 * const { state } = await store.aggregate('agent-1', toolCallsBefore2025);
 * ```
 */
export interface AggregateOptions<S, E extends Event = Event> {
  /** The state before the first event. A function is called once per aggregation. */
  readonly initialState: S | (() => S);
  /** Folds one event into the state. */
  readonly evolve: (state: S, event: StoredEvent<E>) => S;
  /** Time travel: stop at a version (inclusive) or at the last event at or before a time. */
  readonly until?: { readonly version: number } | { readonly time: number | Date } | undefined;
  /** Optional snapshots (see `snapshots()`). */
  readonly snapshots?: SnapshotOptions<S> | undefined;
}

/**
 * The result of {@link EventStore.aggregate}.
 *
 * @example
 * ```ts
 * import { type AggregateResult, memoryEventStore } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const { state, version }: AggregateResult<number> = await store.aggregate('agent-1', {
 *   initialState: 0,
 *   evolve: (calls, e) => (e.type === 'ToolCalled' ? calls + 1 : calls),
 * });
 * if (state < 10) await store.append('agent-1', [{ type: 'ToolCalled', data: {} }], { expectedVersion: version });
 * ```
 */
export interface AggregateResult<S> {
  /** The folded state. */
  readonly state: S;
  /** Version of the last event folded (0 when none). */
  readonly version: number;
}

/**
 * A stored snapshot of a stream's state.
 *
 * @example
 * ```ts
 * import { memorySnapshotStore, type Snapshot } from 'breakwater/event-store';
 *
 * const snapshots = memorySnapshotStore();
 * const snap: Snapshot | undefined = await snapshots.load('agent-1');
 * if (snap !== undefined) console.log(`agent-1 at version ${snap.version} (schema ${snap.schemaVersion})`, snap.state);
 * ```
 */
export interface Snapshot<S = unknown> {
  /** Stream version the state is at. */
  readonly version: number;
  /** Schema version of the state; a snapshot with another schema is ignored. */
  readonly schemaVersion: number;
  /** The state. */
  readonly state: S;
}

/**
 * Where snapshots live. `memorySnapshotStore()` is one; any key-value store fits.
 *
 * @example
 * ```ts
 * import type { Snapshot, SnapshotStore } from 'breakwater/event-store';
 *
 * const redisSnapshots: SnapshotStore = {
 *   async load(stream) {
 *     const json = await redis.get(`snapshot:${stream}`);
 *     return json === null ? undefined : (JSON.parse(json) as Snapshot);
 *   },
 *   async save(stream, snapshot) {
 *     await redis.set(`snapshot:${stream}`, JSON.stringify(snapshot));
 *   },
 * };
 * ```
 */
export interface SnapshotStore {
  /** The latest snapshot of `stream`, if any. */
  load(stream: string): Promise<Snapshot | undefined>;
  /** Stores (replaces) the snapshot of `stream`. */
  save(stream: string, snapshot: Snapshot): Promise<void>;
}

/**
 * Snapshot settings for {@link EventStore.aggregate}.
 *
 * @example
 * ```ts
 * import { memoryEventStore, memorySnapshotStore, type SnapshotOptions } from 'breakwater/event-store';
 *
 * const snapshots: SnapshotOptions<Map<string, number>> = {
 *   store: memorySnapshotStore(),
 *   every: 100,
 *   serialize: (state) => [...state],
 *   deserialize: (data) => new Map(data as [string, number][]),
 * };
 * const store = memoryEventStore();
 * const { state } = await store.aggregate('agent-1', { initialState: () => new Map(), evolve, snapshots });
 * ```
 */
export interface SnapshotOptions<S> {
  /** Where snapshots are kept. */
  readonly store: SnapshotStore;
  /** Take a snapshot once at least this many events were folded since the last one. */
  readonly every: number;
  /** Version of the state's shape; bump it when `evolve` or the state changes. @defaultValue `1` */
  readonly schemaVersion?: number | undefined;
  /** Turns a state into JSON-safe data and back. @defaultValue identity */
  readonly serialize?: ((state: S) => unknown) | undefined;
  /** @defaultValue identity */
  readonly deserialize?: ((data: unknown) => S) | undefined;
}

/**
 * Per event type, the chain of upcasters from old schema versions to the current one: entry `i`
 * turns data of schema version `i + 1` into version `i + 2`. Events are written at the current
 * version (chain length + 1) and upcast on every read path.
 *
 * @example
 * ```ts
 * import { memoryEventStore, type Upcasters } from 'breakwater/event-store';
 *
 * const upcasters: Upcasters = {
 *   // ModelReplied schema 1 had no `currency`; schema 2, written from now on, has it.
 *   ModelReplied: [(data) => ({ ...(data as { model: string; cost: number }), currency: 'USD' })],
 * };
 * const store = memoryEventStore({ upcasters });
 * ```
 */
export type Upcasters = Readonly<Record<string, readonly ((data: unknown) => unknown)[]>>;

/**
 * Settings every store factory accepts.
 *
 * @example
 * ```ts
 * import { type EventStoreOptions, memoryEventStore } from 'breakwater/event-store';
 *
 * const options: EventStoreOptions = {
 *   inline: [costPerModel],
 *   upcasters: { ToolCalled: [(data) => ({ args: {}, ...(data as object) })] },
 *   generateId: () => ulid(),
 * };
 * const store = memoryEventStore(options);
 * ```
 */
export interface EventStoreOptions {
  /** Source of event timestamps and subscription timers. @defaultValue `systemClock` */
  readonly clock?: Clock | undefined;
  /** Upcasters applied when reading. @defaultValue none */
  readonly upcasters?: Upcasters | undefined;
  /** Inline projections, run atomically with every append. @defaultValue none */
  readonly inline?: readonly InlineProjection[] | undefined;
  /** Generates event ids. @defaultValue `crypto.randomUUID()` */
  readonly generateId?: (() => string) | undefined;
}

/**
 * What a projection handler gets besides the event: the transaction it runs in.
 *
 * @example
 * ```ts
 * import { type ProjectionContext, projection } from 'breakwater/event-store';
 * import type { PoolClient } from 'pg';
 *
 * const truncate = async ({ client }: ProjectionContext) => {
 *   await (client as PoolClient).query('TRUNCATE model_costs'); // in the rebuild's transaction
 * };
 * const costs = projection({ name: 'model-costs', handles: { ModelReplied: upsertCost }, truncate });
 * ```
 */
export interface ProjectionContext {
  /**
   * The database handle of the transaction: a `pg` client inside `BEGIN` on PostgreSQL, the
   * better-sqlite3 `Database` on SQLite, `undefined` in memory.
   */
  readonly client: unknown;
}

/**
 * A projection as the store runs it inline (see `projection()`).
 *
 * @example
 * ```ts
 * import { type InlineProjection, memoryEventStore } from 'breakwater/event-store';
 *
 * const toolCalls = new Map<string, number>();
 * const countTools: InlineProjection = {
 *   name: 'tool-calls',
 *   types: ['ToolCalled'],
 *   apply(events) {
 *     for (const e of events) toolCalls.set(e.stream, (toolCalls.get(e.stream) ?? 0) + 1);
 *   },
 * };
 * const store = memoryEventStore({ inline: [countTools] }); // `projection()` builds these for you
 * ```
 */
export interface InlineProjection {
  /** Unique name. */
  readonly name: string;
  /** Event types it handles. */
  readonly types: readonly string[];
  /** Applies a batch of events (already in order). */
  apply(events: readonly StoredEvent[], ctx: ProjectionContext): void | Promise<void>;
}

/**
 * Read and write operations available both on a store and inside {@link EventStore.transaction}.
 *
 * @example
 * ```ts
 * import { type EventStoreSession, memoryEventStore } from 'breakwater/event-store';
 *
 * async function recordTurn(session: EventStoreSession, agent: string, turn: Turn): Promise<void> {
 *   const expectedVersion = await session.version(agent);
 *   await session.append(agent, [{ type: 'TurnRecorded', data: turn }], { expectedVersion });
 * }
 * const store = memoryEventStore();
 * await store.transaction((tx) => recordTurn(tx, 'agent-1', turn)); // or recordTurn(store, …) outside one
 * ```
 */
export interface EventStoreSession {
  /** Appends events to a stream, enforcing `expectedVersion` atomically. @throws ConcurrencyError */
  append<E extends Event>(
    stream: string,
    events: readonly NewEvent<E>[],
    options?: AppendOptions,
  ): Promise<AppendResult>;
  /** Reads a stream's events (forward or backward), streaming in pages. */
  read<E extends Event = Event>(stream: string, options?: ReadOptions): AsyncIterable<StoredEvent<E>>;
  /** The stream's version: its number of events, 0 when it does not exist. */
  version(stream: string): Promise<number>;
  /** The database handle (see {@link ProjectionContext.client}). */
  readonly client: unknown;
}

/**
 * An event store: streams of events with optimistic concurrency, a global order and subscriptions.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { type EventStore, memoryEventStore } from 'breakwater/event-store';
 * import { sqliteEventStore } from 'breakwater/event-store/sqlite';
 *
 * const file = process.env.EVENTS_DB;
 * const store: EventStore = file === undefined ? memoryEventStore() : sqliteEventStore(new Database(file));
 * console.log(`events kept in ${store.kind}`);
 * ```
 */
export interface EventStore extends EventStoreSession {
  /** Reads every stream's events in global order (gap-safe on PostgreSQL), streaming in pages. */
  readAll<E extends Event = Event>(options?: ReadAllOptions): AsyncIterable<StoredEvent<E>>;
  /** Lists streams (optionally by name prefix) in name order. */
  streams(options?: StreamsOptions): AsyncIterable<StreamInfo>;
  /** Catch-up subscription: history in global order, then live events. */
  subscribe<E extends Event = Event>(options: SubscribeOptions<E>): Subscription;
  /** Folds a stream into a state, optionally up to a version or time (time travel). */
  aggregate<S, E extends Event = Event>(stream: string, options: AggregateOptions<S, E>): Promise<AggregateResult<S>>;
  /**
   * Runs `fn` in one transaction: every append made through `tx` (and, on SQL stores, every write
   * made through `tx.client`) commits together or not at all.
   */
  transaction<T>(fn: (tx: EventStoreSession) => T | PromiseLike<T>): Promise<T>;
  /** Which implementation this is. */
  readonly kind: 'memory' | 'sqlite' | 'postgres';
}
