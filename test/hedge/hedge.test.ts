import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { circuitBreaker, consecutive, failureRate } from '../../src/breaker/index.js';
import {
  HedgeCancelledError,
  type HedgeEvent,
  hedge,
  hedgeBudget,
  isHedgeCancelledError,
} from '../../src/hedge/index.js';
import { type Context, isTimeoutError, Policy } from '../../src/index.js';
import { retry } from '../../src/retry/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { deferred } from '../support/deferred.js';
import { failOnUnhandledRejections } from '../support/unhandled.js';

/** An attempt's fn: settles when `clock` reaches `after` ms past its start, recording what it saw. */
interface Seen {
  attempt: number;
  signal?: AbortSignal;
  started: number;
}

function slow(
  clock: ReturnType<typeof virtualClock>,
  plan: Record<number, { ms: number; fail?: boolean; value?: unknown }>,
  seen: Seen[],
  readSignal = true,
) {
  return (ctx: Context) => {
    const s: Seen = { attempt: ctx.attempt, started: clock.now() };
    if (readSignal) s.signal = ctx.signal;
    seen.push(s);
    const p = plan[ctx.attempt] ?? { ms: 1_000 };
    return clock.sleep(p.ms).then(() => {
      if (p.fail) throw new Error(`attempt ${ctx.attempt} failed`);
      return p.value ?? `value ${ctx.attempt}`;
    });
  };
}

failOnUnhandledRejections();

describe('hedge: timing', () => {
  it('a primary that resolves before the delay runs alone, and leaves no timer', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, clock });
    const seen: Seen[] = [];
    const r = p.execute(slow(clock, { 1: { ms: 50 } }, seen));
    await clock.advance(50);
    await expect(r).resolves.toBe('value 1');
    expect(clock.pending).toBe(0); // the hedge timer is disarmed at once (not left to fire idle)
    await clock.advance(500);
    expect(seen.map((s) => s.attempt)).toEqual([1]);
    expect(seen[0]?.signal?.aborted).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('starts a hedge when the primary is still pending after the delay; the first success wins', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, clock });
    const seen: Seen[] = [];
    const r = p.execute(slow(clock, { 1: { ms: 1_000 }, 2: { ms: 50 } }, seen));
    await clock.advance(100);
    expect(seen.map((s) => [s.attempt, s.started])).toEqual([
      [1, 0],
      [2, 100],
    ]);
    await clock.advance(50);
    await expect(r).resolves.toBe('value 2');
    const primary = seen[0]?.signal as AbortSignal;
    expect(primary.aborted).toBe(true);
    expect(isHedgeCancelledError(primary.reason)).toBe(true);
    expect((primary.reason as HedgeCancelledError).code).toBe('ERR_HEDGE_CANCELLED');
    expect((primary.reason as HedgeCancelledError).winner).toBe(2);
    expect(primary.reason).toBeInstanceOf(HedgeCancelledError);
    expect(seen[1]?.signal?.aborted).toBe(false);
  });

  it('the primary can still win after a hedge started; the hedge is cancelled', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, clock });
    const seen: Seen[] = [];
    const r = p.execute(slow(clock, { 1: { ms: 120 }, 2: { ms: 500 } }, seen));
    await clock.advance(120);
    await expect(r).resolves.toBe('value 1');
    expect(isHedgeCancelledError(seen[1]?.signal?.reason)).toBe(true);
    expect(seen[0]?.signal?.aborted).toBe(false);
  });

  it('starts up to maxHedges extra attempts, one per delay', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, maxHedges: 2, clock });
    const seen: Seen[] = [];
    const r = p.execute(slow(clock, { 1: { ms: 1_000 }, 2: { ms: 1_000 }, 3: { ms: 1_000 } }, seen));
    await clock.advance(5_000);
    await expect(r).resolves.toBe('value 1');
    expect(seen.map((s) => [s.attempt, s.started])).toEqual([
      [1, 0],
      [2, 100],
      [3, 200],
    ]);
    expect(clock.pending).toBe(0);
  });

  it('delay 0 starts every attempt at once; Infinity hedges on failures only', async () => {
    const clock = virtualClock();
    const seen: Seen[] = [];
    const all = hedge({ delay: 0, maxHedges: 2, clock }).execute(
      slow(clock, { 1: { ms: 30 }, 2: { ms: 20 }, 3: { ms: 10 } }, seen),
    );
    await clock.flush();
    expect(seen.map((s) => s.started)).toEqual([0, 0, 0]);
    await clock.advance(10);
    await expect(all).resolves.toBe('value 3');

    const seen2: Seen[] = [];
    const never = hedge({ delay: Number.POSITIVE_INFINITY, clock }).execute(
      slow(clock, { 1: { ms: 10_000 }, 2: { ms: 10 } }, seen2),
    );
    await clock.advance(10_000);
    await expect(never).resolves.toBe('value 1');
    expect(seen2).toHaveLength(1);
  });

  it('delay may be a function of the call context, evaluated once per call', async () => {
    const clock = virtualClock();
    const calls: Context[] = [];
    const p = hedge({
      delay: (ctx) => {
        calls.push(ctx);
        return ctx.key === 'fast' ? 10 : 1_000;
      },
      clock,
    });
    const seen: Seen[] = [];
    const r = p.execute(slow(clock, { 1: { ms: 500 }, 2: { ms: 5 } }, seen), { key: 'fast' });
    await clock.advance(15);
    await expect(r).resolves.toBe('value 2');
    expect(calls).toHaveLength(1);
    await expect(p.execute(() => 1, { key: 'x' })).resolves.toBe(1);
    // A bad return value rejects the call without running fn.
    const bad = hedge({ delay: () => -1, clock });
    let ran = false;
    await expect(bad.execute(() => (ran = true))).rejects.toThrow(RangeError);
    expect(ran).toBe(false);
  });
});

describe('hedge: failures', () => {
  it('a primary that fails before the delay starts the next attempt at once (fallback mode)', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, clock });
    const events: HedgeEvent[] = [];
    p.on('*', (e) => events.push(e));
    const seen: Seen[] = [];
    const r = p.execute(slow(clock, { 1: { ms: 10, fail: true }, 2: { ms: 20 } }, seen));
    await clock.advance(30);
    await expect(r).resolves.toBe('value 2');
    expect(seen.map((s) => [s.attempt, s.started])).toEqual([
      [1, 0],
      [2, 10],
    ]);
    expect(events).toEqual([
      { type: 'hedge', kind: 'hedge', name: undefined, attempt: 2, delay: 100, trigger: 'failure' },
      { type: 'hedge-win', kind: 'hedge', name: undefined, attempt: 2, attempts: 2 },
    ]);
  });

  it('a synchronous throw is a failure like any other', async () => {
    const p = hedge({ delay: 100 });
    const r = p.execute((ctx) => {
      if (ctx.attempt === 1) throw new Error('sync');
      return 'second';
    });
    await expect(r).resolves.toBe('second');
  });

  it("when every attempt fails, the primary's error is rethrown", async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, maxHedges: 2, clock });
    const seen: Seen[] = [];
    const r = p.execute(
      slow(clock, { 1: { ms: 300, fail: true }, 2: { ms: 10, fail: true }, 3: { ms: 5, fail: true } }, seen),
    );
    const check = expect(r).rejects.toThrow('attempt 1 failed');
    await clock.advance(1_000);
    await check;
    expect(seen).toHaveLength(3);
    // Attempt 2 failed at 110 and started attempt 3 at once; the primary failed last.
    expect(seen.map((s) => s.started)).toEqual([0, 100, 110]);
  });

  it('a failure `handle` rejects ends the call with that error and cancels the rest', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, clock, handle: (e) => !(e instanceof Error && e.message.includes('2')) });
    const seen: Seen[] = [];
    const r = p.execute(slow(clock, { 1: { ms: 1_000 }, 2: { ms: 10, fail: true } }, seen));
    const check = expect(r).rejects.toThrow('attempt 2 failed');
    await clock.advance(110);
    await check;
    expect(isHedgeCancelledError(seen[0]?.signal?.reason)).toBe(true);
    expect(seen[0]?.signal?.reason).toMatchObject({ winner: 2 });
  });

  it("`handle` gets the failing attempt's context; a throwing `handle` ends the call with what it threw", async () => {
    const clock = virtualClock();
    const seenBy: number[] = [];
    const p = hedge({
      delay: 100,
      maxHedges: 2,
      clock,
      handle: (_e, ctx) => {
        seenBy.push(ctx.attempt);
        return true;
      },
    });
    const r = p.execute(slow(clock, { 1: { ms: 10, fail: true }, 2: { ms: 10, fail: true }, 3: { ms: 10 } }, []));
    await clock.advance(30);
    await expect(r).resolves.toBe('value 3');
    expect(seenBy).toEqual([1, 2]);

    const oops = new Error('handle broke');
    const q = hedge({
      delay: 100,
      clock,
      handle: () => {
        throw oops;
      },
    });
    const seen: Seen[] = [];
    const r2 = q.execute(slow(clock, { 1: { ms: 10, fail: true } }, seen));
    const check = expect(r2).rejects.toBe(oops);
    await clock.advance(200);
    await check;
    expect(seen).toHaveLength(1); // no hedge after a throwing `handle`
  });

  it("a loser's late success or failure is ignored, without an unhandled rejection", async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 10, maxHedges: 2, clock });
    const r = p.execute(slow(clock, { 1: { ms: 100, fail: true }, 2: { ms: 50 }, 3: { ms: 100 } }, [], false));
    await clock.advance(200);
    await expect(r).resolves.toBe('value 2');
  });
});

describe('hedge: cancellation', () => {
  it("a caller's abort aborts every attempt, starts no more, and rejects with the caller's reason", async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, maxHedges: 3, clock });
    const ac = new AbortController();
    const seen: Seen[] = [];
    const r = p.execute(
      (ctx) => {
        seen.push({ attempt: ctx.attempt, signal: ctx.signal, started: clock.now() });
        return clock.sleep(10_000, ctx.signal);
      },
      { signal: ac.signal },
    );
    const check = expect(r).rejects.toBe('bye');
    await clock.advance(150);
    expect(getEventListeners(ac.signal, 'abort').length).toBeGreaterThan(0);
    ac.abort('bye');
    await check;
    await clock.advance(1_000);
    expect(seen).toHaveLength(2);
    for (const s of seen) expect(s.signal?.reason).toBe('bye');
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('a caller abort with attempts that ignore it rejects when the first attempt settles', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 100, clock });
    const ac = new AbortController();
    const seen: Seen[] = [];
    const r = p.execute(slow(clock, { 1: { ms: 300 }, 2: { ms: 500 } }, seen, false), { signal: ac.signal });
    const check = expect(r).rejects.toBe('late');
    await clock.advance(150);
    ac.abort('late');
    await clock.advance(300);
    await check;
    expect(seen).toHaveLength(2);
  });

  it("an enclosing timeout's abort stops every attempt and rejects with its TimeoutError", async () => {
    const clock = virtualClock();
    const p = Policy.wrap(timeout({ after: 150, clock }), hedge({ delay: 100, clock }));
    const seen: Seen[] = [];
    const r = p.execute((ctx) => {
      seen.push({ attempt: ctx.attempt, signal: ctx.signal, started: clock.now() });
      return clock.sleep(10_000, ctx.signal);
    });
    const check = expect(r).rejects.toSatisfy(isTimeoutError);
    await clock.advance(200);
    await check;
    expect(seen).toHaveLength(2);
    for (const s of seen) expect(isTimeoutError(s.signal?.reason)).toBe(true);
  });

  it('each attempt sees the enclosing deadline', async () => {
    const clock = virtualClock();
    const deadlines: (number | undefined)[] = [];
    const p = Policy.wrap(timeout({ after: 1_000, clock }), hedge({ delay: 0, clock }));
    await p.execute((ctx) => {
      deadlines.push(ctx.deadline);
      return 1;
    });
    expect(deadlines).toEqual([1_000, 1_000]);
  });

  it('an attempt that never reads its signal makes no AbortController; one read late is already aborted', async () => {
    const clock = virtualClock();
    const Real = globalThis.AbortController;
    let made = 0;
    globalThis.AbortController = class extends Real {
      constructor() {
        super();
        made++;
      }
    };
    try {
      const p = hedge({ delay: 10, clock });
      const r1 = p.execute(slow(clock, { 1: { ms: 5 } }, [], false));
      await clock.advance(5);
      await r1;
      const ctxs: Context[] = [];
      const r2 = p.execute((ctx) => {
        ctxs.push(ctx);
        return clock.sleep(ctx.attempt === 1 ? 100 : 5).then(() => ctx.attempt);
      });
      await clock.advance(20);
      await expect(r2).resolves.toBe(2);
      expect(made).toBe(0);
      // The loser reads its signal only now: it is aborted with the hedge's reason.
      const late = (ctxs[0] as Context).signal;
      expect(late.aborted).toBe(true);
      expect(isHedgeCancelledError(late.reason)).toBe(true);
      expect(made).toBe(1);
      await clock.advance(200);
    } finally {
      globalThis.AbortController = Real;
    }
  });

  it("a winner that reads its signal after the call settled (a generator's body) leaves no listener on the caller's signal", async () => {
    // An async generator's body runs when the stream is read, after `execute` resolved to it: its
    // first read of `ctx.signal` comes after the hedge released the attempt. The SDKs add a listener
    // they never remove to that signal, so it must not follow the caller's long-lived one.
    const caller = new AbortController();
    const p = hedge({ delay: 1_000 });
    for (let i = 0; i < 20; i++) {
      const stream = await p.execute(
        async function* (ctx: Context) {
          ctx.signal.addEventListener('abort', () => {}); // as an HTTP client does, never removed
          yield ctx.attempt;
        },
        { signal: caller.signal },
      );
      for await (const _ of stream);
    }
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    // A read after a caller abort still sees the abort.
    const late = await p.execute((ctx: Context) => () => ctx.signal, { signal: caller.signal });
    caller.abort('gone');
    expect(late().reason).toBe('gone');
  });

  it('a caller signal already aborted rejects before any attempt', async () => {
    const ac = new AbortController();
    ac.abort('early');
    let ran = false;
    await expect(hedge({ delay: 1 }).execute(() => (ran = true), { signal: ac.signal })).rejects.toBe('early');
    expect(ran).toBe(false);
  });

  it('attempts get their own ctx.attempt inside an outer retry, and retry sees the hedge outcome', async () => {
    const clock = virtualClock();
    const p = Policy.wrap(retry({ maxRetries: 1, backoff: () => 0, clock }), hedge({ delay: 0, clock }));
    const attempts: number[] = [];
    let calls = 0;
    const r = await p.execute((ctx) => {
      attempts.push(ctx.attempt);
      if (++calls <= 2) throw new Error('first round fails');
      return 'ok';
    });
    expect(r).toBe('ok');
    expect(attempts).toEqual([1, 2, 1, 2]); // delay 0: both attempts of each round start at once
  });
});

describe('hedge: with a circuit breaker inside', () => {
  it('a cancelled loser counts neither way, whatever it rejects with (an SDK abort error), so a healthy dependency never opens the circuit', async () => {
    const clock = virtualClock();
    const breaker = circuitBreaker({
      strategy: failureRate({ threshold: 0.5, minThroughput: 4, window: 60_000 }),
      breakDuration: 60_000,
      clock,
    });
    const p = Policy.wrap(hedge({ delay: 10, clock }), breaker);
    // A slow primary and a fast hedge; a cancelled attempt rejects with its own error, as the openai
    // SDK does (APIUserAbortError), not with the signal's reason.
    const dependency = ({ attempt, signal }: Context) =>
      new Promise((resolve, reject) => {
        void clock.sleep(attempt === 1 ? 100 : 5).then(() => resolve(attempt));
        signal.addEventListener('abort', () =>
          reject(Object.assign(new Error('aborted'), { name: 'APIUserAbortError' })),
        );
      });
    for (let i = 0; i < 10; i++) {
      const r = p.execute(dependency);
      await clock.advance(15);
      await expect(r).resolves.toBe(2);
    }
    expect(breaker.state).toBe('closed');
  });

  it('a half-open probe cancelled by its hedge frees its slot and does not reopen the circuit', async () => {
    const clock = virtualClock();
    const breaker = circuitBreaker({ strategy: consecutive(1), breakDuration: 1_000, halfOpen: { probes: 2 }, clock });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    expect(breaker.state).toBe('open');
    await clock.advance(1_000);
    const p = Policy.wrap(hedge({ delay: 10, clock }), breaker);
    const r = p.execute(
      ({ attempt, signal }: Context) =>
        new Promise((resolve, reject) => {
          void clock.sleep(attempt === 1 ? 100 : 5).then(() => resolve(attempt));
          signal.addEventListener('abort', () => reject(new Error('aborted')));
        }),
    );
    await clock.advance(15);
    await expect(r).resolves.toBe(2);
    expect(breaker.state).toBe('half-open'); // one of two probes succeeded; the cancelled one is free again
    await breaker.execute(() => 'ok');
    expect(breaker.state).toBe('closed');
  });
});

describe('hedge: budget', () => {
  it('a budget caps hedged attempts to ratio × calls + floor, and emits hedge-denied', async () => {
    const clock = virtualClock();
    const budget = hedgeBudget({ ratio: 0.1, minPerSecond: 0, window: 60_000, clock });
    const p = hedge({ delay: 0, budget, clock });
    const denied: number[] = [];
    p.on('hedge-denied', (e) => denied.push(e.attempt));
    let attempts = 0;
    for (let i = 0; i < 50; i++)
      await p.execute(() => {
        attempts++;
        return 1;
      });
    expect(budget.calls).toBe(50);
    expect(budget.hedges).toBe(5);
    expect(attempts).toBe(55);
    expect(denied).toHaveLength(45);
  });

  it('defaults: 10 % of calls plus 1 per second over 10 s', () => {
    const clock = virtualClock();
    const b = hedgeBudget({ clock });
    for (let i = 0; i < 100; i++) b.recordCall();
    let n = 0;
    while (b.tryHedge()) n++;
    expect(n).toBe(10 + 10);
  });
});

describe('hedge: percentile delay', () => {
  it('uses max until warm, then the percentile of primary latencies, clamped to [min, max]', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: { percentile: 90, window: 20, min: 5, max: 500 }, clock });
    const hedges: number[] = [];
    p.on('hedge', (e) => hedges.push(e.delay));
    // 19 calls: not warm yet (20 samples needed), so a slow primary would hedge at max = 500.
    for (let i = 1; i <= 19; i++) {
      const r = p.execute(() => clock.sleep(i * 10).then(() => i));
      await clock.advance(i * 10);
      await r;
    }
    const seen: Seen[] = [];
    let r = p.execute(slow(clock, { 1: { ms: 600 }, 2: { ms: 10 } }, seen));
    await clock.advance(510);
    await expect(r).resolves.toBe('value 2');
    expect(hedges).toEqual([500]);
    // That call counted 510 (its primary had run 510 ms without success). Samples now 10..190 and
    // 510: p90 by nearest rank = the 18th smallest = 180.
    r = p.execute(slow(clock, { 1: { ms: 600 }, 2: { ms: 10 } }, []));
    await clock.advance(190);
    await expect(r).resolves.toBe('value 2');
    expect(hedges).toEqual([500, 180]);
  });

  it('calls faster than the clock resolution give a delay of min (1 ms by default), not 0', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: { percentile: 95, window: 20 }, clock });
    const delays: number[] = [];
    p.on('hedge', (e) => delays.push(e.delay));
    for (let i = 0; i < 20; i++) await p.execute(() => i);
    let starts = 0;
    const r = p.execute((ctx) => {
      starts++;
      return clock.sleep(ctx.attempt === 1 ? 50 : 1).then(() => ctx.attempt);
    });
    await clock.flush();
    expect(starts).toBe(1); // not every attempt at once, as a delay of 0 would do
    await clock.advance(2);
    await expect(r).resolves.toBe(2);
    expect(delays).toEqual([1]);
  });

  it('a primary that failed contributes no sample', async () => {
    const clock = virtualClock();
    const p = hedge({ delay: { percentile: 50, window: 1, max: 100 }, clock });
    const delays: number[] = [];
    p.on('hedge', (e) => delays.push(e.delay));
    const r = p.execute(slow(clock, { 1: { ms: 1, fail: true }, 2: { ms: 1 } }, []));
    await clock.advance(5);
    await r;
    const r2 = p.execute(slow(clock, { 1: { ms: 1_000 }, 2: { ms: 1 } }, []));
    await clock.advance(101);
    await r2;
    expect(delays).toEqual([100, 100]); // still max: the window never got a sample
  });
});

describe('hedge: streams', () => {
  it("a loser's late stream is closed (its iterator's return() is called)", async () => {
    const clock = virtualClock();
    const p = hedge({ delay: 0, clock });
    const returned: number[] = [];
    const stream = (n: number): AsyncIterable<number> => ({
      [Symbol.asyncIterator]: () => ({
        next: async () => ({ done: false, value: n }),
        return: async () => {
          returned.push(n);
          return { done: true, value: undefined };
        },
      }),
    });
    const d2 = deferred<AsyncIterable<number>>();
    const r = p.execute((ctx) => (ctx.attempt === 1 ? stream(1) : d2.promise));
    const s = await r;
    d2.resolve(stream(2));
    await clock.flush();
    expect(returned).toEqual([2]);
    for await (const v of s) {
      expect(v).toBe(1);
      break;
    }
    expect(returned).toEqual([2, 1]);
  });
});

describe('hedge: late streams after an abort', () => {
  it('a stream that arrives after the caller aborted is closed, and the call rejects with the reason', async () => {
    const clock = virtualClock();
    const returned: number[] = [];
    const ac = new AbortController();
    const d = deferred<AsyncIterable<number>>();
    const r = hedge({ delay: 100, clock }).execute(() => d.promise, { signal: ac.signal });
    const check = expect(r).rejects.toBe('gone');
    ac.abort('gone');
    d.resolve({
      [Symbol.asyncIterator]: () => ({
        next: async () => ({ done: false, value: 1 }),
        return: async () => {
          returned.push(1);
          return { done: true, value: undefined };
        },
      }),
    });
    await check;
    expect(returned).toEqual([1]);
  });
});

describe('hedge: options', () => {
  it.each([
    [{}, TypeError, /`delay`/],
    [{ delay: -1 }, RangeError, /`delay`/],
    [{ delay: Number.NaN }, TypeError, /`delay`/],
    [{ delay: 'soon' }, TypeError, /`delay`/],
    [{ delay: { percentile: 0.95 } }, RangeError, /`delay.percentile`/],
    [{ delay: { percentile: 101 } }, RangeError, /`delay.percentile`/],
    [{ delay: { percentile: 95, window: 0 } }, RangeError, /`delay.window`/],
    [{ delay: { percentile: 95, window: 2.5 } }, TypeError, /`delay.window`/],
    [{ delay: { percentile: 95, min: 10, max: 5 } }, RangeError, /`delay.max`/],
    [{ delay: { percentile: 95, min: 0 } }, RangeError, /`delay.min`/],
    [{ delay: 1, maxHedges: -1 }, RangeError, /`maxHedges`/],
    [{ delay: 1, maxHedges: 1.5 }, TypeError, /`maxHedges`/],
    [{ delay: 1, maxHedges: Number.POSITIVE_INFINITY }, RangeError, /`maxHedges`/],
    [{ delay: 1, budget: 3 }, TypeError, /`budget`/],
    [{ delay: 1, budget: {} }, TypeError, /`budget`/],
    [{ delay: 1, handle: 'x' }, TypeError, /`handle`/],
    [{ delay: 1, clock: 5 }, TypeError, /`clock`/],
  ])('rejects %j', (o, type, message) => {
    expect(() => hedge(o as never)).toThrow(type);
    expect(() => hedge(o as never)).toThrow(message);
  });

  it('rejects missing options', () => {
    expect(() => hedge(undefined as never)).toThrow(TypeError);
    expect(() => hedge(null as never)).toThrow(TypeError);
  });

  it('hedgeBudget validates its options', () => {
    expect(() => hedgeBudget({ ratio: -1 })).toThrow(/`ratio`/);
    expect(() => hedgeBudget({ window: 0 })).toThrow(/`window`/);
    expect(() => hedgeBudget({ minPerSecond: Number.NaN })).toThrow(/`minPerSecond`/);
  });
});
