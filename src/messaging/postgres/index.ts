/**
 * The PostgreSQL aggregator store (`pg` 8, an optional peer dependency): a durable aggregator's
 * groups in one table, one writer per correlation key by row lock, `onComplete` inside the
 * completion's transaction.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { durableAggregator } from 'breakwater/messaging';
 * import { postgresAggregatorStore } from 'breakwater/messaging/postgres';
 * const store = postgresAggregatorStore(new pg.Pool(), { table: 'tool_results' });
 * await store.migrate();
 * const results = durableAggregator({ store, correlate: (r: { taskId: string }) => r.taskId, complete: { size: 3 } });
 * ```
 *
 * @module
 */
export {
  type PgClientLike,
  type PgPoolClientLike,
  type PgPoolLike,
  type PgResult,
  type PostgresAggregatorStore,
  type PostgresAggregatorStoreOptions,
  postgresAggregatorStore,
} from './postgres-aggregator-store.js';
