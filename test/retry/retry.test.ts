import { describe, expect, it, vi } from 'vitest';
import type { Context } from '../../src/core/context.js';
import { Policy } from '../../src/core/policy.js';
import { constant, exponential, linear } from '../../src/retry/backoff.js';
import { retryBudget } from '../../src/retry/budget.js';
import { type RetryEvent, retry } from '../../src/retry/retry.js';
import { virtualClock } from '../../src/testing/virtual-clock.js';
import { timeout } from '../../src/timeout/timeout.js';

/** A function that fails `n` times, then returns `value`. */
function failing(n: number, value: unknown = 'ok', make: (i: number) => unknown = (i) => new Error(`fail ${i}`)) {
  const fn = vi.fn(async (_ctx: Context) => {
    if (fn.mock.calls.length <= n) throw make(fn.mock.calls.length);
    return value;
  });
  return fn;
}

describe('retry: attempts', () => {
  it('returns the first success without retrying', async () => {
    const fn = failing(0);
    await expect(retry().execute(fn)).resolves.toBe('ok');
    expect(fn).toHaveBeenCalledOnce();
  });

  it('retries until success, with ctx.attempt counting from 1, restored afterwards', async () => {
    const clock = virtualClock();
    const attempts: number[] = [];
    const fn = vi.fn(async (ctx: Context) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt < 3) throw new Error('again');
      return ctx.attempt;
    });
    const p = retry({ maxRetries: 5, backoff: constant(100), clock }).execute(fn);
    await clock.advance(200);
    await expect(p).resolves.toBe(3);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it.each([0, 1, 3])(
    'maxRetries = %i → at most maxRetries + 1 calls; the last error is rethrown unchanged',
    async (max) => {
      const errors: unknown[] = [];
      const fn = failing(100, 'never', (i) => {
        const e = { i };
        errors.push(e);
        return e;
      });
      const p = retry({ maxRetries: max, backoff: constant(0) }).execute(fn);
      const err = await p.catch((e: unknown) => e);
      expect(fn).toHaveBeenCalledTimes(max + 1);
      expect(err).toBe(errors[errors.length - 1]);
    },
  );

  it('defaults to 3 retries with exponential backoff', async () => {
    const clock = virtualClock();
    const fn = failing(100);
    const p = retry({ clock, random: () => 0.999 }).execute(fn);
    const done = expect(p).rejects.toThrow('fail 4');
    await clock.runAll();
    await done;
    expect(fn).toHaveBeenCalledTimes(4);
  });

  it('the default backoff is exactly exponential() (same delays for the same random numbers)', async () => {
    const delays = async (backoff?: ReturnType<typeof exponential>) => {
      const clock = virtualClock();
      const seen: number[] = [];
      let r = 0;
      const policy = retry({ clock, maxRetries: 40, random: () => (r++ * 0.37) % 1, backoff });
      policy.on('retry', (e) => seen.push(e.delay));
      const p = policy.execute(failing(100));
      const done = expect(p).rejects.toThrow();
      await clock.runAll(100);
      await done;
      return seen;
    };
    const got = await delays();
    expect(got).toHaveLength(40);
    expect(got).toEqual(await delays(exponential()));
  });

  it('maxRetries: Infinity retries until success', async () => {
    const fn = failing(50);
    await expect(retry({ maxRetries: Number.POSITIVE_INFINITY, backoff: constant(0) }).execute(fn)).resolves.toBe('ok');
    expect(fn).toHaveBeenCalledTimes(51);
  });

  it('waits the backoff delay between attempts, no more, no less', async () => {
    const clock = virtualClock();
    const fn = failing(2);
    const p = retry({ maxRetries: 2, backoff: linear({ initial: 100, step: 100 }), clock }).execute(fn);
    await clock.flush();
    expect(fn).toHaveBeenCalledTimes(1);
    await clock.advance(99);
    expect(fn).toHaveBeenCalledTimes(1);
    await clock.advance(1);
    expect(fn).toHaveBeenCalledTimes(2);
    await clock.advance(199);
    expect(fn).toHaveBeenCalledTimes(2);
    await clock.advance(1);
    await expect(p).resolves.toBe('ok');
  });

  it('a zero delay starts no timer', async () => {
    const clock = virtualClock();
    const setTimeout = vi.spyOn(clock, 'setTimeout');
    const sleep = vi.spyOn(clock, 'sleep');
    await expect(retry({ maxRetries: 3, backoff: constant(0), clock }).execute(failing(3))).resolves.toBe('ok');
    await expect(retry({ maxRetries: 3, backoff: () => 0, clock }).execute(failing(3))).resolves.toBe('ok');
    expect(setTimeout).not.toHaveBeenCalled();
    expect(sleep).not.toHaveBeenCalled();
  });

  it('a function backoff gets (attempt, outcome); a negative or NaN delay counts as 0', async () => {
    const clock = virtualClock();
    const seen: [number, unknown][] = [];
    const delays = [-5, Number.NaN, 10];
    const fn = failing(3);
    const p = retry({
      maxRetries: 3,
      clock,
      backoff: (attempt, outcome) => {
        seen.push([attempt, 'error' in outcome ? (outcome.error as Error).message : outcome.result]);
        return delays[attempt - 1] as number;
      },
    }).execute(fn);
    await clock.flush();
    expect(fn).toHaveBeenCalledTimes(3);
    await clock.advance(10);
    await expect(p).resolves.toBe('ok');
    expect(seen).toEqual([
      [1, 'fail 1'],
      [2, 'fail 2'],
      [3, 'fail 3'],
    ]);
  });

  it('passes the random source to the backoff', async () => {
    const clock = virtualClock();
    const fn = failing(1);
    const p = retry({
      maxRetries: 1,
      backoff: exponential({ initial: 1000, jitter: 'full' }),
      random: () => 0.5,
      clock,
    }).execute(fn);
    await clock.advance(499);
    expect(fn).toHaveBeenCalledOnce();
    await clock.advance(1);
    await expect(p).resolves.toBe('ok');
  });
});

describe('retry: handle / handleResult', () => {
  it('handle chooses which errors are retried; others are rethrown at once, unchanged', async () => {
    const fatal = Object.assign(new Error('bad request'), { status: 400 });
    const fn = vi
      .fn()
      .mockRejectedValueOnce(Object.assign(new Error('busy'), { status: 503 }))
      .mockRejectedValueOnce(fatal);
    const handle = vi.fn((e: unknown, ctx: Context) => {
      expect(ctx.attempt).toBeGreaterThan(0);
      return (e as { status: number }).status >= 500;
    });
    await expect(retry({ maxRetries: 5, backoff: constant(0), handle }).execute(fn)).rejects.toBe(fatal);
    expect(fn).toHaveBeenCalledTimes(2);
    expect(handle).toHaveBeenCalledTimes(2);
  });

  it('handleResult retries unwanted results and returns the last one when retries run out', async () => {
    const results = [{ status: 503 }, { status: 503 }, { status: 503 }];
    let i = 0;
    const fn = async () => results[i++];
    const p = retry({
      maxRetries: 2,
      backoff: constant(0),
      handleResult: (r) => (r as { status: number }).status === 503,
    });
    const out = await p.execute(fn);
    expect(out).toBe(results[2]);
    expect(i).toBe(3);
    let j = 0;
    await expect(p.execute(async () => (++j < 2 ? { status: 503 } : { status: 200 }))).resolves.toEqual({
      status: 200,
    });
  });

  it('by default results are never retried', async () => {
    const fn = vi.fn(async () => null);
    await expect(retry({ backoff: constant(0) }).execute(fn)).resolves.toBeNull();
    expect(fn).toHaveBeenCalledOnce();
  });
});

describe('retry: aborts', () => {
  it('the caller’s abort is never retried, even if handle says yes', async () => {
    const ac = new AbortController();
    const reason = new Error('user cancelled');
    const fn = vi.fn(async (ctx: Context) => {
      ac.abort(reason);
      throw ctx.signal.reason;
    });
    const handle = vi.fn(() => true);
    await expect(
      retry({ maxRetries: 5, backoff: constant(0), handle }).execute(fn, { signal: ac.signal }),
    ).rejects.toBe(reason);
    expect(fn).toHaveBeenCalledOnce();
    expect(handle).not.toHaveBeenCalled();
  });

  it('an error thrown after the caller aborted is replaced by the caller’s reason', async () => {
    const ac = new AbortController();
    const fn = vi.fn(async () => {
      ac.abort('caller reason');
      throw new Error('some fetch error');
    });
    await expect(retry({ backoff: constant(0) }).execute(fn, { signal: ac.signal })).rejects.toBe('caller reason');
  });

  it('a result that handleResult rejects after the caller aborted yields the caller’s reason', async () => {
    const ac = new AbortController();
    const fn = vi.fn(async () => {
      ac.abort('stop');
      return 'retry me';
    });
    await expect(
      retry({ backoff: constant(0), handleResult: () => true }).execute(fn, { signal: ac.signal }),
    ).rejects.toBe('stop');
    expect(fn).toHaveBeenCalledOnce();
  });

  it('an abort during the backoff sleep rejects at once with the reason; fn is not called again', async () => {
    const clock = virtualClock();
    const ac = new AbortController();
    const fn = failing(100);
    const p = retry({ maxRetries: 5, backoff: constant(10_000), clock }).execute(fn, { signal: ac.signal });
    await clock.advance(5_000);
    expect(fn).toHaveBeenCalledOnce();
    const reason = new Error('cancelled');
    ac.abort(reason);
    await clock.flush();
    await expect(p).rejects.toBe(reason);
    expect(clock.scheduled).toBe(0);
    await clock.advance(60_000);
    expect(fn).toHaveBeenCalledOnce();
  });

  it('an enclosing timeout that fires during an attempt rejects with its TimeoutError and is not retried', async () => {
    const clock = virtualClock();
    const fn = vi.fn(
      (ctx: Context) =>
        new Promise((_, reject) => {
          if (ctx.attempt === 1) reject(new Error('first'));
          else ctx.signal.addEventListener('abort', () => reject(new Error('aborted fetch')), { once: true });
        }),
    );
    const p = Policy.wrap(
      timeout({ after: 1_500, clock }),
      retry({ maxRetries: 5, backoff: constant(1_000), clock }),
    ).execute(fn);
    const done = expect(p).rejects.toMatchObject({ code: 'ERR_TIMEOUT', timeoutMs: 1_500 });
    await clock.advance(1_500);
    await done;
    expect(fn).toHaveBeenCalledTimes(2);
    await clock.advance(10_000);
    expect(fn).toHaveBeenCalledTimes(2);
  });
});

describe('retry: deadline', () => {
  it('gives up with the last error when the next attempt could not start before ctx.deadline', async () => {
    const clock = virtualClock();
    const events: RetryEvent[] = [];
    const r = retry({ maxRetries: 5, backoff: constant(400), clock });
    r.on('give-up', (e) => events.push(e));
    const fn = failing(100);
    const p = Policy.wrap(timeout({ after: 1_000, clock }), r).execute(fn);
    const err = p.catch((e: unknown) => e);
    await clock.advance(800); // attempts at 0 and 400; at 800 the next would start at 1200 > 1000
    const e = await err;
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toBe('fail 3');
    expect(fn).toHaveBeenCalledTimes(3);
    expect(clock.now()).toBe(800); // gave up without sleeping to the deadline
    expect(events).toMatchObject([{ type: 'give-up', reason: 'deadline', attempt: 3 }]);
  });
});

describe('retry: server hints', () => {
  const hintCases: [string, unknown, number][] = [
    ['a retryAfter property (ms)', { retryAfter: 700 }, 700],
    ['Retry-After seconds (plain object, any case)', { headers: { 'Retry-After': '2' } }, 2_000],
    ['retry-after-ms (plain object)', { headers: { 'retry-after-ms': '350' } }, 350],
    ['a Headers instance', { headers: new Headers({ 'retry-after-ms': '450' }) }, 450],
    ['error.response.headers', { response: { headers: new Headers({ 'retry-after': '1' }) } }, 1_000],
  ];

  it.each(hintCases)('the delay is at least %s', async (_label, error, expected) => {
    const clock = virtualClock();
    const fn = vi.fn().mockRejectedValueOnce(error).mockResolvedValueOnce('ok');
    const p = retry({ maxRetries: 1, backoff: constant(10), clock }).execute(fn);
    await clock.advance(expected - 1);
    expect(fn).toHaveBeenCalledOnce();
    await clock.advance(1);
    await expect(p).resolves.toBe('ok');
  });

  it('Retry-After as an HTTP date is measured from the clock’s now', async () => {
    const start = Date.parse('2026-01-01T00:00:00Z');
    const clock = virtualClock({ start });
    const error = { headers: { 'retry-after': new Date(start + 3_000).toUTCString() } };
    const fn = vi.fn().mockRejectedValueOnce(error).mockResolvedValueOnce('ok');
    const p = retry({ maxRetries: 1, backoff: constant(0), clock }).execute(fn);
    await clock.advance(2_999);
    expect(fn).toHaveBeenCalledOnce();
    await clock.advance(1);
    await expect(p).resolves.toBe('ok');
  });

  it('a hint never shortens a longer backoff', async () => {
    const clock = virtualClock();
    const fn = vi.fn().mockRejectedValueOnce({ retryAfter: 10 }).mockResolvedValueOnce('ok');
    const p = retry({ maxRetries: 1, backoff: constant(500), clock }).execute(fn);
    await clock.advance(499);
    expect(fn).toHaveBeenCalledOnce();
    await clock.advance(1);
    await expect(p).resolves.toBe('ok');
  });

  it('a custom retryAfter extractor replaces the default one', async () => {
    const clock = virtualClock();
    const extractor = vi.fn((e: unknown) => (e as { waitMs: number }).waitMs);
    const fn = vi.fn().mockRejectedValueOnce({ waitMs: 250, retryAfter: 9_999 }).mockResolvedValueOnce('ok');
    const p = retry({ maxRetries: 1, backoff: constant(0), clock, retryAfter: extractor }).execute(fn);
    await clock.advance(250);
    await expect(p).resolves.toBe('ok');
    expect(extractor).toHaveBeenCalledOnce();
  });

  it('a hint that would pass the deadline gives up at once', async () => {
    const clock = virtualClock();
    const err = { retryAfter: 5_000 };
    const fn = vi.fn().mockRejectedValue(err);
    const p = Policy.wrap(
      timeout({ after: 1_000, clock }),
      retry({ maxRetries: 3, backoff: constant(0), clock }),
    ).execute(fn);
    await expect(p).rejects.toBe(err);
    expect(fn).toHaveBeenCalledOnce();
  });

  it("retryAfter: Infinity (a rate limiter's capacity rejection) gives up at once, with reason retry-after", async () => {
    const clock = virtualClock();
    const err = { retryAfter: Number.POSITIVE_INFINITY };
    const fn = vi.fn().mockRejectedValue(err);
    const policy = retry({ maxRetries: 3, backoff: constant(10), clock });
    const reasons: string[] = [];
    policy.on('give-up', (e) => reasons.push(e.reason));
    await expect(policy.execute(fn)).rejects.toBe(err);
    expect(fn).toHaveBeenCalledOnce();
    expect(reasons).toEqual(['retry-after']);
  });
});

describe('retry: events', () => {
  it('emits retry (attempt, delay, error), give-up and success, tagged kind and name', async () => {
    const clock = virtualClock();
    const r = retry({ maxRetries: 1, backoff: constant(100), clock, name: 'llm' });
    const events: RetryEvent[] = [];
    r.on('*', (e) => events.push(e));
    const e1 = new Error('e1');
    const e2 = new Error('e2');
    const p = r.execute(vi.fn().mockRejectedValueOnce(e1).mockRejectedValueOnce(e2));
    const done = expect(p).rejects.toBe(e2);
    await clock.advance(100);
    await done;
    expect(events).toEqual([
      { type: 'retry', kind: 'retry', name: 'llm', attempt: 1, delay: 100, error: e1 },
      { type: 'give-up', kind: 'retry', name: 'llm', attempt: 2, reason: 'max-retries', error: e2 },
    ]);
    events.length = 0;
    const q = r.execute(vi.fn().mockRejectedValueOnce(e1).mockResolvedValueOnce('ok'));
    await clock.advance(100);
    await q;
    expect(events.map((e) => e.type)).toEqual(['retry', 'success']);
    expect(events[1]).toEqual({ type: 'success', kind: 'retry', name: 'llm', attempt: 2 });
  });

  it('retry and give-up carry the result for handleResult retries', async () => {
    const r = retry({ maxRetries: 1, backoff: constant(0), handleResult: () => true });
    const events: RetryEvent[] = [];
    r.on('*', (e) => events.push(e));
    await expect(r.execute(() => 'meh')).resolves.toBe('meh');
    expect(events).toMatchObject([
      { type: 'retry', attempt: 1, result: 'meh' },
      { type: 'give-up', attempt: 2, reason: 'max-retries', result: 'meh' },
    ]);
  });
});

describe('retry: budget', () => {
  it('a denied retry rethrows the last error and emits give-up with reason budget', async () => {
    const clock = virtualClock();
    const budget = retryBudget({ ratio: 0, minPerSecond: 1, window: 1_000, clock }); // 1 retry per window
    const r = retry({ maxRetries: 5, backoff: constant(0), budget, clock });
    const events: RetryEvent[] = [];
    r.on('give-up', (e) => events.push(e));
    const fn = failing(100);
    await expect(r.execute(fn)).rejects.toThrow('fail 2');
    expect(fn).toHaveBeenCalledTimes(2);
    expect(events).toMatchObject([{ type: 'give-up', reason: 'budget', attempt: 2 }]);
    expect(budget.calls).toBe(1);
    expect(budget.retries).toBe(1);
  });

  it('one budget is shared by many retry policies', async () => {
    const clock = virtualClock();
    const budget = retryBudget({ ratio: 0, minPerSecond: 2, window: 1_000, clock }); // 2 retries per window
    const a = retry({ maxRetries: 5, backoff: constant(0), budget, clock });
    const b = retry({ maxRetries: 5, backoff: constant(0), budget, clock });
    const fa = failing(100);
    const fb = failing(100);
    await expect(a.execute(fa)).rejects.toThrow();
    await expect(b.execute(fb)).rejects.toThrow();
    expect(fa.mock.calls.length + fb.mock.calls.length).toBe(4); // 2 first calls + 2 retries
    expect(budget.calls).toBe(2);
  });
});

describe('retry: options', () => {
  it.each([
    [{ maxRetries: -1 }, RangeError, 'maxRetries'],
    [{ maxRetries: 1.5 }, TypeError, 'maxRetries'],
    [{ maxRetries: Number.NaN }, TypeError, 'maxRetries'],
    [{ maxRetries: '3' }, TypeError, 'maxRetries'],
    [{ backoff: 5 }, TypeError, 'backoff'],
    [{ backoff: {} }, TypeError, 'backoff'],
    [{ handle: 'yes' }, TypeError, 'handle'],
    [{ handleResult: 1 }, TypeError, 'handleResult'],
    [{ retryAfter: {} }, TypeError, 'retryAfter'],
    [{ random: 0.5 }, TypeError, 'random'],
    [{ budget: 1 }, TypeError, 'budget'],
  ])('%o throws %s naming the option', (options, type, name) => {
    expect(() => retry(options as never)).toThrow(type);
    expect(() => retry(options as never)).toThrow(`\`${name}\``);
  });

  it('rejects a non-object options argument', () => {
    expect(() => retry(3 as never)).toThrow(/`options`/);
  });
});

describe('retry: first-attempt fast path', () => {
  it('a synchronous throw of the first attempt is retried like a rejection', async () => {
    let n = 0;
    const fn = (ctx: Context) => {
      n++;
      if (ctx.attempt === 1) throw new Error('sync');
      return ctx.attempt;
    };
    await expect(retry({ maxRetries: 2, backoff: constant(0) }).execute(fn)).resolves.toBe(2);
    expect(n).toBe(2);
  });

  it('a non-native thenable result is adopted; a rejecting thenable is retried', async () => {
    // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable is the point of the test
    const ok = { then: (res: (v: number) => void) => res(7) } as PromiseLike<number>;
    await expect(retry().execute(() => ok)).resolves.toBe(7);
    let n = 0;
    const flaky = () =>
      ({
        // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable is the point of the test
        then: (res: (v: string) => void, rej: (e: unknown) => void) => (++n === 1 ? rej(new Error('x')) : res('ok')),
      }) as PromiseLike<string>;
    await expect(retry({ backoff: constant(0) }).execute(flaky)).resolves.toBe('ok');
    expect(n).toBe(2);
  });

  it('emits success (attempt 1) when someone listens, and nothing when nobody does', async () => {
    const policy = retry();
    await expect(policy.execute(() => 'quiet')).resolves.toBe('quiet');
    const events: RetryEvent[] = [];
    const off = policy.on('success', (e) => events.push(e));
    await expect(policy.execute(() => 'a')).resolves.toBe('a');
    const other = policy.on('retry', () => {});
    await expect(policy.execute(async () => 'b')).resolves.toBe('b');
    expect(events).toEqual([
      { type: 'success', kind: 'retry', name: undefined, attempt: 1 },
      { type: 'success', kind: 'retry', name: undefined, attempt: 1 },
    ]);
    off();
    // A listener of another type makes the handler run; it must not emit success.
    await expect(policy.execute(() => 'c')).resolves.toBe('c');
    expect(events).toHaveLength(2);
    other();
  });

  it('a nested retry restores the outer attempt number after its own success', async () => {
    const seen: number[] = [];
    const outer = retry({ maxRetries: 2, backoff: constant(0) });
    const inner = retry({ maxRetries: 2, backoff: constant(0) });
    let calls = 0;
    const result = await Policy.wrap(outer, inner).execute((ctx) => {
      calls++;
      seen.push(ctx.attempt);
      if (calls <= 3) throw new Error(`fail ${calls}`); // exhausts the inner retry once
      return 'done';
    });
    expect(result).toBe('done');
    expect(seen).toEqual([1, 2, 3, 1]);
  });

  it('counts every call in the budget exactly once, whether the first attempt succeeds or fails', async () => {
    const budget = retryBudget({ ratio: 1, minPerSecond: 0 });
    const policy = retry({ maxRetries: 1, backoff: constant(0), budget });
    await policy.execute(() => 1);
    await policy.execute(failing(1));
    expect(budget.calls).toBe(2);
    expect(budget.retries).toBe(1);
  });

  it('a throwing budget rejects the call without running it', async () => {
    const fn = vi.fn(() => 1);
    const budget = {
      calls: 0,
      retries: 0,
      recordCall: () => {
        throw new Error('budget broke');
      },
      tryRetry: () => true,
    };
    await expect(retry({ budget }).execute(fn)).rejects.toThrow('budget broke');
    expect(fn).not.toHaveBeenCalled();
  });
});
