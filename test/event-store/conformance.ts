// One conformance suite for every event store implementation.
import { describe, expect, it } from 'vitest';
import {
  type EventStore,
  isConcurrencyError,
  isDuplicateEventError,
  isSubscriptionError,
  type StoredEvent,
} from '../../src/event-store/index.js';

export interface Harness {
  readonly store: EventStore;
  /** A second store on the same data (another "process"), when the implementation has one. */
  readonly other?: EventStore | undefined;
  close(): Promise<void>;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const ev = (type: string, data: unknown = {}, id?: string) => (id === undefined ? { type, data } : { id, type, data });

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function conformance(name: string, make: () => Promise<Harness>): void {
  describe(`${name} conformance`, () => {
    const withStore = (fn: (h: Harness) => Promise<void>) => async () => {
      const h = await make();
      try {
        await fn(h);
      } finally {
        await h.close();
      }
    };

    it(
      'appends, numbers versions from 1 and returns positions',
      withStore(async ({ store }) => {
        expect(await store.version('s')).toBe(0);
        const r = await store.append('s', [ev('A', { n: 1 }), ev('B', { n: 2 })]);
        expect(r.version).toBe(2);
        expect(r.nextExpectedVersion).toBe(2);
        expect(r.positions).toHaveLength(2);
        expect(r.positions[1]).toBeGreaterThan(r.positions[0] as number);
        const events = await collect(store.read('s'));
        expect(events.map((e) => [e.version, e.type, e.data, e.stream])).toEqual([
          [1, 'A', { n: 1 }, 's'],
          [2, 'B', { n: 2 }, 's'],
        ]);
        expect(events.map((e) => e.position)).toEqual(r.positions);
        expect(typeof events[0]?.id).toBe('string');
        expect(events[0]?.metadata).toEqual({});
        expect(typeof events[0]?.timestamp).toBe('number');
        expect(await store.version('s')).toBe(2);
      }),
    );

    it(
      'enforces numeric expected versions and reports the actual one',
      withStore(async ({ store }) => {
        await store.append('s', [ev('A')], { expectedVersion: 0 });
        await store.append('s', [ev('B')], { expectedVersion: 1 });
        const e = await store.append('s', [ev('C')], { expectedVersion: 1 }).catch((x: unknown) => x);
        expect(isConcurrencyError(e)).toBe(true);
        expect(e).toMatchObject({ code: 'ERR_CONCURRENCY', expected: 1, actual: 2, stream: 's' });
        const e0 = await store.append('new', [ev('C')], { expectedVersion: 3 }).catch((x: unknown) => x);
        expect(e0).toMatchObject({ expected: 3, actual: 0 });
        expect(await store.version('new')).toBe(0);
        expect(await store.version('s')).toBe(2);
      }),
    );

    it(
      "enforces 'no-stream' and 'exists'",
      withStore(async ({ store }) => {
        const e1 = await store.append('s', [ev('A')], { expectedVersion: 'exists' }).catch((x: unknown) => x);
        expect(e1).toMatchObject({ code: 'ERR_CONCURRENCY', expected: 'exists', actual: 0 });
        await store.append('s', [ev('A')], { expectedVersion: 'no-stream' });
        const e2 = await store.append('s', [ev('B')], { expectedVersion: 'no-stream' }).catch((x: unknown) => x);
        expect(e2).toMatchObject({ code: 'ERR_CONCURRENCY', expected: 'no-stream', actual: 1 });
        await store.append('s', [ev('B')], { expectedVersion: 'exists' });
        await store.append('s', [ev('C')], { expectedVersion: 'any' });
        await store.append('s', [ev('D')]);
        expect(await store.version('s')).toBe(4);
      }),
    );

    it(
      'treats a retried append with the same ids as a no-op returning the original result',
      withStore(async ({ store }) => {
        const batch = [ev('A', { a: 1, b: [1, 2] }, 'id-1'), ev('B', { x: 'y' }, 'id-2')];
        const first = await store.append('s', batch, { expectedVersion: 'no-stream' });
        const again = await store.append('s', [ev('A', { b: [1, 2], a: 1 }, 'id-1'), ev('B', { x: 'y' }, 'id-2')], {
          expectedVersion: 'no-stream',
        });
        expect(again).toEqual(first);
        expect(await store.version('s')).toBe(2);
        const diff = await store.append('s', [ev('A', { a: 2 }, 'id-1')]).catch((x: unknown) => x);
        expect(isDuplicateEventError(diff)).toBe(true);
        expect(diff).toMatchObject({ code: 'ERR_DUPLICATE_EVENT', eventId: 'id-1' });
        const other = await store.append('t', [ev('A', { a: 1, b: [1, 2] }, 'id-1')]).catch((x: unknown) => x);
        expect(isDuplicateEventError(other)).toBe(true);
        const partial = await store
          .append('s', [ev('B', { x: 'y' }, 'id-2'), ev('C', {}, 'id-3')])
          .catch((x: unknown) => x);
        expect(isDuplicateEventError(partial)).toBe(true);
        expect(await store.version('s')).toBe(2);
        expect(await store.version('t')).toBe(0);
      }),
    );

    it(
      'reads ranges forward and backward with limits',
      withStore(async ({ store }) => {
        await store.append(
          's',
          Array.from({ length: 10 }, (_, i) => ev('E', { i: i + 1 })),
        );
        const versions = async (o: Parameters<EventStore['read']>[1]) =>
          (await collect(store.read('s', o))).map((e) => e.version);
        expect(await versions({ from: 3, to: 5 })).toEqual([3, 4, 5]);
        expect(await versions({ from: 8 })).toEqual([8, 9, 10]);
        expect(await versions({ limit: 2 })).toEqual([1, 2]);
        expect(await versions({ direction: 'backward', limit: 3 })).toEqual([10, 9, 8]);
        expect(await versions({ direction: 'backward', from: 4 })).toEqual([4, 3, 2, 1]);
        expect(await versions({ direction: 'backward', from: 6, to: 5 })).toEqual([6, 5]);
        expect(await versions({ from: 11 })).toEqual([]);
        expect(await versions({ limit: 0 })).toEqual([]);
        expect((await collect(store.read('nope'))).length).toBe(0);
        expect(() => store.read('s', { direction: 'sideways' as never })).toThrow(/direction/);
      }),
    );

    it(
      'reads all streams in global order, after a position, by type',
      withStore(async ({ store }) => {
        await store.append('a', [ev('X', 1)]);
        await store.append('b', [ev('Y', 2), ev('X', 3)]);
        await store.append('a', [ev('Y', 4)]);
        const all = await collect(store.readAll());
        expect(all.map((e) => e.data)).toEqual([1, 2, 3, 4]);
        const after = await collect(store.readAll({ after: all[1]?.position }));
        expect(after.map((e) => e.data)).toEqual([3, 4]);
        expect((await collect(store.readAll({ types: ['X'] }))).map((e) => e.data)).toEqual([1, 3]);
        expect((await collect(store.readAll({ limit: 3 }))).map((e) => e.data)).toEqual([1, 2, 3]);
        expect((await collect(store.readAll({ after: all[3]?.position }))).length).toBe(0);
      }),
    );

    it(
      'lists streams by prefix',
      withStore(async ({ store }) => {
        await store.append('saga-2', [ev('A')]);
        await store.append('saga-1', [ev('A'), ev('B')]);
        await store.append('order-1', [ev('A')]);
        expect(await collect(store.streams({ prefix: 'saga-' }))).toEqual([
          { stream: 'saga-1', version: 2 },
          { stream: 'saga-2', version: 1 },
        ]);
        expect((await collect(store.streams())).length).toBe(3);
      }),
    );

    it(
      'stores quotes, unicode and 10 kB payloads as they are',
      withStore(async ({ store }) => {
        const stream = `it's "quoted" \\ 🚀 日本語 ; DROP TABLE x; --`;
        const big = `${'x'.repeat(10_000)}é🙂`;
        const data = { s: 'O\'Reilly "q" \\ \n\t', u: '🙂 ünïcödé 中文', big, nested: { arr: [1, 'two', null, true] } };
        await store.append(stream, [{ type: 'Ty\'pe"🙂', data, metadata: { 'k"\'': 'v🙂' } }]);
        const [e] = await collect(store.read(stream));
        expect(e?.stream).toBe(stream);
        expect(e?.type).toBe('Ty\'pe"🙂');
        expect(e?.data).toEqual(data);
        expect(e?.metadata).toEqual({ 'k"\'': 'v🙂' });
        expect(await collect(store.streams({ prefix: "it's" }))).toEqual([{ stream, version: 1 }]);
      }),
    );

    it(
      'rejects bad input with clear errors',
      withStore(async ({ store }) => {
        await expect(store.append('', [ev('A')])).rejects.toThrow(/stream/);
        await expect(store.append('s', [{ type: '', data: 1 }])).rejects.toThrow(/type/);
        await expect(store.append('s', [ev('A')], { expectedVersion: -1 })).rejects.toThrow(/expectedVersion/);
        await expect(store.append('s', [ev('A')], { expectedVersion: 'nope' as never })).rejects.toThrow(
          /expectedVersion/,
        );
        await expect(store.append('s', [{ type: 'A', data: undefined }])).rejects.toThrow(/data/);
        await expect(store.append('s', [ev('A', 1, 'x'), ev('B', 1, 'x')])).rejects.toThrow(/unique/);
        expect(await store.version('s')).toBe(0);
      }),
    );

    it(
      'commits a transaction atomically and rolls it back on error',
      withStore(async ({ store }) => {
        await store.transaction(async (tx) => {
          await tx.append('a', [ev('A')], { expectedVersion: 'no-stream' });
          await tx.append('b', [ev('B')]);
          expect(await tx.version('a')).toBe(1);
          expect((await collect(tx.read('a'))).length).toBe(1);
        });
        expect(await store.version('a')).toBe(1);
        await expect(
          store.transaction(async (tx) => {
            await tx.append('a', [ev('A2')]);
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        expect(await store.version('a')).toBe(1);
        await expect(
          store.transaction(async (tx) => {
            await tx.append('c', [ev('C')]);
            await tx.append('a', [ev('A3')], { expectedVersion: 0 });
          }),
        ).rejects.toSatisfy(isConcurrencyError);
        expect(await store.version('c')).toBe(0);
      }),
    );

    it(
      'aggregates a stream, with time travel by version',
      withStore(async ({ store }) => {
        await store.append('s', [ev('Add', 1), ev('Add', 2), ev('Add', 3)]);
        const opts = { initialState: 0, evolve: (s: number, e: StoredEvent) => s + (e.data as number) };
        expect(await store.aggregate('s', opts)).toEqual({ state: 6, version: 3 });
        expect(await store.aggregate('s', { ...opts, until: { version: 2 } })).toEqual({ state: 3, version: 2 });
        expect(await store.aggregate('s', { ...opts, until: { time: 0 } })).toEqual({ state: 0, version: 0 });
        expect(await store.aggregate('none', opts)).toEqual({ state: 0, version: 0 });
      }),
    );

    it(
      'subscription catches up from history, then goes live, in order',
      withStore(async ({ store, other }) => {
        await store.append('a', [ev('E', 1), ev('E', 2)]);
        await store.append('b', [ev('E', 3)]);
        const seen: unknown[] = [];
        const sub = store.subscribe({ handler: (e) => void seen.push(e.data), batchSize: 2, pollInterval: 10 });
        await until(() => seen.length === 3);
        await store.append('a', [ev('E', 4)]);
        await until(() => seen.length === 4);
        if (other !== undefined) {
          await other.append('c', [ev('E', 5)]);
          await until(() => seen.length === 5);
        }
        await sub.close();
        await sub.done;
        expect(seen).toEqual(other === undefined ? [1, 2, 3, 4] : [1, 2, 3, 4, 5]);
        expect(sub.position).toBeGreaterThan(0);
      }),
    );

    it(
      'subscription misses nothing appended while its handler runs',
      withStore(async ({ store }) => {
        await store.append('a', [ev('E', 1)]);
        const seen: unknown[] = [];
        let release: () => void = () => undefined;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        const sub = store.subscribe({
          handler: async (e) => {
            if (e.data === 1) await gate;
            seen.push(e.data);
          },
          pollInterval: 60_000,
        });
        await new Promise((r) => setTimeout(r, 20));
        await store.append('a', [ev('E', 2)]);
        release();
        await until(() => seen.length === 2);
        await sub.close();
        expect(seen).toEqual([1, 2]);
      }),
    );

    it(
      "subscription from 'end' and from a position skip history",
      withStore(async ({ store }) => {
        const r = await store.append('a', [ev('E', 1), ev('E', 2)]);
        const endSeen: unknown[] = [];
        const posSeen: unknown[] = [];
        const ac = new AbortController();
        const s1 = store.subscribe({
          from: 'end',
          handler: (e) => void endSeen.push(e.data),
          signal: ac.signal,
          pollInterval: 10,
        });
        const s2 = store.subscribe({
          from: r.positions[0],
          handler: (e) => void posSeen.push(e.data),
          signal: ac.signal,
          pollInterval: 10,
        });
        await until(() => posSeen.length === 1);
        await new Promise((res) => setTimeout(res, 30));
        await store.append('a', [ev('E', 3)]);
        await until(() => endSeen.length === 1 && posSeen.length === 2);
        ac.abort();
        await s1.done;
        await s2.done;
        expect(endSeen).toEqual([3]);
        expect(posSeen).toEqual([2, 3]);
      }),
    );

    it(
      'subscription retries a failing handler under the policy, then reports the event',
      withStore(async ({ store }) => {
        await store.append('a', [ev('E', 1), ev('Bad', 2), ev('E', 3)]);
        const seen: unknown[] = [];
        let calls = 0;
        const noRetry = { execute: (fn: () => unknown) => Promise.resolve().then(fn) } as never;
        const sub = store.subscribe({
          policy: noRetry,
          handler: (e) => {
            if (e.type === 'Bad') {
              calls++;
              throw new Error('bad');
            }
            seen.push(e.data);
          },
        });
        const err = await sub.done.catch((x: unknown) => x);
        expect(isSubscriptionError(err)).toBe(true);
        expect(err).toMatchObject({ code: 'ERR_SUBSCRIPTION' });
        expect((err as Error).cause).toMatchObject({ message: 'bad' });
        expect(seen).toEqual([1]);
        expect(calls).toBe(1);
        const skipped: unknown[] = [];
        const sub2 = store.subscribe({
          policy: noRetry,
          handler: (e) => {
            if (e.type === 'Bad') throw new Error('bad');
            skipped.push(e.data);
          },
          onError: (_e, event) => {
            skipped.push(`skip:${String(event.data)}`);
            return 'skip';
          },
          pollInterval: 10,
        });
        await until(() => skipped.length === 3);
        await sub2.close();
        expect(skipped).toEqual([1, 'skip:2', 3]);
      }),
    );
  });
}
