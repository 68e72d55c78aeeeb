import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CallContext, Context } from '../../src/core/context.js';
import type { PolicyEventBase } from '../../src/core/events.js';
import { BaseLayer, type Chain, invoke, Pipeline, Policy } from '../../src/core/policy.js';
import { fallback } from '../../src/fallback/fallback.js';
import { constant } from '../../src/retry/backoff.js';
import { retry } from '../../src/retry/retry.js';
import { virtualClock } from '../../src/testing/virtual-clock.js';
import { timeout } from '../../src/timeout/timeout.js';

type TraceEvent = PolicyEventBase & { readonly type: 'enter' | 'leave' };

/** A layer that records its entry and exit, to observe the order of a pipeline. */
class TraceLayer extends BaseLayer<TraceEvent> {
  readonly #log: string[];
  constructor(name: string, log: string[]) {
    super('trace', name);
    this.#log = log;
  }
  async run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    this.#log.push(`>${this.name}`);
    if (this.events.has('enter')) this.events.emit({ type: 'enter', kind: this.kind, name: this.name });
    try {
      return await invoke(ctx, inner);
    } finally {
      this.#log.push(`<${this.name}`);
    }
  }
}
const trace = (name: string, log: string[]) =>
  new Pipeline<TraceEvent>([new TraceLayer(name, log)]) as Policy<TraceEvent>;

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('Policy.wrap', () => {
  it('runs the first argument as the outermost layer', async () => {
    const log: string[] = [];
    const p = Policy.wrap(trace('a', log), trace('b', log), trace('c', log));
    await p.execute(() => log.push('fn'));
    expect(log).toEqual(['>a', '>b', '>c', 'fn', '<c', '<b', '<a']);
    expect(p.layers.map((l) => l.name)).toEqual(['a', 'b', 'c']);
  });

  it('flattens nested pipelines in order', async () => {
    const log: string[] = [];
    const inner = Policy.wrap(trace('b', log), trace('c', log));
    await Policy.wrap(trace('a', log), inner, trace('d', log)).execute(() => undefined);
    expect(log.filter((s) => s.startsWith('>'))).toEqual(['>a', '>b', '>c', '>d']);
  });

  it('is what makes retry-inside-timeout differ from timeout-inside-retry', async () => {
    const clock = virtualClock();
    let calls = 0;
    const slow = (ctx: Context) =>
      new Promise((_, reject) => {
        calls++;
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      });
    // timeout outermost: the whole operation (retries included) gets 100 ms → one attempt.
    const total = Policy.wrap(timeout({ after: 100, clock }), retry({ maxRetries: 3, backoff: constant(0), clock }));
    const p1 = total.execute(slow);
    const e1 = expect(p1).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    await clock.advance(100);
    await e1;
    expect(calls).toBe(1);
    // retry outermost: every attempt gets its own 100 ms → 4 attempts.
    calls = 0;
    const perTry = Policy.wrap(retry({ maxRetries: 3, backoff: constant(0), clock }), timeout({ after: 100, clock }));
    const p2 = perTry.execute(slow);
    const e2 = expect(p2).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    await clock.advance(400);
    await e2;
    expect(calls).toBe(4);
  });

  it('rejects arguments that are not policies', () => {
    expect(() => Policy.wrap({} as never)).toThrow(TypeError);
    expect(() => Policy.wrap(null as never)).toThrow(/Policy.wrap/);
  });

  it('with no argument behaves like noop', async () => {
    await expect(Policy.wrap().execute(() => 7)).resolves.toBe(7);
  });
});

describe('Policy.noop', () => {
  it('runs the function as is, and is one shared value', async () => {
    expect(Policy.noop).toBe(Policy.noop);
    expect(Policy.noop.layers).toEqual([]);
    await expect(Policy.noop.execute(() => 1)).resolves.toBe(1);
    await expect(Policy.noop.execute(async () => 2)).resolves.toBe(2);
    const boom = new Error('boom');
    await expect(
      Policy.noop.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
  });
});

describe('execute / executeOutcome / bind', () => {
  const policies = {
    noop: () => Policy.noop,
    retry: () => retry({ maxRetries: 0 }),
    timeout: () => timeout(1_000),
    fallback: () => fallback({ to: () => 'fb', handle: () => false }),
    pipeline: () => Policy.wrap(timeout(1_000), retry({ maxRetries: 0 })),
  };

  for (const [label, make] of Object.entries(policies)) {
    it(`${label}: a synchronous throw becomes a rejection (never a synchronous throw)`, async () => {
      const boom = new Error('sync');
      let p: Promise<unknown> | undefined;
      expect(() => {
        p = make().execute(() => {
          throw boom;
        });
      }).not.toThrow();
      await expect(p).rejects.toBe(boom);
    });

    it(`${label}: a pre-aborted caller signal rejects with its reason and never calls fn`, async () => {
      const reason = { mine: true };
      const fn = vi.fn();
      await expect(make().execute(fn, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      expect(fn).not.toHaveBeenCalled();
    });
  }

  it('executeOutcome resolves to { ok, value } or { ok: false, error } and never rejects', async () => {
    const p = retry({ maxRetries: 0 });
    await expect(p.executeOutcome(() => 5)).resolves.toEqual({ ok: true, value: 5 });
    const boom = new Error('x');
    await expect(
      p.executeOutcome(() => {
        throw boom;
      }),
    ).resolves.toEqual({ ok: false, error: boom });
    const reason = new Error('aborted');
    await expect(p.executeOutcome(() => 1, { signal: AbortSignal.abort(reason) })).resolves.toEqual({
      ok: false,
      error: reason,
    });
  });

  it('bind turns a plain function into a protected one with the same parameters', async () => {
    let calls = 0;
    const add = async (a: number, b: number) => {
      calls++;
      if (calls === 1) throw new Error('flaky');
      return a + b;
    };
    const safeAdd = retry({ maxRetries: 1, backoff: constant(0) }).bind(add);
    await expect(safeAdd(2, 3)).resolves.toBe(5);
    expect(calls).toBe(2);
    const reason = new Error('caller');
    const aborted = Policy.noop.bind((x: number) => x, { signal: AbortSignal.abort(reason) });
    await expect(aborted(1)).rejects.toBe(reason);
  });
});

describe('Context', () => {
  it('gives fn attempt, key, data, deadline and signal', async () => {
    const seen: Context[] = [];
    const data = { user: 'u1' };
    await Policy.noop.execute((ctx) => seen.push(ctx), { key: 'k1', data });
    const ctx = seen[0] as Context;
    expect(ctx.attempt).toBe(1);
    expect(ctx.key).toBe('k1');
    expect(ctx.data).toBe(data);
    expect(ctx.deadline).toBeUndefined();
    expect(ctx.signal).toBeInstanceOf(AbortSignal);
    expect(ctx.signal.aborted).toBe(false);
  });

  it('data defaults to one empty object per call; key to undefined', async () => {
    const datas: Record<string, unknown>[] = [];
    const keys: unknown[] = [];
    for (let i = 0; i < 2; i++) {
      await Policy.noop.execute((ctx) => {
        datas.push(ctx.data);
        keys.push(ctx.key);
        ctx.data.x = i;
        expect(ctx.data).toBe(datas[datas.length - 1]);
      });
    }
    expect(datas).toEqual([{ x: 0 }, { x: 1 }]);
    expect(datas[0]).not.toBe(datas[1]);
    expect(keys).toEqual([undefined, undefined]);
  });

  it('without caller signal or timeout, each call gets a signal of its own that never aborts', async () => {
    const signals: AbortSignal[] = [];
    await Policy.noop.execute((ctx) => signals.push(ctx.signal));
    await Policy.noop.execute((ctx) => signals.push(ctx.signal));
    await retry().execute((ctx) => signals.push(ctx.signal));
    expect(new Set(signals).size).toBe(3);
    for (const s of signals) expect(s.aborted).toBe(false);
  });

  it('with only a caller signal, ctx.signal is the call’s own, follows the caller, and is detached at settle', async () => {
    const ac = new AbortController();
    let seen: AbortSignal | undefined;
    await Policy.noop.execute(
      (ctx) => {
        seen = ctx.signal;
        expect(ctx.signal).not.toBe(ac.signal);
        expect(ctx.signal).toBe(ctx.signal); // one per call, not one per read
      },
      { signal: ac.signal },
    );
    // Settled: the caller's abort no longer reaches the finished call's signal.
    ac.abort(new Error('later'));
    expect(seen?.aborted).toBe(false);
    const ac2 = new AbortController();
    const p = Policy.noop.execute(
      (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      { signal: ac2.signal },
    );
    const reason = new Error('stop');
    ac2.abort(reason);
    await expect(p).rejects.toBe(reason);
  });

  it('one context per call: every layer and every attempt see the same object', async () => {
    const clock = virtualClock();
    const seen = new Set<Context>();
    const attempts: number[] = [];
    const p = Policy.wrap(
      timeout({ after: 10_000, clock }),
      retry({ maxRetries: 2, backoff: constant(0), clock }),
      timeout({ after: 5_000, clock }),
    );
    await p.execute((ctx) => {
      seen.add(ctx);
      attempts.push(ctx.attempt);
      if (ctx.attempt < 3) throw new Error('again');
      return 'ok';
    });
    expect(seen.size).toBe(1);
    expect(attempts).toEqual([1, 2, 3]);
    const again = new Set<Context>();
    await p.execute((ctx) => again.add(ctx));
    expect([...again][0]).not.toBe([...seen][0]);
  });

  it('creates no AbortController through timeout + retry when fn never reads ctx.signal', async () => {
    const Original = globalThis.AbortController;
    let created = 0;
    class Counting extends Original {
      constructor() {
        super();
        created++;
      }
    }
    vi.stubGlobal('AbortController', Counting);
    const clock = virtualClock();
    const ac = new Original();
    const p = Policy.wrap(
      timeout({ after: 1_000, clock }),
      retry({ maxRetries: 2, backoff: constant(0), clock }),
      timeout({ after: 500, clock }),
    );
    let n = 0;
    for (let i = 0; i < 10; i++) {
      await p.execute(() => {
        if (++n % 2 === 1) throw new Error('retry me');
        return n;
      });
      await p.execute(() => i, { signal: ac.signal });
    }
    expect(created).toBe(0);
    // Reading the signal is what allocates it.
    await p.execute((ctx) => ctx.signal);
    expect(created).toBeGreaterThan(0);
  });

  it('deadline: set by a timeout to clock time, the nearer one wins', async () => {
    const clock = virtualClock({ start: 1_000 });
    const deadlines: (number | undefined)[] = [];
    const record = (ctx: Context) => deadlines.push(ctx.deadline);
    await timeout({ after: 500, clock }).execute(record);
    await Policy.wrap(timeout({ after: 500, clock }), timeout({ after: 200, clock })).execute(record);
    await Policy.wrap(timeout({ after: 200, clock }), timeout({ after: 500, clock })).execute(record);
    expect(deadlines).toEqual([1_500, 1_200, 1_200]);
  });
});

describe('BaseLayer.listening', () => {
  type ProbeEvent = PolicyEventBase & { readonly type: 'ping' | 'pong' };
  class Probe extends BaseLayer<ProbeEvent> {
    readonly seen: [boolean, boolean][] = [];
    constructor() {
      super('probe', undefined);
    }
    run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
      this.seen.push([this.listening(), this.listening('ping')]);
      if (this.listening('ping')) this.emit({ type: 'ping', kind: this.kind, name: this.name });
      return Promise.resolve(invoke(ctx, inner));
    }
  }

  it('reports listeners per type and in total, and follows unsubscribe', async () => {
    const layer = new Probe();
    const policy = new Pipeline<ProbeEvent>([layer]);
    await policy.execute(() => 1);
    const pings: string[] = [];
    const offPong = policy.on('pong', () => {});
    await policy.execute(() => 1);
    const offPing = policy.on('ping', () => pings.push('ping'));
    await policy.execute(() => 1);
    offPing();
    offPong();
    await policy.execute(() => 1);
    expect(layer.seen).toEqual([
      [false, false],
      [true, false],
      [true, true],
      [false, false],
    ]);
    expect(pings).toEqual(['ping']);
  });
});
