import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { durableAggregator } from '../../src/messaging/index.js';
import { postgresAggregatorStore } from '../../src/messaging/postgres/index.js';
import { HAS, PG_URL } from '../support/servers.js';
import { describeAggregatorStore, handClock } from './aggregator-store.conformance.js';

const run = Math.random().toString(36).slice(2, 8);
let n = 0;
const pools: pg.Pool[] = [];
const tables: string[] = [];

afterAll(async () => {
  if (pools.length === 0) return;
  const admin = pools[0] as pg.Pool;
  for (const t of tables) await admin.query(`DROP TABLE IF EXISTS "${t}"`);
  for (const p of pools) await p.end();
});

function pool(): pg.Pool {
  const p = new pg.Pool({ connectionString: PG_URL, max: 4 });
  pools.push(p);
  return p;
}

describeAggregatorStore(
  'postgres',
  async () => {
    const table = `agg_conf_${run}_${n++}`;
    tables.push(table);
    const a = pool();
    const b = pool();
    const store = postgresAggregatorStore(a, { table });
    await store.migrate();
    return { store, other: postgresAggregatorStore(b, { table }), close: async () => undefined };
  },
  { skip: !HAS.postgres },
);

describe.skipIf(!HAS.postgres)('postgres aggregator store', () => {
  it('onComplete writes with the transaction client: its write rolls back with a failed completion', async () => {
    const table = `agg_tx_${run}`;
    const out = `agg_tx_out_${run}`;
    tables.push(table, out);
    const p = pool();
    await p.query(`CREATE TABLE "${out}" (key TEXT, n INT)`);
    const store = postgresAggregatorStore(p, { table });
    await store.migrate();
    await store.migrate(); // idempotent
    let fail = true;
    const agg = durableAggregator<{ k: string; n: number }, number>({
      store,
      correlate: (m) => m.k,
      complete: { size: 2 },
      combine: (ms) => ms.reduce((s, m) => s + m.n, 0),
      onComplete: async (sum, g, tx) => {
        await tx.query(`INSERT INTO "${out}" VALUES ($1, $2)`, [g.key, sum]);
        if (fail) throw new Error('after the write');
      },
      clock: handClock(),
    });
    await agg.add({ k: 'x', n: 1 });
    await expect(agg.add({ k: 'x', n: 2 })).rejects.toThrow('after the write');
    expect((await p.query(`SELECT * FROM "${out}"`)).rows).toEqual([]);
    fail = false;
    await agg.add({ k: 'x', n: 2 });
    expect((await p.query(`SELECT * FROM "${out}"`)).rows).toEqual([{ key: 'x', n: 3 }]);
    await agg.close();
  });

  it('withClient joins the caller transaction: a rollback undoes the add', async () => {
    const table = `agg_join_${run}`;
    tables.push(table);
    const p = pool();
    const store = postgresAggregatorStore(p, { table });
    await store.migrate();
    const client = await p.connect();
    try {
      await client.query('BEGIN');
      const agg = durableAggregator<{ k: string }>({
        store: store.withClient(client),
        correlate: (m) => m.k,
        complete: { size: 5 },
        clock: handClock(),
      });
      expect(await agg.add({ k: 'a' })).toBe('added');
      expect(await agg.openGroups()).toBe(1);
      await client.query('ROLLBACK');
      await agg.close();
    } finally {
      client.release();
    }
    expect(await store.count()).toBe(0);
  });

  it('names bad options', () => {
    expect(() => postgresAggregatorStore({} as never)).toThrow(/`pool`/);
    expect(() => postgresAggregatorStore({ query: async () => ({}) } as never)).toThrow(/connect/);
    expect(() => postgresAggregatorStore(pool(), { table: 'x; DROP' })).toThrow(/`table`/);
  });
});
