import { isTimeoutError, Policy, TimeoutError } from '../../../src/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { timeout } from '../../../src/timeout/index.js';
import { describe, equal, ok, rejects, test } from '../harness.js';

const waitForAbort = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

describe('timeout', () => {
  test('cooperative: aborts the signal with a TimeoutError and waits for fn', async () => {
    const clock = virtualClock();
    let settled = false;
    const p = timeout({ after: 100, clock }).execute(async ({ signal }) => {
      try {
        await waitForAbort(signal);
      } finally {
        settled = true;
      }
    });
    await clock.advance(99);
    equal(settled, false);
    await clock.advance(1);
    const e = await rejects(p, isTimeoutError);
    ok(e instanceof TimeoutError);
    equal(settled, true);
  });

  test('cooperative: a late success after the limit is not returned', async () => {
    const clock = virtualClock();
    const p = timeout({ after: 100, clock }).execute(() => clock.sleep(200).then(() => 'late'));
    await clock.advance(200);
    await rejects(p, isTimeoutError);
  });

  test('aggressive: walks away at the limit while fn runs on', async () => {
    const clock = virtualClock();
    let aborted = false;
    const p = timeout({ after: 50, strategy: 'aggressive', clock }).execute(
      ({ signal }) =>
        new Promise(() => {
          signal.addEventListener('abort', () => {
            aborted = true;
          });
        }),
    );
    await clock.advance(50);
    await rejects(p, isTimeoutError);
    equal(aborted, true);
  });

  test('a call that settles in time passes its value and leaves no timer', async () => {
    const clock = virtualClock();
    const t = timeout({ after: 1000, clock });
    equal(await t.execute(() => 'fast'), 'fast');
    equal(await timeout({ after: 1000, strategy: 'aggressive', clock }).execute(() => 'fast'), 'fast');
    equal(clock.pending, 0);
  });

  test('sets ctx.deadline to the nearer of two timeouts', async () => {
    const clock = virtualClock({ start: 1000 });
    const d = await Policy.wrap(timeout({ after: 500, clock }), timeout({ after: 2000, clock })).execute(
      (ctx) => ctx.deadline,
    );
    equal(d, 1500);
  });

  test('a function limit is read per call', async () => {
    const clock = virtualClock();
    const t = timeout({ after: (ctx) => (ctx.key === 'slow' ? 1000 : 10), clock });
    const fast = t.execute(({ signal }) => waitForAbort(signal), { key: 'fast' });
    const slow = t.execute(({ signal }) => clock.sleep(500, signal).then(() => 'ok'), { key: 'slow' });
    await clock.advance(500);
    await rejects(fast, isTimeoutError);
    equal(await slow, 'ok');
  });

  test('emits a timeout event with the limit', async () => {
    const clock = virtualClock();
    const t = timeout({ after: 20, clock, name: 't' });
    let ms = 0;
    t.on('timeout', (e) => {
      ms = e.ms;
    });
    const p = t.execute(({ signal }) => waitForAbort(signal));
    await clock.advance(20);
    await rejects(p);
    equal(ms, 20);
  });
});
