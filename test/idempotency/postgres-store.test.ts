import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { idempotent, isIdempotencyStoreUnavailableError } from '../../src/idempotency/index.js';
import { postgresIdempotencyStore } from '../../src/idempotency/postgres/index.js';
import { outage } from '../support/outage.js';
import { HAS, PG_URL } from '../support/servers.js';
import { describeConformance } from './conformance.js';

const table = `idem_${Math.random().toString(36).slice(2, 10)}`;
const pool = HAS.postgres ? new pg.Pool({ connectionString: PG_URL, max: 4 }) : undefined;
const store = pool === undefined ? undefined : postgresIdempotencyStore(pool, { table });
if (store !== undefined) {
  await store.migrate();
  await store.migrate(); // idempotent
}

afterAll(async () => {
  if (pool === undefined) return;
  await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  await pool.query(`DROP TABLE IF EXISTS "${table}_tx"`);
  await pool.end();
});

describeConformance(
  'postgres',
  async () => ({
    store: store!,
    corrupt: async (key) => {
      await pool!.query(
        `INSERT INTO "${table}" (key, status, token, lease_until, expires_at) VALUES ($1, 'weird', '', 0, 9e15)`,
        [key],
      );
    },
    close: async () => {},
  }),
  { skip: !HAS.postgres, durable: true },
);

describe.skipIf(!HAS.postgres)('postgresIdempotencyStore', () => {
  it('migrates concurrently from many clients without error', async () => {
    const t = `${table}_tx`;
    const stores = [1, 2, 3, 4].map(() => postgresIdempotencyStore(pool!, { table: t }));
    await Promise.all(stores.map((s) => s.migrate()));
    const r = await pool!.query('SELECT to_regclass($1) AS t', [t]);
    expect(r.rows[0].t).toBe(t);
  });

  it("claims and completes inside the caller's transaction: one commit, or one rollback", async () => {
    const t = `${table}_tx`;
    await postgresIdempotencyStore(pool!, { table: t }).migrate();
    await pool!.query(`CREATE TABLE IF NOT EXISTS "${t}_orders" (id TEXT)`);
    const client = await pool!.connect();
    try {
      const txStore = store!.withClient(client);
      const policy = idempotent({ store: postgresIdempotencyStore(client, { table: t }) });
      expect(txStore).toBeDefined();
      await client.query('BEGIN');
      await policy.execute(() => client.query(`INSERT INTO "${t}_orders" VALUES ('o1')`).then(() => 'ok'), {
        key: 'rolled-back',
      });
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await policy.execute(() => client.query(`INSERT INTO "${t}_orders" VALUES ('o2')`).then(() => 'ok'), {
        key: 'committed',
      });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const outside = postgresIdempotencyStore(pool!, { table: t });
    expect(await outside.get('rolled-back', Date.now())).toBeUndefined();
    expect((await outside.get('committed', Date.now()))?.status).toBe('completed');
    const orders = await pool!.query(`SELECT id FROM "${t}_orders"`);
    expect(orders.rows.map((r) => r.id)).toEqual(['o2']);
    await pool!.query(`DROP TABLE "${t}_orders"`);
  });

  it('fails fast with IdempotencyStoreUnavailableError on a closed port', async () => {
    const dead = new pg.Pool({ host: '127.0.0.1', port: 1, user: 'postgres', database: 'test' });
    const started = Date.now();
    const fn = () => 'ran';
    const err = await idempotent({ store: postgresIdempotencyStore(dead, { table }) })
      .execute(fn, { key: 'k' })
      .catch((e: unknown) => e);
    expect(isIdempotencyStoreUnavailableError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'ERR_IDEMPOTENCY_STORE_UNAVAILABLE', store: 'postgres' });
    expect((err as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
    expect(Date.now() - started).toBeLessThan(2000);
    await dead.end();
  });

  it('times out a store that does not answer', async () => {
    const hung = { query: () => new Promise<never>(() => {}) };
    const err = await postgresIdempotencyStore(hung, { timeout: 50 })
      .get('k', 0)
      .catch((e: unknown) => e);
    expect(isIdempotencyStoreUnavailableError(err)).toBe(true);
  });

  it('fails while the server is unreachable mid-run, and works again once it is back', async () => {
    const net = await outage();
    const { proxy, pool: p } = net;
    const policy = idempotent({ store: postgresIdempotencyStore(p, { table, timeout: 1500 }) });
    const key = `mid-run-${Math.random()}`;
    expect(await policy.execute(() => 'before', { key: `${key}-a` })).toBe('before');
    await proxy.stop();
    const started = Date.now();
    const err = await policy.execute(() => 'during', { key }).catch((e: unknown) => e);
    expect(isIdempotencyStoreUnavailableError(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    await proxy.start();
    expect(await policy.execute(() => 'after', { key })).toBe('after');
    expect(net.crashes).toEqual([]);
    await net.close();
  });

  it('purges lapsed records and validates its arguments', async () => {
    const k = `purge-${Math.random()}`;
    await store!.claim(k, { fingerprint: undefined, lease: 10, now: 1 });
    expect(await store!.purgeExpired(100)).toBeGreaterThanOrEqual(1);
    expect(await store!.get(k, 0)).toBeUndefined();
    expect(() => postgresIdempotencyStore({} as never)).toThrow(/pool/);
    expect(() => postgresIdempotencyStore(pool!, { table: 'a"; DROP' })).toThrow(/table/);
    expect(() => postgresIdempotencyStore(pool!, { timeout: 0 })).toThrow(/timeout/);
    expect(() => store!.withClient(null as never)).toThrow(/client/);
  });
});
