import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { consecutive, countWindow, failureRate, type WindowSnapshot } from '../../src/breaker/index.js';

describe('consecutive(n)', () => {
  it('opens on the n-th failure in a row and a success resets the count', () => {
    const w = consecutive(3).create();
    expect(w.record(0, true, false)).toBe(false);
    expect(w.record(0, true, false)).toBe(false);
    expect(w.record(0, false, false)).toBe(false);
    expect(w.record(0, true, false)).toBe(false);
    expect(w.record(0, true, false)).toBe(false);
    expect(w.record(0, true, false)).toBe(true);
    expect(w.stats(0)).toEqual({ calls: 3, failures: 3, slow: 0 });
    w.reset();
    expect(w.stats(0).failures).toBe(0);
  });

  it('counts a slow call as a failure', () => {
    const w = consecutive(2).create(0.5);
    expect(w.record(0, false, true)).toBe(false);
    expect(w.record(0, false, true)).toBe(true);
  });

  it('round-trips its snapshot and refuses a foreign one', () => {
    const w = consecutive(5).create();
    w.record(0, true, false);
    w.record(0, true, false);
    const other = consecutive(5).create();
    expect(other.restore(w.toJSON())).toBe(true);
    expect(other.toJSON()).toEqual({ type: 'consecutive', count: 2 });
    expect(other.restore({ type: 'count-window', next: 0, filled: 0, flags: [] })).toBe(false);
    expect(other.restore({ type: 'consecutive', count: -1 })).toBe(false);
  });

  it('rejects a bad n', () => {
    expect(() => consecutive(0)).toThrow(/`n`/);
    expect(() => consecutive(1.5)).toThrow(/`n`.*integer/);
    expect(() => consecutive('3' as never)).toThrow(TypeError);
  });
});

describe('failureRate()', () => {
  const opts = { threshold: 0.5, minThroughput: 4, window: 5000, buckets: 5 };

  it('does not open below minThroughput and opens at the threshold', () => {
    const w = failureRate(opts).create();
    expect(w.record(0, true, false)).toBe(false);
    expect(w.record(100, true, false)).toBe(false);
    expect(w.record(200, false, false)).toBe(false);
    expect(w.record(300, true, false)).toBe(true); // 3 of 4
  });

  it('regression (cockatiel SamplingBreaker): one failure after an hour idle does not open on stale buckets', () => {
    // 5 calls spread over 5 one-second buckets, 40 % failures: below the threshold.
    const w = failureRate(opts).create();
    expect(w.record(0, false, false)).toBe(false);
    expect(w.record(1000, false, false)).toBe(false);
    expect(w.record(2000, false, false)).toBe(false);
    expect(w.record(3000, true, false)).toBe(false);
    expect(w.record(4000, true, false)).toBe(false);
    // A ring that rotates one slot per event would still hold 4 of these 5 calls here (with the
    // new failure: 3 of 5 failed = 60 %) and open. The lazily evicted window holds just the new call.
    const hourLater = 4000 + 3_600_000;
    expect(w.record(hourLater, true, false)).toBe(false);
    expect(w.stats(hourLater)).toEqual({ calls: 1, failures: 1, slow: 0 });
  });

  it('evicts buckets by time on read, and partially after a short idle', () => {
    const w = failureRate(opts).create();
    w.record(0, true, false);
    w.record(2500, true, false);
    expect(w.stats(4999)).toEqual({ calls: 2, failures: 2, slow: 0 });
    expect(w.stats(5000)).toEqual({ calls: 1, failures: 1, slow: 0 }); // bucket [0,1000) left
    expect(w.stats(7000)).toEqual({ calls: 0, failures: 0, slow: 0 });
  });

  it('counts into the newest bucket when the clock steps back', () => {
    const w = failureRate(opts).create();
    w.record(10_000, false, false);
    w.record(5_000, true, false);
    expect(w.stats(10_000)).toEqual({ calls: 2, failures: 1, slow: 0 });
  });

  it('opens on the slow-call rate independently of failures', () => {
    const w = failureRate({ ...opts, threshold: 1 }).create(0.5);
    w.record(0, false, false);
    w.record(0, false, true);
    w.record(0, false, false);
    expect(w.record(0, false, true)).toBe(true); // 2 of 4 slow
  });

  it('handles negative clock times', () => {
    const w = failureRate(opts).create();
    w.record(-12_345, true, false);
    expect(w.stats(-12_000)).toEqual({ calls: 1, failures: 1, slow: 0 });
    expect(w.stats(-5_000)).toEqual({ calls: 0, failures: 0, slow: 0 });
  });

  it('matches a brute-force model of bucketed time for any timeline', () => {
    const event = fc.record({ dt: fc.nat(3000), failed: fc.boolean(), slow: fc.boolean() });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), fc.nat(20_000), (events, readAfter) => {
        const w = failureRate(opts).create(0.5);
        const seen: { t: number; failed: boolean; slow: boolean }[] = [];
        let t = 0;
        const bucket = (x: number) => Math.floor(x / 1000);
        const live = (now: number) => seen.filter((e) => bucket(e.t) > bucket(now) - 5);
        for (const e of events) {
          t += e.dt;
          seen.push({ t, failed: e.failed, slow: e.slow });
          const opened = w.record(t, e.failed, e.slow);
          const l = live(t);
          const f = l.filter((x) => x.failed).length;
          const s = l.filter((x) => x.slow).length;
          const expected = (e.failed || e.slow) && l.length >= 4 && (f / l.length >= 0.5 || s / l.length >= 0.5);
          expect(opened).toBe(expected);
        }
        const l = live(t + readAfter);
        expect(w.stats(t + readAfter)).toEqual({
          calls: l.length,
          failures: l.filter((x) => x.failed).length,
          slow: l.filter((x) => x.slow).length,
        });
      }),
      { numRuns: 100 },
    );
  });

  it('round-trips its snapshot and refuses mismatched ones', () => {
    const w = failureRate(opts).create();
    expect(w.toJSON()).toEqual({ type: 'failure-rate', head: 0, counts: new Array(15).fill(0) });
    w.record(1000, true, false);
    w.record(2000, false, true);
    const snap = JSON.parse(JSON.stringify(w.toJSON())) as WindowSnapshot;
    const copy = failureRate(opts).create();
    expect(copy.restore(snap)).toBe(true);
    expect(copy.stats(2500)).toEqual(w.stats(2500));
    expect(
      failureRate({ ...opts, buckets: 10 })
        .create()
        .restore(snap),
    ).toBe(false);
    expect(copy.restore({ type: 'consecutive', count: 1 })).toBe(false);
    expect(copy.restore({ type: 'failure-rate', head: 1.5, counts: [] })).toBe(false);
    expect(copy.restore({ type: 'failure-rate', head: 1, counts: new Array(15).fill(-1) })).toBe(false);
  });

  it('rejects bad options, naming them', () => {
    expect(() => failureRate({ ...opts, threshold: 0 })).toThrow(/`threshold`/);
    expect(() => failureRate({ ...opts, threshold: 1.01 })).toThrow(/`threshold`/);
    expect(() => failureRate({ ...opts, window: 0 })).toThrow(/`window`/);
    expect(() => failureRate({ ...opts, window: -5 })).toThrow(/`window`/);
    expect(() => failureRate({ ...opts, window: Number.POSITIVE_INFINITY })).toThrow(/`window`/);
    expect(() => failureRate({ ...opts, minThroughput: 0 })).toThrow(/`minThroughput`/);
    expect(() => failureRate({ ...opts, buckets: 0 })).toThrow(/`buckets`/);
    expect(() => failureRate({ ...opts, buckets: 2.5 })).toThrow(/`buckets`/);
    expect(() => failureRate(undefined as never)).toThrow(/`options`/);
    expect(() => failureRate(5 as never)).toThrow(/`options`/);
  });
});

describe('countWindow()', () => {
  it('judges the last `size` calls once `minCalls` are in', () => {
    const w = countWindow({ size: 4, threshold: 0.5, minCalls: 2 }).create();
    expect(w.record(0, true, false)).toBe(false); // 1 call < minCalls
    expect(w.record(0, true, false)).toBe(true);
    w.reset();
    for (let i = 0; i < 4; i++) w.record(0, false, false);
    expect(w.record(0, true, false)).toBe(false); // 1 of 4
    expect(w.record(0, true, false)).toBe(true); // 2 of 4 (the two oldest successes dropped)
    expect(w.stats(0)).toEqual({ calls: 4, failures: 2, slow: 0 });
  });

  it('matches a brute-force model of the last `size` calls', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.boolean(), fc.boolean()), { maxLength: 40 }),
        (size, events) => {
          const minCalls = Math.ceil(size / 2);
          const w = countWindow({ size, threshold: 0.5, minCalls }).create(0.75);
          const seen: [boolean, boolean][] = [];
          for (const [failed, slow] of events) {
            seen.push([failed, slow]);
            const l = seen.slice(-size);
            const f = l.filter((x) => x[0]).length;
            const s = l.filter((x) => x[1]).length;
            const expected = (failed || slow) && l.length >= minCalls && (f / l.length >= 0.5 || s / l.length >= 0.75);
            expect(w.record(0, failed, slow)).toBe(expected);
          }
          const copy = countWindow({ size, threshold: 0.5, minCalls }).create(0.75);
          expect(copy.restore(JSON.parse(JSON.stringify(w.toJSON())))).toBe(true);
          expect(copy.stats(0)).toEqual(w.stats(0));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('refuses mismatched snapshots', () => {
    const w = countWindow({ size: 2, threshold: 0.5 }).create();
    expect(w.toJSON()).toEqual({ type: 'count-window', next: 0, filled: 0, flags: [0, 0] });
    expect(w.restore({ type: 'count-window', next: 0, filled: 0, flags: [0] })).toBe(false);
    expect(w.restore({ type: 'count-window', next: 2, filled: 0, flags: [0, 0] })).toBe(false);
    expect(w.restore({ type: 'count-window', next: 0, filled: 3, flags: [0, 0] })).toBe(false);
    expect(w.restore({ type: 'count-window', next: 0, filled: 2, flags: [0, 4] })).toBe(false);
    expect(w.restore({ type: 'consecutive', count: 0 })).toBe(false);
  });

  it('rejects bad options, naming them', () => {
    expect(() => countWindow({ size: 0, threshold: 0.5 })).toThrow(/`size`/);
    expect(() => countWindow({ size: 10, threshold: 0 })).toThrow(/`threshold`/);
    expect(() => countWindow({ size: 10, threshold: 2 })).toThrow(/`threshold`/);
    expect(() => countWindow({ size: 10, threshold: 0.5, minCalls: 11 })).toThrow(/`minCalls`/);
    expect(() => countWindow({ size: 10, threshold: 0.5, minCalls: 0 })).toThrow(/`minCalls`/);
    expect(() => countWindow(undefined as never)).toThrow(/`options`/);
  });
});

describe('failureRate: shared (interned) configurations', () => {
  it('windows of equal options keep separate counters, also past the configuration cache', () => {
    // 70 distinct configurations overflow the bounded cache; each pair still shares options only.
    for (let k = 1; k <= 70; k++) {
      const options = { threshold: 0.5, window: 1000 + k, minThroughput: 2 };
      const a = failureRate(options).create();
      const b = failureRate(options).create();
      const slowA = failureRate(options).create(0.5);
      expect(a.record(0, true, false)).toBe(false);
      expect(a.record(0, true, false)).toBe(true);
      expect(b.stats(0)).toEqual({ calls: 0, failures: 0, slow: 0 });
      expect(b.record(0, false, false)).toBe(false);
      expect(b.record(0, true, false)).toBe(true); // 1 of 2 failed: 50 %
      // The slow-call rate is part of the configuration: only this window opens on slow calls.
      expect(slowA.record(0, false, true)).toBe(false);
      expect(slowA.record(0, false, true)).toBe(true);
      expect(a.record(0, false, true)).toBe(true); // still 2 of 3 failed, not because of slowness
      expect(failureRate(options).create().record(0, false, true)).toBe(false);
    }
  });
});
