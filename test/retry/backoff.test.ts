import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BackoffState, constant, exponential, type Jitter, linear } from '../../src/retry/backoff.js';

const rnd = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const attempt = fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 100_000 }));
// Sub-normal doubles are not meaningful delays (and halving them is inexact): map them to 0.
const ms = fc.double({ min: 0, max: 1e7, noNaN: true }).map((x) => (x < 1e-300 ? 0 : x));
const at = (r: number) => () => r;
const fresh = (): BackoffState => ({ prev: 0 });
const finiteNonNegative = (d: number) => Number.isFinite(d) && d >= 0;

describe('constant', () => {
  it('is exactly ms without jitter, and within its jitter range otherwise (any attempt)', () => {
    fc.assert(
      fc.property(ms, attempt, rnd, (m, n, r) => {
        expect(constant(m).delay(n, at(r), fresh())).toBe(m);
        const full = constant(m, { jitter: 'full' }).delay(n, at(r), fresh());
        expect(full).toBeGreaterThanOrEqual(0);
        expect(full).toBeLessThanOrEqual(m);
        const equal = constant(m, { jitter: 'equal' }).delay(n, at(r), fresh());
        expect(equal).toBeGreaterThanOrEqual(m / 2);
        expect(equal).toBeLessThanOrEqual(m);
      }),
    );
  });

  it('full jitter is U·d and equal jitter is d/2 + U·d/2', () => {
    expect(constant(1000, { jitter: 'full' }).delay(1, at(0.25), fresh())).toBe(250);
    expect(constant(1000, { jitter: 'equal' }).delay(1, at(0.25), fresh())).toBe(625);
  });
});

describe('linear', () => {
  it('grows by step, capped at max, jitter after the cap (any attempt)', () => {
    fc.assert(
      fc.property(ms, ms, ms, attempt, rnd, (initial, step, max, n, r) => {
        const expected = Math.min(max, initial + step * (n - 1));
        expect(linear({ initial, step, max }).delay(n, at(r), fresh())).toBeCloseTo(expected, 6);
        const full = linear({ initial, step, max, jitter: 'full' }).delay(n, at(r), fresh());
        expect(finiteNonNegative(full)).toBe(true);
        expect(full).toBeLessThanOrEqual(expected + 1e-6);
        const eq = linear({ initial, step, max, jitter: 'equal' }).delay(n, at(r), fresh());
        expect(eq).toBeGreaterThanOrEqual(expected / 2 - 1e-6);
        expect(eq).toBeLessThanOrEqual(expected + 1e-6);
      }),
    );
  });

  it('defaults: initial 200, step = initial, max 30 s', () => {
    const l = linear();
    expect([1, 2, 3].map((n) => l.delay(n, at(0), fresh()))).toEqual([200, 400, 600]);
    expect(l.delay(1_000, at(0), fresh())).toBe(30_000);
    expect(linear({ initial: 50 }).delay(3, at(0), fresh())).toBe(150);
  });
});

describe('exponential', () => {
  it('without jitter is min(max, initial·factor^(n-1)) for any attempt, incl. ≥ 1000', () => {
    fc.assert(
      fc.property(ms, fc.double({ min: 1, max: 10, noNaN: true }), ms, attempt, (initial, factor, max, n) => {
        const d = exponential({ initial, factor, max, jitter: 'none' }).delay(n, at(0.5), fresh());
        expect(finiteNonNegative(d)).toBe(true);
        const raw = initial * factor ** (n - 1);
        const expected = initial === 0 ? 0 : Number.isFinite(raw) ? Math.min(max, raw) : max;
        expect(d).toBeCloseTo(expected, 3);
      }),
    );
  });

  it.each(['full', 'equal'] as const)('%s jitter stays within its range after the cap, for any attempt', (jitter) => {
    fc.assert(
      fc.property(ms, fc.double({ min: 1, max: 10, noNaN: true }), ms, attempt, rnd, (initial, factor, max, n, r) => {
        const cap = Math.min(max, initial === 0 ? 0 : initial * factor ** (n - 1));
        const d = exponential({ initial, factor, max, jitter }).delay(n, at(r), fresh());
        expect(finiteNonNegative(d)).toBe(true);
        expect(d).toBeLessThanOrEqual(cap + 1e-6);
        expect(d).toBeGreaterThanOrEqual(jitter === 'full' ? 0 : cap / 2 - 1e-6);
      }),
    );
  });

  it('callers at the cap still spread out (jitter applied after the cap)', () => {
    const e = exponential({ initial: 1000, max: 5_000 });
    const ds = [0, 0.3, 0.6, 0.9].map((r) => e.delay(20, at(r), fresh()));
    expect(new Set(ds).size).toBe(4);
    expect(Math.max(...ds)).toBeLessThanOrEqual(5_000);
  });

  it('defaults: initial 200, factor 2, max 30 s, full jitter', () => {
    const e = exponential();
    expect(e.delay(1, at(0.999_999), fresh())).toBeCloseTo(200, 0);
    expect(e.delay(3, at(0.5), fresh())).toBe(400);
    expect(e.delay(100, at(0.5), fresh())).toBe(15_000);
  });

  describe('decorrelated (Polly v2)', () => {
    it('stays finite and within [0, max] over a whole schedule, at any attempt number', () => {
      fc.assert(
        fc.property(
          ms,
          ms,
          fc.integer({ min: 0, max: 5_000 }),
          fc.array(rnd, { minLength: 1, maxLength: 40 }),
          (initial, max, start, rs) => {
            const e = exponential({ initial, max, jitter: 'decorrelated' });
            const state = fresh();
            let k = 0;
            const random = () => rs[k++ % rs.length] as number;
            for (let n = start + 1; n <= start + 40; n++) {
              const d = e.delay(n, random, state);
              expect(finiteNonNegative(d)).toBe(true);
              expect(d).toBeLessThanOrEqual(max);
            }
          },
        ),
      );
    });

    it('past the cap its delays stay in [max/2, max] (callers keep spreading, never 0)', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1_000, max: 1_000_000 }),
          fc.array(rnd, { minLength: 2, maxLength: 20 }),
          (n, rs) => {
            const e = exponential({ initial: 100, max: 10_000, jitter: 'decorrelated' });
            const state = fresh();
            let k = 0;
            const random = () => rs[k++ % rs.length] as number;
            for (let i = 0; i < 10; i++) {
              const d = e.delay(n + i, random, state);
              expect(d).toBeGreaterThanOrEqual(5_000);
              expect(d).toBeLessThanOrEqual(10_000);
            }
          },
        ),
      );
    });

    it('its median roughly doubles each retry, starting near initial', () => {
      let seed = 42;
      const random = () => {
        // xorshift32: deterministic, well spread
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        return (seed >>> 0) / 2 ** 32;
      };
      const e = exponential({ initial: 100, max: 1e9, jitter: 'decorrelated' });
      const runs = 4_000;
      const samples: number[][] = Array.from({ length: 6 }, () => []);
      for (let i = 0; i < runs; i++) {
        const state = fresh();
        for (let n = 1; n <= 6; n++) samples[n - 1]?.push(e.delay(n, random, state));
      }
      const medians = samples.map((s) => s.sort((a, b) => a - b)[runs >> 1] as number);
      expect(medians[0]).toBeGreaterThan(50);
      expect(medians[0]).toBeLessThan(200);
      for (let n = 2; n < 6; n++) {
        const ratio = (medians[n] as number) / (medians[n - 1] as number);
        expect(ratio).toBeGreaterThan(1.6);
        expect(ratio).toBeLessThan(2.5);
      }
    });
  });
});

describe('backoff options', () => {
  it.each([
    ['constant(-1)', () => constant(-1), RangeError, 'ms'],
    ['constant(NaN)', () => constant(Number.NaN), TypeError, 'ms'],
    ['constant jitter decorrelated', () => constant(1, { jitter: 'decorrelated' as never }), TypeError, 'jitter'],
    ['linear initial -1', () => linear({ initial: -1 }), RangeError, 'initial'],
    ['linear step NaN', () => linear({ step: Number.NaN }), TypeError, 'step'],
    ['linear max -5', () => linear({ max: -5 }), RangeError, 'max'],
    ['linear jitter', () => linear({ jitter: 'half' as never }), TypeError, 'jitter'],
    ['exponential factor 0.5', () => exponential({ factor: 0.5 }), RangeError, 'factor'],
    ['exponential initial NaN', () => exponential({ initial: Number.NaN }), TypeError, 'initial'],
    ['exponential max -1', () => exponential({ max: -1 }), RangeError, 'max'],
    ['exponential jitter', () => exponential({ jitter: 'random' as Jitter }), TypeError, 'jitter'],
  ])('%s throws naming the option', (_label, make, type, name) => {
    expect(make).toThrow(type);
    expect(make).toThrow(`\`${name}\``);
  });
});
