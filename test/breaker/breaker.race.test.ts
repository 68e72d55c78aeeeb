// Races with fc.scheduler(): callers and completions interleave in every order fast-check finds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BrokenCircuitError, circuitBreaker, consecutive, failureRate } from '../../src/breaker/index.js';
import { virtualClock } from '../../src/testing/index.js';

type Outcome = 'ok' | 'fail' | 'ignored';

const settle = (o: Outcome): string => {
  if (o === 'ok') return 'ok';
  throw new Error(o);
};

async function openedBreaker(probes: number) {
  const clock = virtualClock();
  const b = circuitBreaker({
    strategy: consecutive(1),
    breakDuration: 100,
    halfOpen: { probes },
    handle: (e) => (e as Error).message !== 'ignored',
    clock,
  });
  await b.execute(() => settle('fail')).catch(() => {});
  await clock.advance(100); // the break has just ended
  return b;
}

describe('circuit breaker races', () => {
  it('many concurrent callers when the break ends: exactly `probes` run, the rest are rejected', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 8 }),
        async (s, probes, extra) => {
          const b = await openedBreaker(probes);
          let ran = 0;
          const calls = Array.from({ length: probes + extra }, () =>
            b.execute(() => {
              ran++;
              return s.schedule(Promise.resolve('ok'));
            }),
          );
          const settled = await s.waitFor(Promise.allSettled(calls));
          expect(ran).toBe(probes);
          const rejected = settled.filter((r) => r.status === 'rejected');
          expect(rejected).toHaveLength(extra);
          for (const r of rejected) {
            const e = (r as PromiseRejectedResult).reason;
            expect(e).toBeInstanceOf(BrokenCircuitError);
            expect(typeof (e as BrokenCircuitError).retryAfter).toBe('number');
          }
          expect(b.state).toBe('closed');
        },
      ),
      { numRuns: 100 },
    );
  });

  it('callers arriving while probes settle in any order: never more than `probes` in half-open, one open per opening', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.constantFrom<Outcome>('ok', 'ok', 'fail', 'ignored'), { minLength: 1, maxLength: 10 }),
        async (s, probes, outcomes) => {
          const b = await openedBreaker(probes);
          let opens = 0;
          let closes = 0;
          b.on('open', () => opens++);
          b.on('close', () => closes++);
          let probing = 0;
          let maxProbing = 0;
          const done = outcomes.map((o) =>
            s
              .schedule(Promise.resolve())
              .then(() =>
                b.execute(() => {
                  const isProbe = b.state === 'half-open';
                  if (isProbe) maxProbing = Math.max(maxProbing, ++probing);
                  return s.schedule(Promise.resolve()).then(() => {
                    if (isProbe) probing--;
                    return settle(o);
                  });
                }),
              )
              .catch(() => {}),
          );
          await s.waitFor(Promise.all(done));
          expect(maxProbing).toBeLessThanOrEqual(probes);
          // Time never moves, so the circuit re-opens at most once and closes at most once.
          expect(opens).toBeLessThanOrEqual(1);
          expect(closes).toBeLessThanOrEqual(1);
          if (opens === 1) expect(b.state).toBe('open');
        },
      ),
      { numRuns: 100 },
    );
  });

  it('concurrent failures completing in any order produce one open event per opening', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.constantFrom<Outcome>('ok', 'fail', 'fail', 'ignored'), { minLength: 2, maxLength: 12 }),
        fc.boolean(),
        async (s, outcomes, rate) => {
          const clock = virtualClock();
          const b = circuitBreaker({
            strategy: rate ? failureRate({ threshold: 0.5, minThroughput: 2, window: 1000 }) : consecutive(2),
            handle: (e) => (e as Error).message !== 'ignored',
            clock,
          });
          let opens = 0;
          b.on('open', () => opens++);
          const calls = outcomes.map((o) =>
            b.execute(() => s.schedule(Promise.resolve(o)).then(settle)).catch(() => {}),
          );
          await s.waitFor(Promise.all(calls));
          // Every call started while closed; after the first opening, the rest only update statistics.
          expect(opens).toBeLessThanOrEqual(1);
          const failures = outcomes.filter((o) => o === 'fail').length;
          if (failures === 0) expect(opens).toBe(0);
          expect(b.state).toBe(opens === 1 ? 'open' : 'closed');
        },
      ),
      { numRuns: 100 },
    );
  });
});
