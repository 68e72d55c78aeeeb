import {
  type IdempotencyEvent,
  idempotent,
  isIdempotencyKeyReusedError,
  memoryIdempotencyStore,
} from '../../../src/idempotency/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { deepEqual, describe, equal, ok, rejects, test } from '../harness.js';

describe('idempotency (memory store)', () => {
  test('concurrent calls with the same key run once and share the result', async () => {
    const clock = virtualClock();
    const once = idempotent({ store: memoryIdempotencyStore(), clock });
    const events: string[] = [];
    once.on('*', (e: IdempotencyEvent) => events.push(e.type === 'duplicate' ? `duplicate:${e.inProcess}` : e.type));
    let runs = 0;
    let release: (v: { id: number }) => void = () => {};
    const fn = () => {
      runs++;
      return new Promise<{ id: number }>((resolve) => {
        release = resolve;
      });
    };
    const calls = [1, 2, 3].map(() => once.execute(fn, { key: 'order-1', data: { amount: 5 } }));
    // The fingerprint is hashed with crypto.subtle (asynchronous, off the main thread in some
    // runtimes): wait until the leader runs and both duplicates have joined it.
    const joined = () => events.filter((e) => e.startsWith('duplicate')).length;
    for (let i = 0; i < 200 && (runs === 0 || joined() < 2); i++) await new Promise((r) => setTimeout(r, 0));
    equal(runs, 1);
    release({ id: 42 });
    const results = await Promise.all(calls);
    deepEqual(results, [{ id: 42 }, { id: 42 }, { id: 42 }]);
    equal(runs, 1, 'the duplicates did not run');
    // The duplicates may be seen before or after the leader's claim (hashing is asynchronous).
    deepEqual([...events].sort(), ['claim', 'complete', 'duplicate:true', 'duplicate:true']);
    equal(events.at(-1), 'complete');
    equal(clock.pending, 0, 'the lease renewal timer was cleared');
  });

  test('a later duplicate replays the stored result; another key runs', async () => {
    const store = memoryIdempotencyStore();
    const once = idempotent({ store, clock: virtualClock() });
    let runs = 0;
    const fn = () => ({ run: ++runs, at: 'first' });
    const first = await once.execute(fn, { key: 'k' });
    const again = await once.execute(fn, { key: 'k' });
    deepEqual(again, first);
    ok(again !== first, 'a replay is a JSON copy of the stored result');
    equal(runs, 1);
    deepEqual(await once.execute(fn, { key: 'other' }), { run: 2, at: 'first' });
    equal(store.size, 2);
    // A second policy on the same store sees the records (as another process would).
    const twin = idempotent({ store, clock: virtualClock() });
    deepEqual(await twin.execute(fn, { key: 'k' }), first);
    equal(runs, 2);
  });

  test('the same key with another payload is refused', async () => {
    const once = idempotent({ clock: virtualClock() });
    await once.execute(() => 'charged', { key: 'pay-1', data: { amount: 5 } });
    await rejects(
      once.execute(() => 'charged twice', { key: 'pay-1', data: { amount: 6 } }),
      isIdempotencyKeyReusedError,
    );
  });

  test('a failure releases the key (a retry runs again) unless cacheErrors keeps it', async () => {
    let runs = 0;
    const failing = () => {
      runs++;
      throw Object.assign(new Error('card declined'), { code: 'DECLINED' });
    };
    const plain = idempotent({ clock: virtualClock() });
    await rejects(plain.execute(failing, { key: 'a' }));
    await rejects(plain.execute(failing, { key: 'a' }));
    equal(runs, 2, 'not cached: the second call ran');

    const cached = idempotent({
      clock: virtualClock(),
      cacheErrors: (e) => (e as { code?: string }).code === 'DECLINED',
    });
    await rejects(cached.execute(failing, { key: 'b' }));
    const replayed = (await rejects(cached.execute(failing, { key: 'b' }))) as Error & {
      code?: string;
      replayed?: boolean;
    };
    equal(runs, 3, 'cached: the second call did not run');
    equal(replayed.message, 'card declined');
    equal(replayed.code, 'DECLINED');
    equal(replayed.replayed, true);
  });
});
