import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRateLimitedError, rateLimit } from '../../src/rate-limit/index.js';
import { virtualClock } from '../../src/testing/index.js';

// A user who waits exactly the `retryAfter` a rejection gave is admitted then (if nobody else took
// the tokens meanwhile): that is what `retry` outside a limiter relies on.
describe('retryAfter is enough', () => {
  for (const algorithm of ['token-bucket', 'sliding-window'] as const) {
    it(`${algorithm}: waiting exactly retryAfter admits the same call`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 5000 }),
          fc.integer({ min: 1, max: 100_000 }),
          fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.double({ min: 0, max: 50, noNaN: true })), {
            minLength: 1,
            maxLength: 30,
          }),
          async (limit, per, steps) => {
            const clock = virtualClock();
            const rl = rateLimit({ limit, per, algorithm, clock, cost: (ctx) => ctx.data.cost as number });
            for (const [gap, rawCost] of steps) {
              await clock.advance(gap);
              const cost = Math.min(rawCost, limit);
              try {
                await rl.execute(() => 1, { data: { cost } });
              } catch (e) {
                if (!isRateLimitedError(e)) throw e;
                expect(e.reason).toBe('limit');
                expect(Number.isFinite(e.retryAfter)).toBe(true);
                await clock.advance(e.retryAfter);
                await expect(
                  rl.execute(() => 1, { data: { cost } }),
                  `after ${e.retryAfter} ms`,
                ).resolves.toBe(1);
              }
            }
          },
        ),
        { numRuns: 300 },
      );
    });
  }
});
