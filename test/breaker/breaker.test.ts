import { describe, expect, it, vi } from 'vitest';
import {
  type BreakerEvent,
  type BreakerStore,
  BrokenCircuitError,
  type CircuitBreaker,
  circuitBreaker,
  consecutive,
  countWindow,
  failureRate,
  IsolatedCircuitError,
  isBrokenCircuitError,
  isIsolatedCircuitError,
} from '../../src/breaker/index.js';
import type { Context } from '../../src/core/context.js';
import { isTimeoutError, TimeoutError } from '../../src/core/errors.js';
import { Policy } from '../../src/core/policy.js';
import { constant, exponential, retry } from '../../src/retry/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { deferred } from '../support/deferred.js';

const boom = (): never => {
  throw new Error('boom');
};
const fail = (b: CircuitBreaker): Promise<unknown> => b.execute(boom).catch((e: unknown) => e);
const record = (b: CircuitBreaker): string[] => {
  const seen: string[] = [];
  b.on('*', (e) => seen.push(e.type));
  return seen;
};

describe('circuitBreaker: closed → open', () => {
  it('opens after n consecutive handled failures and then rejects at once with retryAfter and cause', async () => {
    const clock = virtualClock({ start: 1000 });
    const b = circuitBreaker({ strategy: consecutive(2), breakDuration: 5000, clock });
    const opened: BreakerEvent[] = [];
    b.on('open', (e) => opened.push(e));
    await fail(b);
    expect(b.state).toBe('closed');
    const cause = await fail(b);
    expect(b.state).toBe('open');
    expect(opened).toEqual([
      { type: 'open', kind: 'breaker', name: undefined, cause, breakDuration: 5000, openings: 1 },
    ]);
    await clock.advance(1500);
    const fn = vi.fn();
    const rejects: unknown[] = [];
    b.on('reject', (e) => rejects.push(e));
    const err = await b.execute(fn).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(err).toBeInstanceOf(BrokenCircuitError);
    expect(isBrokenCircuitError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'ERR_BROKEN_CIRCUIT', retryAfter: 3500, cause });
    expect(rejects).toHaveLength(1);
  });

  it('a listener added during a call sees its transition but no made-up duration for it', async () => {
    const b = circuitBreaker({ strategy: consecutive(1), clock: virtualClock() });
    const g = deferred<number>();
    const running = b.execute(() => g.promise);
    const events: BreakerEvent[] = [];
    b.on('*', (e) => events.push(e));
    g.reject(new Error('late'));
    await expect(running).rejects.toThrow('late');
    expect(b.state).toBe('open');
    expect(events.map((e) => e.type)).toEqual(['open']); // no `failure` with duration NaN
    for (const e of events) for (const v of Object.values(e)) expect(Number.isNaN(v)).toBe(false);
  });

  it('a success resets the consecutive count', async () => {
    const b = circuitBreaker({ strategy: consecutive(2), clock: virtualClock() });
    await fail(b);
    await b.execute(() => 1);
    await fail(b);
    expect(b.state).toBe('closed');
  });

  it('returns results and rethrows errors unchanged', async () => {
    const b = circuitBreaker({ clock: virtualClock() });
    await expect(b.execute(async () => 42)).resolves.toBe(42);
    const e = new Error('x');
    await expect(
      b.execute(() => {
        throw e;
      }),
    ).rejects.toBe(e);
  });

  it('errors that `handle` does not match count neither way', async () => {
    const b = circuitBreaker({
      strategy: consecutive(2),
      handle: (e) => (e as Error).message === 'boom',
      clock: virtualClock(),
    });
    await fail(b);
    await b.execute(() => Promise.reject(new Error('ignored'))).catch(() => {});
    await fail(b); // would be closed if the ignored error had counted as a success
    expect(b.state).toBe('open');
  });

  it('the caller’s abort counts neither way', async () => {
    const b = circuitBreaker({ strategy: consecutive(3), clock: virtualClock() });
    await fail(b);
    await fail(b);
    const ac = new AbortController();
    const reason = new Error('caller gave up');
    const p = b.execute(
      async () => {
        ac.abort(reason);
        throw reason;
      },
      { signal: ac.signal },
    );
    await expect(p).rejects.toBe(reason);
    expect(b.state).toBe('closed'); // not counted as a failure
    await fail(b);
    expect(b.state).toBe('open'); // not counted as a success either
  });

  it('an abort from an enclosing timeout counts neither way (a total deadline says nothing about the dependency)', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(2), clock });
    const total = Policy.wrap(timeout({ after: 100, clock }), b);
    await fail(b);
    const p = total.execute(
      ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('client aborted')))),
    );
    const settled = expect(p).rejects.toSatisfy(isTimeoutError);
    await clock.advance(100);
    await settled;
    expect(b.state).toBe('closed'); // the aborted call was not the second consecutive failure
    await fail(b);
    expect(b.state).toBe('open');
  });

  it('`handleResult` counts results as failures and still returns them', async () => {
    const b = circuitBreaker({
      strategy: consecutive(1),
      handleResult: (r) => (r as { status: number }).status >= 500,
      clock: virtualClock(),
    });
    await expect(b.execute(() => ({ status: 200 }))).resolves.toEqual({ status: 200 });
    expect(b.state).toBe('closed');
    const bad = { status: 503 };
    await expect(b.execute(() => bad)).resolves.toBe(bad);
    expect(b.state).toBe('open');
    await expect(b.execute(() => 1)).rejects.toMatchObject({ cause: bad });
  });

  it('passes the call context to `handle` and counts a throwing predicate as a failure', async () => {
    const seen: number[] = [];
    const b = circuitBreaker({
      strategy: consecutive(1),
      handle: (_e, ctx: Context) => {
        seen.push(ctx.attempt);
        throw new Error('bad predicate');
      },
      clock: virtualClock(),
    });
    await fail(b);
    expect(seen).toEqual([1]);
    expect(b.state).toBe('open');
  });

  it('slow calls open the breaker at the slow-call rate', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({
      strategy: failureRate({ threshold: 1, minThroughput: 2, window: 10_000 }),
      slowCall: { duration: 100, rate: 0.5 },
      clock,
    });
    const failures: BreakerEvent[] = [];
    b.on('failure', (e) => failures.push(e));
    await b.execute(() => 'fast');
    const p = b.execute(() => clock.sleep(150).then(() => 'slow'));
    await clock.advance(150);
    await expect(p).resolves.toBe('slow'); // the slow result is still returned
    expect(b.state).toBe('open');
    expect(failures).toMatchObject([{ type: 'failure', reason: 'slow', duration: 150 }]);
  });

  it('a slow probe re-opens', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), slowCall: { duration: 100 }, breakDuration: 10, clock });
    await fail(b);
    await clock.advance(10);
    const p = b.execute(() => clock.sleep(200));
    await clock.advance(200);
    await p;
    expect(b.state).toBe('open');
  });

  it('emits success and failure events with durations; a throwing listener never breaks a call', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(5), clock, name: 'llm' });
    const events: BreakerEvent[] = [];
    b.on('success', () => {
      throw new Error('listener bug');
    });
    b.on('*', (e) => events.push(e));
    const p = b.execute(() => clock.sleep(30).then(() => 'x'));
    await clock.advance(30);
    await expect(p).resolves.toBe('x');
    const err = await fail(b);
    expect(events).toEqual([
      { type: 'success', kind: 'breaker', name: 'llm', duration: 30 },
      { type: 'failure', kind: 'breaker', name: 'llm', reason: 'error', error: err, duration: 0 },
    ]);
  });
});

describe('circuitBreaker: open → half-open → closed/open', () => {
  it('reads half-open as soon as the break has elapsed, without a call', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 1000, clock });
    const seen = record(b);
    await fail(b);
    await clock.advance(999);
    expect(b.state).toBe('open');
    await clock.advance(1);
    expect(b.state).toBe('half-open');
    expect(seen).toEqual(['failure', 'open', 'half-open']);
    expect(clock.pending).toBe(0); // no timers
  });

  it('a successful probe closes; a failed probe re-opens with an escalating break', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: (n) => 1000 * 2 ** (n - 1), clock });
    const opens: BreakerEvent[] = [];
    b.on('open', (e) => opens.push(e));
    await fail(b);
    await clock.advance(1000);
    await fail(b); // the probe fails
    expect(b.state).toBe('open');
    await clock.advance(1999);
    expect(b.state).toBe('open');
    await clock.advance(1);
    await expect(b.execute(() => 'ok')).resolves.toBe('ok');
    expect(b.state).toBe('closed');
    await fail(b); // escalation restarts after a close
    expect(opens.map((e) => (e as { breakDuration: number }).breakDuration)).toEqual([1000, 2000, 1000]);
    expect(opens.map((e) => (e as { openings: number }).openings)).toEqual([1, 2, 1]);
  });

  it('accepts a backoff from breakwater/retry as breakDuration', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({
      strategy: consecutive(1),
      breakDuration: exponential({ initial: 100, factor: 10, jitter: 'none' }),
      clock,
    });
    const durations: number[] = [];
    b.on('open', (e) => durations.push(e.breakDuration));
    await fail(b);
    await clock.advance(100);
    await fail(b);
    expect(durations).toEqual([100, 1000]);
  });

  it('falls back to a sane break when a breakDuration function throws or returns garbage', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: () => Number.NaN, clock });
    await fail(b);
    expect(b.state).toBe('half-open');
    const c = circuitBreaker({ strategy: consecutive(1), breakDuration: () => boom(), clock });
    await fail(c);
    expect(await c.execute(() => 1).catch((e: BrokenCircuitError) => e.retryAfter)).toBe(30_000);
  });

  it('regression: excess callers during half-open are rejected at once, exactly `probes` run', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 100, halfOpen: { probes: 2 }, clock });
    await fail(b);
    await clock.advance(100);
    const gate = deferred<string>();
    const fn = vi.fn(() => gate.promise);
    const calls = [1, 2, 3, 4].map(() => b.execute(fn).catch((e: unknown) => e));
    const third = await calls[2];
    expect(fn).toHaveBeenCalledTimes(2);
    expect(third).toBeInstanceOf(BrokenCircuitError);
    expect((third as BrokenCircuitError).retryAfter).toBe(100);
    gate.resolve('ok');
    expect(await calls[0]).toBe('ok');
    expect(await calls[1]).toBe('ok');
    expect(b.state).toBe('closed');
  });

  it('all probes must succeed: one failure among them re-opens', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 100, halfOpen: { probes: 2 }, clock });
    await fail(b);
    await clock.advance(100);
    await b.execute(() => 'ok');
    expect(b.state).toBe('half-open');
    await fail(b);
    expect(b.state).toBe('open');
  });

  it('regression: a probe that hangs counts as failed after probeTimeout and its signal aborts', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({
      strategy: consecutive(1),
      breakDuration: 1000,
      halfOpen: { probeTimeout: 500 },
      clock,
    });
    const seen = record(b);
    await fail(b);
    await clock.advance(1000);
    let signal: AbortSignal | undefined;
    const probe = b.execute((ctx) => {
      signal = ctx.signal;
      expect(ctx.deadline).toBe(1500);
      return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    });
    const outcome = probe.catch((e: unknown) => e);
    await clock.advance(499);
    expect(b.state).toBe('half-open');
    await clock.advance(1);
    expect(b.state).toBe('open');
    const err = await outcome;
    expect(isTimeoutError(err)).toBe(true);
    expect(signal?.aborted).toBe(true);
    expect(seen).toEqual(['failure', 'open', 'half-open', 'failure', 'open']);
    // The next break ends and a new probe can close the circuit.
    await clock.advance(1000);
    await expect(b.execute(() => 'back')).resolves.toBe('back');
    expect(b.state).toBe('closed');
    expect(clock.pending).toBe(0);
  });

  it('probeTimeout: Infinity starts no timer', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({
      strategy: consecutive(1),
      breakDuration: 10,
      halfOpen: { probeTimeout: Number.POSITIVE_INFINITY },
      clock,
    });
    await fail(b);
    await clock.advance(10);
    const gate = deferred();
    const probe = b.execute(() => gate.promise);
    expect(clock.pending).toBe(0);
    gate.resolve();
    await probe;
    expect(b.state).toBe('closed');
  });

  it('a probe under probeTimeout keeps a nearer outer deadline and clears its timer', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 10, halfOpen: { probeTimeout: 500 }, clock });
    await fail(b);
    await clock.advance(10);
    await expect(b.execute(() => 'ok')).resolves.toBe('ok');
    expect(clock.pending).toBe(0);
    expect(b.state).toBe('closed');
  });

  it('regression: an unhandled error in a probe frees the slot and does not close the circuit', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({
      strategy: consecutive(1),
      breakDuration: 100,
      handle: (e) => (e as Error).message === 'boom',
      clock,
    });
    await fail(b);
    await clock.advance(100);
    await expect(b.execute(() => Promise.reject(new Error('400 bad request')))).rejects.toThrow('400');
    expect(b.state).toBe('half-open'); // neither closed (Polly/cockatiel) nor stuck without a slot
    await expect(b.execute(() => 'ok')).resolves.toBe('ok');
    expect(b.state).toBe('closed');
  });

  it('a probe aborted by its caller frees the slot', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 100, clock });
    await fail(b);
    await clock.advance(100);
    const ac = new AbortController();
    const p = b.execute((ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(1))), {
      signal: ac.signal,
    });
    ac.abort();
    await expect(p).rejects.toBe(1);
    expect(b.state).toBe('half-open');
    await b.execute(() => 'ok');
    expect(b.state).toBe('closed');
  });

  it('outcomes of calls that started before a transition update statistics only', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 100, clock });
    const seen = record(b);
    const slowFail = deferred();
    const slowOk = deferred<string>();
    const old1 = b.execute(() => slowFail.promise).catch(() => {});
    const old2 = b.execute(() => slowOk.promise);
    await fail(b); // opens
    slowFail.reject(new Error('late'));
    await old1;
    expect(seen.filter((t) => t === 'open')).toHaveLength(1); // no second opening
    await clock.advance(100);
    expect(b.state).toBe('half-open');
    slowOk.resolve('late ok');
    await old2;
    expect(b.state).toBe('half-open'); // a pre-break success does not close
  });

  it('a failure of a call from before an open/close cycle does not open the closed circuit again', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 100, clock });
    const old = deferred();
    const oldCall = b.execute(() => old.promise).catch(() => {});
    await fail(b);
    await clock.advance(100);
    await b.execute(() => 'probe');
    expect(b.state).toBe('closed');
    old.reject(new Error('late'));
    await oldCall;
    expect(b.state).toBe('closed');
    expect(b.snapshot().window).toEqual({ type: 'consecutive', count: 1 }); // statistics still updated
  });

  it('a probe from an earlier half-open episode does not count in the next one', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 100, halfOpen: { probes: 2 }, clock });
    await fail(b);
    await clock.advance(100);
    const a = deferred<string>();
    const probeA = b.execute(() => a.promise);
    await fail(b); // probe B fails: open again
    await clock.advance(200);
    const d = deferred<string>();
    const probeD = b.execute(() => d.promise); // probe of the new episode
    a.resolve('late');
    await probeA;
    await b.execute(() => 'c');
    expect(b.state).toBe('half-open'); // A's late success must not stand in for D
    d.resolve('d');
    await probeD;
    expect(b.state).toBe('closed');
  });

  it('retryAfter in half-open is the probe timeout when set', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 100, halfOpen: { probeTimeout: 40 }, clock });
    await fail(b);
    await clock.advance(100);
    const gate = deferred();
    const probe = b.execute(() => gate.promise);
    await expect(b.execute(() => 1)).rejects.toMatchObject({ retryAfter: 40 });
    gate.resolve();
    await probe;
  });
});

describe('circuitBreaker: isolate, reset', () => {
  it('isolates until every handle is released (refcounted), then closes', async () => {
    const b = circuitBreaker({ clock: virtualClock() });
    const seen = record(b);
    const h1 = b.isolate();
    const h2 = b.isolate();
    expect(b.state).toBe('isolated');
    const err = await b.execute(() => 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IsolatedCircuitError);
    expect(isIsolatedCircuitError(err)).toBe(true);
    expect((err as IsolatedCircuitError).code).toBe('ERR_ISOLATED_CIRCUIT');
    h1.release();
    h1.release(); // idempotent
    expect(b.state).toBe('isolated');
    h2.release();
    expect(b.state).toBe('closed');
    expect(seen).toEqual(['isolate', 'reject', 'close']);
  });

  it('isolating an open breaker and releasing it closes it', async () => {
    const b = circuitBreaker({ strategy: consecutive(1), clock: virtualClock() });
    await fail(b);
    const h = b.isolate();
    h.release();
    expect(b.state).toBe('closed');
  });

  it('reset() closes, forgets statistics and makes old isolation handles inert', async () => {
    const b = circuitBreaker({ strategy: consecutive(2), clock: virtualClock() });
    const h = b.isolate();
    b.reset();
    expect(b.state).toBe('closed');
    const h2 = b.isolate();
    h.release(); // from before the reset: no effect
    expect(b.state).toBe('isolated');
    h2.release();
    await fail(b);
    b.reset();
    await fail(b);
    expect(b.state).toBe('closed'); // the failure before reset was forgotten
    const seen = record(b);
    b.reset();
    expect(seen).toEqual([]); // resetting a closed breaker emits nothing
  });
});

describe('circuitBreaker: snapshot / initialState', () => {
  it('restores an open breaker with its remaining break, escalation and window', async () => {
    const clock = virtualClock({ start: 10_000 });
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: (n) => 1000 * n, clock });
    await fail(b);
    await clock.advance(400);
    const snap = JSON.parse(JSON.stringify(b.snapshot()));
    expect(snap).toEqual({ state: 'open', openUntil: 11_000, openings: 1, window: { type: 'consecutive', count: 1 } });
    const c = circuitBreaker({ strategy: consecutive(1), breakDuration: (n) => 1000 * n, clock, initialState: snap });
    expect(c.state).toBe('open');
    await expect(c.execute(() => 1)).rejects.toMatchObject({ retryAfter: 600 });
    await clock.advance(600);
    const opens: number[] = [];
    c.on('open', (e) => opens.push(e.breakDuration));
    await fail(c);
    expect(opens).toEqual([2000]); // escalation continued from the snapshot
  });

  it('a restored half-open state probes first', async () => {
    const clock = virtualClock();
    const c = circuitBreaker({
      clock,
      initialState: { state: 'half-open', openUntil: 0, openings: 3, window: { type: 'consecutive', count: 0 } },
    });
    expect(c.state).toBe('half-open');
    await expect(c.execute(() => 'probe')).resolves.toBe('probe');
    expect(c.state).toBe('closed');
    expect(c.snapshot()).toEqual({
      state: 'closed',
      openUntil: 0,
      openings: 0,
      window: { type: 'consecutive', count: 0 },
    });
  });

  it('a restored isolation lasts until reset() or a new handle is released', async () => {
    const init = { state: 'isolated', openUntil: 0, openings: 0, window: { type: 'consecutive', count: 0 } } as const;
    const a = circuitBreaker({ initialState: init, clock: virtualClock() });
    expect(a.state).toBe('isolated');
    a.isolate().release();
    expect(a.state).toBe('closed');
    const b = circuitBreaker({ initialState: init, clock: virtualClock() });
    b.reset();
    expect(b.state).toBe('closed');
  });

  it('ignores the window of a different strategy', () => {
    const c = circuitBreaker({
      strategy: countWindow({ size: 3, threshold: 0.5 }),
      initialState: { state: 'closed', openUntil: 0, openings: 0, window: { type: 'consecutive', count: 2 } },
      clock: virtualClock(),
    });
    expect(c.snapshot().window).toEqual({ type: 'count-window', next: 0, filled: 0, flags: [0, 0, 0] });
  });

  it('rejects a malformed initialState, naming the field', () => {
    const w = { type: 'consecutive', count: 0 } as const;
    expect(() => circuitBreaker({ initialState: 5 as never })).toThrow(/`initialState`/);
    expect(() =>
      circuitBreaker({ initialState: { state: 'weird', openUntil: 0, openings: 0, window: w } as never }),
    ).toThrow(/`initialState.state`/);
    expect(() =>
      circuitBreaker({ initialState: { state: 'open', openUntil: 'x', openings: 0, window: w } as never }),
    ).toThrow(/`initialState.openUntil`/);
    expect(() => circuitBreaker({ initialState: { state: 'open', openUntil: 0, openings: -1, window: w } })).toThrow(
      /`initialState.openings`/,
    );
    expect(() => circuitBreaker({ initialState: { state: 'open', openUntil: 0, openings: 0 } as never })).toThrow(
      /`initialState.window`/,
    );
  });
});

describe('circuitBreaker: composition', () => {
  it('Policy.wrap(breaker, …) shares the breaker’s state', async () => {
    const b = circuitBreaker({ strategy: consecutive(1), clock: virtualClock() });
    const wrapped = Policy.wrap(b, Policy.noop);
    await wrapped.execute(boom).catch(() => {});
    expect(b.state).toBe('open');
    await expect(wrapped.execute(() => 1)).rejects.toBeInstanceOf(BrokenCircuitError);
    const seen: string[] = [];
    wrapped.on('*', (e) => seen.push(e.type));
    await b.execute(() => 1).catch(() => {});
    expect(seen).toEqual(['reject']);
  });

  it('a retry around an open breaker sleeps until the probe may run (retryAfter hint)', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 5000, clock });
    const policy = Policy.wrap(retry({ maxRetries: 2, backoff: constant(10), clock }), b);
    let calls = 0;
    const p = policy.execute(() => {
      calls++;
      if (calls === 1) throw new Error('down');
      return 'recovered';
    });
    await clock.advance(10);
    expect(calls).toBe(1); // the retry got BrokenCircuitError { retryAfter: 4990 } and waits
    await clock.advance(4990);
    await expect(p).resolves.toBe('recovered');
    expect(calls).toBe(2);
  });
});

describe('circuitBreaker: bad options', () => {
  it('throws errors naming the option', () => {
    expect(() => circuitBreaker(5 as never)).toThrow(/`options`/);
    expect(() => circuitBreaker({ strategy: {} as never })).toThrow(/`strategy`/);
    expect(() => circuitBreaker({ breakDuration: -1 })).toThrow(/`breakDuration`/);
    expect(() => circuitBreaker({ breakDuration: 'x' as never })).toThrow(/`breakDuration`/);
    expect(() => circuitBreaker({ halfOpen: { probes: 0 } })).toThrow(/`halfOpen.probes`/);
    expect(() => circuitBreaker({ halfOpen: { probes: 1.5 } })).toThrow(/`halfOpen.probes`/);
    expect(() => circuitBreaker({ halfOpen: { probeTimeout: 0 } })).toThrow(/`halfOpen.probeTimeout`/);
    expect(() => circuitBreaker({ halfOpen: 3 as never })).toThrow(/`halfOpen`/);
    expect(() => circuitBreaker({ slowCall: { duration: -1 } })).toThrow(/`slowCall.duration`/);
    expect(() => circuitBreaker({ slowCall: { duration: 10, rate: 0 } })).toThrow(/`slowCall.rate`/);
    expect(() => circuitBreaker({ slowCall: { duration: 10, rate: 1.5 } })).toThrow(/`slowCall.rate`/);
    expect(() => circuitBreaker({ handle: 1 as never })).toThrow(/`handle`/);
    expect(() => circuitBreaker({ handleResult: 'x' as never })).toThrow(/`handleResult`/);
    expect(() => circuitBreaker({ clock: 1 as never })).toThrow(/`clock`/);
  });

  it('BrokenCircuitError carries a numeric retryAfter and a stable message', () => {
    const e = new BrokenCircuitError(12, new TimeoutError(5));
    expect(e.retryAfter).toBe(12);
    expect(e.message).not.toContain('5');
    expect(e.name).toBe('BrokenCircuitError');
  });
});

describe('circuitBreaker: fail-fast rejections', () => {
  const E = Error as { stackTraceLimit?: number };

  it('are full errors built without a stack capture, and leave Error.stackTraceLimit as it was', async () => {
    const b = circuitBreaker({ strategy: consecutive(1), clock: virtualClock() });
    const cause = await fail(b);
    const before = E.stackTraceLimit;
    const err = (await b.execute(() => 1).catch((e: unknown) => e)) as BrokenCircuitError;
    expect(E.stackTraceLimit).toBe(before);
    expect(err).toBeInstanceOf(BrokenCircuitError);
    expect(err).toMatchObject({ name: 'BrokenCircuitError', code: 'ERR_BROKEN_CIRCUIT', retryAfter: 30_000, cause });
    expect(err.message).toMatch(/not attempted/);
    const h = b.isolate();
    const iso = await b.execute(() => 1).catch((e: unknown) => e);
    expect(isIsolatedCircuitError(iso)).toBe(true);
    expect(E.stackTraceLimit).toBe(before);
    h.release();
    // Errors built elsewhere still capture stacks.
    expect(new Error('x').stack).toMatch(/at /);
  });

  it('work where Error.stackTraceLimit does not exist', async () => {
    const b = circuitBreaker({ strategy: consecutive(1), clock: virtualClock() });
    await fail(b);
    const saved = E.stackTraceLimit;
    delete E.stackTraceLimit;
    try {
      const err = await b.execute(() => 1).catch((e: unknown) => e);
      expect(isBrokenCircuitError(err)).toBe(true);
      expect('stackTraceLimit' in Error).toBe(false);
    } finally {
      if (saved !== undefined) E.stackTraceLimit = saved;
    }
  });

  it('a probe slot that is taken fails fast too, and the probe still settles the circuit', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 100, clock });
    await fail(b);
    await clock.advance(100);
    const gate = deferred<number>();
    const probe = b.execute(() => gate.promise);
    await expect(b.execute(() => 2)).rejects.toMatchObject({ code: 'ERR_BROKEN_CIRCUIT' });
    gate.resolve(1);
    await expect(probe).resolves.toBe(1);
    expect(b.state).toBe('closed');
  });
});

describe('circuitBreaker: clock reads on the closed path', () => {
  const counting = () => {
    const v = virtualClock({ start: 5000 });
    let reads = 0;
    const clock = {
      now: () => {
        reads++;
        return v.now();
      },
      setTimeout: v.setTimeout.bind(v),
      clearTimeout: v.clearTimeout.bind(v),
      sleep: v.sleep.bind(v),
    };
    return { clock, reads: () => reads };
  };

  it('consecutive reads no clock; a time window reads it once per call; a slow-call rule twice', async () => {
    const c1 = counting();
    const a = circuitBreaker({ strategy: consecutive(3), clock: c1.clock });
    await a.execute(() => 1);
    await a.execute(async () => 2);
    await fail(a);
    expect(c1.reads()).toBe(0);

    const c2 = counting();
    const w = circuitBreaker({ strategy: failureRate({ threshold: 0.5, window: 1000 }), clock: c2.clock });
    await w.execute(() => 1);
    await fail(w);
    expect(c2.reads()).toBe(2);

    const c3 = counting();
    const s = circuitBreaker({ strategy: consecutive(3), slowCall: { duration: 10 }, clock: c3.clock });
    await s.execute(() => 1);
    expect(c3.reads()).toBe(2);
  });

  it('with the platform clock, a time window reads it once per turn for successes and stays exact after idle time', async () => {
    const spy = vi.spyOn(Date, 'now');
    try {
      const w = circuitBreaker({
        strategy: failureRate({ threshold: 0.5, minThroughput: 4, window: 200, buckets: 2 }),
      });
      await new Promise((r) => setImmediate(r));
      spy.mockClear();
      for (let i = 0; i < 50; i++) await w.execute(() => i);
      expect(spy.mock.calls.length).toBeLessThanOrEqual(2); // one read for the turn (and none per call)
      for (let i = 0; i < 3; i++) await fail(w);
      expect(w.state).toBe('closed'); // 53 calls, 3 failures
      await new Promise((r) => setTimeout(r, 250)); // the whole window passes
      for (let i = 0; i < 3; i++) await fail(w);
      await w.execute(() => 1);
      // Had the 53 old calls been kept, this would be 56 calls; the window holds only the last 4.
      expect(w.state).toBe('closed');
      await fail(w);
      expect(w.state).toBe('open'); // 4 failures of 5 recent calls
    } finally {
      spy.mockRestore();
    }
  });
});

describe('circuitBreaker with a shared store: a caller abort while the probe lease is asked', () => {
  // A store whose probe leases are granted by hand (as a Redis round trip would, later).
  function handStore() {
    const leases: ReturnType<typeof deferred<boolean>>[] = [];
    const done: boolean[] = [];
    const store: BreakerStore = {
      attach: () => {},
      changed: () => {},
      lease: () => {
        const d = deferred<boolean>();
        leases.push(d);
        return d.promise;
      },
      done: (ok) => void done.push(ok),
    };
    return { store, leases, done };
  }

  async function halfOpen(store: BreakerStore, clock: ReturnType<typeof virtualClock>) {
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 1000, store, clock });
    await fail(b);
    await clock.advance(1000);
    expect(b.state).toBe('half-open');
    return b;
  }

  it('rejects with the caller’s reason, never runs the probe, and frees the fleet slot it was given', async () => {
    const clock = virtualClock();
    const { store, leases, done } = handStore();
    const b = await halfOpen(store, clock);
    const ac = new AbortController();
    let ran = false;
    const p = b.execute(
      () => {
        ran = true;
        return 'ran';
      },
      { signal: ac.signal },
    );
    await clock.flush();
    const reason = new Error('caller left');
    ac.abort(reason);
    leases[0]?.resolve(true);
    await expect(p).rejects.toBe(reason);
    expect(ran).toBe(false);
    expect(done).toEqual([false]); // the slot goes back to the fleet: no success reported, nothing closed
    expect(b.state).toBe('half-open');
    // The local slot is free too: the next caller probes.
    const next = b.execute(() => 'probe');
    await clock.flush();
    leases[1]?.resolve(true);
    expect(await next).toBe('probe');
    expect(b.state).toBe('closed');
  });

  it('an enclosing timeout that fires meanwhile: its TimeoutError, and the probe does not run', async () => {
    const clock = virtualClock();
    const { store, leases, done } = handStore();
    const b = await halfOpen(store, clock);
    let ran = false;
    const p = Policy.wrap(timeout({ after: 100, clock }), b).execute(() => {
      ran = true;
      return 'ran';
    });
    await clock.advance(100);
    leases[0]?.resolve(true);
    await expect(p).rejects.toBeInstanceOf(TimeoutError);
    expect(ran).toBe(false);
    expect(done).toEqual([false]);
  });

  it('a lease refused while the caller left: the caller’s reason, not BrokenCircuitError', async () => {
    const clock = virtualClock();
    const { store, leases, done } = handStore();
    const b = await halfOpen(store, clock);
    const ac = new AbortController();
    const p = b.execute(() => 'ran', { signal: ac.signal });
    await clock.flush();
    ac.abort('bye');
    leases[0]?.resolve(false);
    await expect(p).rejects.toBe('bye');
    expect(done).toEqual([]);
  });
});
