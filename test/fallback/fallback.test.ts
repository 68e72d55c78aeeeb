import { describe, expect, it, vi } from 'vitest';
import type { Context } from '../../src/core/context.js';
import { isTimeoutError } from '../../src/core/errors.js';
import { Policy } from '../../src/core/policy.js';
import { type FallbackEvent, type FallbackReason, fallback } from '../../src/fallback/fallback.js';
import { virtualClock } from '../../src/testing/virtual-clock.js';
import { timeout } from '../../src/timeout/timeout.js';

describe('fallback', () => {
  it('passes a success through without calling `to`', async () => {
    const to = vi.fn();
    await expect(fallback({ to }).execute(() => 'primary')).resolves.toBe('primary');
    expect(to).not.toHaveBeenCalled();
  });

  it('replaces an error (sync or async) with the value of `to`, which receives { error } and ctx', async () => {
    const boom = new Error('boom');
    const to = vi.fn((reason: unknown, ctx: Context) => ({ reason, key: ctx.key }));
    const f = fallback({ to });
    await expect(
      f.execute(
        () => {
          throw boom;
        },
        { key: 'k' },
      ),
    ).resolves.toEqual({ reason: { error: boom }, key: 'k' });
    await expect(f.execute(async () => Promise.reject(boom))).resolves.toEqual({
      reason: { error: boom },
      key: undefined,
    });
  });

  it('`to` may be async (e.g. another model); what it throws is rethrown', async () => {
    await expect(fallback({ to: async () => 'backup' }).execute(() => Promise.reject(new Error('x')))).resolves.toBe(
      'backup',
    );
    const second = new Error('backup failed too');
    await expect(
      fallback({
        to: async () => {
          throw second;
        },
      }).execute(() => Promise.reject(new Error('x'))),
    ).rejects.toBe(second);
  });

  it('handle chooses which errors fall back; others are rethrown unchanged', async () => {
    const clock = virtualClock();
    const f = Policy.wrap(
      fallback({ to: () => 'cheap model', handle: (e) => isTimeoutError(e) }),
      timeout({ after: 100, clock }),
    );
    const slow = f.execute(
      (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    );
    await clock.advance(100);
    await expect(slow).resolves.toBe('cheap model');
    const other = new Error('400 bad request');
    await expect(f.execute(() => Promise.reject(other))).rejects.toBe(other);
  });

  it('handleResult falls back on unwanted results, passing { result }', async () => {
    const to = vi.fn(() => 'non-empty');
    const f = fallback({ to, handleResult: (r) => r === '' });
    await expect(f.execute(() => '')).resolves.toBe('non-empty');
    expect(to).toHaveBeenCalledWith({ result: '' }, expect.anything());
    await expect(f.execute(() => 'fine')).resolves.toBe('fine');
    expect(to).toHaveBeenCalledOnce();
  });

  it('does not handle the caller’s abort: rejects with the caller’s reason', async () => {
    const to = vi.fn(() => 'fb');
    const ac = new AbortController();
    const reason = new Error('user left');
    const p = fallback({ to }).execute(
      (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))),
      { signal: ac.signal },
    );
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(to).not.toHaveBeenCalled();
  });

  it('handles the caller’s abort when handle says so', async () => {
    const ac = new AbortController();
    const p = fallback({
      to: ({ error }: { error?: unknown }) => `cancelled: ${String(error)}`,
      handle: () => true,
    }).execute(
      (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      { signal: ac.signal },
    );
    ac.abort('bye');
    await expect(p).resolves.toBe('cancelled: bye');
  });

  it('handles an enclosing timeout’s abort like any error (it is not the caller’s)', async () => {
    const clock = virtualClock();
    const to = vi.fn((_reason: FallbackReason) => 'fb');
    const p = Policy.wrap(fallback({ to }), timeout({ after: 10, clock })).execute(
      (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    );
    await clock.advance(10);
    await expect(p).resolves.toBe('fb');
    expect(isTimeoutError(to.mock.calls[0]?.[0].error)).toBe(true);
  });

  it('inside `to`, ctx.signal follows the caller again: not aborted by the inner timeout, aborted by the caller', async () => {
    const clock = virtualClock();
    const ac = new AbortController();
    let toSignal: AbortSignal | undefined;
    const p = Policy.wrap(
      fallback({
        to: (_f, ctx) =>
          new Promise((resolve, reject) => {
            toSignal = ctx.signal;
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
            clock.setTimeout(() => resolve('small model'), 50);
          }),
      }),
      timeout({ after: 10, clock }),
    ).execute(
      (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      { signal: ac.signal },
    );
    await clock.advance(10);
    expect(toSignal).not.toBe(ac.signal); // the call's own signal, which follows the caller's
    expect(toSignal?.aborted).toBe(false);
    await clock.advance(50);
    await expect(p).resolves.toBe('small model');
  });

  it('emits fallback with the error or result, kind and name; none without a listener', async () => {
    const f = fallback({ to: () => 0, handleResult: (r) => r === -1, name: 'fb' });
    const events: FallbackEvent[] = [];
    await f.execute(() => -1); // nobody listens yet
    const off = f.on('fallback', (e) => events.push(e));
    const boom = new Error('boom');
    await f.execute(() => Promise.reject(boom));
    await f.execute(() => -1);
    await f.execute(() => 5);
    off();
    await f.execute(() => -1);
    expect(events).toEqual([
      { type: 'fallback', kind: 'fallback', name: 'fb', error: boom },
      { type: 'fallback', kind: 'fallback', name: 'fb', result: -1 },
    ]);
  });

  it.each<[unknown, RegExp]>([
    [undefined, /`fallback` options/],
    [null, /`options`/],
    [{}, /`to`/],
    [{ to: 'value' }, /`to`/],
    [{ to: () => 1, handle: true }, /`handle`/],
    [{ to: () => 1, handleResult: 1 }, /`handleResult`/],
  ])('%o throws a TypeError naming the option', (options, message) => {
    expect(() => fallback(options as never)).toThrow(TypeError);
    expect(() => fallback(options as never)).toThrow(message);
  });
});

describe('fallback: then-style paths', () => {
  it('a synchronous throw of fn falls back; a synchronous throw of `to` becomes a rejection', async () => {
    const boom = () => {
      throw new Error('sync');
    };
    await expect(fallback({ to: ({ error }) => (error as Error).message }).execute(boom)).resolves.toBe('sync');
    const p = fallback({
      to: () => {
        throw new Error('to failed');
      },
    }).execute(boom);
    await expect(p).rejects.toThrow('to failed');
  });

  it('a success passes through unchanged, and handleResult sees the settled value', async () => {
    await expect(fallback({ to: () => 'fb' }).execute(async () => 'real')).resolves.toBe('real');
    const seen: unknown[] = [];
    const policy = fallback({
      to: ({ result }) => `replaced ${String(result)}`,
      handleResult: (r) => {
        seen.push(r);
        return r === 'bad';
      },
    });
    await expect(policy.execute(async () => 'bad')).resolves.toBe('replaced bad');
    await expect(policy.execute(() => 'good')).resolves.toBe('good');
    expect(seen).toEqual(['bad', 'good']);
  });
});
