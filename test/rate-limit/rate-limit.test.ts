import { describe, expect, it } from 'vitest';
import { Policy } from '../../src/index.js';
import {
  isRateLimitedError,
  isRateLimitStoreError,
  type RateLimitEvent,
  RateLimitedError,
  type RateLimitLease,
  type RateLimitStore,
  RateLimitStoreError,
  rateLimit,
  type StoreDecision,
} from '../../src/rate-limit/index.js';
import { constant, retry } from '../../src/retry/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { deferred } from '../support/deferred.js';

const limited = (e: unknown) => (isRateLimitedError(e) ? { reason: e.reason, retryAfter: e.retryAfter } : e);

async function outcome(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => ({ ok: v }),
    (e: unknown) => limited(e),
  );
}

describe('rateLimit: reject mode', () => {
  it('admits `burst` at once, then `limit` per `per`, rejecting with RateLimitedError and retryAfter', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 2, per: 1000, clock });
    expect(await rl.execute(() => 'a')).toBe('a');
    expect(await rl.execute(() => 'b')).toBe('b');
    const e = await rl.execute(() => 'c').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RateLimitedError);
    expect(isRateLimitedError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'ERR_RATE_LIMITED', reason: 'limit', retryAfter: 500, key: '', cost: 1 });
    await clock.advance(499);
    expect(await outcome(rl.execute(() => 1))).toEqual({ reason: 'limit', retryAfter: 1 });
    await clock.advance(1);
    expect(await rl.execute(() => 'd')).toBe('d');
  });

  it('does not run the function of a rejected call', async () => {
    const rl = rateLimit({ limit: 1, per: 1000, clock: virtualClock() });
    let runs = 0;
    await rl.execute(() => runs++);
    await rl.execute(() => runs++).catch(() => undefined);
    expect(runs).toBe(1);
  });

  it('a burst larger than the limit: capacity `burst`, refill `limit` per `per`', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 1, per: 100, burst: 5, clock });
    for (let i = 0; i < 5; i++) await rl.execute(() => i);
    await expect(rl.execute(() => 0)).rejects.toMatchObject({ retryAfter: 100 });
    await clock.advance(1000); // refills to the burst, not beyond
    for (let i = 0; i < 5; i++) await rl.execute(() => i);
    await expect(rl.execute(() => 0)).rejects.toThrow(RateLimitedError);
  });

  it('sliding window: `limit` per `per`, no boundary burst', async () => {
    const clock = virtualClock({ start: 10_000 });
    const rl = rateLimit({ limit: 3, per: 1000, algorithm: 'sliding-window', clock });
    for (let i = 0; i < 3; i++) await rl.execute(() => i);
    const e = (await rl.execute(() => 0).catch((x: unknown) => x)) as RateLimitedError;
    expect(e.retryAfter).toBe(1020); // one slot (per / 50) of conservatism
    await clock.advance(1019);
    await expect(rl.execute(() => 0)).rejects.toThrow(RateLimitedError);
    await clock.advance(1);
    for (let i = 0; i < 3; i++) await rl.execute(() => i);
  });

  it('`retry` honours retryAfter: the next attempt runs exactly when the bucket has the token', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 1, per: 1000, clock });
    const policy = Policy.wrap(retry({ maxRetries: 2, backoff: constant(10), clock }), rl);
    const times: number[] = [];
    await policy.execute(() => times.push(clock.now()));
    const p = policy.execute(() => times.push(clock.now()));
    await clock.advance(999);
    expect(times).toEqual([0]);
    await clock.advance(1);
    await p;
    expect(times).toEqual([0, 1000]);
  });

  it('a call whose cost exceeds the capacity is rejected at once with reason capacity', async () => {
    const rl = rateLimit({ limit: 10, per: 1000, cost: 11, clock: virtualClock() });
    const e = (await rl.execute(() => 0).catch((x: unknown) => x)) as RateLimitedError;
    expect(e).toMatchObject({ reason: 'capacity', retryAfter: Number.POSITIVE_INFINITY, cost: 11 });
    expect(e.message).toMatch(/can never be admitted/);
  });
});

describe('rateLimit: costs and true-up', () => {
  it('cost(ctx) weighs a call; actualCost refunds the difference, never above capacity', async () => {
    const clock = virtualClock();
    const rl = rateLimit({
      limit: 100,
      per: 1000,
      cost: (ctx) => ctx.data.estimate as number,
      actualCost: (r: { used: number }) => r.used,
      clock,
    });
    await rl.execute(() => ({ used: 10 }), { data: { estimate: 60 } });
    expect((await rl.snapshot()).remaining).toBe(90); // 60 taken, 50 refunded
    await rl.execute(() => ({ used: 0 }), { data: { estimate: 5 } });
    expect((await rl.snapshot()).remaining).toBe(90);
    await clock.advance(1000);
    await rl.execute(() => ({ used: 0 }), { data: { estimate: 50 } });
    expect((await rl.snapshot()).remaining).toBe(100); // the refund stops at the capacity
  });

  it('a charge beyond the estimate leaves a debt the next calls wait for', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 100, per: 1000, cost: 50, actualCost: () => 150, clock });
    await rl.execute(() => 'x');
    expect((await rl.snapshot()).remaining).toBe(-50);
    const e = (await rl.execute(() => 0).catch((x: unknown) => x)) as RateLimitedError;
    expect(e.retryAfter).toBe(1000); // 100 tokens to cover the debt and the next 50
  });

  it('a failed call keeps its estimate; actualCost returning undefined or throwing keeps it too', async () => {
    const rl = rateLimit({
      limit: 100,
      per: 1000,
      cost: 30,
      actualCost: (r: number | undefined) => {
        if (r === -1) throw new Error('bad reader');
        return r;
      },
      clock: virtualClock(),
    });
    await rl.execute(() => Promise.reject(new Error('boom'))).catch(() => undefined);
    expect((await rl.snapshot()).remaining).toBe(70);
    await rl.execute(() => undefined);
    expect((await rl.snapshot()).remaining).toBe(40);
    expect(await rl.execute(() => -1)).toBe(-1);
    expect((await rl.snapshot()).remaining).toBe(10);
  });

  it('cost(ctx) returning a bad value rejects the call with a TypeError naming `cost`', async () => {
    const rl = rateLimit({ limit: 10, per: 1000, cost: () => Number.NaN, clock: virtualClock() });
    await expect(rl.execute(() => 0)).rejects.toThrow(/`cost`/);
    const keyed = rateLimit({ limit: 10, per: 1000, key: () => 42 as unknown as string, clock: virtualClock() });
    await expect(keyed.execute(() => 0)).rejects.toThrow(/`key`/);
  });
});

describe('rateLimit: keys', () => {
  it('each key has its own bucket', async () => {
    const rl = rateLimit({ limit: 1, per: 1000, key: (ctx) => ctx.data.user as string, clock: virtualClock() });
    await rl.execute(() => 0, { data: { user: 'a' } });
    await rl.execute(() => 0, { data: { user: 'b' } });
    await expect(rl.execute(() => 0, { data: { user: 'a' } })).rejects.toMatchObject({ key: 'a' });
  });

  it('maxKeys bounds the keys kept: the least recently used key is forgotten (and starts full)', async () => {
    const rl = rateLimit({ limit: 1, per: 1000, key: (ctx) => ctx.key ?? '', maxKeys: 2, clock: virtualClock() });
    await rl.execute(() => 0, { key: 'a' });
    await rl.execute(() => 0, { key: 'b' });
    await rl.execute(() => 0, { key: 'a' }).catch(() => undefined); // touches a: b is now the oldest
    await rl.execute(() => 0, { key: 'c' }); // evicts b
    await rl.execute(() => 0, { key: 'b' }); // b starts full again
    await expect(rl.execute(() => 0, { key: 'c' })).rejects.toThrow(RateLimitedError);
  });
});

describe('rateLimit: shadow mode', () => {
  it('admits every call, emits rate-limited with shadow: true, and does not charge the over-limit calls', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 2, per: 1000, shadow: true, clock });
    const events: RateLimitEvent[] = [];
    rl.on('rate-limited', (e) => events.push(e));
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await rl.execute(() => i));
    expect(results).toEqual([0, 1, 2, 3, 4]);
    expect(events).toHaveLength(3);
    expect(events[0]).toMatchObject({ type: 'rate-limited', kind: 'rate-limit', shadow: true, retryAfter: 500 });
    await clock.advance(500);
    await rl.execute(() => 0);
    expect(events).toHaveLength(3); // like the enforcing limiter: the refilled token admits this one
  });

  it('in wait mode it never waits', async () => {
    const rl = rateLimit({ limit: 1, per: 1000, shadow: true, mode: 'wait', clock: virtualClock() });
    await rl.execute(() => 0);
    expect(await rl.execute(() => 'ran at once')).toBe('ran at once');
  });
});

describe('rateLimit: wait mode', () => {
  it('queues FIFO until tokens are there', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 2, per: 1000, mode: 'wait', clock });
    const ran: [number, number][] = [];
    const ps = [0, 1, 2, 3, 4].map((i) => rl.execute(() => ran.push([i, clock.now()])));
    await clock.advance(2000);
    await Promise.all(ps);
    expect(ran).toEqual([
      [0, 0],
      [1, 0],
      [2, 500],
      [3, 1000],
      [4, 1500],
    ]);
  });

  it('a small call behind a big waiter waits its turn (no starvation of the big one)', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 10, per: 1000, mode: 'wait', cost: (ctx) => ctx.data.cost as number, clock });
    const ran: string[] = [];
    await rl.execute(() => ran.push('first'), { data: { cost: 10 } });
    const big = rl.execute(() => ran.push('big'), { data: { cost: 8 } });
    const small = rl.execute(() => ran.push('small'), { data: { cost: 1 } });
    await clock.advance(100); // a token is there: enough for `small`, not for `big`
    expect(ran).toEqual(['first']);
    await clock.advance(700);
    await big;
    expect(ran).toEqual(['first', 'big']);
    await clock.advance(100);
    await small;
    expect(ran).toEqual(['first', 'big', 'small']);
  });

  it('rejects at once when the wait would end past maxWait, with the expected wait as retryAfter', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 1, per: 1000, mode: 'wait', maxWait: 1500, clock });
    await rl.execute(() => 0);
    const a = rl.execute(() => 'a'); // waits 1000
    const e = await outcome(rl.execute(() => 'b')); // would wait 2000
    expect(e).toEqual({ reason: 'max-wait', retryAfter: 2000 });
    await clock.advance(1000);
    expect(await a).toBe('a');
  });

  it("rejects at once when the wait would end past the call's deadline (an enclosing timeout)", async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 1, per: 1000, mode: 'wait', clock });
    const policy = Policy.wrap(timeout({ after: 800, clock }), rl);
    await policy.execute(() => 0);
    expect(await outcome(policy.execute(() => 1))).toEqual({ reason: 'deadline', retryAfter: 1000 });
    await clock.advance(300);
    const p = policy.execute(() => clock.now()); // fits: a 700 ms wait within an 800 ms deadline
    await clock.advance(700);
    expect(await p).toBe(1000);
  });

  it('an aborted waiter leaves at once with the caller’s reason, and the next one moves up', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 1, per: 1000, mode: 'wait', clock });
    await rl.execute(() => 0);
    const ac = new AbortController();
    const ran: string[] = [];
    const a = rl.execute(() => ran.push('a'), { signal: ac.signal });
    const b = rl.execute(() => ran.push('b'));
    const reason = new Error('user left');
    ac.abort(reason);
    await expect(a).rejects.toBe(reason);
    expect((await rl.snapshot()).waiting).toBe(1);
    await clock.advance(1000);
    await b;
    expect(ran).toEqual(['b']);
    expect(clock.now()).toBe(1000);
  });

  it('a waiter whose cost exceeds the capacity is rejected at once', async () => {
    const rl = rateLimit({ limit: 5, per: 1000, mode: 'wait', cost: 6, clock: virtualClock() });
    expect(await outcome(rl.execute(() => 0))).toEqual({ reason: 'capacity', retryAfter: Number.POSITIVE_INFINITY });
  });

  it('emits wait with the expected delay and queue length', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 1, per: 1000, mode: 'wait', clock, name: 'llm' });
    const events: RateLimitEvent[] = [];
    rl.on('wait', (e) => events.push(e));
    rl.on('*', () => {
      throw new Error('a broken listener');
    });
    await rl.execute(() => 0);
    const ps = [rl.execute(() => 1), rl.execute(() => 2)];
    expect(events).toMatchObject([
      { type: 'wait', name: 'llm', delay: 1000, queued: 1 },
      { type: 'wait', delay: 2000, queued: 2 },
    ]);
    await clock.advance(2000);
    expect(await Promise.all(ps)).toEqual([1, 2]);
  });

  it('a refund wakes the head at once', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 10, per: 1000, mode: 'wait', clock });
    const lease = await rl.acquire({ cost: 10 });
    let ran = false;
    const p = rl.execute(() => {
      ran = true;
    });
    await clock.flush();
    expect(ran).toBe(false);
    await lease.refund();
    await clock.flush();
    expect(ran).toBe(true);
    await p;
  });

  it('server feedback during a wait rejects waiters that can no longer make their maxWait', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 1, per: 1000, mode: 'wait', maxWait: 1500, clock });
    await rl.execute(() => 0);
    const p = outcome(rl.execute(() => 0));
    await rl.drain(5000);
    expect(await p).toEqual({ reason: 'max-wait', retryAfter: 6000 }); // the hold-off, then a token's refill
  });
});

describe('rateLimit: server feedback', () => {
  const err429 = (headers: Record<string, string> | Headers) =>
    Object.assign(new Error('429 Too Many Requests'), { status: 429, headers });

  it('a 429 with Retry-After drains the bucket for that long', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 100, per: 1000, clock });
    await rl.execute(() => Promise.reject(err429({ 'retry-after': '3' }))).catch(() => undefined);
    expect(await outcome(rl.execute(() => 0))).toMatchObject({ reason: 'limit', retryAfter: 3010 });
    expect((await rl.snapshot()).blockedFor).toBe(3000);
  });

  it('OpenAI headers on a result (response.headers): remaining lowers the bucket; remaining 0 holds off until reset', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 100, per: 60_000, clock });
    const res = (remaining: string, reset: string) => ({
      data: 'ok',
      response: {
        headers: new Headers({ 'x-ratelimit-remaining-requests': remaining, 'x-ratelimit-reset-requests': reset }),
      },
    });
    await rl.execute(() => res('3', '6m0s'));
    expect((await rl.snapshot()).remaining).toBe(3);
    await rl.execute(() => res('0', '1m30s'));
    expect(await rl.snapshot()).toMatchObject({ remaining: 0, blockedFor: 90_000 });
  });

  it('the tokens family when `cost` is given; Anthropic reset as an RFC 3339 date', async () => {
    const clock = virtualClock({ start: Date.parse('2026-01-01T00:00:00Z') });
    const rl = rateLimit({ limit: 10_000, per: 60_000, cost: 100, clock });
    const events: RateLimitEvent[] = [];
    rl.on('feedback', (e) => events.push(e));
    await rl.execute(() => ({
      headers: {
        'anthropic-ratelimit-tokens-remaining': '0',
        'anthropic-ratelimit-tokens-reset': '2026-01-01T00:00:20Z',
        'anthropic-ratelimit-requests-remaining': '999',
      },
    }));
    expect(await rl.snapshot()).toMatchObject({ remaining: 0, blockedFor: 20_000 });
    expect(events).toMatchObject([{ type: 'feedback', key: '', hint: { remaining: 0, reset: 20_000 } }]);
  });

  it('per key: the hint applies to the bucket of the call that got it', async () => {
    const rl = rateLimit({ limit: 10, per: 1000, key: (ctx) => ctx.key ?? '', clock: virtualClock() });
    await rl.execute(() => Promise.reject(err429({ 'retry-after-ms': '700' })), { key: 'a' }).catch(() => undefined);
    expect((await rl.snapshot({ key: 'a' })).blockedFor).toBe(700);
    expect((await rl.snapshot({ key: 'b' })).blockedFor).toBe(0);
  });

  it('feedback: false reads no headers', async () => {
    const rl = rateLimit({ limit: 10, per: 1000, feedback: false, clock: virtualClock() });
    await rl.execute(() => Promise.reject(err429({ 'retry-after': '3' }))).catch(() => undefined);
    expect((await rl.snapshot()).blockedFor).toBe(0);
  });
});

describe('rateLimit: the low-level limiter', () => {
  it('check says whether a cost fits now and when it would, without taking', () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 100, per: 1000, clock });
    expect(rl.check({ key: 'gpt', cost: 60 })).toEqual({ allowed: true, retryAfter: 0, remaining: 100 });
    expect(rl.check({ key: 'gpt', cost: 60 })).toEqual({ allowed: true, retryAfter: 0, remaining: 100 });
    expect(rl.check({ key: 'gpt', cost: 101 })).toMatchObject({ allowed: false, retryAfter: Number.POSITIVE_INFINITY });
  });

  it('tryAcquire takes if it fits; a lease trues up once; refund gives everything back', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 100, per: 1000, clock });
    // With the in-memory store the low-level methods answer synchronously.
    const lease = rl.tryAcquire({ key: 'gpt', cost: 60 }) as RateLimitLease | undefined;
    expect(lease).toMatchObject({ key: 'gpt', cost: 60 });
    expect(rl.tryAcquire({ key: 'gpt', cost: 60 })).toBeUndefined();
    expect(rl.check({ key: 'gpt', cost: 60 })).toMatchObject({ allowed: false, retryAfter: 200, remaining: 40 });
    lease?.trueUp(80);
    lease?.trueUp(0); // ignored: only the first counts
    expect((rl.snapshot({ key: 'gpt' }) as { remaining: number }).remaining).toBe(20);
    const l2 = rl.tryAcquire({ key: 'gpt', cost: 20 }) as RateLimitLease | undefined;
    l2?.refund();
    expect((rl.snapshot({ key: 'gpt' }) as { remaining: number }).remaining).toBe(20);
    expect(() => l2?.trueUp(-1)).toThrow(/actualCost/);
  });

  it('acquire follows the mode: waits (abortably) in wait mode, rejects in reject mode', async () => {
    const clock = virtualClock();
    const waiting = rateLimit({ limit: 1, per: 1000, mode: 'wait', clock });
    await waiting.acquire();
    const ac = new AbortController();
    const p = waiting.acquire({ signal: ac.signal });
    ac.abort('stop');
    await expect(p).rejects.toBe('stop');
    expect(await outcome(waiting.acquire({ deadline: 500 }))).toEqual({ reason: 'deadline', retryAfter: 1000 });
    const rejecting = rateLimit({ limit: 1, per: 1000, clock });
    await rejecting.acquire({ key: 'k' });
    await expect(rejecting.acquire({ key: 'k' })).rejects.toMatchObject({ code: 'ERR_RATE_LIMITED', key: 'k' });
    await expect(rejecting.acquire({ cost: -1 })).rejects.toThrow(/`cost`/);
  });

  it('acquire with a signal or deadline that is not one is a TypeError naming it, and the key keeps working', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 1, per: 1000, mode: 'wait', clock });
    await rl.acquire();
    await expect(rl.acquire({ signal: 'stop' as never })).rejects.toThrow(/`signal` to be an AbortSignal/);
    await expect(rl.acquire({ signal: {} as never })).rejects.toThrow(/`signal` to be an AbortSignal/);
    await expect(rl.acquire({ deadline: 'soon' as never })).rejects.toThrow(/`deadline` to be a number/);
    // No waiter was left behind in the queue: the next one is admitted when the token is there.
    expect((await rl.snapshot()).waiting).toBe(0);
    const next = rl.acquire();
    await clock.advance(1000);
    expect((await next).cost).toBe(1);
  });

  it('drain, setRemaining and observe adjust a key; snapshot reports it', () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 10, per: 1000, clock });
    rl.setRemaining(4, { key: 'x' });
    expect(rl.snapshot({ key: 'x' })).toEqual({ key: 'x', remaining: 4, capacity: 10, blockedFor: 0, waiting: 0 });
    rl.setRemaining(0, { key: 'x', reset: 2500 });
    expect(rl.snapshot({ key: 'x' })).toMatchObject({ remaining: 0, blockedFor: 2500 });
    rl.drain(100, { key: 'y' });
    expect(rl.snapshot({ key: 'y' })).toMatchObject({ remaining: 0, blockedFor: 100 });
    rl.observe({ headers: { 'retry-after': '1' } }, { key: 'z' });
    expect(rl.snapshot({ key: 'z' })).toMatchObject({ blockedFor: 1000 });
  });
});

describe('rateLimit: options', () => {
  const ok = { limit: 1, per: 1000 };
  it.each([
    [{ limit: 0, per: 1000 }, /`limit` to be a number > 0, got 0/],
    [{ limit: Number.POSITIVE_INFINITY, per: 1000 }, /`limit` to be a finite number/],
    [{ limit: '5', per: 1000 }, /`limit` to be a number, got "5"/],
    [{ limit: 1 }, /`per` to be a number, got undefined/],
    [{ ...ok, per: -1 }, /`per` to be a number > 0, got -1/],
    [{ ...ok, burst: 0 }, /`burst` to be a number > 0/],
    [{ ...ok, algorithm: 'leaky' }, /`algorithm` to be one of 'token-bucket', 'sliding-window', got "leaky"/],
    [{ ...ok, algorithm: 'sliding-window', burst: 5 }, /`burst` to be undefined with algorithm 'sliding-window'/],
    [{ ...ok, cost: -1 }, /`cost` to be a number ≥ 0, got -1/],
    [{ ...ok, cost: 'x' }, /`cost` to be a function, got "x"/],
    [{ ...ok, actualCost: 5 }, /`actualCost` to be a function, got 5/],
    [{ ...ok, key: 'user' }, /`key` to be a function, got "user"/],
    [{ ...ok, maxKeys: 0 }, /`maxKeys` to be an integer ≥ 1, got 0/],
    [{ ...ok, maxKeys: 1.5 }, /`maxKeys` to be an integer, got 1.5/],
    [{ ...ok, mode: 'queue' }, /`mode` to be one of 'reject', 'wait', got "queue"/],
    [{ ...ok, maxWait: 100 }, /`maxWait` to be undefined unless mode is 'wait', got 100/],
    [{ ...ok, mode: 'wait', maxWait: -1 }, /`maxWait` to be a number ≥ 0, got -1/],
    [{ ...ok, shadow: 'yes' }, /`shadow` to be a boolean, got "yes"/],
    [{ ...ok, store: {} }, /`store` to be a rate limit store, got object/],
    [{ ...ok, store: 'redis' }, /`store` to be an object, got "redis"/],
    [{ ...ok, onStoreError: 'open' }, /`onStoreError` to be one of 'throw', 'fail-open', 'fail-closed', got "open"/],
    [{ ...ok, feedback: true }, /`feedback` to be one of 'requests', 'tokens', got true/],
    [{ ...ok, clock: 5 }, /`clock` to be an object, got 5/],
  ])('%o → %s', (options, message) => {
    expect(() => rateLimit(options as never)).toThrow(message);
  });

  it('maxKeys with a store is refused (it bounds the in-memory store)', () => {
    const store = { acquire: () => undefined, adjust: () => undefined, block: () => undefined, cap: () => undefined };
    expect(() => rateLimit({ ...ok, store: store as never, maxKeys: 5 })).toThrow(/`maxKeys` to be undefined/);
  });

  it('no options at all', () => {
    expect(() => rateLimit(undefined as never)).toThrow(/`options` to be an object, got undefined/);
  });
});

describe('rateLimit: a caller abort while a shared store answers', () => {
  // A store whose every answer is settled by hand, recording the costs given back.
  function pending() {
    const answers: ReturnType<typeof deferred<StoreDecision>>[] = [];
    const refunds: number[] = [];
    const store: RateLimitStore = {
      acquire: () => {
        const d = deferred<StoreDecision>();
        answers.push(d);
        return d.promise;
      },
      adjust: (_key, delta) => {
        refunds.push(delta);
        return Promise.resolve();
      },
      block: () => Promise.resolve(),
      cap: () => Promise.resolve(),
    };
    const admit = () =>
      (answers.shift() as ReturnType<typeof deferred<StoreDecision>>).resolve({
        ok: true,
        wait: 0,
        remaining: 9,
        at: 123,
        blockedFor: 0,
      });
    return { store, admit, refunds };
  }

  it.each(['reject', 'wait'] as const)(
    '%s mode: rejects with the caller’s reason, never runs fn, and gives the cost taken back',
    async (mode) => {
      const { store, admit, refunds } = pending();
      const rl = rateLimit({ limit: 10, per: 1000, cost: 3, store, mode });
      const ac = new AbortController();
      let ran = false;
      const p = rl.execute(
        () => {
          ran = true;
          return 'ran';
        },
        { signal: ac.signal },
      );
      const reason = new Error('caller left');
      ac.abort(reason);
      admit(); // the store took the cost for a caller who is gone
      await expect(p).rejects.toBe(reason);
      expect(ran).toBe(false);
      expect(refunds).toEqual([-3]);
    },
  );

  it('an enclosing timeout that fires during the round trip: fn does not run after it', async () => {
    const { store, admit, refunds } = pending();
    const clock = virtualClock();
    const policy = Policy.wrap(timeout({ after: 100, clock }), rateLimit({ limit: 10, per: 1000, store }));
    let ran = false;
    const p = policy.execute(() => {
      ran = true;
      return 'ran';
    });
    await clock.advance(100);
    admit();
    await expect(p).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(ran).toBe(false);
    expect(refunds).toEqual([-1]);
  });

  it('the low-level acquire with a signal does the same', async () => {
    const { store, admit, refunds } = pending();
    const rl = rateLimit({ limit: 10, per: 1000, store });
    const ac = new AbortController();
    const p = rl.acquire({ cost: 2, signal: ac.signal });
    ac.abort('bye');
    admit();
    await expect(p).rejects.toBe('bye');
    expect(refunds).toEqual([-2]);
  });
});

describe('rateLimit: a failing store', () => {
  const broken = (error: unknown) => ({
    acquire: () => Promise.reject(error),
    adjust: () => Promise.reject(error),
    block: () => Promise.reject(error),
    cap: () => Promise.reject(error),
  });

  it('throws a RateLimitStoreError by default (wrapping a foreign error as its cause)', async () => {
    const cause = new Error('ECONNREFUSED');
    const rl = rateLimit({ limit: 1, per: 1000, store: broken(cause) });
    const e = await rl.execute(() => 0).catch((x: unknown) => x);
    expect(isRateLimitStoreError(e)).toBe(true);
    expect((e as RateLimitStoreError).cause).toBe(cause);
    expect((e as RateLimitStoreError).code).toBe('ERR_RATE_LIMIT_STORE');
    const own = new RateLimitStoreError('down');
    expect(await rateLimit({ limit: 1, per: 1000, store: broken(own) }).executeOutcome(() => 0)).toEqual({
      ok: false,
      error: own,
    });
  });

  it("fail-open admits, fail-closed rejects with reason 'store-unavailable'; both emit store-error", async () => {
    const events: RateLimitEvent[] = [];
    const open = rateLimit({ limit: 1, per: 1000, store: broken(new Error('x')), onStoreError: 'fail-open' });
    open.on('store-error', (e) => events.push(e));
    expect(await open.execute(() => 'ran')).toBe('ran');
    const closed = rateLimit({ limit: 1, per: 1000, store: broken(new Error('x')), onStoreError: 'fail-closed' });
    closed.on('store-error', (e) => events.push(e));
    expect(await outcome(closed.execute(() => 'ran'))).toEqual({ reason: 'store-unavailable', retryAfter: 0 });
    expect(events.map((e) => e.type === 'store-error' && e.action)).toEqual(['fail-open', 'fail-closed']);
  });
});
