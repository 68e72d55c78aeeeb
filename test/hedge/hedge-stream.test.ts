// Hedging on time to first chunk: `hedge()` around `streamTimeout()` (breakwater/stream), whose
// `execute` resolves only once the first chunk has arrived, to a stream that yields that chunk and
// then the rest; an abort before the first chunk returns the source's iterator and rejects.
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { type HedgeCancelledError, hedge, isHedgeCancelledError } from '../../src/hedge/index.js';
import { Policy } from '../../src/index.js';
import { isStreamTimeoutError, streamTimeout, type TimedStream } from '../../src/stream/index.js';
import { virtualClock } from '../../src/testing/index.js';

const firstChunk = (ms: number, clock: Omit<Clock, 'sleep'>) => streamTimeout({ firstChunk: ms, clock });

/** A token stream whose first chunk comes `ttft` ms after the attempt starts; records `return()`. */
function tokens(clock: Clock, attempt: number, ttft: number, returned: number[]): AsyncIterable<string> {
  let i = 0;
  let closed = false;
  return {
    [Symbol.asyncIterator]: () => ({
      async next() {
        if (closed) return { done: true, value: undefined };
        if (i === 0) await clock.sleep(ttft);
        if (closed || i === 3) return { done: true, value: undefined };
        return { done: false, value: `${attempt}:${i++}` };
      },
      async return() {
        closed = true;
        returned.push(attempt);
        return { done: true, value: undefined };
      },
    }),
  };
}

describe('hedge around a first-chunk stream policy (TTFT hedging)', () => {
  it('hedges on time to first chunk, returns the winning stream, aborts and returns the losing one', async () => {
    const clock = virtualClock();
    const returned: number[] = [];
    const signals: AbortSignal[] = [];
    const caller = new AbortController();
    const policy = Policy.wrap(hedge({ delay: 500, clock }), firstChunk(2_000, clock));
    const r = policy.execute(
      (ctx) => {
        signals.push(ctx.signal);
        return tokens(clock, ctx.attempt, ctx.attempt === 1 ? 1_500 : 100, returned);
      },
      { signal: caller.signal },
    );
    await clock.advance(600);
    const stream = (await r) as TimedStream<string>;
    // The primary (no first chunk yet) lost: its signal aborted, its iterator returned.
    expect(isHedgeCancelledError(signals[0]?.reason)).toBe(true);
    expect((signals[0] as AbortSignal).reason as HedgeCancelledError).toMatchObject({ winner: 2 });
    expect(returned).toEqual([1]);
    const got: string[] = [];
    for await (const chunk of stream) got.push(chunk);
    expect(got).toEqual(['2:0', '2:1', '2:2']); // the winner's source ran to its end (no return needed)
    expect(returned).toEqual([1]);
    expect(signals[1]?.aborted).toBe(false);
    await clock.advance(5_000);
    expect(clock.scheduled).toBe(0);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it('a primary whose first chunk beats the delay runs alone', async () => {
    const clock = virtualClock();
    const returned: number[] = [];
    let attempts = 0;
    const policy = Policy.wrap(hedge({ delay: 500, clock }), firstChunk(2_000, clock));
    const r = policy.execute((ctx) => {
      attempts++;
      return tokens(clock, ctx.attempt, 400, returned);
    });
    await clock.advance(400);
    const got: string[] = [];
    for await (const chunk of (await r) as AsyncIterable<string>) got.push(chunk);
    expect(got).toEqual(['1:0', '1:1', '1:2']);
    expect(attempts).toBe(1);
  });

  it("when no attempt gets a first chunk in time, the primary's first-chunk error is rethrown", async () => {
    const clock = virtualClock();
    const returned: number[] = [];
    const policy = Policy.wrap(hedge({ delay: 500, clock }), firstChunk(1_000, clock));
    const r = policy.execute((ctx) => tokens(clock, ctx.attempt, 10_000, returned));
    const check = expect(r).rejects.toSatisfy(
      (e: unknown) => isStreamTimeoutError(e) && e.phase === 'first-chunk' && e.ms === 1_000,
    );
    await clock.advance(1_500);
    await check;
    expect(returned.sort()).toEqual([1, 2]);
  });

  it('a winner the consumer stops early (break) closes its source; the caller signal is left clean', async () => {
    const clock = virtualClock();
    const returned: number[] = [];
    const caller = new AbortController();
    const policy = Policy.wrap(hedge({ delay: 100, clock }), firstChunk(2_000, clock));
    const r = policy.execute((ctx) => tokens(clock, ctx.attempt, ctx.attempt === 1 ? 1_000 : 10, returned), {
      signal: caller.signal,
    });
    await clock.advance(110);
    for await (const chunk of (await r) as TimedStream<string>) {
      expect(chunk).toBe('2:0');
      break;
    }
    await clock.flush();
    expect(returned.sort()).toEqual([1, 2]);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    await clock.advance(1_000); // the fake primary's own sleep
    expect(clock.scheduled).toBe(0);
  });

  it("a caller's abort before any first chunk aborts every attempt's stream", async () => {
    const clock = virtualClock();
    const returned: number[] = [];
    const caller = new AbortController();
    const policy = Policy.wrap(hedge({ delay: 100, clock }), firstChunk(2_000, clock));
    const r = policy.execute((ctx) => tokens(clock, ctx.attempt, 1_000, returned), { signal: caller.signal });
    const check = expect(r).rejects.toBe('user left');
    await clock.advance(150);
    caller.abort('user left');
    await check;
    expect(returned.sort()).toEqual([1, 2]);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it("a loser whose first chunk came in the same instant as the winner's has its stream closed", async () => {
    const clock = virtualClock();
    const returned: number[] = [];
    const policy = Policy.wrap(hedge({ delay: 0, clock }), firstChunk(2_000, clock));
    // Both first chunks are there at once: the loser's execute resolves right behind the winner's.
    const r = policy.execute((ctx) => tokens(clock, ctx.attempt, 0, returned));
    await clock.flush();
    const got: string[] = [];
    for await (const chunk of (await r) as TimedStream<string>) got.push(chunk);
    expect(got).toEqual(['1:0', '1:1', '1:2']);
    expect(returned).toEqual([2]); // the loser's stream, out too late to win, was returned
    expect(clock.scheduled).toBe(0);
  });

  it('a percentile delay learns the time to first chunk', async () => {
    const clock = virtualClock();
    const returned: number[] = [];
    const policy = Policy.wrap(
      hedge({ delay: { percentile: 95, window: 20, max: 5_000 }, clock }),
      firstChunk(10_000, clock),
    );
    const delays: number[] = [];
    policy.on('hedge', (e) => delays.push((e as { delay: number }).delay));
    for (let i = 0; i < 20; i++) {
      const r = policy.execute((ctx) => tokens(clock, ctx.attempt, 300, returned));
      await clock.advance(300);
      await r;
    }
    const r = policy.execute((ctx) => tokens(clock, ctx.attempt, ctx.attempt === 1 ? 3_000 : 50, returned));
    await clock.advance(350);
    const got: string[] = [];
    for await (const chunk of (await r) as AsyncIterable<string>) got.push(chunk);
    expect(delays).toEqual([300]);
    expect(got[0]).toBe('2:0');
  });
});
