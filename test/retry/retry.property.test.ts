import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type { Context } from '../../src/core/context.js';
import { Policy } from '../../src/core/policy.js';
import { constant } from '../../src/retry/backoff.js';
import { retry } from '../../src/retry/retry.js';
import { virtualClock } from '../../src/testing/virtual-clock.js';
import { timeout } from '../../src/timeout/timeout.js';

describe('retry properties', () => {
  it('an always-failing fn is called exactly maxRetries + 1 times and the last error is rethrown', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 1_000 }), { minLength: 1, maxLength: 5 }),
        async (maxRetries, delays) => {
          const clock = virtualClock();
          let calls = 0;
          const errors: Error[] = [];
          const p = retry({ maxRetries, clock, backoff: (n) => delays[(n - 1) % delays.length] as number }).execute(
            () => {
              calls++;
              const e = new Error(`fail ${calls}`);
              errors.push(e);
              throw e;
            },
          );
          const settled = p.then(
            () => 'resolved',
            (e: unknown) => e,
          );
          await clock.runAll();
          expect(await settled).toBe(errors[errors.length - 1]);
          expect(calls).toBe(maxRetries + 1);
          expect(clock.scheduled).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('an abort at a random moment of a random schedule rejects with its reason within one clock step; fn is never called after it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 6 }),
        fc.array(fc.record({ delay: fc.integer({ min: 0, max: 50 }), work: fc.integer({ min: 0, max: 50 }) }), {
          minLength: 1,
          maxLength: 7,
        }),
        fc.integer({ min: 0, max: 400 }),
        fc.boolean(),
        async (maxRetries, schedule, abortAt, withTimeout) => {
          const clock = virtualClock();
          const ac = new AbortController();
          const reason = new Error('caller abort');
          let calls = 0;
          let callsAtAbort = -1;
          // fn takes `work` ms (honouring its signal), then fails.
          const fn = async (ctx: Context) => {
            calls++;
            const step = schedule[(ctx.attempt - 1) % schedule.length] as { work: number };
            await clock.sleep(step.work, ctx.signal);
            throw new Error(`fail ${ctx.attempt}`);
          };
          const r = retry({
            maxRetries,
            clock,
            backoff: (n) => (schedule[(n - 1) % schedule.length] as { delay: number }).delay,
          });
          const policy = withTimeout ? Policy.wrap(timeout({ after: 1_000_000, clock }), r) : r;
          let outcome: { settled: boolean; error?: unknown } = { settled: false };
          void policy.execute(fn, { signal: ac.signal }).then(
            () => {
              outcome = { settled: true };
            },
            (error: unknown) => {
              outcome = { settled: true, error };
            },
          );
          await clock.advance(abortAt);
          if (outcome.settled) {
            // The schedule ran out before the abort: nothing to check beyond the count.
            expect(calls).toBe(maxRetries + 1);
            return;
          }
          callsAtAbort = calls;
          ac.abort(reason);
          await clock.flush(); // no time passes
          expect(outcome).toEqual({ settled: true, error: reason });
          await clock.runAll();
          expect(calls).toBe(callsAtAbort);
          expect(clock.pending).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a zero-delay schedule never touches the clock’s timers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 10 }),
        async (maxRetries, failures) => {
          const clock = virtualClock();
          const setTimer = vi.spyOn(clock, 'setTimeout');
          let calls = 0;
          const out = await retry({ maxRetries, backoff: constant(0), clock }).executeOutcome(() => {
            if (++calls <= failures) throw new Error('x');
            return calls;
          });
          expect(out.ok).toBe(failures <= maxRetries);
          expect(setTimer).not.toHaveBeenCalled();
        },
      ),
      { numRuns: 50 },
    );
  });
});
