// The hedge on the platform's timers (the shared deadline queue, the fast path for calls that settle
// in their first turn), under load with mixed durations and failures: each call settles with the
// outcome of an attempt that actually produced it, never starts more than 1 + maxHedges attempts,
// every loser's signal is aborted with ERR_HEDGE_CANCELLED, and no timer is left once all settled.
import { describe, expect, it } from 'vitest';
import { hedge, isHedgeCancelledError } from '../../src/hedge/index.js';
import { seededRandom } from '../../src/testing/index.js';

const handles = () =>
  (process as unknown as { _getActiveHandles(): unknown[] })
    ._getActiveHandles()
    .filter((h) => (h as { constructor?: { name?: string } }).constructor?.name === 'Timeout').length;

describe('hedge on real timers', () => {
  it('many concurrent calls with sync, microtask and timer-based attempts', async () => {
    const base = handles();
    const rnd = seededRandom(42);
    const p = hedge({ delay: 2, maxHedges: 2 });
    const calls = Array.from({ length: 400 }, async (_, n) => {
      const started: { attempt: number; signal: AbortSignal; result?: string; failed?: boolean }[] = [];
      const kinds = [0, 1, 2].map(() => Math.floor(rnd() * 5));
      const ms = [0, 1, 2].map(() => Math.floor(rnd() * 8));
      const value = await p
        .execute((ctx) => {
          const i = ctx.attempt - 1;
          const rec: { attempt: number; signal: AbortSignal; result?: string; failed?: boolean } = {
            attempt: ctx.attempt,
            signal: ctx.signal,
          };
          started.push(rec);
          const kind = kinds[i] ?? 0;
          const v = `c${n}a${ctx.attempt}`;
          if (kind === 0) {
            rec.result = v;
            return v; // synchronous
          }
          if (kind === 1)
            return Promise.resolve().then(() => {
              rec.result = v;
              return v;
            });
          if (kind === 2) {
            rec.failed = true;
            throw new Error(`sync fail ${v}`);
          }
          return new Promise((resolve, reject) => {
            const t = setTimeout(() => {
              if (kind === 3) {
                rec.result = v;
                resolve(v);
              } else {
                rec.failed = true;
                reject(new Error(`late fail ${v}`));
              }
            }, ms[i]);
            ctx.signal.addEventListener('abort', () => {
              clearTimeout(t);
              reject(ctx.signal.reason);
            });
          });
        })
        .then(
          (v) => ({ ok: true as const, v }),
          (e: Error) => ({ ok: false as const, e }),
        );
      expect(started.length).toBeGreaterThanOrEqual(1);
      expect(started.length).toBeLessThanOrEqual(3);
      expect(started.map((s) => s.attempt)).toEqual(started.map((_, i) => i + 1));
      if (value.ok) {
        const winner = started.find((s) => s.result === value.v);
        expect(winner, `call ${n}`).toBeDefined();
        await new Promise((r) => setTimeout(r, 1));
        for (const s of started)
          if (s !== winner && s.result === undefined && !s.failed && !s.signal.aborted) {
            // an attempt that had not settled when the call ended must have been cancelled
            throw new Error(`call ${n}: loser ${s.attempt} not aborted`);
          }
        for (const s of started)
          if (s !== winner && s.signal.aborted) expect(isHedgeCancelledError(s.signal.reason)).toBe(true);
      } else {
        // every attempt failed: the primary's error
        expect(value.e.message).toMatch(new RegExp(`c${n}a1$`));
      }
    });
    await Promise.all(calls);
    await new Promise((r) => setTimeout(r, 20));
    expect(handles()).toBeLessThanOrEqual(base);
  });
});
