// Races before the first chunk: the source opening, the first chunk arriving, the caller aborting
// and the first-chunk limit passing, in every order fast-check's scheduler picks. The first of
// chunk / abort / limit decides the outcome; whatever the order, nothing is left behind.
import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { Policy } from '../../src/core/policy.js';
import { isStreamTimeoutError, streamTimeout } from '../../src/stream/index.js';
import { timeout } from '../../src/timeout/index.js';
import { track } from './support.js';

/** A clock whose timers fire synchronously when a test says so, so that a scheduled task is one step. */
function manualClock(): Clock & { fire(now: number): void; readonly pending: number } {
  let now = 0;
  let id = 0;
  const timers = new Map<number, { at: number; cb: () => void; refed: boolean }>();
  return {
    now: () => now,
    setTimeout: (cb, ms) => {
      timers.set(++id, { at: now + ms, cb, refed: true });
      return id;
    },
    clearTimeout: (h) => {
      timers.delete(h as number);
    },
    sleep: () => Promise.reject(new Error('not used')),
    unref: (h) => {
      const t = timers.get(h as number);
      if (t) t.refed = false;
    },
    ref: (h) => {
      const t = timers.get(h as number);
      if (t) t.refed = true;
    },
    fire(to) {
      now = to;
      for (const [k, t] of [...timers]) {
        if (t.at <= now && timers.delete(k)) t.cb();
      }
    },
    /** Timers that would hold a process open (an outer timeout's idle shared timer is unref'd). */
    get pending() {
      let n = 0;
      for (const t of timers.values()) if (t.refed) n++;
      return n;
    },
  };
}

describe('streamTimeout races before the first chunk', () => {
  it('the first of chunk, caller abort and limit wins; no timer, listener or open source remains', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.boolean(), async (s, outer) => {
        const clock = manualClock();
        const caller = new AbortController();
        const reason = new Error('caller');
        let returned = 0;
        let signal: AbortSignal | undefined;
        const source = {
          [Symbol.asyncIterator]: () => ({
            next: () => s.schedule(Promise.resolve({ done: false, value: 'chunk' }), 'chunk'),
            return: () => {
              returned++;
              return Promise.resolve({ done: true as const, value: undefined });
            },
          }),
        };
        const inner = streamTimeout({ firstChunk: 100, idle: 1000, clock });
        const policy: Policy = outer ? Policy.wrap(timeout({ after: 1e6, clock }), inner) : inner;
        const p = track(
          policy.execute(
            (ctx) => {
              signal = ctx.signal;
              return s.schedule(Promise.resolve(source), 'open');
            },
            { signal: caller.signal },
          ) as Promise<unknown> as Promise<AsyncIterableIterator<string>>,
        );
        s.schedule(Promise.resolve(), 'abort').then(() => caller.abort(reason));
        s.schedule(Promise.resolve(), 'limit').then(() => clock.fire(100));
        await s.waitAll();

        const order = s
          .report()
          .map((t) => t.label)
          .filter((l) => l === 'chunk' || l === 'abort' || l === 'limit');
        const winner = order[0];
        if (winner === 'chunk') {
          expect(p.state).toBe('ok');
          const stream = p.value as AsyncIterableIterator<string>;
          // The stream outlived the race: the later caller abort still reaches it.
          expect(signal?.reason).toBe(reason);
          expect(await stream.next()).toEqual({ done: false, value: 'chunk' });
          await expect(stream.next()).rejects.toBe(reason);
        } else {
          expect(p.state).toBe('error');
          if (winner === 'abort') expect(p.error).toBe(reason);
          else expect(isStreamTimeoutError(p.error) && p.error.phase).toBe('first-chunk');
          expect(signal?.reason).toBe(p.error);
        }
        // Aborted (by the caller or the limit) in every order: the source is closed once — even one
        // that opened after the run had ended.
        expect(returned).toBe(1);
        expect(clock.pending).toBe(0);
        expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
      }),
      { numRuns: 200 },
    );
  });
});
