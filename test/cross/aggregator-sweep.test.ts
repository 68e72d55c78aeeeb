// The sweep of a durable aggregator when onComplete keeps failing: each sweep tries each due group
// once and ends (the next sweep retries), however many groups are due.
import { describe, expect, test } from 'vitest';
import { durableAggregator, memoryAggregatorStore } from '../../src/messaging/index.js';
import { virtualClock } from '../../src/testing/index.js';

describe('durableAggregator: a sweep whose completions fail', () => {
  test.each([5, 100, 250])('with %i due groups, sweep() ends after one try of each', async (groups) => {
    const clock = virtualClock();
    let tries = 0;
    const errors: unknown[] = [];
    let agg: ReturnType<typeof durableAggregator<{ k: string }>> | undefined;
    agg = durableAggregator<{ k: string }>({
      store: memoryAggregatorStore(),
      correlate: (m) => m.k,
      complete: { size: 10, timeout: 1000 },
      onComplete: () => {
        tries++;
        // A sweep that retries the same keys forever never yields to the event loop: stop it.
        if (tries > 10 * groups) void agg?.close();
        throw new Error('downstream is down');
      },
      onError: (e) => errors.push(e),
      clock,
      sweepInterval: 60_000,
    });
    const a = agg;
    for (let i = 0; i < groups; i++) await a.add({ k: `g${i}` });
    await clock.advance(2000);
    tries = 0;
    await expect(a.sweep()).resolves.toBe(0);
    expect(tries).toBe(groups);
    expect(await a.openGroups()).toBe(groups);
    await a.close();
  });
});
