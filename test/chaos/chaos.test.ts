import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { type ChaosEvent, chaos, InjectedFaultError, isInjectedFaultError } from '../../src/chaos/index.js';
import { type Context, isTimeoutError, Policy } from '../../src/index.js';
import { seededRandom, virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';

const ok = (): string => 'real';

/** Runs `n` calls and returns what each one got: 'real', 'fault' or 'result'. */
async function tally(policy: Policy, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await policy.executeOutcome(ok);
    out.push(r.ok ? (r.value === 'real' ? 'real' : 'result') : 'fault');
  }
  return out;
}

describe('chaos: injections', () => {
  it('a fault throws instead of calling fn: the given error, a function of ctx, or InjectedFaultError', async () => {
    let calls = 0;
    const fn = () => ++calls;
    const boom = new Error('boom');
    await expect(chaos({ fault: { rate: 1, error: boom } }).execute(fn)).rejects.toBe(boom);
    await expect(
      chaos({ fault: { rate: 1, error: (ctx: Context) => new Error(`for ${ctx.key}`) } }).execute(fn, { key: 'k' }),
    ).rejects.toThrow('for k');
    const e = await chaos({ fault: { rate: 1 } })
      .execute(fn)
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InjectedFaultError);
    expect(isInjectedFaultError(e)).toBe(true);
    expect((e as InjectedFaultError).code).toBe('ERR_INJECTED_FAULT');
    expect(calls).toBe(0);
  });

  it('a result replaces the call: a value or a function of ctx (which may be async)', async () => {
    let calls = 0;
    const fn = () => ++calls;
    await expect(chaos({ result: { rate: 1, value: 'canned' } }).execute(fn)).resolves.toBe('canned');
    await expect(
      chaos({ result: { rate: 1, value: async (ctx: Context) => `for ${ctx.key}` } }).execute(fn, { key: 'k' }),
    ).resolves.toBe('for k');
    await expect(chaos({ result: { rate: 1 } }).execute(fn)).resolves.toBeUndefined();
    expect(calls).toBe(0);
  });

  it('latency waits on the clock, then runs fn (or the fault)', async () => {
    const clock = virtualClock();
    let started = -1;
    const p = chaos({ latency: { rate: 1, ms: 300 }, clock }).execute(() => {
      started = clock.now();
      return 'late';
    });
    await clock.advance(299);
    expect(started).toBe(-1);
    await clock.advance(1);
    await expect(p).resolves.toBe('late');
    expect(started).toBe(300);
    const f = chaos({ latency: { rate: 1, ms: (ctx) => (ctx.key === 'slow' ? 50 : 5) }, fault: { rate: 1 }, clock });
    const q = f.execute(ok, { key: 'slow' });
    const check = expect(q).rejects.toSatisfy(isInjectedFaultError);
    await clock.advance(50);
    await check;
    expect(clock.now()).toBe(350);
    await expect(chaos({ latency: { rate: 1, ms: () => -1 }, clock }).execute(ok)).rejects.toThrow(RangeError);
  });

  it("injected latency is abortable: the caller's reason, or an enclosing timeout's", async () => {
    const clock = virtualClock();
    const ac = new AbortController();
    let ran = false;
    const p = chaos({ latency: { rate: 1, ms: 10_000 }, clock }).execute(() => (ran = true), { signal: ac.signal });
    const check = expect(p).rejects.toBe('stop');
    await clock.advance(100);
    ac.abort('stop');
    await check;
    expect(ran).toBe(false);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(clock.pending).toBe(0);

    const t = Policy.wrap(timeout({ after: 200, clock }), chaos({ latency: { rate: 1, ms: 10_000 }, clock }));
    const q = t.execute(() => (ran = true));
    const check2 = expect(q).rejects.toSatisfy(isTimeoutError);
    await clock.advance(200);
    await check2;
    expect(ran).toBe(false);
  });

  it('emits one chaos event per injection, only to listeners', async () => {
    const clock = virtualClock();
    const p = chaos({ latency: { rate: 1, ms: 5 }, fault: { rate: 1 }, clock, name: 'db' });
    const events: ChaosEvent[] = [];
    const off = p.on('chaos', (e) => events.push(e));
    const r = p.execute(ok).catch(() => undefined);
    await clock.advance(5);
    await r;
    expect(events).toEqual([
      { type: 'chaos', kind: 'chaos', name: 'db', injection: 'latency', ms: 5 },
      { type: 'chaos', kind: 'chaos', name: 'db', injection: 'fault', ms: undefined },
    ]);
    off();
    await expect(chaos({ result: { rate: 1, value: 1 } }).execute(ok)).resolves.toBe(1);
  });
});

describe('chaos: rates and repeatability', () => {
  it('a seeded random replays the same run; another seed gives another', async () => {
    const make = (seed: number) =>
      chaos({ fault: { rate: 0.3 }, result: { rate: 0.3, value: 'x' }, random: seededRandom(seed) });
    const a = await tally(make(42), 300);
    const b = await tally(make(42), 300);
    const c = await tally(make(43), 300);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('rates hold statistically (10,000 calls, within 5 standard deviations)', async () => {
    const n = 10_000;
    for (const seed of [1, 2, 3]) {
      const out = await tally(
        chaos({ fault: { rate: 0.2 }, result: { rate: 0.25, value: 'x' }, random: seededRandom(seed) }),
        n,
      );
      const count = (k: string) => out.filter((o) => o === k).length;
      // A fault takes a call first; the result is drawn only for the others: 0.8 × 0.25 = 0.2.
      for (const [k, p] of [
        ['fault', 0.2],
        ['result', 0.2],
        ['real', 0.6],
      ] as const) {
        const sd = Math.sqrt(n * p * (1 - p));
        expect(Math.abs(count(k) - n * p), `${k} with seed ${seed}`).toBeLessThan(5 * sd);
      }
    }
    // With the default Math.random too.
    const out = await tally(chaos({ fault: { rate: 0.5 } }), 2_000);
    const faults = out.filter((o) => o === 'fault').length;
    expect(Math.abs(faults - 1_000)).toBeLessThan(5 * Math.sqrt(500));
  });

  it('a call injects when its draw is below the rate; draws go latency, fault, then result (skipped after a fault)', async () => {
    const script = [0.19, 0.2, 0.21, 0.5, 0.1];
    const drawn: number[] = [];
    const random = () => {
      const x = script.shift() as number;
      drawn.push(x);
      return x;
    };
    const p = chaos({ fault: { rate: 0.2 }, result: { rate: 0.3, value: 'x' }, random });
    // Call 1: fault draw 0.19 < 0.2, no result draw. Call 2: fault 0.2 (not below), result 0.21 < 0.3.
    // Call 3: fault 0.5, result 0.1.
    expect(await tally(p, 3)).toEqual(['fault', 'result', 'result']);
    expect(drawn).toEqual([0.19, 0.2, 0.21, 0.5, 0.1]);
    const clock = virtualClock();
    const order: number[] = [];
    const q = chaos({
      latency: { rate: 0.5, ms: 0 },
      fault: { rate: 0.5 },
      result: { rate: 0.5 },
      random: () => {
        order.push(order.length);
        return 0.9;
      },
      clock,
    });
    await q.execute(ok);
    expect(order).toEqual([0, 1, 2]); // one draw per configured injection when none fires
  });

  it('rate 0 never injects and rate 1 always does', async () => {
    expect(new Set(await tally(chaos({ fault: { rate: 0 }, result: { rate: 0 } }), 500))).toEqual(new Set(['real']));
    expect(new Set(await tally(chaos({ fault: { rate: 1 }, result: { rate: 1 } }), 500))).toEqual(new Set(['fault']));
  });

  it('seededRandom spreads values over [0, 1)', () => {
    const r = seededRandom(7);
    const xs = Array.from({ length: 10_000 }, r);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
    expect(() => seededRandom(1.5)).toThrow(TypeError);
    expect(() => seededRandom(Number.POSITIVE_INFINITY)).toThrow(/`seed`/);
  });
});

describe('chaos: enabled', () => {
  it('a function is asked on every call, so chaos can be flipped at run time; off, nothing is drawn', async () => {
    let on = false;
    let draws = 0;
    const random = () => {
      draws++;
      return 0;
    };
    const p = chaos({ fault: { rate: 0.5 }, enabled: () => on, random });
    await expect(p.execute(ok)).resolves.toBe('real');
    on = true;
    await expect(p.execute(ok)).rejects.toSatisfy(isInjectedFaultError);
    on = false;
    await expect(p.execute(ok)).resolves.toBe('real');
    expect(draws).toBe(1);
  });

  it('enabled: false passes every call through, with or without listeners', async () => {
    let draws = 0;
    const p = chaos({
      fault: { rate: 1 },
      enabled: false,
      random: () => {
        draws++;
        return 0;
      },
    });
    const events: unknown[] = [];
    p.on('*', (e) => events.push(e));
    await expect(p.execute(ok)).resolves.toBe('real');
    await expect(p.execute(() => Promise.reject(new Error('real failure')))).rejects.toThrow('real failure');
    await expect(
      p.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(draws).toBe(0);
    expect(events).toEqual([]);
  });

  it('inside a pipeline, a call that injects nothing keeps the real outcome', async () => {
    const clock = virtualClock();
    const p = Policy.wrap(
      timeout({ after: 1_000, clock }),
      chaos({ fault: { rate: 0 }, clock }),
      timeout({ after: 500, clock }),
    );
    await expect(p.execute(ok)).resolves.toBe('real');
    await expect(p.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
  });
});

describe('chaos: options', () => {
  it.each([
    [{}, TypeError, /at least one of/],
    [{ fault: 3 }, TypeError, /`fault`/],
    [{ fault: null }, TypeError, /`fault`/],
    [{ fault: {} }, TypeError, /`fault.rate`/],
    [{ fault: { rate: 1.5 } }, RangeError, /`fault.rate`/],
    [{ fault: { rate: -0.1 } }, RangeError, /`fault.rate`/],
    [{ latency: { rate: 0.5 } }, TypeError, /`latency.ms`/],
    [{ latency: { rate: 0.5, ms: -1 } }, RangeError, /`latency.ms`/],
    [{ result: { rate: Number.NaN } }, TypeError, /`result.rate`/],
    [{ fault: { rate: 1 }, enabled: 'yes' }, TypeError, /`enabled`/],
    [{ fault: { rate: 1 }, random: 4 }, TypeError, /`random`/],
    [{ fault: { rate: 1 }, clock: 'now' }, TypeError, /`clock`/],
  ])('rejects %j', (o, type, message) => {
    expect(() => chaos(o as never)).toThrow(type);
    expect(() => chaos(o as never)).toThrow(message);
  });

  it('rejects missing options', () => {
    expect(() => chaos(undefined as never)).toThrow(TypeError);
    expect(() => chaos(null as never)).toThrow(TypeError);
  });
});
