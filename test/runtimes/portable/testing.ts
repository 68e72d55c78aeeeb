import { virtualClock } from '../../../src/testing/index.js';
import { deepEqual, describe, equal, rejects, test } from '../harness.js';

describe('virtual clock', () => {
  test('timers fire in time order as time advances', async () => {
    const clock = virtualClock({ start: 100 });
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 20);
    clock.setTimeout(() => fired.push('a'), 10);
    clock.setTimeout(() => fired.push('c'), 30);
    await clock.advance(25);
    deepEqual(fired, ['a', 'b']);
    equal(clock.now(), 125);
    equal(clock.pending, 1);
    await clock.advance(5);
    deepEqual(fired, ['a', 'b', 'c']);
  });

  test('sleep resolves after the time, and an abort rejects it with the reason', async () => {
    const clock = virtualClock();
    let done = false;
    const s = clock.sleep(50).then(() => {
      done = true;
    });
    await clock.advance(49);
    equal(done, false);
    await clock.advance(1);
    await s;
    equal(done, true);
    const c = new AbortController();
    const reason = new Error('stop');
    const t = clock.sleep(1000, c.signal);
    c.abort(reason);
    equal(await rejects(t), reason);
    equal(clock.pending, 0);
  });

  test('clearTimeout cancels; runAll drains the rest', async () => {
    const clock = virtualClock();
    const fired: number[] = [];
    const h = clock.setTimeout(() => fired.push(1), 10);
    clock.setTimeout(() => fired.push(2), 1000);
    clock.clearTimeout(h);
    const advanced = await clock.runAll();
    deepEqual(fired, [2]);
    equal(advanced, 1000);
  });

  test('a promise chain started by a timer reaches its next timer before time moves on', async () => {
    const clock = virtualClock();
    const at: number[] = [];
    const chain = (async () => {
      await clock.sleep(10);
      at.push(clock.now());
      await clock.sleep(10);
      at.push(clock.now());
    })();
    await clock.advance(20);
    await chain;
    deepEqual(at, [10, 20]);
  });
});
