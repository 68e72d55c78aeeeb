// The saga status index answers list({ status }) and resume() without folding every saga stream;
// it can never disagree with the log: each test compares it with a fold of every stream, and with
// a rebuild from the log.
import Database from 'better-sqlite3';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/event-store/index.js';
import { memoryEventStore } from '../../src/event-store/index.js';
import { postgresEventStore } from '../../src/event-store/postgres/index.js';
import { sqliteEventStore } from '../../src/event-store/sqlite/index.js';
import {
  foldSaga,
  type SagaLogEvent,
  type SagaOrchestrator,
  sagaIndex,
  sagaOrchestrator,
} from '../../src/saga/index.js';
import { nextStatus } from '../../src/saga/saga-index.js';
import { virtualClock } from '../../src/testing/index.js';
import { HAS, PG_URL } from '../support/servers.js';
import { recorder, tripSaga } from './helpers.js';

type Make = (inline: readonly import('../../src/event-store/index.js').InlineProjection[]) => Promise<{
  store: EventStore;
  close: () => Promise<void>;
}>;

const pools: pg.Pool[] = [];
afterAll(async () => {
  for (const p of pools) await p.end();
});

const backends: [string, boolean, Make][] = [
  ['memory', true, async (inline) => ({ store: memoryEventStore({ inline }), close: async () => {} })],
  [
    'sqlite',
    true,
    async (inline) => {
      const db = new Database(':memory:');
      return { store: sqliteEventStore(db, { inline }), close: async () => void db.close() };
    },
  ],
  [
    'postgres',
    HAS.postgres,
    async (inline) => {
      const pool = new pg.Pool({ connectionString: PG_URL, max: 5 });
      pools.push(pool);
      const schema = `bw_sx_${Math.random().toString(36).slice(2, 10)}`;
      const store = postgresEventStore(pool, { schema, inline });
      await store.migrate();
      return { store, close: async () => void (await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)) };
    },
  ],
];

/** Every saga's state by folding its stream: the truth the index must match. */
async function folded(store: EventStore): Promise<Map<string, { status: string; version: number }>> {
  const out = new Map<string, { status: string; version: number }>();
  for await (const { stream } of store.streams({ prefix: 'saga-' })) {
    const events: SagaLogEvent[] = [];
    let version = 0;
    for await (const e of store.read(stream)) {
      events.push(e as unknown as SagaLogEvent);
      version = e.version;
    }
    const s = foldSaga(events);
    if (s !== undefined) out.set(stream, { status: s.status, version });
  }
  return out;
}

async function indexed(index: ReturnType<typeof sagaIndex>, store: EventStore): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const e of await index.entries(store, 'saga-')) out.set(e.stream, { status: e.status, version: e.version });
  return out;
}

/** Runs sagas with mixed outcomes: completed, compensated, compensation-failed. */
async function populate(o: SagaOrchestrator, count: number, seed: number): Promise<void> {
  const rnd = fc.sample(fc.integer({ min: 0, max: 2 }), { seed, numRuns: count });
  for (let i = 0; i < count; i++) {
    const rec = recorder();
    if (rnd[i] === 1) rec.failRun.set('d', 1);
    if (rnd[i] === 2) {
      rec.failRun.set('d', 1);
      rec.failCompensate.set('a', 99);
    }
    await o.run(tripSaga(rec), i, { id: `t${i}` }).catch(() => undefined);
  }
}

describe('nextStatus follows evolveSaga', () => {
  it('for random saga logs the index status equals the folded status', () => {
    const type = fc.constantFrom<SagaLogEvent['type']>(
      'saga.claimed',
      'saga.step-started',
      'saga.compensating',
      'saga.completed',
      'saga.compensated',
      'saga.compensation-failed',
      'saga.failed',
      'saga.redriven',
      'saga.cancel-requested',
    );
    fc.assert(
      fc.property(fc.array(type, { maxLength: 20 }), (types) => {
        const events = [
          { type: 'saga.started', data: { id: 'x', saga: 's', input: 0, at: 0 } },
          ...types.map((t) => ({ type: t, data: { step: 'a', at: 1, owner: 'o', until: 2, reason: 'step-failed' } })),
        ] as unknown as SagaLogEvent[];
        let status: ReturnType<typeof nextStatus>;
        for (const e of events) status = nextStatus(status, e);
        expect(status).toBe(foldSaga(events)?.status);
      }),
    );
  });
});

describe.each(backends)('saga index on %s', (name, available, make) => {
  it.skipIf(!available)(
    'list({ status }) and the index agree with a fold of every stream; rebuild changes nothing',
    async () => {
      const index = sagaIndex({ table: `saga_index_${Math.random().toString(36).slice(2, 8)}` });
      const { store, close } = await make([index.projection]);
      try {
        const o = sagaOrchestrator({ store, index, compensationRetries: 0, compensationDelay: 1 });
        await populate(o, 12, name.length);
        const truth = await folded(store);
        expect(await indexed(index, store)).toEqual(truth);
        const plain = sagaOrchestrator({ store, compensationRetries: 0 });
        for (const status of ['completed', 'compensated', 'compensation-failed'] as const) {
          const a = (await o.list({ status })).map((s) => s.id).sort();
          const b = (await plain.list({ status })).map((s) => s.id).sort();
          expect(a).toEqual(b);
          expect(a.length).toBeGreaterThan(0);
        }
        expect((await o.list()).length).toBe(12);
        await index.rebuild(store, 'saga-');
        expect(await indexed(index, store)).toEqual(truth);
      } finally {
        await close();
      }
    },
  );

  it.skipIf(!available)('a redrive moves the entry; rebuild repairs an index that was tampered with', async () => {
    const index = sagaIndex({ table: `saga_index_${Math.random().toString(36).slice(2, 8)}` });
    const { store, close } = await make([index.projection]);
    try {
      const o = sagaOrchestrator({ store, index, compensationRetries: 0, compensationDelay: 1 });
      const rec = recorder();
      rec.failRun.set('d', 1);
      rec.failCompensate.set('a', 1);
      await expect(o.run(tripSaga(rec), 1, { id: 'r1' })).rejects.toThrow();
      expect((await o.list({ status: 'compensation-failed' })).map((s) => s.id)).toEqual(['r1']);
      await o.redrive('r1').catch(() => undefined);
      expect((await o.list({ status: 'compensation-failed' })).map((s) => s.id)).toEqual([]);
      expect((await o.list({ status: 'compensated' })).map((s) => s.id)).toEqual(['r1']);
      // Tamper: a wrong status and a row for a stream that does not exist.
      const sqlClient = store.client as { query?: (s: string) => Promise<unknown>; exec?: (s: string) => void };
      const table = index.projection.name.slice('saga-index:'.length);
      if (name === 'postgres') {
        await sqlClient.query?.(`UPDATE ${table} SET status = 'running'`);
        await sqlClient.query?.(`INSERT INTO ${table} (stream, status, version) VALUES ('saga-ghost', 'running', 1)`);
      } else if (name === 'sqlite') {
        sqlClient.exec?.(`UPDATE ${table} SET status = 'running'`);
        sqlClient.exec?.(`INSERT INTO ${table} (stream, status, version) VALUES ('saga-ghost', 'running', 1)`);
      }
      await index.rebuild(store, 'saga-');
      expect(await indexed(index, store)).toEqual(await folded(store));
    } finally {
      await close();
    }
  });

  it.skipIf(!available)('resume() reads unfinished sagas from the index and finishes them', async () => {
    const clock = virtualClock({ start: 1_000 });
    const index = sagaIndex({ table: `saga_index_${Math.random().toString(36).slice(2, 8)}` });
    const { store, close } = await make([index.projection]);
    try {
      // A process that crashed after the start: its lease lapses, the saga stays 'running'.
      for (const id of ['c1', 'c2']) {
        await store.append(`saga-${id}`, [
          { type: 'saga.started', data: { id, saga: 'trip', input: 1, at: 0 } },
          { type: 'saga.claimed', data: { owner: 'dead', until: 10 } },
        ] as never);
      }
      const rec = recorder();
      const o = sagaOrchestrator({ store, index, clock, sagas: [tripSaga(rec)] });
      expect((await o.list({ status: 'running' })).map((s) => s.id)).toEqual(['c1', 'c2']);
      const resumed = await o.resume();
      expect(resumed.map((s) => s.status)).toEqual(['completed', 'completed']);
      expect(await o.list({ status: 'running' })).toEqual([]);
      expect(await indexed(index, store)).toEqual(await folded(store));
    } finally {
      await close();
    }
  });
});

describe('bad input', () => {
  it('names a bad table and a bad index option', () => {
    expect(() => sagaIndex({ table: 'x; DROP TABLE y' })).toThrow(/`table`/);
    expect(() => sagaOrchestrator({ store: memoryEventStore(), index: {} as never })).toThrow(/sagaIndex/);
  });
});
