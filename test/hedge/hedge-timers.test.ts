// The hedge on the platform timers (no injected clock): the calls of one turn are batched, and only
// those still pending when the turn ends (or when the batch fills) go on the deadline queue, due
// `delay` after the turn's end. Driven by vitest's fake timers (setTimeout, setImmediate, Date).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type HedgeEvent, hedge } from '../../src/hedge/index.js';
import type { Context } from '../../src/index.js';

type HedgeStart = Extract<HedgeEvent, { type: 'hedge' }>;

/** Never settles on its own; rejects with the signal's reason when aborted. */
function pending(ctx: Context): Promise<never> {
  const signal = ctx.signal;
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('hedge: platform timers', () => {
  it('calls that settle within their turn start no timer at all', async () => {
    const h = hedge({ delay: 100 });
    for (let i = 0; i < 100; i++) await h.execute(() => i);
    // Only the turn's end (where the batch is dropped) is scheduled; no hedge timer was armed.
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a call still pending when its turn ends hedges `delay` after it', async () => {
    const h = hedge({ delay: 100 });
    const events: HedgeStart[] = [];
    h.on('hedge', (e) => events.push(e));
    const r = h.execute((ctx) => (ctx.attempt === 1 ? pending(ctx) : 'hedge'));
    await vi.advanceTimersByTimeAsync(99);
    expect(events).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await expect(r).resolves.toBe('hedge');
    expect(events).toMatchObject([{ attempt: 2, delay: 100, trigger: 'delay' }]);
    // The queue's timer is unref'd, never left ref'd; nothing else is scheduled.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
  });

  it('more calls in one turn than a batch holds: exactly the pending ones hedge, on time', async () => {
    const h = hedge({ delay: 50 });
    const hedged = new Set<number>();
    h.on('hedge', () => undefined);
    const n = 200; // several batches' worth, started in one synchronous loop
    const calls = Array.from({ length: n }, (_, i) =>
      h.execute((ctx) => {
        if (ctx.attempt === 2) {
          hedged.add(i);
          return `hedge ${i}`;
        }
        return i % 3 === 0 ? pending(ctx) : `primary ${i}`;
      }),
    );
    await vi.advanceTimersByTimeAsync(49);
    expect(hedged.size).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    const values = await Promise.all(calls);
    for (let i = 0; i < n; i++) expect(values[i]).toBe(i % 3 === 0 ? `hedge ${i}` : `primary ${i}`);
    expect([...hedged].sort((a, b) => a - b)).toEqual(
      Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 === 0),
    );
  });

  it('a call armed by a failure while in its turn is queued once; the next hedge still waits for the delay', async () => {
    const h = hedge({ delay: 100, maxHedges: 2 });
    const events: HedgeStart[] = [];
    h.on('hedge', (e) => events.push(e));
    const starts: number[] = [];
    const r = h.execute((ctx) => {
      starts.push(Date.now());
      if (ctx.attempt === 1) return Promise.reject(new Error('fast failure'));
      return ctx.attempt === 2 ? pending(ctx) : 'third';
    });
    await vi.advanceTimersByTimeAsync(99);
    expect(events.map((e) => e.trigger)).toEqual(['failure']);
    await vi.advanceTimersByTimeAsync(1);
    await expect(r).resolves.toBe('third');
    expect(events.map((e) => [e.attempt, e.trigger])).toEqual([
      [2, 'failure'],
      [3, 'delay'],
    ]);
    expect(starts).toHaveLength(3);
    expect((starts[2] as number) - (starts[1] as number)).toBe(100);
  });

  it('a percentile delay on the platform timers: warm-up at max, then the observed percentile', async () => {
    const h = hedge({ delay: { percentile: 50, window: 20, max: 1_000 } });
    const delays: number[] = [];
    h.on('hedge', (e) => delays.push(e.delay));
    for (let i = 0; i < 20; i++) {
      const r = h.execute(() => new Promise((resolve) => setTimeout(() => resolve(i), 10)));
      await vi.advanceTimersByTimeAsync(10);
      await r;
    }
    const r = h.execute((ctx) => (ctx.attempt === 1 ? pending(ctx) : 'hedge'));
    await vi.advanceTimersByTimeAsync(10);
    await expect(r).resolves.toBe('hedge');
    expect(delays).toEqual([10]);
  });
});
