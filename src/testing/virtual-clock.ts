import type { Clock, TimerHandle } from '../core/clock.js';
import { sleepWith } from '../core/clock.js';
import { checkNumber } from '../core/validate.js';

/**
 * Options for {@link virtualClock}.
 *
 * @example
 * ```ts
 * import { type VirtualClockOptions, virtualClock } from 'breakwater/testing';
 *
 * // Dates in events and logs read naturally; more turns for long promise chains between timers.
 * const options: VirtualClockOptions = { start: Date.parse('2025-01-01T00:00:00Z'), flushTurns: 200 };
 * const clock = virtualClock(options);
 * ```
 */
export interface VirtualClockOptions {
  /**
   * The clock's initial `now()`.
   * @defaultValue 0
   */
  readonly start?: number | undefined;
  /**
   * How many microtask turns `advance` lets run after each timer (and before returning), so that
   * promise chains started by a timer get to their next timer before time moves on.
   * @defaultValue 50
   */
  readonly flushTurns?: number | undefined;
}

/**
 * A {@link Clock} whose time moves only when a test says so.
 *
 * @example
 * ```ts
 * import { circuitBreaker, consecutive } from 'breakwater/breaker';
 * import { type VirtualClock, virtualClock } from 'breakwater/testing';
 *
 * const clock: VirtualClock = virtualClock();
 * const breaker = circuitBreaker({ strategy: consecutive(1), breakDuration: 30_000, clock });
 * await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
 * await clock.advance(30_000); // no real wait
 * expect(breaker.state).toBe('half-open');
 * ```
 */
export interface VirtualClock extends Clock {
  /**
   * Moves time forward by `ms`, firing every timer that falls due in time order; between timers,
   * promise reactions run, so a policy awaiting a timer resumes before the next one fires.
   */
  advance(ms: number): Promise<void>;
  /** Fires timers until none is pending (at most `limit` of them). Returns the time advanced. */
  runAll(limit?: number): Promise<number>;
  /** Lets pending promise reactions run without moving time. */
  flush(): Promise<void>;
  /**
   * Number of timers not yet fired or cleared that would hold a process open (unref'd timers, such
   * as a policy's shared timer while it has no pending work, are not counted).
   */
  readonly pending: number;
  /** Number of timers not yet fired or cleared, unref'd ones included. */
  readonly scheduled: number;
}

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
  refed: boolean;
}

/**
 * Creates a virtual clock for tests: inject it as the `clock` option of any policy, then drive time
 * with `advance(ms)`. No real time passes, so tests of backoffs, timeouts and breaks are exact and fast.
 *
 * @throws TypeError / RangeError when `start` or `flushTurns` is not a valid number.
 * @example
 * ```ts
 * const clock = virtualClock();
 * const policy = retry({ maxRetries: 2, backoff: constant(1000), clock });
 * const p = policy.execute(flakyCall);
 * await clock.advance(2000); // both backoffs elapse, in order
 * await p;
 * ```
 */
export function virtualClock(options?: VirtualClockOptions): VirtualClock {
  let now = checkNumber('start', options?.start ?? 0, Number.NEGATIVE_INFINITY);
  const turns = checkNumber('flushTurns', options?.flushTurns ?? 50, 0, { integer: true });
  const timers = new Map<number, Timer>();
  let nextId = 1;

  const flush = async (): Promise<void> => {
    for (let i = 0; i < turns; i++) await Promise.resolve();
  };

  const nextDue = (limit: number): Timer | undefined => {
    let best: Timer | undefined;
    for (const t of timers.values()) {
      if (t.at <= limit && (best === undefined || t.at < best.at || (t.at === best.at && t.id < best.id))) best = t;
    }
    return best;
  };

  const clock: VirtualClock = {
    now: () => now,
    setTimeout(callback: () => void, ms: number): TimerHandle {
      const id = nextId++;
      timers.set(id, { id, at: now + Math.max(0, Number.isFinite(ms) ? ms : 0), callback, refed: true });
      return id;
    },
    clearTimeout(handle: TimerHandle): void {
      timers.delete(handle as number);
    },
    sleep: (ms, signal) => sleepWith(clock, ms, signal),
    unref: (handle) => {
      const t = timers.get(handle as number);
      if (t !== undefined) t.refed = false;
    },
    ref: (handle) => {
      const t = timers.get(handle as number);
      if (t !== undefined) t.refed = true;
    },
    get pending() {
      let n = 0;
      for (const t of timers.values()) if (t.refed) n++;
      return n;
    },
    get scheduled() {
      return timers.size;
    },
    flush,
    async advance(ms: number): Promise<void> {
      checkNumber('ms', ms, 0);
      const target = now + ms;
      await flush();
      for (let t = nextDue(target); t !== undefined; t = nextDue(target)) {
        timers.delete(t.id);
        if (t.at > now) now = t.at;
        t.callback();
        await flush();
      }
      now = target;
      await flush();
    },
    async runAll(limit = 10_000): Promise<number> {
      const from = now;
      await flush();
      for (let i = 0; i < limit; i++) {
        const t = nextDue(Number.POSITIVE_INFINITY);
        if (t === undefined) break;
        timers.delete(t.id);
        if (t.at > now) now = t.at;
        t.callback();
        await flush();
      }
      return now - from;
    },
  };
  return clock;
}
