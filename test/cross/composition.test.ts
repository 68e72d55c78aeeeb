import { describe, expect, it } from 'vitest';
import { circuitBreaker, consecutive } from '../../src/breaker/index.js';
import { fallback } from '../../src/fallback/index.js';
import { hedge } from '../../src/hedge/index.js';
import { Policy } from '../../src/index.js';
import { isRateLimitedError, rateLimit } from '../../src/rate-limit/index.js';
import { constant, retry } from '../../src/retry/index.js';
import { streamTimeout } from '../../src/stream/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { failOnUnhandledRejections } from '../support/unhandled.js';

failOnUnhandledRejections(5);

describe('composition', () => {
  it('hedge over a waiting rate limiter: a hedge queued in the limiter is cancelled when the primary wins, and leaves the queue', async () => {
    const clock = virtualClock();
    const rl = rateLimit({ limit: 1, per: 1_000, mode: 'wait', clock });
    const p = Policy.wrap(hedge({ delay: 10, maxHedges: 2, clock }), rl);
    let runs = 0;
    const r = p.execute((ctx) => {
      runs++;
      return clock.sleep(500, ctx.signal).then(() => ctx.attempt);
    });
    await clock.advance(30);
    expect((await rl.snapshot()).waiting).toBe(2);
    await clock.advance(470);
    await expect(r).resolves.toBe(1);
    expect(runs).toBe(1);
    expect((await rl.snapshot()).waiting).toBe(0);
    // the next call waits only for the refill, not for ghosts
    const next = p.execute(() => 'next');
    await clock.advance(500);
    await expect(next).resolves.toBe('next');
    expect(clock.pending).toBe(0);
  });

  it('retry over a rejecting rate limiter waits retryAfter and succeeds; a capacity rejection is not retried', async () => {
    const clock = virtualClock();
    const p = Policy.wrap(
      retry({ maxRetries: 3, backoff: constant(1), clock }),
      rateLimit({ limit: 2, per: 1_000, clock, cost: (ctx) => (ctx.data.cost as number) ?? 1 }),
    );
    await p.execute(() => 1, { data: { cost: 2 } });
    const r = p.execute(() => 'ok', { data: { cost: 1 } });
    await clock.advance(500);
    await expect(r).resolves.toBe('ok');
    let ran = 0;
    await expect(p.execute(() => ran++, { data: { cost: 3 } })).rejects.toSatisfy(
      (e) => isRateLimitedError(e) && e.reason === 'capacity',
    );
    expect(ran).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('fallback(hedge(streamTimeout)): the first stream to a first chunk wins, the loser is closed; a stall before any chunk falls back', async () => {
    const clock = virtualClock();
    const closed: number[] = [];
    const p = Policy.wrap(
      fallback({ to: () => 'fallback' }),
      hedge({ delay: 50, clock }),
      streamTimeout({ firstChunk: 300, idle: 100, clock }),
    );
    const src = (first: number) =>
      async function* (ctx: { attempt: number; signal: AbortSignal }) {
        try {
          await clock.sleep(first, ctx.signal);
          yield `a${ctx.attempt}`;
          yield 'end';
        } finally {
          closed.push(ctx.attempt);
        }
      };
    const r = p.execute((ctx) => src(ctx.attempt === 1 ? 200 : 20)(ctx));
    await clock.advance(70);
    const s = (await r) as AsyncIterable<string>;
    const out: string[] = [];
    for await (const c of s) out.push(c);
    expect(out).toEqual(['a2', 'end']);
    await clock.advance(500);
    expect(closed.sort()).toEqual([1, 2]);
    const stalled = p.execute((ctx) => src(10_000)(ctx));
    await clock.advance(350); // the primary's first-chunk limit at 300, the hedge's (started at 50) at 350
    await expect(stalled).resolves.toBe('fallback');
    expect(clock.pending).toBe(0);
  });

  it('a breaker inside a hedge does not count cancelled losers', async () => {
    const clock = virtualClock();
    const cb = circuitBreaker({ strategy: consecutive(1), clock });
    const p = Policy.wrap(hedge({ delay: 10, clock }), cb);
    for (let i = 0; i < 5; i++) {
      const r = p.execute((ctx) =>
        clock.sleep(ctx.attempt === 1 ? 100 : 5, ctx.signal).then(() => {
          return ctx.attempt;
        }),
      );
      await clock.advance(20);
      await expect(r).resolves.toBe(2);
    }
    expect(cb.state).toBe('closed');
  });
});
