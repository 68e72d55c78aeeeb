import { hedge, isHedgeCancelledError } from '../../../src/hedge/index.js';
import type { Context } from '../../../src/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { deepEqual, describe, equal, ok, rejects, test, turns } from '../harness.js';

/** An attempt that settles when told to (or rejects with its signal's reason when that aborts). */
function controlled() {
  const started: number[] = [];
  const signals = new Map<number, AbortSignal>();
  const settle = new Map<number, { resolve: (v: string) => void; reject: (e: unknown) => void }>();
  const fn = (ctx: Context): Promise<string> => {
    started.push(ctx.attempt);
    signals.set(ctx.attempt, ctx.signal);
    return new Promise<string>((resolve, reject) => {
      settle.set(ctx.attempt, { resolve, reject });
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
    });
  };
  return { fn, started, signals, settle };
}

describe('hedge', () => {
  test('a hedge starts only after its delay; the first success wins and the loser is cancelled', async () => {
    const clock = virtualClock();
    const a = controlled();
    const p = hedge({ delay: 100, clock }).execute(a.fn);
    await clock.advance(99);
    deepEqual(a.started, [1], 'no hedge before the delay');
    await clock.advance(1);
    deepEqual(a.started, [1, 2], 'the hedge starts at the delay');
    a.settle.get(2)?.resolve('hedge');
    equal(await p, 'hedge');
    const loser = a.signals.get(1);
    ok(loser?.aborted, 'the primary (loser) is aborted');
    ok(isHedgeCancelledError(loser.reason), 'with a HedgeCancelledError');
    equal((loser.reason as { code: string }).code, 'ERR_HEDGE_CANCELLED');
    equal((loser.reason as { winner: number }).winner, 2);
    equal(a.signals.get(2)?.aborted, false, 'the winner is not aborted');
    equal(clock.pending, 0);
  });

  test('a primary that succeeds before the delay starts no hedge', async () => {
    const clock = virtualClock();
    let calls = 0;
    const p = hedge({ delay: 50, clock }).execute(async () => {
      calls++;
      await clock.sleep(10);
      return 'primary';
    });
    await clock.advance(10);
    equal(await p, 'primary');
    await clock.advance(100);
    equal(calls, 1);
  });

  test('when every attempt fails, the primary error is rethrown', async () => {
    const clock = virtualClock();
    const a = controlled();
    const p = hedge({ delay: 20, maxHedges: 2, clock }).execute(a.fn);
    const result = rejects(p);
    await clock.advance(40);
    deepEqual(a.started, [1, 2, 3]);
    const primaryError = new Error('primary failed');
    a.settle.get(2)?.reject(new Error('hedge 1 failed'));
    a.settle.get(1)?.reject(primaryError);
    await turns();
    a.settle.get(3)?.reject(new Error('hedge 2 failed'));
    equal(await result, primaryError);
  });

  test('a failing primary starts the hedge at once (no wait for the delay)', async () => {
    const clock = virtualClock();
    const seen: number[] = [];
    const v = await hedge({ delay: 10_000, clock }).execute(({ attempt }) => {
      seen.push(attempt);
      if (attempt === 1) throw new Error('down');
      return 'second';
    });
    equal(v, 'second');
    deepEqual(seen, [1, 2]);
  });

  test('on the platform timers: a slow primary loses to a hedge started after a small delay', async () => {
    const started: number[] = [];
    let primary: AbortSignal | undefined;
    const t0 = Date.now();
    const v = await hedge({ delay: 15 }).execute((ctx) => {
      started.push(ctx.attempt);
      if (ctx.attempt === 2) return new Promise<string>((r) => setTimeout(() => r('hedge'), 5));
      primary = ctx.signal;
      // Would take 10 s; only the hedge's cancellation ends it.
      return new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => resolve('primary'), 10_000);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(ctx.signal.reason);
        });
      });
    });
    const ms = Date.now() - t0;
    equal(v, 'hedge');
    deepEqual(started, [1, 2]);
    ok(isHedgeCancelledError(primary?.reason), 'the primary was cancelled with ERR_HEDGE_CANCELLED');
    ok(ms >= 10 && ms < 1000, `took ${ms} ms (expected the hedge delay plus a little)`);
  });
});
