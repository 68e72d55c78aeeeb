/**
 * The SQLite idempotency store (better-sqlite3 12, an optional peer dependency).
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { idempotent } from 'breakwater/idempotency';
 * import { sqliteIdempotencyStore } from 'breakwater/idempotency/sqlite';
 * const once = idempotent({ store: sqliteIdempotencyStore(new Database('state.db')) });
 * ```
 *
 * @module
 */
export {
  type SqliteIdempotencyStore,
  type SqliteIdempotencyStoreOptions,
  sqliteIdempotencyStore,
} from './sqlite-store.js';
