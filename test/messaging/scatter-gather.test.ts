import { describe, expect, it } from 'vitest';
import type { CallContext } from '../../src/core/context.js';
import { isTimeoutError } from '../../src/core/errors.js';
import { BaseLayer, type Chain, invoke, Pipeline, type Policy } from '../../src/core/policy.js';
import {
  GatherError,
  type Handler,
  isBranchCancelledError,
  isGatherError,
  scatterGather,
} from '../../src/messaging/index.js';
import { type VirtualClock, virtualClock } from '../../src/testing/index.js';

interface Spec {
  readonly ms: number;
  readonly value?: string;
  readonly error?: string;
}

// A fake model: answers after `ms` on the clock, or fails; records the abort reason it observed.
const branch =
  (clock: VirtualClock, spec: Spec, aborts: Map<string, unknown>, name: string): Handler<string, string> =>
  async (_req, ctx) => {
    try {
      await clock.sleep(spec.ms, ctx.signal);
    } catch (e) {
      aborts.set(name, e);
      throw e;
    }
    if (spec.error !== undefined) throw new Error(spec.error);
    return spec.value as string;
  };

const build = (specs: Record<string, Spec>) => {
  const clock = virtualClock();
  const aborts = new Map<string, unknown>();
  const handlers: Record<string, Handler<string, string>> = {};
  for (const [name, spec] of Object.entries(specs)) handlers[name] = branch(clock, spec, aborts, name);
  return { clock, aborts, handlers };
};

const statuses = (bs: readonly { name: string; status: string }[]) =>
  Object.fromEntries(bs.map((b) => [b.name, b.status]));

describe('scatterGather', () => {
  it("gather 'all' waits for every branch; select 'first' takes the earliest success", async () => {
    const { clock, handlers } = build({
      slow: { ms: 30, value: 'S' },
      fast: { ms: 10, value: 'F' },
      bad: { ms: 20, error: 'down' },
    });
    const sg = scatterGather({ handlers, clock, timeout: 100 });
    const p = sg.execute('q');
    await clock.advance(30);
    const r = await p;
    expect(r.value).toBe('F');
    expect(r.completedBy).toBe('all');
    expect(r.branches).toEqual([
      { name: 'slow', status: 'ok', value: 'S', ms: 30 },
      { name: 'fast', status: 'ok', value: 'F', ms: 10 },
      { name: 'bad', status: 'error', error: expect.any(Error), ms: 20 },
    ]);
    expect(clock.pending).toBe(0);
  });

  it("gather 'first' takes the first success and aborts the branches still running", async () => {
    const { clock, handlers, aborts } = build({
      a: { ms: 5, error: 'a down' },
      b: { ms: 10, value: 'B' },
      c: { ms: 50, value: 'C' },
    });
    const sg = scatterGather({ handlers, gather: 'first', clock, timeout: 100 });
    const p = sg.execute('q');
    await clock.advance(10);
    const r = await p;
    expect(r).toMatchObject({ value: 'B', completedBy: 'first' });
    expect(statuses(r.branches)).toEqual({ a: 'error', b: 'ok', c: 'cancelled' });
    expect(r.branches[2]?.ms).toBe(10);
    expect(isBranchCancelledError(aborts.get('c'))).toBe(true);
    expect([...aborts.keys()]).toEqual(['c']);
    expect(clock.pending).toBe(0);
  });

  it('quorum: decides at k successes and cancels the rest', async () => {
    const { clock, handlers, aborts } = build({
      a: { ms: 10, value: 'x' },
      b: { ms: 20, error: 'b' },
      c: { ms: 30, value: 'y' },
      d: { ms: 40, value: 'z' },
    });
    const sg = scatterGather({ handlers, gather: { quorum: 2 }, select: 'first', clock });
    const p = sg.execute('q');
    await clock.advance(30);
    const r = await p;
    expect(r).toMatchObject({ value: 'x', completedBy: 'quorum' });
    expect(statuses(r.branches)).toEqual({ a: 'ok', b: 'error', c: 'ok', d: 'cancelled' });
    expect(aborts.has('d')).toBe(true);
  });

  it('quorum: rejects at once with an AggregateError of the branch errors when it becomes unreachable', async () => {
    const { clock, handlers, aborts } = build({
      a: { ms: 10, error: 'a' },
      b: { ms: 20, error: 'b' },
      c: { ms: 30, value: 'y' },
      d: { ms: 40, value: 'z' },
    });
    const sg = scatterGather({ handlers, gather: { quorum: 3 }, clock });
    const p = sg.execute('q').catch((e: unknown) => e);
    await clock.advance(20);
    const e = (await p) as GatherError;
    expect(e).toBeInstanceOf(AggregateError);
    expect(e).toBeInstanceOf(GatherError);
    expect(isGatherError(e)).toBe(true);
    expect(isGatherError(new AggregateError([]))).toBe(false);
    expect(e.code).toBe('ERR_GATHER_UNSATISFIED');
    expect(e.errors.map((x: Error) => x.message)).toEqual(['a', 'b']);
    expect(e.completedBy).toBe('quorum');
    expect(statuses(e.branches)).toEqual({ a: 'error', b: 'error', c: 'cancelled', d: 'cancelled' });
    expect([...aborts.keys()].sort()).toEqual(['c', 'd']);
    expect(clock.pending).toBe(0);
  });

  it('until: decides when the predicate over the successes holds', async () => {
    const { clock, handlers, aborts } = build({
      a: { ms: 10, value: 'draft' },
      b: { ms: 20, value: 'good answer' },
      c: { ms: 30, value: 'late' },
    });
    const sg = scatterGather({
      handlers,
      gather: { until: (ok) => ok.some((r) => r.value.startsWith('good')) },
      select: 'best',
      score: (v) => v.length,
      clock,
    });
    const p = sg.execute('q');
    await clock.advance(20);
    const r = await p;
    expect(r).toMatchObject({ value: 'good answer', completedBy: 'until' });
    expect(aborts.has('c')).toBe(true);
    // never satisfied: falls back to 'all'
    const never = scatterGather({ handlers, gather: { until: () => false }, clock });
    const q = never.execute('q');
    await clock.advance(30);
    await expect(q).resolves.toMatchObject({ completedBy: 'all', value: 'draft' });
  });

  it('timeout: partial results, running branches aborted with a TimeoutError and status timeout', async () => {
    const { clock, handlers, aborts } = build({
      a: { ms: 10, value: 'A' },
      b: { ms: 500, value: 'B' },
      c: { ms: 20, error: 'c' },
    });
    const sg = scatterGather({ handlers, gather: 'all', clock, timeout: 100 });
    const p = sg.execute('q');
    await clock.advance(100);
    const r = await p;
    expect(r).toMatchObject({ value: 'A', completedBy: 'timeout' });
    expect(r.branches).toEqual([
      { name: 'a', status: 'ok', value: 'A', ms: 10 },
      { name: 'b', status: 'timeout', ms: 100 },
      { name: 'c', status: 'error', error: expect.any(Error), ms: 20 },
    ]);
    expect(isTimeoutError(aborts.get('b'))).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('timeout with no success (or below quorum) rejects with the branch errors and TimeoutErrors', async () => {
    const { clock, handlers } = build({ a: { ms: 10, error: 'a' }, b: { ms: 500, value: 'B' } });
    const p = scatterGather({ handlers, clock, timeout: 100 })
      .execute('q')
      .catch((e: unknown) => e);
    await clock.advance(100);
    const e = (await p) as GatherError;
    expect(e.completedBy).toBe('timeout');
    expect(e.errors).toHaveLength(2);
    expect(isTimeoutError(e.errors[1])).toBe(true);

    const q = build({ a: { ms: 10, value: 'A' }, b: { ms: 500, value: 'B' } });
    const p2 = scatterGather({ handlers: q.handlers, gather: { quorum: 2 }, clock: q.clock, timeout: 100 })
      .execute('q')
      .catch((x: unknown) => x);
    await q.clock.advance(100);
    const e2 = (await p2) as GatherError;
    expect(isGatherError(e2)).toBe(true);
    expect(statuses(e2.branches)).toEqual({ a: 'ok', b: 'timeout' });
  });

  it("rejects with an AggregateError only when every branch failed ('all' and 'first')", async () => {
    for (const gather of ['all', 'first'] as const) {
      const { clock, handlers } = build({ a: { ms: 10, error: 'a' }, b: { ms: 20, error: 'b' } });
      const p = scatterGather({ handlers, gather, clock })
        .execute('q')
        .catch((e: unknown) => e);
      await clock.advance(20);
      const e = (await p) as GatherError;
      expect(e.errors.map((x: Error) => x.message)).toEqual(['a', 'b']);
      expect(e.completedBy).toBe(gather);
    }
  });

  it('vote: normalised majority; ties broken by score, then by declaration order', async () => {
    const run = async (specs: Record<string, Spec>, score?: (v: string) => number) => {
      const { clock, handlers } = build(specs);
      const p = scatterGather({ handlers, select: 'vote', score, clock }).execute('q');
      await clock.runAll();
      return (await p).value;
    };
    expect(
      await run({ a: { ms: 1, value: 'Paris' }, b: { ms: 2, value: 'Lyon' }, c: { ms: 3, value: ' paris ' } }),
    ).toBe('Paris');
    // 1-1 tie, no score: earliest in declaration order (not completion order)
    expect(await run({ a: { ms: 9, value: 'x' }, b: { ms: 1, value: 'y' } })).toBe('x');
    // 1-1 tie broken by score
    expect(await run({ a: { ms: 1, value: 'x' }, b: { ms: 2, value: 'yy' } }, (v) => v.length)).toBe('yy');
    // the winning group's best-scored member is returned
    expect(
      await run({ a: { ms: 1, value: 'ok' }, b: { ms: 2, value: 'OK' }, c: { ms: 3, value: 'no' } }, (v) =>
        v === 'OK' ? 2 : 1,
      ),
    ).toBe('OK');
    // objects compare by JSON
    const { clock } = build({});
    const sg = scatterGather<string, { a: number }>({
      handlers: [
        { name: 'x', handler: () => ({ a: 1 }) },
        { name: 'y', handler: () => ({ a: 2 }) },
        { name: 'z', handler: () => ({ a: 2 }) },
      ],
      select: 'vote',
      clock,
    });
    await expect(sg.execute('q')).resolves.toMatchObject({ value: { a: 2 } });
  });

  it("select 'best' takes the max score (ties: declaration order); a function gets successes in completion order", async () => {
    const specs = { a: { ms: 3, value: 'bb' }, b: { ms: 1, value: 'a' }, c: { ms: 2, value: 'cc' } };
    const b = build(specs);
    const best = scatterGather({ handlers: b.handlers, select: 'best', score: (v) => v.length, clock: b.clock });
    const p = best.execute('q');
    await b.clock.runAll();
    expect((await p).value).toBe('bb');
    const f = build(specs);
    const fn = scatterGather({ handlers: f.handlers, select: (ok) => ok.map((r) => r.name).join(','), clock: f.clock });
    const q = fn.execute('q');
    await f.clock.runAll();
    expect((await q).value).toBe('b,c,a');
    const t = build(specs);
    const throwing = scatterGather<string, string>({
      handlers: t.handlers,
      select: () => {
        throw new Error('select');
      },
      clock: t.clock,
    });
    const r = throwing.execute('q');
    await t.clock.runAll();
    await expect(r).rejects.toThrow('select');
  });

  it("a caller abort rejects with the caller's reason, aborts every branch and removes its listener", async () => {
    const { clock, handlers, aborts } = build({ a: { ms: 10, value: 'A' }, b: { ms: 50, value: 'B' } });
    const controller = new AbortController();
    let listeners = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners++;
      add(...args);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners--;
      remove(...args);
    }) as typeof remove;
    const sg = scatterGather({ handlers, clock });
    const done = sg.execute('q', { signal });
    await clock.advance(50);
    await done;
    expect(listeners).toBe(0);

    const p = sg.execute('q', { signal });
    await clock.advance(20);
    const reason = new Error('user left');
    controller.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(aborts.get('b')).toBe(reason);
    expect(listeners).toBe(0);
    expect(clock.pending).toBe(0);
    await expect(sg.execute('q', { signal })).rejects.toBe(reason);
  });

  it('runs each branch under the policy with its own execution, passing key and data', async () => {
    class Count extends BaseLayer<never> {
      runs = 0;
      keys: unknown[] = [];
      constructor() {
        super('count', undefined);
      }
      run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
        this.runs++;
        this.keys.push(ctx.key);
        return Promise.resolve(invoke(ctx, inner));
      }
    }
    const layer = new Count();
    const policy = new Pipeline([layer]) as unknown as Policy;
    const sg = scatterGather<number, number>({
      handlers: { a: (n, ctx) => n + (ctx.data.add as number), b: (n) => n * 10 },
      select: 'best',
      score: (v) => v,
      policy,
    });
    await expect(sg.execute(2, { key: 'k', data: { add: 1 } })).resolves.toMatchObject({ value: 20 });
    expect(layer.runs).toBe(2);
    expect(layer.keys).toEqual(['k', 'k']);
  });

  it('gives each branch its own lazily created signal; an abort before the first read is replayed', async () => {
    const clock = virtualClock();
    let late: AbortSignal | undefined;
    const seen: { key: string | undefined; data: unknown; attempt: number }[] = [];
    const sg = scatterGather<number, number>({
      handlers: {
        fast: (n, ctx) => {
          seen.push({ key: ctx.key, data: ctx.data, attempt: ctx.attempt });
          return n;
        },
        slow: async (n, ctx) => {
          await clock.sleep(50); // does not watch the signal while sleeping
          late = ctx.signal; // first read after the gather decided
          return n;
        },
      },
      gather: 'first',
      clock,
    });
    const p = sg.execute(1, { key: 'k1' });
    await clock.advance(50);
    await expect(p).resolves.toMatchObject({ value: 1, completedBy: 'first' });
    expect(late?.aborted).toBe(true);
    expect(isBranchCancelledError(late?.reason)).toBe(true);
    expect(seen).toEqual([{ key: 'k1', data: {}, attempt: 1 }]);
  });

  it('aborts losing branches through the policy-derived signal when a policy is given', async () => {
    class Pass extends BaseLayer<never> {
      constructor() {
        super('pass', undefined);
      }
      run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
        return Promise.resolve(invoke(ctx, inner));
      }
    }
    const { clock, handlers, aborts } = build({ a: { ms: 10, value: 'A' }, b: { ms: 50, value: 'B' } });
    const policy = new Pipeline([new Pass()]) as unknown as Policy;
    const p = scatterGather({ handlers, gather: 'first', policy, clock }).execute('q');
    await clock.advance(10);
    await expect(p).resolves.toMatchObject({ value: 'A' });
    expect(isBranchCancelledError(aborts.get('b'))).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('handles synchronous throws and values from handlers', async () => {
    const sg = scatterGather<number, number>({
      handlers: {
        bad: () => {
          throw new Error('sync');
        },
        good: (n) => n,
      },
    });
    const r = await sg.execute(7);
    expect(r.value).toBe(7);
    expect(statuses(r.branches)).toEqual({ bad: 'error', good: 'ok' });
  });

  it('validates options, naming the option', () => {
    const h = { a: () => 1 };
    expect(() => scatterGather(undefined as never)).toThrow(TypeError);
    expect(() => scatterGather({ handlers: null as never })).toThrow('`handlers`');
    expect(() => scatterGather({ handlers: {} })).toThrow(RangeError);
    expect(() => scatterGather({ handlers: { a: 1 as never } })).toThrow('`handlers.a`');
    expect(() => scatterGather({ handlers: [{ name: '', handler: () => 1 }] })).toThrow('`handlers[0].name`');
    expect(() =>
      scatterGather({
        handlers: [
          { name: 'a', handler: () => 1 },
          { name: 'a', handler: () => 1 },
        ],
      }),
    ).toThrow('unique');
    expect(() => scatterGather({ handlers: h, gather: 'some' as never })).toThrow('`gather`');
    expect(() => scatterGather({ handlers: h, gather: {} as never })).toThrow('`gather`');
    expect(() => scatterGather({ handlers: h, gather: { quorum: 2 } })).toThrow('`gather.quorum`');
    expect(() => scatterGather({ handlers: h, gather: { until: 1 as never } })).toThrow('`gather.until`');
    expect(() => scatterGather({ handlers: h, select: 'max' as never })).toThrow('`select`');
    expect(() => scatterGather({ handlers: h, select: 'best' })).toThrow('`score`');
    expect(() => scatterGather({ handlers: h, timeout: 0 })).toThrow('`timeout`');
    expect(() => scatterGather({ handlers: h, timeout: Number.POSITIVE_INFINITY })).toThrow('`timeout`');
    expect(() => scatterGather({ handlers: h, policy: {} as never })).toThrow('`policy`');
    expect(() => scatterGather({ handlers: h, normalize: 1 as never })).toThrow('`normalize`');
  });
});
