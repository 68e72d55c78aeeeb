// Races with fc.scheduler(): attempt completions, hedge timers and caller aborts interleave in any
// order, over concurrent calls that share one hedge budget.
import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { hedge, hedgeBudget, isHedgeCancelledError } from '../../src/hedge/index.js';

/** A clock whose timers fire when the scheduler says so; time jumps to a timer's due time when it fires. */
function schedulerClock(s: fc.Scheduler): Omit<Clock, 'sleep'> {
  let now = 0;
  let ids = 0;
  const live = new Set<number>();
  return {
    now: () => now,
    setTimeout(callback, ms) {
      const id = ++ids;
      const at = now + ms;
      live.add(id);
      s.schedule(Promise.resolve(), `timer ${id} @${at}`).then(() => {
        if (!live.delete(id)) return;
        now = Math.max(now, at);
        callback();
      });
      return id;
    },
    clearTimeout(id) {
      live.delete(id as number);
    },
  };
}

interface AttemptPlan {
  readonly fail: boolean;
  /** A failure `handle` refuses to hedge: it ends the call. */
  readonly final: boolean;
  /** Reads `ctx.signal` when it starts (else only when it completes, or after the call). */
  readonly readEarly: boolean;
}
interface CallPlan {
  readonly attempts: readonly AttemptPlan[];
  readonly abort: boolean;
}
interface AttemptLog {
  readonly n: number;
  readonly startedAt: number;
  signal: AbortSignal | undefined;
  completedAt: number | undefined;
  /** The signal's state when its work completed. */
  abortedAtCompletion: boolean;
  readonly ctx: { readonly signal: AbortSignal };
}

const attemptPlan = fc.record({ fail: fc.boolean(), final: fc.boolean(), readEarly: fc.boolean() });

describe('hedge races', () => {
  it('exactly one winner, losers cancelled with ERR_HEDGE_CANCELLED, budget and attempt caps hold, nothing leaks', async () => {
    let seenHedges = 0;
    let seenCancelled = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.constantFrom(0, 10, Number.POSITIVE_INFINITY),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(0, 0.25, 0.5, 1),
        fc.array(fc.record({ attempts: fc.array(attemptPlan, { minLength: 4, maxLength: 4 }), abort: fc.boolean() }), {
          minLength: 1,
          maxLength: 6,
        }),
        async (s, delay, maxHedges, ratio, plans: CallPlan[]) => {
          const unhandled: unknown[] = [];
          const onUnhandled = (e: unknown) => unhandled.push(e);
          process.on('unhandledRejection', onUnhandled);
          try {
            const clock = schedulerClock(s);
            const budget = hedgeBudget({ ratio, minPerSecond: 0, window: 1e12, clock });
            const policy = hedge({
              delay,
              maxHedges,
              budget,
              clock,
              handle: (e) => !(e as { final?: boolean }).final,
            });
            let seq = 0;
            const logs: AttemptLog[][] = plans.map(() => []);
            const settledAt: number[] = plans.map(() => Number.POSITIVE_INFINITY);
            const outcomes: { ok: boolean; value: unknown }[] = [];
            const callers = plans.map(() => new AbortController());

            const done = plans.map((plan, i) => {
              const caller = callers[i] as AbortController;
              if (plan.abort) s.schedule(Promise.resolve(), `abort call ${i}`).then(() => caller.abort(`abort ${i}`));
              return s
                .schedule(Promise.resolve(), `start call ${i}`)
                .then(() =>
                  policy.execute(
                    (ctx) => {
                      const n = ctx.attempt;
                      const p = plan.attempts[n - 1] as AttemptPlan;
                      const log: AttemptLog = {
                        n,
                        startedAt: seq++,
                        signal: p.readEarly ? ctx.signal : undefined,
                        completedAt: undefined,
                        abortedAtCompletion: false,
                        ctx,
                      };
                      (logs[i] as AttemptLog[]).push(log);
                      return s.schedule(Promise.resolve(), `call ${i} attempt ${n}`).then(() => {
                        log.completedAt = seq++;
                        log.signal ??= ctx.signal;
                        log.abortedAtCompletion = log.signal.aborted;
                        if (p.fail) throw Object.assign(new Error(`call ${i} attempt ${n}`), { final: p.final });
                        return `call ${i} attempt ${n}`;
                      });
                    },
                    { signal: caller.signal },
                  ),
                )
                .then(
                  (value) => {
                    settledAt[i] = seq++;
                    outcomes[i] = { ok: true, value };
                  },
                  (error: unknown) => {
                    settledAt[i] = seq++;
                    outcomes[i] = { ok: false, value: error };
                  },
                );
            });
            await s.waitFor(Promise.all(done));
            await s.waitAll(); // leftover timers and loser completions
            await new Promise((r) => setTimeout(r, 0));

            let extra = 0;
            plans.forEach((plan, i) => {
              const log = logs[i] as AttemptLog[];
              const out = outcomes[i] as { ok: boolean; value: unknown };
              const settled = settledAt[i] as number;
              // Attempts are numbered 1.. in start order, at most 1 + maxHedges, none after the call settled.
              expect(log.map((a) => a.n)).toEqual(log.map((_, k) => k + 1));
              expect(log.length).toBeLessThanOrEqual(1 + maxHedges);
              for (const a of log) expect(a.startedAt).toBeLessThan(settled);
              extra += Math.max(0, log.length - 1); // a call aborted before it started ran none
              const callerReason = plan.abort ? `abort ${i}` : undefined;
              let winner: number | undefined;
              if (out.ok) {
                // One winner: an attempt that succeeded, not aborted when it completed.
                const m = /attempt (\d)$/.exec(out.value as string);
                winner = Number(m?.[1]);
                const w = log[winner - 1] as AttemptLog;
                expect(plan.attempts[winner - 1]?.fail).toBe(false);
                expect(w.completedAt).toBeLessThan(settled);
                expect(w.abortedAtCompletion).toBe(false);
                expect(w.signal?.aborted).toBe(false);
              } else if (callerReason !== undefined && out.value === callerReason) {
                // The caller's reason, never relabelled.
              } else {
                const e = out.value as Error & { final?: boolean };
                expect(e).toBeInstanceOf(Error);
                const failed = log.filter((a) => a.completedAt !== undefined && plan.attempts[a.n - 1]?.fail);
                if (e.final) expect(failed.map((a) => `call ${i} attempt ${a.n}`)).toContain(e.message);
                else {
                  // Every attempt failed: the primary's error.
                  expect(e.message).toBe(`call ${i} attempt 1`);
                  for (const a of log) expect(a.completedAt).toBeLessThan(settled);
                }
              }
              // Every attempt still pending when the call settled was aborted: with the caller's reason if
              // the caller aborted first, else with ERR_HEDGE_CANCELLED.
              for (const a of log) {
                if (a.n === winner || (a.completedAt ?? Number.POSITIVE_INFINITY) < settled) continue;
                const signal = a.ctx.signal;
                expect(signal.aborted).toBe(true);
                if (isHedgeCancelledError(signal.reason)) seenCancelled++;
                if (isHedgeCancelledError(signal.reason)) expect(out.ok || !(out.value === callerReason)).toBe(true);
                else expect(signal.reason).toBe(callerReason);
              }
              expect(getEventListeners(callers[i]?.signal as AbortSignal, 'abort')).toHaveLength(0);
            });
            // The budget: hedges ≤ ratio × calls (no floor), and it counted every one started.
            const started = logs.filter((l) => l.length > 0).length;
            expect(extra).toBeLessThanOrEqual(ratio * started + 1e-9);
            seenHedges += extra;
            expect(budget.hedges).toBe(extra);
            expect(budget.calls).toBe(started);
            expect(unhandled).toEqual([]);
          } finally {
            process.off('unhandledRejection', onUnhandled);
          }
        },
      ),
      { numRuns: 150 },
    );
    // The runs did race: hedges started and losers were cancelled.
    expect(seenHedges).toBeGreaterThan(0);
    expect(seenCancelled).toBeGreaterThan(0);
  });
});
