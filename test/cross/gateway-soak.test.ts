// A soak of the gateway's features together: hedging, stream limits, concurrency limits, 429
// cool-downs, fallbacks, budgets, caller aborts, and consumers that read fully, break early or
// abandon. When everything has settled, nothing may be left held: no in-flight count, no budget
// reservation, no timer, no listener on a caller's signal, no unhandled rejection.
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Context } from '../../src/core/context.js';
import { gateway } from '../../src/gateway/index.js';
import { seededRandom, virtualClock } from '../../src/testing/index.js';
import { failOnUnhandledRejections } from '../support/unhandled.js';

failOnUnhandledRejections(5);

const http = (status: number, headers: Record<string, string> = {}) =>
  Object.assign(new Error(`HTTP ${status}`), { status, headers });

describe('gateway soak', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}: nothing is left held once every call and stream settled`, async () => {
      const clock = virtualClock();
      const rnd = seededRandom(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
      const call = (_req: unknown, ctx: Context) => {
        const signal = ctx.signal;
        const kind = pick(['ok', 'ok', 'ok', 'slow', 'fail', '429', 'mid-fail', 'stall', 'plain']);
        const first = Math.floor(rnd() * 120);
        const chunks = 1 + Math.floor(rnd() * 4);
        if (kind === 'fail') return clock.sleep(first, signal).then(() => Promise.reject(http(500)));
        if (kind === '429')
          return clock.sleep(first, signal).then(() => Promise.reject(http(429, { 'retry-after-ms': '300' })));
        if (kind === 'plain')
          return clock.sleep(first, signal).then(() => ({ usage: { prompt_tokens: 3, completion_tokens: 4 } }));
        return (async function* () {
          await clock.sleep(kind === 'slow' ? first + 400 : first, signal);
          for (let i = 0; i < chunks; i++) {
            yield { choices: [{ delta: { content: 'x' } }] };
            if (kind === 'mid-fail' && i === 0) throw http(500);
            await clock.sleep(kind === 'stall' ? 1_000 : 10, signal);
          }
          yield { choices: [], usage: { prompt_tokens: 5, completion_tokens: chunks } };
        })();
      };
      const ep = (id: string) => ({ id, call, cost: { input: 1, output: 1 }, limits: { concurrency: 2 } });
      const gw = gateway({
        clock,
        random: seededRandom(seed + 100),
        maxWait: 2_000,
        auth: (_req, o) => ({ key: o?.key ?? 'anon', budget: { usd: 1_000, per: 60_000 } }),
        targets: {
          a: {
            strategy: 'least-busy',
            hedge: { delay: 50, maxHedges: 2 },
            stream: { firstChunk: 300, idle: 200 },
            endpoints: [ep('a1'), ep('a2'), ep('a3')],
            fallbacks: { default: ['b'], 'rate-limited': ['b'] },
          },
          b: { stream: { firstChunk: 300, idle: 200 }, endpoints: [ep('b1')] },
        },
      });
      const callers: AbortController[] = [];
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 40; i++) {
        const c = new AbortController();
        callers.push(c);
        const abortAt = rnd() < 0.3 ? Math.floor(rnd() * 600) : undefined;
        if (abortAt !== undefined) void clock.sleep(abortAt).then(() => c.abort(new Error(`abort ${i}`)));
        const consume = pick(['full', 'break', 'abandon', 'full']);
        work.push(
          gw
            .call(
              'a',
              { messages: [{ role: 'user', content: 'hello' }], stream: true },
              { signal: c.signal, key: `k${i % 3}` },
            )
            .then(async (r) => {
              const v = r.value as AsyncIterable<unknown> | object;
              if (!(Symbol.asyncIterator in v)) return;
              if (consume === 'abandon') return;
              for await (const _ of v as AsyncIterable<unknown>) if (consume === 'break') break;
            })
            .catch(() => undefined),
        );
        await clock.advance(Math.floor(rnd() * 40));
      }
      for (let i = 0; i < 200 && clock.pending > 0; i++) await clock.advance(500);
      await Promise.all(work);
      await clock.advance(10_000);
      const snap = gw.snapshot();
      for (const t of Object.values(snap.targets)) for (const e of t.endpoints) expect(e.inflight, e.id).toBe(0);
      for (const [k, s] of Object.entries(snap.keys)) expect(s.budget?.reserved ?? 0, k).toBeCloseTo(0, 9);
      expect(clock.pending).toBe(0);
      for (const c of callers) expect(getEventListeners(c.signal, 'abort').length).toBe(0);
    });
  }
});
