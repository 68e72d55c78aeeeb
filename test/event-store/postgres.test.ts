import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConcurrencyError, isCorruptEventError, isDuplicateEventError } from '../../src/event-store/index.js';
import { postgresEventStore } from '../../src/event-store/postgres/index.js';
import { HAS } from '../support/servers.js';
import { conformance } from './conformance.js';
import { newPool, pgStore } from './pg-helpers.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe.skipIf(!HAS.postgres)('postgresEventStore', () => {
  let pool: pg.Pool;
  beforeAll(() => {
    pool = newPool();
  });
  afterAll(async () => {
    await pool.end();
  });

  conformance('postgres', async () => {
    const { store, schema, drop } = await pgStore(pool);
    const other = postgresEventStore(pool, { schema });
    return { store, other, close: drop };
  });

  it('rejects a bad pool, schema name, client or prefix', () => {
    expect(() => postgresEventStore({} as never)).toThrow(/Pool/);
    expect(() => postgresEventStore(pool, { schema: 'x"; DROP' })).toThrow(/schema/);
    const store = postgresEventStore(pool, { schema: 'bw_es_never_created' });
    expect(() => store.withClient({} as never)).toThrow(/client/);
    expect(() => store.streams({ prefix: 5 as never })).toThrow(/prefix/);
  });

  it('passes database errors through unchanged (e.g. before migrate)', async () => {
    const store = postgresEventStore(pool, { schema: 'bw_es_never_created' });
    await expect(store.append('s', [{ type: 'A', data: 1 }])).rejects.toMatchObject({ code: '3F000' });
  });

  it("readAll and subscriptions resolve 'end' and positions on an empty store", async () => {
    const { store, drop } = await pgStore(pool);
    try {
      expect(await collect(store.readAll({ after: 5 }))).toEqual([]);
      const seen: unknown[] = [];
      const sub = store.subscribe({ from: 'end', handler: (e) => void seen.push(e.data), pollInterval: 10 });
      await new Promise((r) => setTimeout(r, 30));
      await store.append('s', [{ type: 'A', data: 1 }]);
      const end = Date.now() + 5000;
      while (seen.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      await sub.close();
      expect(seen).toEqual([1]);
    } finally {
      await drop();
    }
  });

  it('one id raced into different streams: one wins, the others get DuplicateEventError', async () => {
    const { store, drop } = await pgStore(pool);
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.append(`s${i}`, [{ id: 'shared', type: 'E', data: 1 }])),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(isDuplicateEventError(r.reason)).toBe(true);
    } finally {
      await drop();
    }
  });

  it('migrate is idempotent, also when run concurrently', async () => {
    const { store, drop } = await pgStore(pool);
    try {
      await store.append('s', [{ type: 'A', data: 1 }]);
      await Promise.all([store.migrate(), store.migrate(), store.migrate()]);
      expect(await store.version('s')).toBe(1);
    } finally {
      await drop();
    }
  });

  it('gives a clear error for malformed stored rows', async () => {
    const { store, schema, drop } = await pgStore(pool);
    try {
      await store.append('s', [{ type: 'A', data: 1 }]);
      await pool.query(`UPDATE "${schema}".bw_events SET metadata = '[1]'`);
      const e = await collect(store.read('s')).catch((x: unknown) => x);
      expect(isCorruptEventError(e)).toBe(true);
      expect((e as Error).message).toMatch(/metadata is not an object/);
      await pool.query(`UPDATE "${schema}".bw_events SET metadata = '{}', version = 0`);
      await expect(collect(store.readAll())).rejects.toThrow(/bad version/);
    } finally {
      await drop();
    }
  });

  it('orders the global log by transaction id numerically (9 before 10), then position', async () => {
    const { store, schema, drop } = await pgStore(pool);
    try {
      const ins = `INSERT INTO "${schema}".bw_events (position, tx, stream, version, id, type, data, metadata, schema_version, ts)
                   VALUES ($1, $2::xid8, $3, 1, $4, 'E', $5, '{}', 1, 0)`;
      await pool.query(ins, [1, '10', 'a', 'id-a', '"late"']);
      await pool.query(ins, [2, '9', 'b', 'id-b', '"early"']);
      await pool.query(ins, [3, '100', 'c', 'id-c', '"last"']);
      const all = await collect(store.readAll());
      expect(all.map((e) => e.data)).toEqual(['early', 'late', 'last']);
      expect((await collect(store.readAll({ after: 2 }))).map((e) => e.data)).toEqual(['late', 'last']);
      expect((await collect(store.readAll({ after: 1 }))).map((e) => e.data)).toEqual(['last']);
    } finally {
      await drop();
    }
  });

  it("withClient appends inside the caller's transaction, with the caller's writes", async () => {
    const { store, schema, drop } = await pgStore(pool);
    try {
      await pool.query(`CREATE TABLE "${schema}".orders (id text PRIMARY KEY)`);
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        await store.withClient(c).append('order-1', [{ type: 'Placed', data: {} }], { expectedVersion: 'no-stream' });
        await c.query(`INSERT INTO "${schema}".orders VALUES ('order-1')`);
        expect(await store.version('order-1')).toBe(0);
        await c.query('ROLLBACK');
        expect(await store.version('order-1')).toBe(0);
        await c.query('BEGIN');
        await store.withClient(c).append('order-1', [{ type: 'Placed', data: {} }], { expectedVersion: 'no-stream' });
        await c.query(`INSERT INTO "${schema}".orders VALUES ('order-1')`);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
      expect(await store.version('order-1')).toBe(1);
      expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".orders`)).rows[0]).toEqual({ n: 1 });
    } finally {
      await drop();
    }
  });

  it('8 concurrent appenders with the same expected version: one wins each version, no gaps', async () => {
    const { store, drop } = await pgStore(pool);
    try {
      const wins: number[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let round = 0; round < 6; round++) {
            for (;;) {
              const v = await store.version('hot');
              try {
                await store.append('hot', [{ type: 'E', data: { w, round } }], { expectedVersion: v });
                wins.push(v + 1);
                break;
              } catch (e) {
                if (!isConcurrencyError(e)) throw e;
                expect(e.actual).toBeGreaterThanOrEqual(v);
              }
            }
          }
        }),
      );
      const events = await collect(store.read('hot'));
      expect(events.map((e) => e.version)).toEqual(Array.from({ length: 48 }, (_, i) => i + 1));
      expect([...wins].sort((a, b) => a - b)).toEqual(Array.from({ length: 48 }, (_, i) => i + 1));
      expect(new Set(events.map((e) => e.id)).size).toBe(48);
    } finally {
      await drop();
    }
  });

  it('concurrent creation with no-stream: exactly one wins; concurrent identical retries dedupe', async () => {
    const { store, drop } = await pgStore(pool);
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          store.append('new', [{ type: 'E', data: i }], { expectedVersion: 'no-stream' }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ actual: 1 });
      const same = await Promise.all(
        Array.from({ length: 8 }, () =>
          store.append('dup', [{ id: 'dup-1', type: 'E', data: 1 }], { expectedVersion: 'no-stream' }),
        ),
      );
      expect(new Set(same.map((r) => r.positions[0])).size).toBe(1);
      expect(await store.version('dup')).toBe(1);
      const cross = await store.append('other', [{ id: 'dup-1', type: 'E', data: 1 }]).catch((x: unknown) => x);
      expect(isDuplicateEventError(cross)).toBe(true);
    } finally {
      await drop();
    }
  });
});
