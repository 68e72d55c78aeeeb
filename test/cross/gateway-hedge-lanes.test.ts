// Hedging across a target's endpoints when the lanes outnumber the endpoints a call can use.
import { describe, expect, it } from 'vitest';
import type { Context } from '../../src/core/context.js';
import { type GatewayEvent, gateway } from '../../src/gateway/index.js';
import { hedgeBudget } from '../../src/hedge/index.js';
import { virtualClock } from '../../src/testing/index.js';

const slow =
  (clock: ReturnType<typeof virtualClock>, id: string, ms: number, calls: string[]) => (_q: unknown, ctx: Context) => {
    calls.push(id);
    return clock.sleep(ms, ctx.signal).then(() => id);
  };

describe('gateway hedge lanes', () => {
  it('a call that succeeds emits no `rejected`, and starts no lane that has no endpoint to try', async () => {
    const clock = virtualClock();
    const calls: string[] = [];
    const budget = hedgeBudget({ ratio: 0, minPerSecond: 0.2, window: 10_000, clock }); // 2 hedges per window
    const gw = gateway({
      clock,
      targets: {
        a: {
          hedge: { delay: 10, maxHedges: 3, budget },
          endpoints: [
            { id: 'a1', call: slow(clock, 'a1', 100, calls) },
            { id: 'a2', call: slow(clock, 'a2', 100, calls) },
          ],
        },
      },
    });
    const events: GatewayEvent[] = [];
    gw.on('*', (e) => events.push(e));
    const p = gw.call('a', {});
    await clock.advance(200);
    await expect(p).resolves.toMatchObject({ attempts: 2 });
    expect(calls.sort()).toEqual(['a1', 'a2']);
    expect(events.filter((e) => e.type === 'rejected')).toEqual([]); // was two, for a call that succeeded
    expect(events.filter((e) => (e.type as string) === 'hedge')).toHaveLength(1); // was three
    // the budget paid for one hedge, not three: the next call may still hedge
    calls.length = 0;
    const q = gw.call('a', {});
    await clock.advance(200);
    await q;
    expect(calls.sort()).toEqual(['a1', 'a2']);
  });

  it('a hedged lane that finds the other endpoint at its concurrency limit ends quietly', async () => {
    const clock = virtualClock();
    const calls: string[] = [];
    const gw = gateway({
      clock,
      targets: {
        a: {
          strategy: 'round-robin',
          hedge: { delay: 10, maxHedges: 1 },
          endpoints: [
            { id: 'a1', call: slow(clock, 'a1', 100, calls) },
            { id: 'a2', call: slow(clock, 'a2', 100, calls), limits: { concurrency: 1 } },
          ],
        },
      },
    });
    const events: GatewayEvent[] = [];
    gw.on('rejected', (e) => events.push(e));
    const first = gw.call('a', {}); // round-robin: a1, then its hedge on a2
    await clock.advance(20);
    const second = gw.call('a', {}); // a2 is busy: the primary takes a1; its hedge finds no endpoint free
    await clock.advance(200);
    await Promise.all([first, second]);
    expect(events).toEqual([]);
  });

  it('hedge options are still validated (a bad maxHedges is not lowered into a valid one)', () => {
    const ep = { id: 'a1', call: () => 1 };
    expect(() => gateway({ targets: { a: { hedge: { delay: 1, maxHedges: 1.5 }, endpoints: [ep] } } })).toThrow(
      /maxHedges/,
    );
    expect(() => gateway({ targets: { a: { hedge: { delay: 1, maxHedges: -1 }, endpoints: [ep] } } })).toThrow(
      /maxHedges/,
    );
  });
});
