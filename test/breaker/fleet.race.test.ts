// Races of the fleet-wide breaker with fc.scheduler(): several instances (each a breaker with its own
// store) share the in-memory twin of the Redis script; the scheduler decides when each operation
// reaches the shared record, when its reply comes back, when each notification arrives and when each
// probe ends. Whatever the order, never more than `probes` probes run at once across the fleet, and
// once everything has landed every instance agrees with the shared record.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BreakerState, type CircuitBreaker, circuitBreaker, consecutive } from '../../src/breaker/index.js';
import type { BreakerBackend, Op, Reply, Shared } from '../../src/breaker/redis/backend.js';
import { SharedBreakerStore } from '../../src/breaker/redis/shared-store.js';
import { virtualClock } from '../../src/testing/index.js';
import { MemoryBackend } from './support/memory-backend.js';

const numRuns = Number(process.env.FC_NUM_RUNS ?? 150);

/** The twin, with every request, reply and notification delivered when the scheduler says. */
class ScheduledBackend implements BreakerBackend {
  s: fc.Scheduler | undefined = undefined;
  readonly #inner: MemoryBackend;
  constructor(inner: MemoryBackend) {
    this.#inner = inner;
  }
  ready(): boolean {
    return true;
  }
  exec(op: Op, me: string, slots: number, args: readonly (string | number)[]): Promise<Reply> {
    const s = this.s;
    if (s === undefined) return this.#inner.exec(op, me, slots, args);
    return s
      .schedule(Promise.resolve(), `${op} reaches the record`)
      .then(() => this.#inner.exec(op, me, slots, args))
      .then((reply) => s.schedule(Promise.resolve(reply), `${op} reply`));
  }
  listen(onState: (x: Shared) => void, onResume: () => void): () => Promise<void> {
    return this.#inner.listen((x) => {
      const s = this.s;
      if (s === undefined) onState(x);
      else void s.schedule(Promise.resolve(), `notify ${x.s}@${x.e}`).then(() => onState(x));
    }, onResume);
  }
}

type Outcome = 'ok' | 'fail' | 'ignored';

/** Runs scheduled tasks until none is left, including those that earlier ones scheduled later. */
async function drain(s: fc.Scheduler, flush: () => Promise<void>): Promise<void> {
  for (;;) {
    await s.waitAll();
    await flush();
    if (s.count() === 0) return;
  }
}
const category = (s: BreakerState): string => (s === 'half-open' ? 'open' : s);

describe('fleet-wide breaker races (fc.scheduler, in-memory twin of the Redis script)', () => {
  it('never more than `probes` probes at once across the fleet; afterwards every instance agrees with the record', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.array(fc.constantFrom<Outcome>('ok', 'ok', 'fail', 'ignored'), { minLength: 1, maxLength: 5 }), {
          minLength: 2,
          maxLength: 4,
        }),
        async (s, probes, plan) => {
          const clock = virtualClock({ start: 1_000_000 });
          const twin = new MemoryBackend(() => clock.now());
          const backend = new ScheduledBackend(twin);
          // The fleet opened a moment ago (break 1000 ms).
          twin.run('seed', 'setup', probes, ['open', 1, 1000, 1, 0, 0, 1000]);
          const breakers: CircuitBreaker[] = plan.map(() =>
            circuitBreaker({
              strategy: consecutive(1),
              breakDuration: 1000,
              halfOpen: { probes },
              handle: (e) => (e as Error).message !== 'ignored',
              clock,
              store: new SharedBreakerStore(backend, { staleness: 60_000, timeout: 600_000, lease: 600_000, clock }),
            }),
          );
          await clock.advance(0); // first reads: every instance adopts the open
          expect(breakers.map((b) => b.state)).toEqual(breakers.map(() => 'open'));
          await clock.advance(1000); // the break is over
          backend.s = s;

          let running = 0;
          let most = 0;
          const calls = breakers.flatMap((b) =>
            (plan[breakers.indexOf(b)] as Outcome[]).map((outcome) =>
              b.execute(async () => {
                const probe = b.state === 'half-open';
                if (probe) most = Math.max(most, ++running);
                await s.schedule(Promise.resolve(), `probe ends ${outcome}`);
                if (probe) running--;
                if (outcome !== 'ok') throw new Error(outcome);
                return outcome;
              }),
            ),
          );
          await s.waitFor(Promise.allSettled(calls));
          await drain(s, () => clock.flush());
          expect(most).toBeLessThanOrEqual(probes);

          // Converged: with notifications and replies all delivered, a poll leaves every instance
          // in the record's state.
          backend.s = undefined;
          await clock.advance(30_000);
          const record = twin.rec?.s;
          for (const b of breakers) expect(category(b.state)).toBe(record);
        },
      ),
      { numRuns },
    );
  });

  it('a successful period closes exactly once: no instance reports two closes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 2, max: 4 }),
        async (s, probes, n) => {
          const clock = virtualClock({ start: 1_000_000 });
          const twin = new MemoryBackend(() => clock.now());
          const backend = new ScheduledBackend(twin);
          twin.run('seed', 'setup', probes, ['open', 1, 0, 1, 0, 0, 1000]);
          const closes: number[] = [];
          const breakers = Array.from({ length: n }, (_, i) => {
            const b = circuitBreaker({
              strategy: consecutive(1),
              halfOpen: { probes },
              clock,
              store: new SharedBreakerStore(backend, { staleness: 60_000, timeout: 600_000, lease: 600_000, clock }),
            });
            closes[i] = 0;
            b.on('close', () => {
              closes[i] = (closes[i] as number) + 1;
            });
            return b;
          });
          await clock.advance(0);
          backend.s = s;
          const calls = breakers.flatMap((b) =>
            Array.from({ length: probes + 1 }, () => b.execute(() => s.schedule(Promise.resolve('ok')))),
          );
          await s.waitFor(Promise.allSettled(calls));
          await drain(s, () => clock.flush());
          backend.s = undefined;
          await clock.advance(30_000);
          expect(twin.rec?.s).toBe('closed');
          expect(closes).toEqual(breakers.map(() => 1));
        },
      ),
      { numRuns },
    );
  });
});
