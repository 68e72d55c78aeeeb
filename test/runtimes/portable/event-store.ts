import { isConcurrencyError, memoryEventStore, type StoredEvent } from '../../../src/event-store/index.js';
import { deepEqual, describe, equal, ok, rejects, test, turns } from '../harness.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('event store (memory)', () => {
  test('appends with 1-based versions and global positions', async () => {
    const store = memoryEventStore();
    equal(await store.version('s'), 0);
    const r = await store.append('s', [
      { type: 'A', data: { n: 1 } },
      { type: 'B', data: { n: 2 } },
    ]);
    equal(r.version, 2);
    const events = await collect(store.read('s'));
    deepEqual(
      events.map((e) => [e.version, e.type, e.data]),
      [
        [1, 'A', { n: 1 }],
        [2, 'B', { n: 2 }],
      ],
    );
    ok((events[1]?.position ?? 0) > (events[0]?.position ?? 0));
  });

  test('enforces expected versions', async () => {
    const store = memoryEventStore();
    await store.append('s', [{ type: 'A', data: {} }], { expectedVersion: 'no-stream' });
    const e = await rejects(store.append('s', [{ type: 'B', data: {} }], { expectedVersion: 0 }), isConcurrencyError);
    equal((e as { actual: number }).actual, 1);
    await store.append('s', [{ type: 'B', data: {} }], { expectedVersion: 1 });
    equal(await store.version('s'), 2);
  });

  test('re-appending the same event ids is a no-op', async () => {
    const store = memoryEventStore();
    const events = [{ id: 'e-1', type: 'A', data: {} }];
    await store.append('s', events);
    await store.append('s', events);
    equal(await store.version('s'), 1);
  });

  test('reads all streams in global order', async () => {
    const store = memoryEventStore();
    await store.append('a', [{ type: 'A1', data: {} }]);
    await store.append('b', [{ type: 'B1', data: {} }]);
    await store.append('a', [{ type: 'A2', data: {} }]);
    const all = await collect(store.readAll());
    deepEqual(
      all.map((e) => e.type),
      ['A1', 'B1', 'A2'],
    );
  });

  test('a subscription catches up, then goes live', async () => {
    const store = memoryEventStore();
    await store.append('a', [{ type: 'E', data: 1 }]);
    const seen: unknown[] = [];
    const sub = store.subscribe({ handler: (e: StoredEvent) => void seen.push(e.data) });
    for (let i = 0; i < 50 && seen.length < 1; i++) await new Promise((r) => setTimeout(r, 1));
    await store.append('b', [{ type: 'E', data: 2 }]);
    for (let i = 0; i < 50 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 1));
    await sub.close();
    await sub.done;
    deepEqual(seen, [1, 2]);
    await turns();
  });
});
