// Races in wait mode with fc.scheduler(): arrivals of weighted calls, aborts, refunds and clock
// advances interleave in any order. Every call settles once time runs out (no lost wake-up), calls
// run in arrival order (FIFO, a small call never overtakes a big one), and the admitted cost never
// exceeds what the bucket allows: burst + limit × elapsed / per (no over-admission).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRateLimitedError, type RateLimitLease, rateLimit } from '../../src/rate-limit/index.js';
import { virtualClock } from '../../src/testing/index.js';

interface CallSpec {
  readonly cost: number;
  readonly abort: boolean;
}

describe('wait mode races', () => {
  it('FIFO, aborts leave at once, no lost wake-up, no over-admission', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.record({
          limit: fc.integer({ min: 1, max: 5 }),
          burst: fc.integer({ min: 3, max: 6 }),
          maxWait: fc.option(fc.constantFrom(500, 2000), { nil: undefined }),
        }),
        fc.array(fc.record({ cost: fc.integer({ min: 1, max: 3 }), abort: fc.boolean() }), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.array(fc.integer({ min: 1, max: 700 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
        async (s, cfg, calls: CallSpec[], advances, refunds) => {
          const per = 1000;
          const clock = virtualClock();
          const rl = rateLimit({
            limit: cfg.limit,
            per,
            burst: cfg.burst,
            mode: 'wait',
            ...(cfg.maxWait === undefined ? {} : { maxWait: cfg.maxWait }),
            cost: (ctx) => ctx.data.cost as number,
            clock,
          });
          const arrived: number[] = [];
          const ran: { i: number; t: number; cost: number }[] = [];
          const outcome = new Map<number, string>();
          // Leases taken directly (the gateway's way) and refunded at random moments: a refund
          // must wake the head, never admit past the bucket.
          const leases: RateLimitLease[] = [];
          const refundsAt: { t: number; cost: number }[] = [];
          const done = calls.map((c, i) => {
            const ac = new AbortController();
            if (c.abort) s.schedule(Promise.resolve(), `abort ${i}`).then(() => ac.abort(new Error(`abort ${i}`)));
            return s
              .schedule(Promise.resolve(), `arrive ${i}`)
              .then(() => {
                arrived.push(i);
                return rl.execute(
                  () => {
                    ran.push({ i, t: clock.now(), cost: c.cost });
                  },
                  { signal: ac.signal, data: { cost: c.cost } },
                );
              })
              .then(
                () => outcome.set(i, 'ran'),
                (e: unknown) => outcome.set(i, isRateLimitedError(e) ? `limited:${e.reason}` : (e as Error).message),
              );
          });
          const extra = refunds.flatMap((cost, k) => [
            s.schedule(Promise.resolve(), `lease ${k}`).then(() => {
              const l = rl.tryAcquire({ cost }) as RateLimitLease | undefined;
              if (l !== undefined) {
                ran.push({ i: -1 - k, t: clock.now(), cost });
                leases.push(l);
              }
            }),
            s.schedule(Promise.resolve(), `refund ${k}`).then(() => {
              const l = leases.shift();
              if (l !== undefined) {
                refundsAt.push({ t: clock.now(), cost: l.cost });
                l.refund();
              }
            }),
          ]);
          const ticks = advances.map((ms) =>
            s.schedule(Promise.resolve(), `advance ${ms}`).then(() => clock.advance(ms)),
          );
          await s.waitAll();
          await Promise.all(ticks);
          await clock.runAll(); // time runs out: every waiter is admitted or turned away
          await Promise.all([...done, ...extra]);

          // Every call settled: ran, left on its own abort, or was turned away for maxWait.
          expect(outcome.size).toBe(calls.length);
          for (const [i, o] of outcome) {
            expect(['ran', `abort ${i}`, 'limited:max-wait']).toContain(o);
            if (o === 'limited:max-wait') expect(cfg.maxWait).toBeDefined();
          }
          expect(clock.pending).toBe(0);
          expect((rl.snapshot() as { waiting: number }).waiting).toBe(0);
          // FIFO: the calls that ran, ran in the order they arrived.
          const order = ran.filter((r) => r.i >= 0).map((r) => r.i);
          expect(order).toEqual(arrived.filter((i) => order.includes(i)));
          // No over-admission: by any admission, the cost admitted less what was refunded until
          // then fits in burst + refill since the start.
          let total = 0;
          for (const r of ran) {
            total += r.cost;
            const back = refundsAt.filter((x) => x.t <= r.t).reduce((a, x) => a + x.cost, 0);
            expect(total - back).toBeLessThanOrEqual(cfg.burst + (cfg.limit * r.t) / per + 1e-9);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
