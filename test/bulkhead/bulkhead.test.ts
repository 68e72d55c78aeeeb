import { describe, expect, it, vi } from 'vitest';
import { circuitBreaker, consecutive } from '../../src/breaker/index.js';
import {
  type BulkheadEvent,
  BulkheadRejectedError,
  bulkhead,
  isBulkheadRejectedError,
} from '../../src/bulkhead/index.js';
import { isTimeoutError } from '../../src/core/errors.js';
import { Policy } from '../../src/core/policy.js';
import { virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { deferred } from '../support/deferred.js';

const tick = async (n = 5) => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('bulkhead', () => {
  it('runs at most `limit` calls, queues FIFO, rejects beyond the queue with reason full', async () => {
    const b = bulkhead({ limit: 2, queue: 2 });
    const order: number[] = [];
    const gates = Array.from({ length: 5 }, () => deferred<number>());
    const calls = gates.map((g, i) =>
      b.execute(() => {
        order.push(i);
        return g.promise;
      }),
    );
    const rejected = await calls[4]!.catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(BulkheadRejectedError);
    expect(isBulkheadRejectedError(rejected)).toBe(true);
    expect(rejected).toMatchObject({ code: 'ERR_BULKHEAD_REJECTED', reason: 'full' });
    expect(order).toEqual([0, 1]);
    expect(b.active).toBe(2);
    expect(b.queued).toBe(2);
    gates[1]!.resolve(1);
    await calls[1];
    await tick();
    expect(order).toEqual([0, 1, 2]); // the head of the queue took the freed slot
    gates[0]!.reject(new Error('x'));
    await calls[0]!.catch(() => {});
    await tick();
    expect(order).toEqual([0, 1, 2, 3]);
    expect(b.queued).toBe(0);
    gates[2]!.resolve(2);
    gates[3]!.resolve(3);
    await expect(Promise.all([calls[2], calls[3]])).resolves.toEqual([2, 3]);
    expect(b.active).toBe(0);
  });

  it('releases the slot when fn throws synchronously', async () => {
    const b = bulkhead({ limit: 1 });
    await expect(
      b.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(b.active).toBe(0);
    await expect(b.execute(() => 'ok')).resolves.toBe('ok');
  });

  it('with queue = 0 (the default) rejects as soon as every slot is busy', async () => {
    const b = bulkhead({ limit: 1 });
    const g = deferred();
    const first = b.execute(() => g.promise);
    await expect(b.execute(() => 1)).rejects.toMatchObject({ reason: 'full' });
    g.resolve();
    await first;
  });

  it('rejects a waiter after queueTimeout with reason queue-timeout and clears its timer', async () => {
    const clock = virtualClock();
    const b = bulkhead({ limit: 1, queue: 2, queueTimeout: 100, clock });
    const events: BulkheadEvent[] = [];
    b.on('*', (e) => events.push(e));
    const g = deferred<string>();
    const first = b.execute(() => g.promise);
    const w1 = b.execute(() => 'w1').catch((e: unknown) => e);
    await clock.advance(50);
    const w2 = b.execute(() => 'w2');
    await clock.advance(50);
    expect(await w1).toMatchObject({ reason: 'queue-timeout' });
    expect(b.queued).toBe(1);
    g.resolve('first');
    await first;
    await expect(w2).resolves.toBe('w2');
    expect(clock.pending).toBe(0);
    expect(events.map((e) => e.type)).toEqual(['enqueue', 'enqueue', 'reject', 'dequeue']);
    expect(events[0]).toMatchObject({ kind: 'bulkhead', queued: 1 });
    expect(events[3]).toMatchObject({ waited: 50 });
  });

  it('regression (cockatiel): an aborted queued call leaves the queue at once, freeing its place', async () => {
    const b = bulkhead({ limit: 1, queue: 1 });
    const g = deferred();
    const first = b.execute(() => g.promise);
    const ac = new AbortController();
    const remove = vi.spyOn(ac.signal, 'removeEventListener');
    const fn = vi.fn();
    const queued = b.execute(fn, { signal: ac.signal });
    const reason = new Error('user cancelled');
    ac.abort(reason);
    await expect(queued).rejects.toBe(reason);
    expect(b.queued).toBe(0);
    expect(remove).toHaveBeenCalled(); // no listener left on a long-lived signal
    const third = b.execute(() => 'third'); // takes the freed place instead of being rejected
    expect(b.queued).toBe(1);
    g.resolve();
    await first;
    await expect(third).resolves.toBe('third');
    expect(fn).not.toHaveBeenCalled();
  });

  it('queued calls with nothing that can abort them add no abort listener anywhere', async () => {
    const add = vi.spyOn(AbortSignal.prototype, 'addEventListener');
    const b = bulkhead({ limit: 1, queue: 20 });
    const g = deferred();
    const first = b.execute(() => g.promise);
    const waiters = Array.from({ length: 20 }, () => b.execute(() => 1));
    expect(add).not.toHaveBeenCalled(); // would pile up on the shared never-aborting signal
    g.resolve();
    await Promise.all([first, ...waiters]);
  });

  it('a queued call under an outer timeout leaves the queue when the timeout fires', async () => {
    const clock = virtualClock();
    const b = bulkhead({ limit: 1, queue: 1 });
    const g = deferred();
    const first = b.execute(() => g.promise);
    const p = Policy.wrap(timeout({ after: 100, clock }), b).execute(() => 'never');
    const out = p.catch((e: unknown) => e);
    await clock.advance(100);
    expect(isTimeoutError(await out)).toBe(true);
    expect(b.queued).toBe(0);
    g.resolve();
    await first;
  });

  it('a call aborted between the hand-over and its turn does not run and frees the slot', async () => {
    const b = bulkhead({ limit: 1, queue: 1 });
    const g = deferred();
    const first = b.execute(() => g.promise);
    const ac = new AbortController();
    const fn = vi.fn();
    const queued = b.execute(fn, { signal: ac.signal });
    // The abort lands after the slot was handed over (here: from a dequeue listener).
    b.on('dequeue', () => ac.abort(new Error('late abort')));
    g.resolve();
    await first;
    await expect(queued).rejects.toThrow('late abort');
    expect(fn).not.toHaveBeenCalled();
    expect(b.active).toBe(0);
  });

  it('a long queue of functions that throw at once drains without deep recursion, every slot freed', async () => {
    const b = bulkhead({ limit: 1, queue: 20_000 });
    const g = deferred();
    const first = b.execute(() => g.promise);
    const boom = new Error('sync');
    const calls = Array.from({ length: 20_000 }, () =>
      b.execute(() => {
        throw boom;
      }),
    );
    expect(b.queued).toBe(20_000);
    g.resolve();
    await first;
    const results = await Promise.allSettled(calls);
    expect(results.every((r) => r.status === 'rejected' && r.reason === boom)).toBe(true);
    expect(b.active).toBe(0);
    expect(b.queued).toBe(0);
  });

  it('a queued call starts in the slot handed over, in FIFO order, and its outcome is the caller’s', async () => {
    const b = bulkhead({ limit: 2, queue: 10 });
    const order: number[] = [];
    const gates = Array.from({ length: 6 }, () => deferred<number>());
    const calls = gates.map((gate, i) =>
      b.execute(() => {
        order.push(i);
        return gate.promise;
      }),
    );
    expect(order).toEqual([0, 1]);
    gates[1]?.resolve(1);
    await calls[1];
    expect(order).toEqual([0, 1, 2]);
    gates[0]?.reject(new Error('zero'));
    await expect(calls[0]).rejects.toThrow('zero');
    expect(order).toEqual([0, 1, 2, 3]);
    for (const [i, gate] of gates.entries()) gate.resolve(i);
    expect(await Promise.all(calls.slice(1))).toEqual([1, 2, 3, 4, 5]);
    expect(b.active).toBe(0);
  });

  it('regression: bulkhead rejections are never breaker failures when the bulkhead is outside the breaker', async () => {
    const breaker = circuitBreaker({ strategy: consecutive(1), clock: virtualClock() });
    const pool = bulkhead({ limit: 1 });
    const policy = Policy.wrap(pool, breaker);
    const g = deferred();
    const running = policy.execute(() => g.promise);
    for (let i = 0; i < 5; i++) await expect(policy.execute(() => 1)).rejects.toMatchObject({ reason: 'full' });
    expect(breaker.state).toBe('closed');
    g.resolve();
    await running;
    expect(breaker.state).toBe('closed');
  });

  it('events carry the name; no listener, no event', async () => {
    const b = bulkhead({ limit: 1, name: 'tools' });
    const rejects: BulkheadEvent[] = [];
    const g = deferred();
    const first = b.execute(() => g.promise);
    await b.execute(() => 1).catch(() => {});
    b.on('reject', (e) => rejects.push(e));
    await b.execute(() => 1).catch(() => {});
    expect(rejects).toHaveLength(1);
    expect(rejects[0]).toMatchObject({ type: 'reject', kind: 'bulkhead', name: 'tools' });
    g.resolve();
    await first;
  });

  it('treats queueTimeout: Infinity as no limit', async () => {
    const clock = virtualClock();
    const b = bulkhead({ limit: 1, queue: 1, queueTimeout: Number.POSITIVE_INFINITY, clock });
    const g = deferred();
    const first = b.execute(() => g.promise);
    const w = b.execute(() => 'w');
    expect(clock.pending).toBe(0);
    g.resolve();
    await first;
    await expect(w).resolves.toBe('w');
  });

  it('rejects bad options, naming them', () => {
    expect(() => bulkhead(undefined as never)).toThrow(/`options`/);
    expect(() => bulkhead({ limit: 0 })).toThrow(/`limit`/);
    expect(() => bulkhead({ limit: 1.5 })).toThrow(/`limit`/);
    expect(() => bulkhead({ limit: 'x' as never })).toThrow(/`limit`/);
    expect(() => bulkhead({ limit: 1, queue: -1 })).toThrow(/`queue`/);
    expect(() => bulkhead({ limit: 1, queue: 0.5 })).toThrow(/`queue`/);
    expect(() => bulkhead({ limit: 1, queueTimeout: 0 })).toThrow(/`queueTimeout`/);
    expect(() => bulkhead({ limit: 1, clock: 3 as never })).toThrow(/`clock`/);
  });
});
