import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Context } from '../../src/core/context.js';
import { isTimeoutError, TimeoutError } from '../../src/core/errors.js';
import { Policy } from '../../src/core/policy.js';
import { virtualClock } from '../../src/testing/virtual-clock.js';
import { type TimeoutEvent, timeout } from '../../src/timeout/timeout.js';

/** A fn that settles only when its signal aborts (rejecting with a fetch-like error) or `ms` passes. */
const cooperative =
  (clock: { sleep: (ms: number, s?: AbortSignal) => Promise<void> }, ms: number, value: unknown = 'done') =>
  async (ctx: Context) => {
    await clock.sleep(ms, ctx.signal).catch(() => {
      throw new Error('AbortError: fetch aborted');
    });
    return value;
  };

afterEach(() => {
  vi.useRealTimers();
});

describe('timeout: cooperative (default)', () => {
  it('aborts the signal fn sees with a TimeoutError (ERR_TIMEOUT, timeoutMs) and rejects with it', async () => {
    const clock = virtualClock();
    let seen: unknown;
    const p = timeout({ after: 100, clock }).execute(async (ctx) => {
      try {
        return await cooperative(clock, 1_000)(ctx);
      } finally {
        seen = ctx.signal.reason;
      }
    });
    const err = p.catch((e: unknown) => e);
    await clock.advance(99);
    expect(seen).toBeUndefined();
    await clock.advance(1);
    const e = await err;
    expect(e).toBeInstanceOf(TimeoutError);
    expect(isTimeoutError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'ERR_TIMEOUT', timeoutMs: 100 });
    expect((e as Error).cause).toBeInstanceOf(Error); // fn's own error is kept as the cause
    expect(isTimeoutError(seen)).toBe(true);
  });

  it('rethrows the signal’s TimeoutError itself when fn rejects with it', async () => {
    const clock = virtualClock();
    let reason: unknown;
    const p = timeout({ after: 10, clock }).execute(
      (ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            reject(ctx.signal.reason);
          }),
        ),
    );
    const err = p.catch((e: unknown) => e);
    await clock.advance(10);
    expect(await err).toBe(reason);
  });

  it('waits for fn to settle after the abort, then rejects with the TimeoutError even if fn resolved', async () => {
    const clock = virtualClock();
    let settled = false;
    const p = timeout({ after: 100, clock }).execute(async () => {
      await clock.sleep(500); // ignores the signal
      settled = true;
      return 'late';
    });
    p.catch(() => {});
    let rejected = false;
    p.catch(() => {
      rejected = true;
    });
    await clock.advance(100);
    expect(rejected).toBe(false); // still waiting for fn
    await clock.advance(400);
    expect(settled).toBe(true);
    expect(rejected).toBe(true);
    await expect(p).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
  });

  it('a result that arrives before the expiry is returned even if fn ignores the signal', async () => {
    const clock = virtualClock();
    const p = timeout({ after: 100, clock }).execute(async () => {
      await clock.sleep(99);
      return 'in time';
    });
    await clock.advance(99);
    await expect(p).resolves.toBe('in time');
  });

  it('an error before the expiry is rethrown unchanged', async () => {
    const boom = new Error('boom');
    await expect(
      timeout(1_000).execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
  });

  it('accepts a plain number of ms', async () => {
    vi.useFakeTimers();
    const p = timeout(50).execute((ctx) =>
      cooperative(
        {
          sleep: (ms, s) =>
            new Promise((r, j) => {
              const t = setTimeout(r, ms);
              s?.addEventListener('abort', () => {
                clearTimeout(t);
                j(s.reason);
              });
            }),
        },
        1_000,
      )(ctx),
    );
    const done = expect(p).rejects.toMatchObject({ timeoutMs: 50 });
    await vi.advanceTimersByTimeAsync(50);
    await done;
  });
});

describe('timeout: aggressive', () => {
  it('rejects at once with the TimeoutError and lets fn run on', async () => {
    const clock = virtualClock();
    let finished = false;
    let signalReason: unknown;
    const p = timeout({ after: 100, strategy: 'aggressive', clock }).execute(async (ctx) => {
      await clock.sleep(1_000); // ignores the signal
      signalReason = ctx.signal.reason;
      finished = true;
      return 'late';
    });
    const err = p.catch((e: unknown) => e);
    await clock.advance(100);
    const e = await err;
    expect(e).toMatchObject({ code: 'ERR_TIMEOUT', timeoutMs: 100 });
    expect(finished).toBe(false);
    await clock.advance(900);
    expect(finished).toBe(true);
    expect(signalReason).toBe(e); // fn's signal was aborted with the same TimeoutError
  });

  it('returns a value or rethrows an error that arrives first', async () => {
    const clock = virtualClock();
    const t = timeout({ after: 100, strategy: 'aggressive', clock });
    await expect(t.execute(() => 'fast')).resolves.toBe('fast');
    const boom = new Error('boom');
    await expect(
      t.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    await expect(t.execute(async () => Promise.reject(boom))).rejects.toBe(boom);
    expect(clock.pending).toBe(0);
  });

  it('a caller abort rejects at once with the caller’s reason', async () => {
    const clock = virtualClock();
    const ac = new AbortController();
    const p = timeout({ after: 100, strategy: 'aggressive', clock }).execute(() => new Promise(() => {}), {
      signal: ac.signal,
    });
    ac.abort('caller');
    await expect(p).rejects.toBe('caller');
  });

  it('inside an already-expired enclosing scope rejects with the enclosing reason', async () => {
    const clock = virtualClock();
    const fn = vi.fn();
    const outer = timeout({ after: 10, clock });
    const inner = timeout({ after: 100, strategy: 'aggressive', clock });
    const p = Policy.wrap(outer, inner).execute(async () => {
      // the first (aggressive) call outlives the outer limit; the outer scope's abort reaches it
      await clock.sleep(50);
      return fn();
    });
    const done = expect(p).rejects.toMatchObject({ timeoutMs: 10 });
    await clock.advance(50);
    await done;
  });
});

describe('timeout: caller abort', () => {
  it('rejects with the caller’s reason, not a TimeoutError, and emits no timeout event', async () => {
    const clock = virtualClock();
    const t = timeout({ after: 100, clock });
    const events: TimeoutEvent[] = [];
    t.on('timeout', (e) => events.push(e));
    const ac = new AbortController();
    const reason = new DOMException('user left', 'AbortError');
    const p = t.execute(cooperative(clock, 1_000), { signal: ac.signal });
    await clock.advance(50);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    await clock.advance(100);
    expect(events).toEqual([]);
  });

  it('cooperative: a late result after the caller aborted is not returned; the caller’s reason is', async () => {
    const clock = virtualClock();
    const ac = new AbortController();
    const p = timeout({ after: 1_000, clock }).execute(
      async () => {
        await clock.sleep(100); // ignores the signal
        return 'late';
      },
      { signal: ac.signal },
    );
    const err = p.catch((e: unknown) => e);
    await clock.advance(50);
    ac.abort('caller');
    await clock.advance(50);
    expect(await err).toBe('caller');
  });

  it('an inner timeout that expires after an outer one keeps the outer reason', async () => {
    const clock = virtualClock();
    const outer = timeout({ after: 100, clock, name: 'outer' });
    const inner = timeout({ after: 100, clock, name: 'inner' });
    const p = Policy.wrap(outer, inner);
    const events: TimeoutEvent[] = [];
    p.on('timeout', (e) => events.push(e));
    const out = p.execute(cooperative(clock, 1_000));
    const done = expect(out).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    await clock.advance(100);
    await done;
    expect(events.map((e) => e.name)).toEqual(['outer']);
  });
  it('an inner timeout whose scope was already aborted from outside does not fire (no event, no relabel)', async () => {
    const clock = virtualClock();
    const p = Policy.wrap(timeout({ after: 100, clock, name: 'outer' }), timeout({ after: 200, clock, name: 'inner' }));
    const events: TimeoutEvent[] = [];
    p.on('timeout', (e) => events.push(e));
    let innerReason: unknown;
    const out = p.execute(async (ctx) => {
      await clock.sleep(300); // ignores the signal: both timeouts pass while it runs
      innerReason = ctx.signal.reason;
      return 'late';
    });
    const err = out.catch((e: unknown) => e);
    await clock.advance(300);
    expect(await err).toMatchObject({ code: 'ERR_TIMEOUT', timeoutMs: 100 });
    expect(innerReason).toMatchObject({ timeoutMs: 100 });
    expect(events.map((e) => e.name)).toEqual(['outer']);
  });
});

describe('timeout: deadline', () => {
  it('sets ctx.deadline to the nearer of the enclosing one and its own', async () => {
    const clock = virtualClock({ start: 10_000 });
    const seen: (number | undefined)[] = [];
    const record = (ctx: Context) => {
      seen.push(ctx.deadline);
    };
    await timeout({ after: 300, clock }).execute(record);
    await Policy.wrap(timeout({ after: 300, clock }), timeout({ after: 1_000, clock })).execute(record);
    await Policy.wrap(timeout({ after: 1_000, clock }), timeout({ after: 300, clock })).execute(record);
    expect(seen).toEqual([10_300, 10_300, 10_300]);
  });

  it('restores the enclosing deadline after the inner timeout settles', async () => {
    const clock = virtualClock();
    const seen: (number | undefined)[] = [];
    const inner = timeout({ after: 10, clock });
    await timeout({ after: 100, clock }).execute(async (ctx) => {
      await inner.execute(() => undefined);
      seen.push(ctx.deadline);
    });
    expect(seen).toEqual([100]);
  });
});

describe('timeout: after as a function / Infinity', () => {
  it('computes the limit per call from the context', async () => {
    const clock = virtualClock();
    const after = vi.fn((ctx: Context) => (ctx.key === 'slow' ? 500 : 100));
    const t = timeout({ after, clock });
    const fast = t.execute(cooperative(clock, 200), { key: 'fast' });
    const slow = t.execute(cooperative(clock, 200), { key: 'slow' });
    const fastDone = expect(fast).rejects.toMatchObject({ timeoutMs: 100 });
    await clock.advance(200);
    await fastDone;
    await expect(slow).resolves.toBe('done');
    expect(after).toHaveBeenCalledTimes(2);
  });

  it('a function returning many distinct limits keeps working (idle queues are dropped)', async () => {
    const clock = virtualClock();
    let n = 0;
    const t = timeout({ after: () => 1_000 + n++, clock });
    for (let i = 0; i < 200; i++) await t.execute(() => i);
    const p = t.execute(cooperative(clock, 5_000));
    const done = expect(p).rejects.toMatchObject({ timeoutMs: 1_200 });
    await clock.advance(1_200);
    await done;
  });

  it('a function returning a bad limit rejects with a RangeError naming `after`', async () => {
    for (const bad of [-1, Number.NaN, '5']) {
      await expect(timeout({ after: () => bad as number }).execute(() => 1)).rejects.toThrow(RangeError);
      await expect(timeout({ after: () => bad as number }).execute(() => 1)).rejects.toThrow(/`after`/);
    }
  });

  it('Infinity disables the limit: no timer, no deadline', async () => {
    const clock = virtualClock();
    const setTimer = vi.spyOn(clock, 'setTimeout');
    const seen: (number | undefined)[] = [];
    await timeout({ after: Number.POSITIVE_INFINITY, clock }).execute((ctx) => seen.push(ctx.deadline));
    await timeout({ after: () => Number.POSITIVE_INFINITY, clock }).execute((ctx) => seen.push(ctx.deadline));
    expect(seen).toEqual([undefined, undefined]);
    expect(setTimer).not.toHaveBeenCalled();
  });
});

describe('timeout: timers', () => {
  it('clears (unrefs) its timer when the call settles: nothing holds the process', async () => {
    const clock = virtualClock();
    const t = timeout({ after: 60_000, clock });
    await t.execute(() => 'ok');
    expect(clock.pending).toBe(0);
    await t.execute(async () => Promise.reject(new Error('x'))).catch(() => {});
    expect(clock.pending).toBe(0);
    const agg = timeout({ after: 60_000, strategy: 'aggressive', clock });
    await agg.execute(() => 'ok');
    expect(clock.pending).toBe(0);
  });

  it('many concurrent calls of one policy share one timer', async () => {
    const clock = virtualClock();
    const t = timeout({ after: 1_000, clock });
    const ps = Array.from({ length: 50 }, () => t.execute(cooperative(clock, 10)));
    expect(clock.scheduled).toBe(51); // 50 sleeps of fn + 1 shared timeout timer
    await clock.advance(10);
    await Promise.all(ps);
    expect(clock.pending).toBe(0);
  });

  it('with the system clock, a settled call leaves no ref’d timer', async () => {
    vi.useFakeTimers();
    const unref = vi.fn();
    const original = globalThis.setTimeout;
    vi.stubGlobal('setTimeout', (cb: () => void, ms: number) => {
      const h = original(cb, ms);
      const u = h.unref.bind(h);
      h.unref = () => {
        unref();
        return u();
      };
      return h;
    });
    try {
      await timeout(10_000).execute(() => 1);
      expect(unref).toHaveBeenCalledOnce(); // at once, not at the end of the turn
      await vi.advanceTimersByTimeAsync(0);
      expect(unref).toHaveBeenCalledOnce();
    } finally {
      vi.unstubAllGlobals();
      vi.useRealTimers();
    }
  });
});

describe('timeout: events and options', () => {
  it('emits timeout with ms, kind and name', async () => {
    const clock = virtualClock();
    const t = timeout({ after: 5, clock, name: 'llm' });
    const events: TimeoutEvent[] = [];
    t.on('timeout', (e) => events.push(e));
    const p = t.execute(cooperative(clock, 100));
    const done = expect(p).rejects.toThrow();
    await clock.advance(5);
    await done;
    expect(events).toEqual([{ type: 'timeout', kind: 'timeout', name: 'llm', ms: 5 }]);
  });

  it.each([
    [-1, RangeError, 'after'],
    [Number.NaN, TypeError, 'after'],
    [{ after: -5 }, RangeError, 'after'],
    [{ after: '5' }, TypeError, 'after'],
    [{ after: 5, strategy: 'eager' }, TypeError, 'strategy'],
    [undefined, TypeError, 'timeout'],
    [null, TypeError, 'options'],
    ['5', TypeError, 'options'],
  ])('%o throws naming the option', (options, type, name) => {
    expect(() => timeout(options as never)).toThrow(type);
    expect(() => timeout(options as never)).toThrow(name);
  });
});

describe('timeout: then-style paths', () => {
  it('a synchronous throw of fn becomes a rejection (cooperative, aggressive, Infinity) and leaves no timer', async () => {
    const clock = virtualClock();
    const boom = () => {
      throw new Error('sync');
    };
    for (const strategy of ['cooperative', 'aggressive'] as const) {
      await expect(timeout({ after: 100, strategy, clock }).execute(boom)).rejects.toThrow('sync');
    }
    await expect(timeout({ after: Number.POSITIVE_INFINITY, clock }).execute(boom)).rejects.toThrow('sync');
    expect(clock.pending).toBe(0);
  });

  it('a throwing `after` function rejects instead of throwing synchronously', async () => {
    const p = timeout({
      after: () => {
        throw new Error('no limit');
      },
    }).execute(() => 1);
    await expect(p).rejects.toThrow('no limit');
  });

  it('cooperative: ctx.signal read after an await in fn still belongs to the timeout', async () => {
    const clock = virtualClock();
    const p = timeout({ after: 50, clock }).execute(async (ctx) => {
      await clock.sleep(60);
      return ctx.signal.aborted;
    });
    const r = p.catch((e: unknown) => e);
    await clock.advance(60);
    expect(isTimeoutError(await r)).toBe(true);
  });

  it('aggressive: the caller-signal listener is removed on expiry, on success and on failure', async () => {
    const clock = virtualClock();
    const ac = new AbortController();
    const add = vi.spyOn(ac.signal, 'addEventListener');
    const remove = vi.spyOn(ac.signal, 'removeEventListener');
    const policy = timeout({ after: 10, strategy: 'aggressive', clock });
    await expect(policy.execute(() => 1, { signal: ac.signal })).resolves.toBe(1);
    await expect(policy.execute(() => Promise.reject(new Error('e')), { signal: ac.signal })).rejects.toThrow('e');
    const hung = policy.execute(() => new Promise(() => {}), { signal: ac.signal });
    const hungResult = hung.catch((e: unknown) => e);
    await clock.advance(10);
    expect(isTimeoutError(await hungResult)).toBe(true);
    expect(add).toHaveBeenCalledTimes(3);
    expect(remove).toHaveBeenCalledTimes(3);
    expect(clock.pending).toBe(0);
  });

  it('aggressive: the forked context shares ctx.data with the caller, created on first read', async () => {
    const data = await new Promise<Record<string, unknown>>((resolve) => {
      void timeout({ after: 1000, strategy: 'aggressive' }).execute((ctx) => {
        ctx.data.seen = true;
        resolve(ctx.data);
        return 1;
      });
    });
    expect(data).toEqual({ seen: true });
    const given = { a: 1 };
    await timeout({ after: 1000, strategy: 'aggressive' }).execute(
      (ctx) => {
        expect(ctx.data).toBe(given);
        return 1;
      },
      { data: given },
    );
  });
});

describe('timeout: aggressive under an already-aborted enclosing scope', () => {
  it('rejects at once with the enclosing reason, without running fn or leaving a timer', async () => {
    const { BaseLayer, invoke, Pipeline } = await import('../../src/core/policy.js');
    const clock = virtualClock();
    // A layer that waits 20 ms (ignoring the signal) before running the rest of the chain.
    class Late extends BaseLayer<never> {
      async run(ctx: Parameters<typeof invoke>[0], inner: Parameters<typeof invoke>[1]): Promise<unknown> {
        await clock.sleep(20);
        return invoke(ctx, inner);
      }
    }
    const late = new Pipeline([new Late('late', undefined)]);
    const fn = vi.fn(() => 1);
    const p = Policy.wrap(timeout({ after: 10, clock }), late, timeout({ after: 100, strategy: 'aggressive', clock }))
      .execute(fn)
      .catch((e: unknown) => e);
    await clock.advance(20);
    const error = await p;
    expect(isTimeoutError(error) && error.timeoutMs).toBe(10);
    expect(fn).not.toHaveBeenCalled();
    expect(clock.pending).toBe(0);
  });
});

describe('timeout: platform timers (due times set once per turn)', () => {
  const waitForAbort = (ctx: { readonly signal: AbortSignal }) =>
    new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));

  it('never fires early, even when the turn that starts the call was busy before it', async () => {
    const busyUntil = Date.now() + 60;
    while (Date.now() < busyUntil) {
      // a long synchronous stretch before the call, in the same turn
    }
    const started = Date.now();
    const t = timeout(40);
    const calls = [t.execute(waitForAbort), t.execute(waitForAbort)];
    const results = await Promise.allSettled(calls);
    const elapsed = Date.now() - started;
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(results.every((r) => r.status === 'rejected' && isTimeoutError(r.reason))).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(39); // timers may round to the millisecond
  });

  it('ctx.deadline is known inside the call, before the turn ends', async () => {
    const before = Date.now();
    const deadline = await timeout(1_000).execute((ctx) => ctx.deadline);
    expect(deadline).toBeGreaterThanOrEqual(before + 1_000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 1_000);
  });
});
