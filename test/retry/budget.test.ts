import { describe, expect, it } from 'vitest';
import { retryBudget } from '../../src/retry/budget.js';
import { virtualClock } from '../../src/testing/virtual-clock.js';

describe('retryBudget', () => {
  it('allows retries up to ratio × calls (no floor)', () => {
    const clock = virtualClock();
    const b = retryBudget({ ratio: 0.5, minPerSecond: 0, window: 1_000, clock });
    expect(b.tryRetry()).toBe(false); // no calls yet
    for (let i = 0; i < 10; i++) b.recordCall();
    const allowed = Array.from({ length: 8 }, () => b.tryRetry()).filter(Boolean).length;
    expect(allowed).toBe(5);
    expect(b.calls).toBe(10);
    expect(b.retries).toBe(5);
  });

  it('the floor (minPerSecond × window) allows retries with few calls', () => {
    const clock = virtualClock();
    const b = retryBudget({ ratio: 0, minPerSecond: 2, window: 2_000, clock }); // floor = 4
    const allowed = Array.from({ length: 10 }, () => b.tryRetry()).filter(Boolean).length;
    expect(allowed).toBe(4);
  });

  it('defaults: ratio 0.2, 10 per second over 10 s', () => {
    const clock = virtualClock();
    const b = retryBudget({ clock });
    for (let i = 0; i < 100; i++) b.recordCall();
    let allowed = 0;
    while (b.tryRetry()) allowed++;
    expect(allowed).toBe(100 * 0.2 + 10 * 10);
  });

  it('slides: calls and retries older than the window are forgotten', async () => {
    const clock = virtualClock();
    const b = retryBudget({ ratio: 1, minPerSecond: 0, window: 1_000, clock });
    b.recordCall();
    expect(b.tryRetry()).toBe(true);
    expect(b.tryRetry()).toBe(false);
    await clock.advance(500);
    b.recordCall(); // in a later bucket
    expect(b.tryRetry()).toBe(true);
    await clock.advance(500); // the first bucket leaves the window
    expect(b.calls).toBe(1);
    expect(b.retries).toBe(1);
    expect(b.tryRetry()).toBe(false);
    await clock.advance(500);
    expect(b.calls).toBe(0);
    expect(b.retries).toBe(0);
  });

  it('evicts everything after a long idle (far more than one window)', async () => {
    const clock = virtualClock();
    const b = retryBudget({ ratio: 0.1, minPerSecond: 0, window: 1_000, clock });
    for (let i = 0; i < 50; i++) b.recordCall();
    expect(b.tryRetry()).toBe(true);
    await clock.advance(1_000_000);
    expect(b.calls).toBe(0);
    expect(b.retries).toBe(0);
    expect(b.tryRetry()).toBe(false);
  });

  it.each([
    [{ ratio: -0.1 }, RangeError, 'ratio'],
    [{ ratio: Number.NaN }, TypeError, 'ratio'],
    [{ minPerSecond: -1 }, RangeError, 'minPerSecond'],
    [{ window: 0 }, RangeError, 'window'],
    [{ window: '10s' }, TypeError, 'window'],
  ])('%o throws naming the option', (options, type, name) => {
    expect(() => retryBudget(options as never)).toThrow(type);
    expect(() => retryBudget(options as never)).toThrow(`\`${name}\``);
  });

  it('uses the system clock by default', () => {
    const b = retryBudget({ ratio: 0, minPerSecond: 0.1 });
    expect(b.tryRetry()).toBe(true);
    expect(b.tryRetry()).toBe(false);
  });
});
