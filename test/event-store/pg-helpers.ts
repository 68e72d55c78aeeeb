import pg from 'pg';
import {
  type PostgresEventStore,
  type PostgresEventStoreOptions,
  postgresEventStore,
} from '../../src/event-store/postgres/index.js';
import { PG_URL } from '../support/servers.js';

export function randomSchema(): string {
  return `bw_es_${Math.random().toString(36).slice(2, 10)}`;
}

export function newPool(max = 10): pg.Pool {
  return new pg.Pool({ connectionString: PG_URL, max });
}

export async function pgStore(
  pool: pg.Pool,
  options?: PostgresEventStoreOptions,
): Promise<{ store: PostgresEventStore; schema: string; drop: () => Promise<void> }> {
  const schema = options?.schema ?? randomSchema();
  const store = postgresEventStore(pool, { ...options, schema });
  await store.migrate();
  return { store, schema, drop: async () => void (await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)) };
}
