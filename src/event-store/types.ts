// The public shapes shared by every event store implementation (memory, SQLite, PostgreSQL).
import type { Clock } from '../core/clock.js';
import type { Policy } from '../core/policy.js';

/** Free-form, JSON-serialisable metadata stored beside an event (correlation ids, model name, …). */
export type EventMetadata = Readonly<Record<string, unknown>>;

/**
 * An event as the user writes it: a `type` and JSON-serialisable `data`. Use a union of these to
 * type a stream (`type AgentEvent = Event<'ToolCalled', {...}> | Event<'ModelReplied', {...}>`).
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
 */
export type NewEvent<E extends Event = Event> = E & {
  /** Unique id of the event across the store. @defaultValue a random UUID */
  readonly id?: string | undefined;
};

/** An event as stored and read back. */
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
 */
export type ExpectedVersion = number | 'any' | 'no-stream' | 'exists';

/** Options of {@link EventStore.append}. */
export interface AppendOptions {
  /** Optimistic concurrency check, enforced atomically with the append. @defaultValue `'any'` */
  readonly expectedVersion?: ExpectedVersion | undefined;
}

/** The result of an append. */
export interface AppendResult {
  /** The stream's version after the append (its number of events). */
  readonly version: number;
  /** Same as `version`: pass it as `expectedVersion` on your next append. */
  readonly nextExpectedVersion: number;
  /** Global positions of the appended events, in order. */
  readonly positions: readonly number[];
}

/** Options of {@link EventStore.read}. */
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

/** Options of {@link EventStore.readAll}. */
export interface ReadAllOptions {
  /** Read events after this global position (exclusive). @defaultValue the start */
  readonly after?: number | undefined;
  /** Maximum number of events. @defaultValue no limit */
  readonly limit?: number | undefined;
  /** Only events of these types. @defaultValue every type */
  readonly types?: readonly string[] | undefined;
}

/** Options of {@link EventStore.streams}. */
export interface StreamsOptions {
  /** Only streams whose name starts with this prefix (e.g. `'saga-'`). @defaultValue every stream */
  readonly prefix?: string | undefined;
}

/** One stream as listed by {@link EventStore.streams}. */
export interface StreamInfo {
  /** The stream name. */
  readonly stream: string;
  /** Its version (number of events). */
  readonly version: number;
}

/** What a subscription does with an event its handler still fails on after the policy gave up. */
export type SubscriptionErrorAction = 'stop' | 'skip';

/** Options of {@link EventStore.subscribe}. */
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

/** A running subscription. */
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

/** Options of {@link EventStore.aggregate}. */
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

/** The result of {@link EventStore.aggregate}. */
export interface AggregateResult<S> {
  /** The folded state. */
  readonly state: S;
  /** Version of the last event folded (0 when none). */
  readonly version: number;
}

/** A stored snapshot of a stream's state. */
export interface Snapshot<S = unknown> {
  /** Stream version the state is at. */
  readonly version: number;
  /** Schema version of the state; a snapshot with another schema is ignored. */
  readonly schemaVersion: number;
  /** The state. */
  readonly state: S;
}

/** Where snapshots live. `memorySnapshotStore()` is one; any key-value store fits. */
export interface SnapshotStore {
  /** The latest snapshot of `stream`, if any. */
  load(stream: string): Promise<Snapshot | undefined>;
  /** Stores (replaces) the snapshot of `stream`. */
  save(stream: string, snapshot: Snapshot): Promise<void>;
}

/** Snapshot settings for {@link EventStore.aggregate}. */
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
 */
export type Upcasters = Readonly<Record<string, readonly ((data: unknown) => unknown)[]>>;

/** Settings every store factory accepts. */
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

/** What a projection handler gets besides the event: the transaction it runs in. */
export interface ProjectionContext {
  /**
   * The database handle of the transaction: a `pg` client inside `BEGIN` on PostgreSQL, the
   * better-sqlite3 `Database` on SQLite, `undefined` in memory.
   */
  readonly client: unknown;
}

/** A projection as the store runs it inline (see `projection()`). */
export interface InlineProjection {
  /** Unique name. */
  readonly name: string;
  /** Event types it handles. */
  readonly types: readonly string[];
  /** Applies a batch of events (already in order). */
  apply(events: readonly StoredEvent[], ctx: ProjectionContext): void | Promise<void>;
}

/** Read and write operations available both on a store and inside {@link EventStore.transaction}. */
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

/** An event store: streams of events with optimistic concurrency, a global order and subscriptions. */
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
