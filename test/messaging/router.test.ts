import { describe, expect, it, vi } from 'vitest';
import type { CallContext, Context } from '../../src/core/context.js';
import { BaseLayer, type Chain, invoke, Pipeline, Policy } from '../../src/core/policy.js';
import { isNoRouteError, NoRouteError, router } from '../../src/messaging/index.js';

// A policy that counts runs and retries once on failure, to see that handlers run under it.
class CountingLayer extends BaseLayer<never> {
  runs = 0;
  constructor() {
    super('counting', undefined);
  }
  async run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    this.runs++;
    try {
      return await invoke(ctx, inner);
    } catch {
      ctx.attempt++;
      return await invoke(ctx, inner);
    }
  }
}
const counting = () => {
  const layer = new CountingLayer();
  return { layer, policy: new Pipeline([layer]) as unknown as Policy };
};

describe('router', () => {
  it('takes the first matching route in order', async () => {
    const seen: string[] = [];
    const visit = (name: string, result: boolean): boolean => {
      seen.push(name);
      return result;
    };
    const r = router<number, string>({
      routes: [
        { name: 'neg', when: (n) => visit('neg', n < 0), to: () => 'neg' },
        { name: 'small', when: (n) => visit('small', n < 10), to: (n) => `small:${n}` },
        { name: 'any', when: () => visit('any', true), to: () => 'any' },
      ],
    });
    await expect(r.route(3)).resolves.toEqual({ route: 'small', confidence: 1, value: 'small:3' });
    expect(seen).toEqual(['neg', 'small']);
    await expect(r.route(-1)).resolves.toMatchObject({ route: 'neg', value: 'neg' });
    await expect(r.route(50)).resolves.toMatchObject({ route: 'any' });
  });

  it('awaits async `when`s in order and passes the caller signal to them and to the handler', async () => {
    const controller = new AbortController();
    const signals: AbortSignal[] = [];
    const r = router<string, string>({
      routes: [
        { name: 'a', when: async (_m, ctx) => signals.push(ctx.signal) < 0, to: () => 'a' },
        { name: 'b', when: () => false, to: () => 'b' },
        {
          name: 'c',
          when: async (m) => m === 'c',
          to: (_m, ctx) => {
            signals.push(ctx.signal);
            return new Promise<string>((resolve) => ctx.signal.addEventListener('abort', () => resolve('c')));
          },
        },
      ],
      otherwise: () => 'other',
    });
    const p = r.route('c', { signal: controller.signal });
    await vi.waitFor(() => expect(signals).toHaveLength(2));
    // Each call's own signals, following the caller's. The `when`s' call is over (detached); the
    // running handler's signal sees the caller's abort.
    expect(signals.every((s) => s !== controller.signal && !s.aborted)).toBe(true);
    expect(signals[0]).not.toBe(signals[1]);
    controller.abort(new Error('stop'));
    expect(signals.map((s) => s.aborted)).toEqual([false, true]);
    await expect(p).resolves.toMatchObject({ route: 'c', value: 'c' });
    await expect(r.route('x')).resolves.toMatchObject({ route: 'otherwise', value: 'other', confidence: 0 });
  });

  it('rejects with NoRouteError when nothing matches and there is no otherwise', async () => {
    const r = router<number, number>({ routes: [{ name: 'zero', when: (n) => n === 0, to: (n) => n }] });
    const e = await r.route(1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NoRouteError);
    expect(isNoRouteError(e)).toBe(true);
    expect((e as NoRouteError).code).toBe('ERR_NO_ROUTE');
    expect((e as NoRouteError).reason).toBe('no-match');
    expect(isNoRouteError(new Error('x'))).toBe(false);
  });

  it('sends a match below minConfidence to otherwise, or rejects with low-confidence', async () => {
    const classify = (text: string): number => (text.includes('find') ? (text.includes('maybe') ? 0.4 : 0.9) : 0);
    const routes = [
      { name: 'search', when: async (t: string) => classify(t), to: (t: string) => `search:${t}` },
      { name: 'fallthrough', when: () => 0.95, to: () => 'never-for-low' },
    ];
    const r = router<string, string>({ routes, minConfidence: 0.7, otherwise: () => 'clarify' });
    await expect(r.route('find cats')).resolves.toEqual({
      route: 'search',
      confidence: 0.9,
      value: 'search:find cats',
    });
    // low confidence: otherwise, not the next route
    await expect(r.route('maybe find')).resolves.toEqual({ route: 'otherwise', confidence: 0.4, value: 'clarify' });
    await expect(r.route('hello')).resolves.toMatchObject({ route: 'fallthrough' });
    const strict = router<string, string>({ routes, minConfidence: 0.7 });
    const e = (await strict.route('maybe find').catch((x: unknown) => x)) as NoRouteError;
    expect(e.reason).toBe('low-confidence');
    expect(e.route).toBe('search');
    expect(e.confidence).toBe(0.4);
  });

  it('treats NaN, negative and 0 as no match', async () => {
    const r = router<number, string>({
      routes: [
        { name: 'nan', when: () => Number.NaN, to: () => 'nan' },
        { name: 'neg', when: () => -1, to: () => 'neg' },
        { name: 'zero', when: () => 0, to: () => 'zero' },
      ],
      otherwise: () => 'other',
    });
    await expect(r.route(1)).resolves.toMatchObject({ route: 'otherwise' });
  });

  it('runs handlers under the router policy, or the route policy when given', async () => {
    const shared = counting();
    const own = counting();
    let fails = 1;
    const r = router<number, string>({
      routes: [
        { name: 'own', when: (n) => n === 1, to: () => 'own', policy: own.policy },
        {
          name: 'flaky',
          when: (n) => n === 2,
          to: () => {
            if (fails-- > 0) throw new Error('flaky');
            return 'ok';
          },
        },
      ],
      otherwise: () => 'other',
      policy: shared.policy,
    });
    await expect(r.route(1)).resolves.toMatchObject({ value: 'own' });
    await expect(r.route(2)).resolves.toMatchObject({ value: 'ok' });
    await expect(r.route(3)).resolves.toMatchObject({ value: 'other' });
    expect(own.layer.runs).toBe(1);
    expect(shared.layer.runs).toBe(2);
  });

  it('propagates handler and `when` errors, and a caller abort', async () => {
    const r = router<number, string>({
      routes: [
        { name: 'boom', when: (n) => n === 1, to: () => Promise.reject(new Error('handler')) },
        {
          name: 'bad-when',
          when: (n) => {
            if (n === 2) throw new Error('when');
            return false;
          },
          to: () => 'x',
        },
      ],
    });
    await expect(r.route(1)).rejects.toThrow('handler');
    await expect(r.route(2)).rejects.toThrow('when');
    const c = new AbortController();
    const reason = new Error('caller');
    c.abort(reason);
    await expect(r.route(1, { signal: c.signal })).rejects.toBe(reason);
  });

  it('is usable as a handler inside another node', async () => {
    const inner = router<string, string>({ routes: [{ name: 'x', when: () => true, to: (m) => m.toUpperCase() }] });
    const outer = router<string, string>({ routes: [{ name: 'nested', when: () => true, to: inner.handler }] });
    await expect(outer.route('hi')).resolves.toMatchObject({ route: 'nested', value: 'HI' });
    const ctx: Context = { signal: new AbortController().signal, attempt: 1, key: 'k', deadline: undefined, data: {} };
    await expect(inner.handler('a', ctx)).resolves.toBe('A');
  });

  it('validates options, naming the option', () => {
    const to = () => 1;
    expect(() => router(undefined as never)).toThrow(TypeError);
    expect(() => router({ routes: 'x' as never })).toThrow('`routes`');
    expect(() => router({ routes: [undefined as never] })).toThrow('`routes[0]`');
    expect(() => router({ routes: [{ name: '', when: () => true, to }] })).toThrow('`routes[0].name`');
    expect(() =>
      router({
        routes: [
          { name: 'a', when: () => true, to },
          { name: 'a', when: () => true, to },
        ],
      }),
    ).toThrow('`routes[1].name`');
    expect(() => router({ routes: [{ name: 'a', when: 1 as never, to }] })).toThrow('`routes[0].when`');
    expect(() => router({ routes: [{ name: 'a', when: () => true, to: null as never }] })).toThrow('`routes[0].to`');
    expect(() => router({ routes: [{ name: 'a', when: () => true, to, policy: {} as never }] })).toThrow(
      '`routes[0].policy`',
    );
    expect(() => router({ routes: [], otherwise: 3 as never })).toThrow('`otherwise`');
    expect(() => router({ routes: [], minConfidence: 2 })).toThrow(RangeError);
    expect(() => router({ routes: [], policy: 1 as never })).toThrow('`policy`');
    expect(() => router({ routes: [], policy: Policy.noop })).not.toThrow();
  });
});
