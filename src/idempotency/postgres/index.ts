/**
 * The PostgreSQL idempotency store (`pg` 8, an optional peer dependency).
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { idempotent } from 'breakwater/idempotency';
 * import { postgresIdempotencyStore } from 'breakwater/idempotency/postgres';
 * const store = postgresIdempotencyStore(new pg.Pool());
 * await store.migrate();
 * const once = idempotent({ store });
 * ```
 *
 * @module
 */
export {
  type PgQueryable,
  type PostgresIdempotencyStore,
  type PostgresIdempotencyStoreOptions,
  postgresIdempotencyStore,
} from './postgres-store.js';
