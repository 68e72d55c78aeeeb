// One transaction: the idempotency claim, the business write and the stored result commit together
// (or roll back together). Needs PostgreSQL: PG_URL=postgres://… npx tsx examples/idempotency-postgres-transaction.ts
import pg from 'pg';
import { idempotent } from '../src/idempotency/index.js';
import { postgresIdempotencyStore } from '../src/idempotency/postgres/index.js';

const pool = new pg.Pool({ connectionString: process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
const store = postgresIdempotencyStore(pool, { table: 'example_idempotency' });
await store.migrate();
await pool.query('CREATE TABLE IF NOT EXISTS example_orders (id TEXT PRIMARY KEY, amount INT)');

async function placeOrder(requestId: string, amount: number): Promise<{ orderId: string }> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // The same store, on this transaction's connection.
    const once = idempotent({ store: store.withClient(client), fingerprint: (ctx) => ctx.data });
    const result = await once.execute(
      async () => {
        const orderId = `order-${requestId}`;
        await client.query('INSERT INTO example_orders (id, amount) VALUES ($1, $2)', [orderId, amount]);
        return { orderId };
      },
      { key: `place-order:${requestId}`, data: { amount } },
    );
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

const requestId = `r-${Date.now()}`;
console.log(await placeOrder(requestId, 42));
console.log(await placeOrder(requestId, 42)); // replayed: no second order row
await pool.query('DROP TABLE example_orders');
await pool.query('DROP TABLE example_idempotency');
await pool.end();
