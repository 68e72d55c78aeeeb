import { describe, expect, it } from 'vitest';
import { Policy } from '../../src/core/policy.js';
import { constant } from '../../src/retry/backoff.js';
import { retry } from '../../src/retry/retry.js';
import { virtualClock } from '../../src/testing/virtual-clock.js';
import { timeout } from '../../src/timeout/timeout.js';

/** Wraps a signal's add/removeEventListener to count the abort listeners attached right now. */
function trackListeners(signal: AbortSignal): { readonly live: number; readonly added: number } {
  const live = new Set<unknown>();
  let added = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, l: EventListenerOrEventListenerObject, o?: AddEventListenerOptions) => {
    if (type === 'abort') {
      live.add(l);
      added++;
    }
    add(type, l, o);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, l: EventListenerOrEventListenerObject, o?: EventListenerOptions) => {
    if (type === 'abort') live.delete(l);
    remove(type, l, o);
  }) as typeof signal.removeEventListener;
  return {
    get live() {
      return live.size;
    },
    get added() {
      return added;
    },
  };
}

describe('no leaks on a long-lived caller signal', () => {
  it('100,000 calls through Policy.wrap(timeout, retry) leave no listener and no pending timer', async () => {
    const clock = virtualClock();
    const ac = new AbortController();
    const listeners = trackListeners(ac.signal);
    const policy = Policy.wrap(
      timeout({ after: 30_000, clock }),
      retry({ maxRetries: 2, backoff: constant(0), clock }),
    );
    const fn = () => 1;
    const options = { signal: ac.signal };
    let sum = 0;
    for (let i = 0; i < 100_000; i++) sum += await policy.execute(fn, options);
    expect(sum).toBe(100_000);
    expect(listeners.live).toBe(0);
    expect(clock.pending).toBe(0);
    expect(clock.scheduled).toBeLessThanOrEqual(1); // the one shared, unref'd timer
  });

  it('the same holds when fn reads ctx.signal, fails and is retried with a backoff', async () => {
    const clock = virtualClock();
    const ac = new AbortController();
    const listeners = trackListeners(ac.signal);
    const policy = Policy.wrap(
      timeout({ after: 30_000, clock }),
      retry({ maxRetries: 2, backoff: constant(5), clock }),
    );
    const options = { signal: ac.signal };
    for (let i = 0; i < 2_000; i++) {
      const p = policy.execute((ctx) => {
        if (ctx.attempt === 1) throw new Error(`flaky ${ctx.signal.aborted}`);
        return ctx.attempt;
      }, options);
      await clock.advance(5);
      expect(await p).toBe(2);
    }
    expect(listeners.added).toBeGreaterThan(0); // the test does observe listeners
    expect(listeners.live).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('retry alone sleeping on the caller signal removes its listener after each sleep', async () => {
    const clock = virtualClock();
    const ac = new AbortController();
    const listeners = trackListeners(ac.signal);
    const policy = retry({ maxRetries: 1, backoff: constant(5), clock });
    for (let i = 0; i < 500; i++) {
      const p = policy.execute(
        (ctx) => {
          if (ctx.attempt === 1) throw new Error('flaky');
          return 1;
        },
        { signal: ac.signal },
      );
      await clock.advance(5);
      await p;
    }
    expect(listeners.added).toBe(500);
    expect(listeners.live).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('an aggressive timeout: a signal first read after the call settled (a generator body) follows nothing', async () => {
    const clock = virtualClock();
    const ac = new AbortController();
    const listeners = trackListeners(ac.signal);
    const policy = timeout({ after: 1_000, strategy: 'aggressive', clock });
    for (let i = 0; i < 100; i++) {
      const stream = await policy.execute(
        async function* (ctx) {
          ctx.signal.addEventListener('abort', () => {}); // an HTTP client's, never removed
          yield 1;
        },
        { signal: ac.signal },
      );
      for await (const _ of stream);
    }
    expect(listeners.live).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
