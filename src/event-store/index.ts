/**
 * Event store and CQRS: streams of events with optimistic concurrency, a global order,
 * catch-up subscriptions, a command handler for deciders, time travel, snapshots, upcasting and
 * inline/async projections. `memoryEventStore()` here; SQLite and PostgreSQL stores live in
 * `breakwater/event-store/sqlite` and `breakwater/event-store/postgres`.
 *
 * @example
 * ```ts
 * import { memoryEventStore } from 'breakwater/event-store';
 *
 * const store = memoryEventStore();
 * const { version } = await store.append('agent-1', [{ type: 'ToolCalled', data: { tool: 'search' } }], {
 *   expectedVersion: 'no-stream',
 * });
 * for await (const event of store.read('agent-1')) console.log(event.version, event.type);
 * ```
 *
 * @module
 */

export { memorySnapshotStore } from './aggregate.js';
export {
  type CommandHandler,
  type CommandHandlerOptions,
  commandHandler,
  type Decider,
  type HandleOptions,
  type HandleResult,
} from './command-handler.js';
export {
  ConcurrencyError,
  CorruptEventError,
  DuplicateEventError,
  isConcurrencyError,
  isCorruptEventError,
  isDuplicateEventError,
  isProjectionError,
  isSubscriptionError,
  ProjectionError,
  SubscriptionError,
} from './errors.js';
export { type MemoryEventStoreOptions, memoryEventStore } from './memory.js';
export {
  type Projection,
  type ProjectionDefinition,
  type ProjectionHandler,
  type ProjectionHandlers,
  type ProjectionRunner,
  projection,
  type RebuildOptions,
  rebuild,
  type StartProjectionOptions,
  startProjection,
} from './projection.js';
export type {
  AggregateOptions,
  AggregateResult,
  AppendOptions,
  AppendResult,
  Event,
  EventMetadata,
  EventStore,
  EventStoreOptions,
  EventStoreSession,
  ExpectedVersion,
  InlineProjection,
  NewEvent,
  ProjectionContext,
  ReadAllOptions,
  ReadOptions,
  Snapshot,
  SnapshotOptions,
  SnapshotStore,
  StoredEvent,
  StreamInfo,
  StreamsOptions,
  SubscribeOptions,
  Subscription,
  SubscriptionErrorAction,
  Upcasters,
} from './types.js';
