/**
 * The SQLite event store (`better-sqlite3` 12): one file, durable, with a single writer so global
 * order equals commit order. Appends join a transaction the caller has open on the database.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { sqliteEventStore } from 'breakwater/event-store/sqlite';
 *
 * const store = sqliteEventStore(new Database('agent.db'));
 * await store.append('agent-1', [{ type: 'ToolCalled', data: { tool: 'search' } }]);
 * ```
 *
 * @module
 */

export { type SqliteEventStore, type SqliteEventStoreOptions, sqliteEventStore } from './sqlite.js';
