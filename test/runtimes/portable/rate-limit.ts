import { isRateLimitedError, type RateLimitedError, rateLimit } from '../../../src/rate-limit/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { deepEqual, describe, equal, ok, rejects, test } from '../harness.js';

const limited = (e: unknown): e is RateLimitedError => isRateLimitedError(e);

describe('rate limit', () => {
  test('a token bucket admits its burst, then rejects with RateLimitedError and retryAfter', async () => {
    const clock = virtualClock();
    const limiter = rateLimit({ limit: 2, per: 1000, clock });
    equal(await limiter.execute(() => 'a'), 'a');
    equal(await limiter.execute(() => 'b'), 'b');
    let ran = false;
    const e = (await rejects(
      limiter.execute(() => {
        ran = true;
      }),
      limited,
    )) as RateLimitedError;
    equal(ran, false, 'a rejected call does not run');
    equal(e.code, 'ERR_RATE_LIMITED');
    equal(e.reason, 'limit');
    equal(e.retryAfter, 500, 'one token refills in per / limit ms');
    await clock.advance(499);
    await rejects(
      limiter.execute(() => 'early'),
      limited,
    );
    await clock.advance(1);
    equal(await limiter.execute(() => 'refilled'), 'refilled');
  });

  test('wait mode admits waiters in arrival order as the bucket refills (no overtaking)', async () => {
    const clock = virtualClock();
    const limiter = rateLimit({
      limit: 1,
      per: 100,
      burst: 2,
      mode: 'wait',
      cost: (ctx) => Number(ctx.data.cost),
      clock,
    });
    const ran: string[] = [];
    const at: number[] = [];
    const call = (name: string, cost: number) =>
      limiter.execute(
        () => {
          ran.push(name);
          at.push(clock.now());
          return name;
        },
        { data: { cost } },
      );
    const a = call('a', 2);
    const b = call('b', 2);
    const c = call('c', 1); // would fit at t=100, but waits behind b
    await clock.advance(0);
    deepEqual(ran, ['a']);
    await clock.advance(199);
    deepEqual(ran, ['a'], 'b needs 2 tokens: 200 ms');
    await clock.advance(1);
    deepEqual(ran, ['a', 'b']);
    await clock.advance(100);
    deepEqual(await Promise.all([a, b, c]), ['a', 'b', 'c']);
    deepEqual(ran, ['a', 'b', 'c']);
    deepEqual(at, [0, 200, 300]);
  });

  test('keys partition: each key has its own bucket', async () => {
    const clock = virtualClock();
    const limiter = rateLimit({ limit: 1, per: 1000, key: (ctx) => ctx.key ?? '', clock });
    equal(await limiter.execute(() => 'a1', { key: 'a' }), 'a1');
    const e = (await rejects(
      limiter.execute(() => 'a2', { key: 'a' }),
      limited,
    )) as RateLimitedError;
    equal(e.key, 'a');
    equal(await limiter.execute(() => 'b1', { key: 'b' }), 'b1');
    equal((await limiter.snapshot({ key: 'a' })).remaining, 0);
    equal((await limiter.snapshot({ key: 'c' })).remaining, 1);
  });

  test('a sliding window never admits more than limit within per ms', async () => {
    const clock = virtualClock();
    const limiter = rateLimit({ algorithm: 'sliding-window', limit: 2, per: 1000, clock });
    await limiter.execute(() => 1);
    await clock.advance(500);
    await limiter.execute(() => 2);
    await clock.advance(400);
    const e = (await rejects(
      limiter.execute(() => 3),
      limited,
    )) as RateLimitedError;
    // The first admission (t=0) leaves the window a little after t=1000 (slot granularity).
    ok(e.retryAfter >= 100 && e.retryAfter <= 130, `retryAfter ${e.retryAfter}`);
    await clock.advance(e.retryAfter - 1);
    equal((await limiter.check()).allowed, false, 'not a moment before retryAfter');
    await clock.advance(1);
    equal(await limiter.execute(() => 3), 3);
    await rejects(
      limiter.execute(() => 4),
      limited,
    );
  });
});
