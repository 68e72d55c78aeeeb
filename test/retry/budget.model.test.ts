import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RetryBudget, retryBudget } from '../../src/retry/budget.js';
import { type VirtualClock, virtualClock } from '../../src/testing/virtual-clock.js';

// A deliberately simple model: remember every call and retry with its time bucket, and count those
// whose bucket is among the last 10 (the window is 10 buckets of window/10 ms).
interface Model {
  readonly width: number;
  readonly limit: (calls: number) => number;
  readonly events: { readonly bucket: number; readonly kind: 'call' | 'retry' }[];
  now: number;
}
interface Real {
  readonly budget: RetryBudget;
  readonly clock: VirtualClock;
}

const live = (m: Model, kind: 'call' | 'retry'): number => {
  const current = Math.floor(m.now / m.width);
  return m.events.filter((e) => e.kind === kind && current - e.bucket < 10).length;
};

class RecordCall implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.budget.recordCall();
    m.events.push({ bucket: Math.floor(m.now / m.width), kind: 'call' });
    expect(r.budget.calls).toBe(live(m, 'call'));
  }
  toString(): string {
    return 'recordCall';
  }
}

class TryRetry implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const allowed = live(m, 'retry') + 1 <= m.limit(live(m, 'call'));
    expect(r.budget.tryRetry()).toBe(allowed);
    if (allowed) m.events.push({ bucket: Math.floor(m.now / m.width), kind: 'retry' });
    expect(r.budget.retries).toBe(live(m, 'retry'));
  }
  toString(): string {
    return 'tryRetry';
  }
}

class Advance implements fc.AsyncCommand<Model, Real> {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    await r.clock.advance(this.ms);
    m.now += this.ms;
    expect(r.budget.calls).toBe(live(m, 'call'));
    expect(r.budget.retries).toBe(live(m, 'retry'));
  }
  toString(): string {
    return `advance(${this.ms})`;
  }
}

describe('retryBudget model', () => {
  it('matches a bucketed sliding-window model under any sequence of calls, retries and idle time', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          ratio: fc.constantFrom(0, 0.1, 0.2, 0.5, 1),
          minPerSecond: fc.constantFrom(0, 1, 5),
          window: fc.constantFrom(1_000, 10_000),
          start: fc.integer({ min: 0, max: 1_000_000 }),
        }),
        fc.commands(
          [
            fc.constant(new RecordCall()),
            fc.constant(new TryRetry()),
            fc
              .oneof(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 50_000 }))
              .map((ms) => new Advance(ms)),
          ],
          { maxCommands: 80 },
        ),
        async ({ ratio, minPerSecond, window, start }, commands) => {
          const clock = virtualClock({ start });
          const floor = (minPerSecond * window) / 1000;
          const model: Model = { width: window / 10, limit: (calls) => ratio * calls + floor, events: [], now: start };
          const real: Real = { budget: retryBudget({ ratio, minPerSecond, window, clock }), clock };
          await fc.asyncModelRun(() => ({ model, real }), commands);
        },
      ),
      { numRuns: 100 },
    );
  });
});
