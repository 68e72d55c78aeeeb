// Races with fc.scheduler(): concurrent calls, endpoint answers, failures and caller aborts settle in
// every order fast-check finds. Whatever the order: one probe at a time on an endpoint whose
// ejection ended, an aborted call rejects with its caller's reason, every other call settles with an
// answer or an endpoint error, and nothing is left behind (calls in flight, probes, waiters, listeners).
import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Context } from '../../src/core/context.js';
import { gateway, isGatewayUnavailableError } from '../../src/gateway/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { http, ok } from './support.js';

describe('gateway races', () => {
  it('many calls when an ejection ends: exactly one probe goes through at a time', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 2, max: 8 }), fc.boolean(), async (s, n, probeOk) => {
        const clock = virtualClock();
        let failing = true;
        let inA = 0;
        let maxInA = 0;
        const gw = gateway({
          clock,
          maxWait: 0,
          random: () => 0,
          ejection: { consecutiveFailures: 1, base: 100, jitter: 0 },
          targets: {
            chat: {
              endpoints: [
                {
                  id: 'a',
                  call: async () => {
                    inA++;
                    maxInA = Math.max(maxInA, inA);
                    try {
                      await s.schedule(Promise.resolve(), 'a answers');
                      if (failing) throw http(500);
                      return ok();
                    } finally {
                      inA--;
                    }
                  },
                },
                { id: 'b', weight: 0, call: () => s.schedule(Promise.resolve(ok()), 'b answers') },
              ],
            },
          },
        });
        const first = gw.call('chat', {});
        await s.waitFor(first); // a fails (ejected), b answers
        await clock.advance(100); // the ejection ends: a is probing
        failing = !probeOk;
        maxInA = 0;
        const calls = Array.from({ length: n }, () => gw.call('chat', {}));
        const settled = await s.waitFor(Promise.allSettled(calls));
        expect(maxInA).toBe(1);
        expect(settled.every((r) => r.status === 'fulfilled')).toBe(true);
        const a = gw.snapshot().targets.chat?.endpoints[0];
        expect(a?.state).toBe(probeOk ? 'healthy' : 'ejected');
        expect(a?.inflight).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  it('aborts racing answers and failures: the caller’s reason, or a settled answer; nothing left behind', async () => {
    type Plan = { abortAt: number | undefined; outcomes: ('ok' | '500' | '429')[] };
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(
          fc.record({
            abortAt: fc.option(fc.nat(3), { nil: undefined }),
            outcomes: fc.array(fc.constantFrom<'ok' | '500' | '429'>('ok', '500', '429'), {
              minLength: 3,
              maxLength: 3,
            }),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        async (s, plans: Plan[]) => {
          const clock = virtualClock();
          const gw = gateway({
            clock,
            maxWait: 0,
            targets: {
              chat: {
                strategy: 'round-robin',
                endpoints: ['a', 'b', 'c'].map((id, k) => ({
                  id,
                  call: async (req: unknown, ctx: Context) => {
                    const plan = req as Plan;
                    const signal = ctx.signal;
                    await s.schedule(Promise.resolve(), `${id} answers`);
                    // A client that honours its signal with its own error (as the SDKs' APIUserAbortError).
                    if (signal.aborted) throw new DOMException('This operation was aborted', 'AbortError');
                    const o = plan.outcomes[k];
                    if (o === 'ok') return ok();
                    throw http(o === '429' ? 429 : 500, o === '429' ? { 'retry-after-ms': '10' } : {});
                  },
                })),
              },
            },
          });
          const callers = plans.map((plan) => {
            const ac = new AbortController();
            const reason = new Error('caller left');
            const p = gw.call('chat', plan, { signal: ac.signal });
            const c = { plan, ac, reason, p, settled: false, abortedFirst: false };
            p.then(
              () => (c.settled = true),
              () => (c.settled = true),
            );
            return c;
          });
          // Aborts are scheduled too, so they interleave with the answers.
          for (const c of callers) {
            if (c.plan.abortAt !== undefined)
              s.schedule(Promise.resolve(), 'abort').then(() => {
                c.abortedFirst = !c.settled;
                c.ac.abort(c.reason);
              });
          }
          const settled = await s.waitFor(Promise.allSettled(callers.map((c) => c.p)));
          await s.waitFor(s.waitAll());
          settled.forEach((r, k) => {
            const c = callers[k] as (typeof callers)[number];
            // Aborted while still running: rejected with exactly the caller's reason.
            if (c.abortedFirst) expect(r.status === 'rejected' && r.reason === c.reason).toBe(true);
            if (r.status === 'fulfilled') return;
            const e = r.reason as unknown;
            if (c.ac.signal.aborted && e === c.reason) return;
            // Not aborted (or aborted too late): an endpoint's own error or unavailability, never a foreign reason.
            expect(
              e === c.reason || isGatewayUnavailableError(e) || typeof (e as { status?: unknown }).status === 'number',
            ).toBe(true);
            if (e !== c.reason) expect(callers.some((o) => o.reason === e)).toBe(false);
          });
          for (const ep of gw.snapshot().targets.chat?.endpoints ?? []) expect(ep.inflight).toBe(0);
          for (const c of callers) expect(getEventListeners(c.ac.signal, 'abort')).toHaveLength(0);
          expect(clock.pending).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });
});
