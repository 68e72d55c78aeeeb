// One transaction: events, a read model and a business row commit together (or not at all) on
// PostgreSQL. Needs PostgreSQL: PG_URL=postgres://… npx tsx examples/event-store-transaction.ts
import pg from 'pg';
import { isConcurrencyError } from '../src/event-store/index.js';
import { postgresEventStore } from '../src/event-store/postgres/index.js';

const pool = new pg.Pool({ connectionString: process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
const store = postgresEventStore(pool, { schema: 'example_event_store' });
await store.migrate();
await pool.query('CREATE TABLE IF NOT EXISTS example_event_store.orders (id TEXT PRIMARY KEY, total INT NOT NULL)');

async function placeOrder(id: string, total: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // The store's operations on this transaction's connection.
    await store.withClient(client).append(`order-${id}`, [{ type: 'OrderPlaced', data: { total } }], {
      expectedVersion: 'no-stream',
    });
    await client.query('INSERT INTO example_event_store.orders (id, total) VALUES ($1, $2)', [id, total]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

const id = Date.now().toString(36);
await placeOrder(id, 42);
try {
  await placeOrder(id, 99); // a second "place" of the same order: the expected version rejects it
} catch (error) {
  if (!isConcurrencyError(error)) throw error;
  console.log(`rejected: expected ${String(error.expected)}, actual ${error.actual}`);
}
const rows = await pool.query('SELECT total FROM example_event_store.orders WHERE id = $1', [id]);
console.log(`order ${id}: version ${await store.version(`order-${id}`)}, row total ${rows.rows[0]?.total}`);
await pool.query('DROP SCHEMA example_event_store CASCADE');
await pool.end();
