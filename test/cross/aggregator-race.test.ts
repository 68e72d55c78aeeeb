// Two aggregator processes on one PostgreSQL table: concurrent sweeps of many overdue groups, and
// adds racing with those sweeps, complete every group exactly once, and a sweep whose completions
// fail in bulk ends (the batch of 100 is exceeded).
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { durableAggregator } from '../../src/messaging/index.js';
import { postgresAggregatorStore } from '../../src/messaging/postgres/index.js';
import { handClock } from '../messaging/aggregator-store.conformance.js';
import { HAS, PG_URL } from '../support/servers.js';

const table = `agg_qa4_${Math.random().toString(36).slice(2, 8)}`;
const pools: pg.Pool[] = [];
afterAll(async () => {
  if (pools.length === 0) return;
  await (pools[0] as pg.Pool).query(`DROP TABLE IF EXISTS "${table}"`);
  for (const p of pools) await p.end();
});
const pool = (): pg.Pool => {
  const p = new pg.Pool({ connectionString: PG_URL, max: 4 });
  pools.push(p);
  return p;
};

describe.skipIf(!HAS.postgres)('durable aggregator on PostgreSQL, two processes', () => {
  it('concurrent sweeps and late adds complete each of 150 overdue groups exactly once', async () => {
    const clock = handClock();
    const s1 = postgresAggregatorStore(pool(), { table });
    await s1.migrate();
    const s2 = postgresAggregatorStore(pool(), { table });
    const completed = new Map<string, number>();
    let failing = true;
    const make = (store: typeof s1) =>
      durableAggregator<{ k: string; i: number }>({
        store,
        correlate: (m) => m.k,
        id: (m) => `${m.k}:${m.i}`,
        complete: { size: 100, timeout: 1000 },
        onComplete: (_all, { key }) => {
          if (failing) throw new Error('down');
          completed.set(key, (completed.get(key) ?? 0) + 1);
        },
        onError: () => undefined,
        late: 'drop',
        clock,
      });
    const a = make(s1);
    const b = make(s2);
    const keys = Array.from({ length: 150 }, (_, i) => `g${i}`);
    for (const k of keys) await a.add({ k, i: 1 });
    clock.t += 5000;
    // Every completion fails: one sweep tries each due group once and ends.
    await expect(a.sweep()).resolves.toBe(0);
    expect(await a.openGroups()).toBe(150);
    failing = false;
    const results = await Promise.all([
      a.sweep(),
      b.sweep(),
      ...keys.slice(0, 50).map((k, j) => (j % 2 === 0 ? a : b).add({ k, i: 2 })),
    ]);
    expect((results[0] as number) + (results[1] as number)).toBeLessThanOrEqual(150);
    expect(completed.size).toBe(150);
    expect([...completed.values()].every((n) => n === 1)).toBe(true);
    expect(results.slice(2).every((r) => r === 'dropped')).toBe(true);
    expect(await b.openGroups()).toBe(0);
    await Promise.all([a.close(), b.close()]);
  }, 20_000);
});
