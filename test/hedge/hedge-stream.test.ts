// Hedging on time to first chunk. `streamTimeout` (breakwater/stream) is being built on another
// branch; until it lands, `firstChunk` below is a hand-written stand-in with the same contract:
// its `execute` resolves only once the first chunk has arrived, to an AsyncIterable that yields that
// chunk and then the rest; an abort before the first chunk returns the source's iterator and
// rejects with the abort's reason.
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { abortSignal, type CallContext } from '../../src/core/context.js';
import type { PolicyEventBase } from '../../src/core/events.js';
import { BaseLayer, type Chain, invoke, Pipeline, Policy } from '../../src/core/policy.js';
import { type HedgeCancelledError, hedge, isHedgeCancelledError } from '../../src/hedge/index.js';
import { virtualClock } from '../../src/testing/index.js';

class FirstChunkLayer extends BaseLayer<PolicyEventBase> {
  readonly #ms: number;
  readonly #clock: Clock;
  constructor(ms: number, clock: Clock) {
    super('stream', undefined);
    this.#ms = ms;
    this.#clock = clock;
  }

  async run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    const source = (await invoke(ctx, inner)) as AsyncIterable<unknown>;
    const it = source[Symbol.asyncIterator]();
    const signal = abortSignal(ctx);
    let first: IteratorResult<unknown>;
    try {
      first = await new Promise<IteratorResult<unknown>>((resolve, reject) => {
        const done = (): void => {
          this.#clock.clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        const onAbort = (): void => {
          done();
          reject(signal?.reason);
        };
        const timer = this.#clock.setTimeout(() => {
          done();
          reject(new Error(`no first chunk within ${this.#ms} ms`));
        }, this.#ms);
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        it.next().then(
          (r) => {
            done();
            resolve(r);
          },
          (e: unknown) => {
            done();
            reject(e);
          },
        );
      });
    } catch (error) {
      await it.return?.();
      throw error;
    }
    return {
      async *[Symbol.asyncIterator]() {
        try {
          if (first.done) return;
          yield first.value;
          for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
        } finally {
          await it.return?.();
        }
      },
    };
  }
}

const firstChunk = (ms: number, clock: Clock): Policy => new Pipeline([new FirstChunkLayer(ms, clock)]);

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
    const policy = Policy.wrap(hedge({ delay: 500, clock }), firstChunk(2_000, clock));
    const r = policy.execute((ctx) => {
      signals.push(ctx.signal);
      return tokens(clock, ctx.attempt, ctx.attempt === 1 ? 1_500 : 100, returned);
    });
    await clock.advance(600);
    const stream = (await r) as AsyncIterable<string>;
    // The primary (no first chunk yet) lost: its signal aborted, its iterator returned.
    expect(isHedgeCancelledError(signals[0]?.reason)).toBe(true);
    expect((signals[0] as AbortSignal).reason as HedgeCancelledError).toMatchObject({ winner: 2 });
    expect(returned).toEqual([1]);
    const got: string[] = [];
    for await (const chunk of stream) got.push(chunk);
    expect(got).toEqual(['2:0', '2:1', '2:2']);
    expect(returned).toEqual([1, 2]);
    await clock.advance(5_000);
    expect(clock.pending).toBe(0);
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
    const check = expect(r).rejects.toThrow('no first chunk within 1000 ms');
    await clock.advance(1_500);
    await check;
    expect(returned.sort()).toEqual([1, 2]);
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
