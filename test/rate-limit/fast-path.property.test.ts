// The policy's synchronous fast path (`execute` → `enter`: the in-memory algorithm called directly)
// against the general path (`acquire` → `#admit` → the store interface, what a waiting call or a
// remote store goes through): for the same configuration, clock and sequence of calls, both admit
// the same calls, reject the others with the same reason and `retryAfter`, and leave every key in
// the same state.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Context } from '../../src/index.js';
import { isRateLimitedError, type RateLimit, rateLimit } from '../../src/rate-limit/index.js';
import { virtualClock } from '../../src/testing/index.js';

const config = fc.record({
  algorithm: fc.constantFrom('token-bucket' as const, 'sliding-window' as const),
  limit: fc.integer({ min: 1, max: 20 }),
  per: fc.integer({ min: 10, max: 1_000 }),
  /** Token bucket only: burst as a multiple of limit (0 = the default, limit). */
  burst: fc.constantFrom(0, 0.5, 2),
  shadow: fc.boolean(),
  keyed: fc.boolean(),
});

const op = fc.oneof(
  { weight: 3, arbitrary: fc.record({ key: fc.constantFrom('a', 'b'), cost: fc.integer({ min: 0, max: 25 }) }) },
  { weight: 1, arbitrary: fc.record({ advance: fc.integer({ min: 0, max: 700 }) }) },
);

type Decision = { ok: true } | { ok: false; reason: string; retryAfter: number };

function decision(error: unknown): Decision {
  if (!isRateLimitedError(error)) throw error;
  return { ok: false, reason: error.reason, retryAfter: error.retryAfter };
}

describe('rate limit: the fast path decides as the general path', () => {
  it('execute (enter) and acquire (the store) admit, reject and account alike', async () => {
    await fc.assert(
      fc.asyncProperty(config, fc.array(op, { maxLength: 60 }), async (cfg, ops) => {
        const make = (clock: ReturnType<typeof virtualClock>): RateLimit =>
          rateLimit({
            algorithm: cfg.algorithm,
            limit: cfg.limit,
            per: cfg.per,
            burst: cfg.algorithm === 'token-bucket' && cfg.burst > 0 ? cfg.limit * cfg.burst : undefined,
            shadow: cfg.shadow,
            feedback: false,
            cost: (ctx: Context) => ctx.data.cost as number,
            key: cfg.keyed ? (ctx: Context) => ctx.key as string : undefined,
            clock,
          });
        const fastClock = virtualClock({ start: 1_000 });
        const slowClock = virtualClock({ start: 1_000 });
        const fast = make(fastClock);
        const slow = make(slowClock);
        let ran = 0;
        for (const o of ops) {
          if ('advance' in o) {
            await fastClock.advance(o.advance);
            await slowClock.advance(o.advance);
            continue;
          }
          const key = cfg.keyed ? o.key : '';
          const before = ran;
          const viaFast: Decision = await fast
            .execute(
              () => {
                ran++;
                return 'ran';
              },
              { key, data: { cost: o.cost } },
            )
            .then(() => ({ ok: true }) as const, decision);
          const viaSlow: Decision = await slow
            .acquire({ key, cost: o.cost })
            .then(() => ({ ok: true }) as const, decision);
          expect(viaFast).toEqual(viaSlow);
          expect(ran).toBe(viaFast.ok ? before + 1 : before); // fn runs only when admitted
          for (const k of cfg.keyed ? ['a', 'b'] : ['']) {
            const a = await fast.snapshot({ key: k });
            const b = await slow.snapshot({ key: k });
            expect(a.remaining).toBeCloseTo(b.remaining, 9);
            expect(a.blockedFor).toBe(b.blockedFor);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
