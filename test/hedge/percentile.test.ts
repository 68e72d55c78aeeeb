import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LatencyWindow } from '../../src/hedge/percentile.js';

/** The model: keep the last `size` samples in an array, sort a copy, take the nearest rank. */
function modelPercentile(samples: readonly number[], size: number, p: number): number {
  const kept = samples.slice(-size);
  if (kept.length === 0) return Number.NaN;
  const sorted = [...kept].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p * sorted.length) / 100)));
  return sorted[rank - 1] as number;
}

describe('LatencyWindow (percentile by nearest rank over the latest samples)', () => {
  it('agrees with a sorted-array model after any sequence of samples and queries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(
          fc.oneof(
            // Samples with many ties (small integers) and arbitrary doubles.
            fc.record({ add: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.double({ min: 0, max: 1e6, noNaN: true })) }),
            fc.record({
              p: fc.oneof(fc.constantFrom(1, 50, 90, 95, 99, 99.9, 100), fc.double({ min: 1, max: 100, noNaN: true })),
            }),
          ),
          { maxLength: 200 },
        ),
        (size, ops) => {
          const w = new LatencyWindow(size);
          const samples: number[] = [];
          for (const op of ops) {
            if ('add' in op) {
              w.add(op.add);
              samples.push(op.add);
              expect(w.count).toBe(Math.min(samples.length, size));
            } else {
              expect(Object.is(w.percentile(op.p), modelPercentile(samples, size, op.p))).toBe(true);
            }
          }
          // And every rank of the final window.
          const n = w.count;
          for (let k = 1; k <= n; k++) {
            const p = Math.min(100, (k * 100) / n);
            expect(w.percentile(p)).toBe(modelPercentile(samples, size, p));
          }
        },
      ),
    );
  });

  it('examples: p50, p95 and p100 of 1..100, and an empty window', () => {
    const w = new LatencyWindow(100);
    expect(w.percentile(95)).toBeNaN();
    for (let i = 100; i >= 1; i--) w.add(i);
    expect(w.percentile(50)).toBe(50);
    expect(w.percentile(95)).toBe(95);
    expect(w.percentile(100)).toBe(100);
    w.add(1_000); // evicts the oldest (100)
    expect(w.percentile(100)).toBe(1_000);
    expect(w.percentile(99)).toBe(99);
  });
});
