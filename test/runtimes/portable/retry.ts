import { isTimeoutError, Policy } from '../../../src/index.js';
import { constant, exponential, retry } from '../../../src/retry/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { timeout } from '../../../src/timeout/index.js';
import { deepEqual, describe, equal, ok, rejects, test, turns } from '../harness.js';

const failing = (times: number, value = 'ok') => {
  let n = 0;
  return () => {
    if (n++ < times) return Promise.reject(new Error(`fail ${n}`));
    return Promise.resolve(value);
  };
};

describe('retry', () => {
  test('retries until success and counts attempts', async () => {
    const attempts: number[] = [];
    const f = failing(2);
    const v = await retry({ maxRetries: 3, backoff: constant(0) }).execute((ctx) => {
      attempts.push(ctx.attempt);
      return f();
    });
    equal(v, 'ok');
    deepEqual(attempts, [1, 2, 3]);
  });

  test('rethrows the last error as is after maxRetries', async () => {
    const e = (await rejects(retry({ maxRetries: 2, backoff: constant(0) }).execute(failing(5)))) as Error;
    equal(e.message, 'fail 3');
  });

  test('waits the backoff on the injected clock', async () => {
    const clock = virtualClock();
    let calls = 0;
    const p = retry({ maxRetries: 2, backoff: constant(1000), clock }).execute(() => {
      calls++;
      return calls < 3 ? Promise.reject(new Error('x')) : 'done';
    });
    await clock.advance(999);
    equal(calls, 1);
    await clock.advance(1);
    equal(calls, 2);
    await clock.advance(1000);
    equal(await p, 'done');
    equal(calls, 3);
  });

  test('exponential backoff without jitter doubles up to the cap', async () => {
    const b = exponential({ initial: 100, max: 350, jitter: 'none' });
    const delays: number[] = [];
    const clock = virtualClock();
    const policy = retry({ maxRetries: 3, backoff: b, clock });
    policy.on('retry', (e) => delays.push(e.delay));
    const p = policy.execute(failing(3));
    await clock.advance(10_000);
    equal(await p, 'ok');
    deepEqual(delays, [100, 200, 350]);
  });

  test('handle decides what is retried', async () => {
    let calls = 0;
    const fatal = new Error('fatal');
    const e = await rejects(
      retry({ maxRetries: 5, backoff: constant(0), handle: (x) => x !== fatal }).execute(() => {
        calls++;
        return Promise.reject(fatal);
      }),
    );
    equal(e, fatal);
    equal(calls, 1);
  });

  test('honours a Retry-After hint over a shorter backoff', async () => {
    const clock = virtualClock();
    let calls = 0;
    const limited = Object.assign(new Error('429'), { status: 429, headers: { 'retry-after-ms': '500' } });
    const p = retry({ maxRetries: 1, backoff: constant(10), clock }).execute(() => {
      calls++;
      return calls === 1 ? Promise.reject(limited) : 'ok';
    });
    await clock.advance(100);
    equal(calls, 1);
    await clock.advance(400);
    equal(await p, 'ok');
    equal(calls, 2);
  });

  test('an abort during the backoff sleep rejects at once with the caller reason, no retry', async () => {
    const clock = virtualClock();
    const c = new AbortController();
    const reason = new Error('cancel');
    let calls = 0;
    const p = retry({ maxRetries: 3, backoff: constant(60_000), clock }).execute(
      () => {
        calls++;
        return Promise.reject(new Error('x'));
      },
      { signal: c.signal },
    );
    await clock.advance(1);
    c.abort(reason);
    equal(await rejects(p), reason);
    equal(calls, 1);
    equal(clock.pending, 0);
  });

  test('never starts a sleep past the deadline: gives up with the last error', async () => {
    const clock = virtualClock();
    let calls = 0;
    const p = Policy.wrap(
      timeout({ after: 1000, clock }),
      retry({ maxRetries: 5, backoff: constant(5000), clock }),
    ).execute(() => {
      calls++;
      return Promise.reject(new Error(`attempt ${calls}`));
    });
    const e = (await rejects(p)) as Error;
    equal(e.message, 'attempt 1');
    equal(isTimeoutError(e), false);
  });

  test('rejects bad options with an error that names the option', () => {
    let error: unknown;
    try {
      retry({ maxRetries: -1 });
    } catch (e) {
      error = e;
    }
    ok(error instanceof RangeError && error.message.includes('maxRetries'));
  });

  test('is safe under many concurrent calls', async () => {
    const p = retry({ maxRetries: 1, backoff: constant(0) });
    const all = await Promise.all(Array.from({ length: 200 }, (_, i) => p.execute(() => i)));
    equal(all[199], 199);
    await turns();
  });
});
