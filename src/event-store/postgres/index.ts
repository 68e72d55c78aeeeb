/**
 * The PostgreSQL event store (`pg` 8): schema by an idempotent `migrate()`, one function call per
 * append, gap-safe global order (transaction ids + snapshot xmin), advisory-locked async
 * projections, and appends on the caller's own connection (`withClient`) for one-commit writes.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { postgresEventStore } from 'breakwater/event-store/postgres';
 *
 * const store = postgresEventStore(new pg.Pool({ connectionString: process.env.DATABASE_URL }));
 * await store.migrate();
 * await store.append('agent-1', [{ type: 'ToolCalled', data: { tool: 'search' } }]);
 * ```
 *
 * @module
 */

export {
  type PostgresEventStore,
  type PostgresEventStoreOptions,
  postgresEventStore,
  type Queryable,
} from './postgres.js';
