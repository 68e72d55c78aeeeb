import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  commandHandler,
  type Event,
  type EventStore,
  isConcurrencyError,
  isProjectionError,
  memoryEventStore,
  memorySnapshotStore,
  projection,
  rebuild,
  type StoredEvent,
  startProjection,
} from '../../src/event-store/index.js';
import { sqliteEventStore } from '../../src/event-store/sqlite/index.js';
import { Policy } from '../../src/index.js';
import { virtualClock } from '../../src/testing/index.js';

type CounterEvent = Event<'Added', { n: number }> | Event<'Reset', Record<string, never>>;
type Cmd = { type: 'add'; n: number } | { type: 'reset' } | { type: 'noop' };
const decider = {
  initialState: () => ({ total: 0, count: 0 }),
  evolve: (s: { total: number; count: number }, e: CounterEvent) =>
    e.type === 'Added' ? { total: s.total + e.data.n, count: s.count + 1 } : { total: 0, count: s.count + 1 },
  decide: (c: Cmd, s: { total: number }): CounterEvent[] => {
    if (c.type === 'noop') return [];
    if (c.type === 'reset') return s.total === 0 ? [] : [{ type: 'Reset', data: {} }];
    if (c.n < 0) throw new Error('negative');
    return [{ type: 'Added', data: { n: c.n } }];
  },
};

describe('commandHandler', () => {
  it('loads, decides, appends and returns the new state', async () => {
    const store = memoryEventStore();
    const h = commandHandler({ store, decider });
    expect(await h.handle('c', { type: 'add', n: 2 })).toMatchObject({ state: { total: 2 }, version: 1 });
    const r = await h.handle('c', { type: 'add', n: 3 }, { metadata: { by: 'me' } });
    expect(r).toMatchObject({ state: { total: 5, count: 2 }, version: 2 });
    expect(r.positions).toHaveLength(1);
    const events: StoredEvent[] = [];
    for await (const e of store.read('c')) events.push(e);
    expect(events[1]?.metadata).toEqual({ by: 'me' });
    expect(await h.handle('c', { type: 'noop' })).toMatchObject({ version: 2, events: [] });
    await expect(h.handle('c', { type: 'add', n: -1 })).rejects.toThrow('negative');
    expect(await store.version('c')).toBe(2);
  });

  it('reloads and retries on a concurrency conflict, up to the limit', async () => {
    const inner = memoryEventStore();
    let interfere = 2;
    const store: EventStore = {
      ...inner,
      kind: inner.kind,
      client: undefined,
      aggregate: inner.aggregate.bind(inner),
      append: async (...args: Parameters<EventStore['append']>) => {
        if (interfere-- > 0) await inner.append(args[0], [{ type: 'Added', data: { n: 100 } }]);
        return inner.append(...args);
      },
    } as EventStore;
    const h = commandHandler({ store, decider });
    const r = await h.handle('c', { type: 'add', n: 1 });
    expect(r.state.total).toBe(201);
    expect(r.version).toBe(3);
    interfere = 10;
    const h0 = commandHandler({ store, decider, retry: 1 });
    await expect(h0.handle('c', { type: 'add', n: 1 })).rejects.toSatisfy(isConcurrencyError);
  });

  it('an explicit expected version is checked and never retried', async () => {
    const store = memoryEventStore();
    const h = commandHandler({ store, decider });
    await h.handle('c', { type: 'add', n: 1 });
    const e = await h.handle('c', { type: 'add', n: 1 }, { expectedVersion: 0 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_CONCURRENCY', expected: 0, actual: 1 });
    await h.handle('c', { type: 'add', n: 1 }, { expectedVersion: 1 });
    expect(await store.version('c')).toBe(2);
  });

  it('accepts a Policy as retry and validates options', async () => {
    const store = memoryEventStore();
    const h = commandHandler({ store, decider, retry: Policy.noop });
    expect((await h.handle('c', { type: 'add', n: 4 })).state.total).toBe(4);
    expect(() => commandHandler({ store, decider, retry: -1 })).toThrow(/retry/);
    expect(() => commandHandler({ store, decider, retry: 'x' as never })).toThrow(/retry/);
    expect(() => commandHandler({ store: {} as never, decider })).toThrow(/store/);
    expect(() => commandHandler({ store, decider: { ...decider, decide: undefined as never } })).toThrow(/decide/);
  });
});

describe('aggregate: time travel and snapshots', () => {
  it('folds up to a time', async () => {
    const clock = virtualClock({ start: 1000 });
    const store = memoryEventStore({ clock });
    await store.append('s', [{ type: 'Added', data: { n: 1 } }]);
    await clock.advance(100);
    await store.append('s', [{ type: 'Added', data: { n: 2 } }]);
    await clock.advance(100);
    await store.append('s', [{ type: 'Added', data: { n: 4 } }]);
    const at = (time: number | Date) => store.aggregate('s', { ...decider, until: { time } });
    expect((await at(1000)).state.total).toBe(1);
    expect((await at(new Date(1150))).state.total).toBe(3);
    expect(await at(5000)).toMatchObject({ state: { total: 7 }, version: 3 });
    await expect(store.aggregate('s', { ...decider, until: {} as never })).rejects.toThrow(/until/);
  });

  it('takes a snapshot every N events, uses it, and ignores one of another schema version', async () => {
    const store = memoryEventStore();
    const snaps = memorySnapshotStore();
    let evolved = 0;
    const counting = {
      ...decider,
      evolve: (s: { total: number; count: number }, e: CounterEvent) => {
        evolved++;
        return decider.evolve(s, e);
      },
    };
    await store.append(
      's',
      Array.from({ length: 10 }, (_, i) => ({ type: 'Added', data: { n: i + 1 } })),
    );
    const opts = { ...counting, snapshots: { store: snaps, every: 5 } };
    expect((await store.aggregate('s', opts)).state.total).toBe(55);
    expect(evolved).toBe(10);
    expect(await snaps.load('s')).toMatchObject({ version: 10, schemaVersion: 1 });
    evolved = 0;
    await store.append('s', [{ type: 'Added', data: { n: 100 } }]);
    expect(await store.aggregate('s', opts)).toMatchObject({ state: { total: 155, count: 11 }, version: 11 });
    expect(evolved).toBe(1);
    expect((await snaps.load('s'))?.version).toBe(10);
    evolved = 0;
    const v2 = { ...counting, snapshots: { store: snaps, every: 5, schemaVersion: 2 } };
    expect((await store.aggregate('s', v2)).state.total).toBe(155);
    expect(evolved).toBe(11);
    expect(await snaps.load('s')).toMatchObject({ version: 11, schemaVersion: 2 });
    evolved = 0;
    expect((await store.aggregate('s', { ...v2, until: { version: 3 } })).state.total).toBe(6);
    expect(evolved).toBe(3);
    const ser = {
      ...counting,
      snapshots: {
        store: snaps,
        every: 1,
        schemaVersion: 3,
        serialize: (s: { total: number }) => [s.total],
        deserialize: (d: unknown) => ({ total: (d as number[])[0] as number, count: -1 }),
      },
    };
    await store.aggregate('s', ser);
    expect((await snaps.load('s'))?.state).toEqual([155]);
    expect((await store.aggregate('s', ser)).state).toEqual({ total: 155, count: -1 });
    const h = commandHandler({ store, decider, snapshots: { store: snaps, every: 1, schemaVersion: 9 } });
    expect((await h.handle('s', { type: 'add', n: 1 })).state.total).toBe(156);
  });
});

describe('upcasting', () => {
  it('applies the chain per type on every read path', async () => {
    const db = new Database(':memory:');
    const v1 = sqliteEventStore(db);
    await v1.append('s', [
      { type: 'Priced', data: { cents: 150 } },
      { type: 'Other', data: 1 },
    ]);
    const upcasters = {
      Priced: [
        (d: unknown) => ({ amount: (d as { cents: number }).cents / 100 }),
        (d: unknown) => ({ ...(d as object), currency: 'EUR' }),
      ],
    };
    const v3 = sqliteEventStore(db, { upcasters });
    await v3.append('s', [{ type: 'Priced', data: { amount: 3, currency: 'USD' } }]);
    const read: unknown[] = [];
    for await (const e of v3.read('s')) read.push(e.data);
    expect(read).toEqual([{ amount: 1.5, currency: 'EUR' }, 1, { amount: 3, currency: 'USD' }]);
    const all: unknown[] = [];
    for await (const e of v3.readAll({ types: ['Priced'] })) all.push(e.data);
    expect(all).toEqual([
      { amount: 1.5, currency: 'EUR' },
      { amount: 3, currency: 'USD' },
    ]);
    const agg = await v3.aggregate('s', {
      initialState: 0,
      evolve: (s: number, e) => (e.type === 'Priced' ? s + (e.data as { amount: number }).amount : s),
    });
    expect(agg.state).toBe(4.5);
    const bad = sqliteEventStore(db, {
      upcasters: {
        Priced: [
          () => {
            throw new Error('x');
          },
        ],
      },
    });
    await expect(async () => {
      for await (const _ of bad.read('s'));
    }).rejects.toThrow(/upcaster/);
    db.close();
  });
});

type Ev = Event<'Added', { n: number }>;

describe('projections on memory', () => {
  it('inline projections run atomically with the append; a throwing one aborts it', async () => {
    const totals = new Map<string, number>();
    const p = projection<Ev>({
      name: 'totals',
      handles: {
        Added: (e) => {
          if (e.data.n < 0) throw new Error('bad');
          totals.set(e.stream, (totals.get(e.stream) ?? 0) + e.data.n);
        },
      },
    });
    const store = memoryEventStore({ inline: [p] });
    await store.append('a', [
      { type: 'Added', data: { n: 1 } },
      { type: 'Other', data: 0 },
    ]);
    await store.append('a', [{ type: 'Added', data: { n: 2 } }]);
    await expect(store.append('a', [{ type: 'Added', data: { n: -1 } }])).rejects.toThrow('bad');
    expect(totals.get('a')).toBe(3);
    expect(await store.version('a')).toBe(3);
  });

  it('validates definitions', () => {
    expect(() => projection({ name: '', handles: {} })).toThrow(/name/);
    expect(() => projection({ name: 'x', handles: { A: 1 as never } })).toThrow(/handles.A/);
    expect(() => startProjection({ store: {} as never, projection: projection({ name: 'x', handles: {} }) })).toThrow(
      /store/,
    );
  });

  it('async projection catches up, goes live, runs one instance, rebuilds', async () => {
    const store = memoryEventStore();
    let sum = 0;
    const p = projection<Ev>({
      name: 'sum',
      handles: {
        Added: (e) => {
          sum += e.data.n;
        },
      },
      truncate: () => {
        sum = 0;
      },
    });
    await store.append(
      'a',
      Array.from({ length: 25 }, (_, i) => ({ type: 'Added', data: { n: i + 1 } })),
    );
    const r1 = startProjection({ store, projection: p, batchSize: 10, pollInterval: 5 });
    const r2 = startProjection({ store, projection: p, batchSize: 10, pollInterval: 5 });
    await r1.caughtUp();
    expect(sum).toBe(325);
    expect(r1.active).toBe(true);
    expect(r2.active).toBe(false);
    await store.append('b', [{ type: 'Added', data: { n: 1000 } }]);
    await r1.caughtUp();
    expect(sum).toBe(1325);
    await expect(rebuild({ store, projection: p })).rejects.toSatisfy(isProjectionError);
    await r1.close();
    await r2.caughtUp();
    expect(r2.active).toBe(true);
    expect(sum).toBe(1325);
    await r2.close();
    sum = 12345;
    expect(await rebuild({ store, projection: p, batchSize: 7 })).toBe(26);
    expect(sum).toBe(1325);
  });

  it('stops with a ProjectionError when a batch keeps failing', async () => {
    const store = memoryEventStore();
    await store.append('a', [{ type: 'Added', data: { n: 1 } }]);
    const p = projection<Ev>({
      name: 'bad',
      handles: {
        Added: () => {
          throw new Error('nope');
        },
      },
    });
    const r = startProjection({ store, projection: p, policy: Policy.noop });
    const e = await r.done.catch((x: unknown) => x);
    expect(isProjectionError(e)).toBe(true);
    expect((e as Error).cause).toMatchObject({ message: 'nope' });
  });

  it('the default handler policy retries with backoff on the injected clock', async () => {
    const clock = virtualClock();
    const store = memoryEventStore({ clock });
    await store.append('a', [{ type: 'Added', data: { n: 1 } }]);
    let calls = 0;
    const seen: number[] = [];
    const sub = store.subscribe({
      handler: (e) => {
        if (++calls < 3) throw new Error('flaky');
        seen.push((e.data as { n: number }).n);
      },
    });
    await clock.advance(99);
    expect(calls).toBe(1);
    await clock.advance(1);
    expect(calls).toBe(2);
    await clock.advance(200);
    expect(seen).toEqual([1]);
    await sub.close();
  });
});
