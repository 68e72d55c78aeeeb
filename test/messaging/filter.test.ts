import { describe, expect, it } from 'vitest';
import type { Context } from '../../src/core/context.js';
import { Pipeline, type Policy } from '../../src/core/policy.js';
import { FilteredError, filter, isFilteredError, router } from '../../src/messaging/index.js';

const ctxWith = (signal: AbortSignal = new AbortController().signal): Context => ({
  signal,
  attempt: 1,
  key: undefined,
  deadline: undefined,
  data: {},
});
const isSafe = (text: string): boolean => !text.includes('bomb');

describe('filter', () => {
  it('drops by default, and the result says so; accepted messages pass through', async () => {
    const f = filter(isSafe);
    await expect(f.check('hello')).resolves.toEqual({ accepted: true, dropped: false, value: 'hello' });
    await expect(f.check('bomb')).resolves.toEqual({ accepted: false, dropped: true, value: undefined });
    let calls = 0;
    const h = f.to((m: string) => {
      calls++;
      return m.length;
    });
    await expect(h('hello', ctxWith())).resolves.toEqual({ accepted: true, dropped: false, value: 5 });
    await expect(h('bomb', ctxWith())).resolves.toMatchObject({ accepted: false, dropped: true });
    expect(calls).toBe(1);
  });

  it("throws FilteredError with onReject: 'throw'", async () => {
    const f = filter(isSafe, { onReject: 'throw', name: 'safety' });
    const e = await f.check('bomb').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FilteredError);
    expect(isFilteredError(e)).toBe(true);
    expect((e as FilteredError).code).toBe('ERR_FILTERED');
    expect((e as FilteredError).filter).toBe('safety');
    expect((e as FilteredError).message).not.toContain('bomb');
    await expect(f.to((m: string) => m)('bomb', ctxWith())).rejects.toBeInstanceOf(FilteredError);
    await expect(f.to((m: string) => m)('ok', ctxWith())).resolves.toMatchObject({ value: 'ok' });
  });

  it('diverts rejected messages to a handler, passing the signal', async () => {
    const controller = new AbortController();
    let divertSignal: AbortSignal | undefined;
    const f = filter<string, string>(async (t) => isSafe(t), {
      onReject: (m, ctx) => {
        divertSignal = ctx.signal;
        return `refused:${m.length}`;
      },
    });
    const h = f.to((m) => m.toUpperCase());
    await expect(f.check('bomb')).resolves.toMatchObject({ accepted: false, dropped: false, value: 'refused:4' });
    await expect(h('bomb', ctxWith(controller.signal))).resolves.toEqual({
      accepted: false,
      dropped: false,
      value: 'refused:4',
    });
    await expect(h('hi', ctxWith(controller.signal))).resolves.toMatchObject({ accepted: true, value: 'HI' });
    // The call's own signal: detached from the caller's once the call settled.
    expect(divertSignal).not.toBe(controller.signal);
    controller.abort();
    expect(divertSignal?.aborted).toBe(false);
    // During a call, the caller's abort reaches the divert handler's signal.
    const c2 = new AbortController();
    const slow = filter<string, string>(() => false, {
      onReject: (_m, ctx) =>
        new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    }).to((m) => m);
    const p = slow('x', ctxWith(c2.signal));
    const reason = new Error('stop');
    c2.abort(reason);
    await expect(p).rejects.toBe(reason);
  });

  it('accepts numeric confidences (> 0 passes) and async predicates that get ctx.signal', async () => {
    let seen: AbortSignal | undefined;
    const f = filter<number>(async (n, ctx) => {
      seen = ctx.signal;
      return n;
    });
    await expect(f.check(0.2)).resolves.toMatchObject({ accepted: true });
    await expect(f.check(0)).resolves.toMatchObject({ accepted: false, dropped: true });
    expect(seen).toBeDefined();
  });

  it('runs the downstream and divert handlers under the policy', async () => {
    let runs = 0;
    const policy = new Pipeline([
      {
        kind: 'count',
        name: undefined,
        events: undefined as never,
        run: (ctx) => {
          runs++;
          return Promise.resolve(ctx.fn(ctx));
        },
      },
    ]) as unknown as Policy;
    const f = filter<string, string>(isSafe, { policy, onReject: () => 'no' });
    const h = f.to((m) => m);
    await h('ok', ctxWith());
    await h('bomb', ctxWith());
    expect(runs).toBe(2);
  });

  it('composes in front of a router route', async () => {
    const safe = filter<string>(isSafe, { onReject: 'throw' });
    const r = router<string, unknown>({
      routes: [{ name: 'chat', when: () => true, to: safe.to((m) => `echo ${m}`) }],
    });
    await expect(r.route('hi')).resolves.toMatchObject({ value: { accepted: true, value: 'echo hi' } });
    await expect(r.route('bomb')).rejects.toBeInstanceOf(FilteredError);
  });

  it('propagates predicate errors and validates options', async () => {
    const f = filter(() => {
      throw new Error('pred');
    });
    await expect(f.check(1)).rejects.toThrow('pred');
    expect(() => filter(1 as never)).toThrow('`predicate`');
    expect(() => filter(() => true, { onReject: 'nope' as never })).toThrow('`onReject`');
    expect(() => filter(() => true, { policy: 1 as never })).toThrow('`policy`');
    expect(() => filter(() => true, 3 as never)).toThrow('`options`');
    expect(() => filter(() => true).to(1 as never)).toThrow('`handler`');
  });
});
