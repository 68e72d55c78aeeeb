/**
 * An opaque handle returned by {@link Clock.setTimeout}.
 *
 * @example
 * ```ts
 * import { systemClock, type TimerHandle } from 'breakwater';
 *
 * const handle: TimerHandle = systemClock.setTimeout(() => flushMetrics(), 60_000);
 * systemClock.unref?.(handle); // the pending flush does not keep the process alive
 * onShutdown(() => systemClock.clearTimeout(handle));
 * ```
 */
export type TimerHandle = unknown;

/**
 * The source of time for every policy. Inject `virtualClock()` from `breakwater/testing` to drive
 * time in tests; the default, {@link systemClock}, uses the platform's timers.
 *
 * @example
 * ```ts
 * import { type Clock, systemClock } from 'breakwater';
 * import { retry } from 'breakwater/retry';
 *
 * // The platform clock, recording every backoff sleep a retry takes.
 * const clock: Clock = {
 *   ...systemClock,
 *   sleep(ms, signal) {
 *     metrics.histogram('retry_sleep_ms', ms);
 *     return systemClock.sleep(ms, signal);
 *   },
 * };
 * const policy = retry({ maxRetries: 3, clock });
 * ```
 */
export interface Clock {
  /** Current time in milliseconds (epoch-based on the system clock). */
  now(): number;
  /** Calls `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer from {@link Clock.setTimeout}; a handle that already fired is ignored. */
  clearTimeout(handle: TimerHandle): void;
  /**
   * Resolves after `ms` milliseconds, or rejects with `signal.reason` as soon as `signal` aborts.
   * A delay ≤ 0 resolves without starting a timer.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Lets the process exit while this timer is pending (no-op where timers never hold a process). */
  unref?(handle: TimerHandle): void;
  /** Undoes {@link Clock.unref}. */
  ref?(handle: TimerHandle): void;
}

/**
 * Sleeps on any clock's `setTimeout`, honouring an abort signal: listeners are added
 * `{ once: true }` and removed when the sleep ends, so a long-lived signal accumulates nothing.
 *
 * @example
 * ```ts
 * const clock: Clock = { ...myTimers, sleep: (ms, signal) => sleepWith(clock, ms, signal) };
 * ```
 */
export function sleepWith(
  clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (!(ms > 0)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let onAbort: (() => void) | undefined;
    const handle = clock.setTimeout(() => {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal !== undefined) {
      onAbort = () => {
        clock.clearTimeout(handle);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}

/**
 * `setImmediate` where the platform has it (looked up at call time, for fake timers): runs a
 * callback once the current turn of the event loop is done.
 * @internal
 */
export function turnEnd(): ((callback: () => void) => unknown) | undefined {
  const g = globalThis as { setImmediate?: (callback: () => void) => unknown };
  return typeof g.setImmediate === 'function'
    ? (callback) => (g.setImmediate as (cb: () => void) => unknown)(callback)
    : undefined;
}

let turnTime = 0;
let turnFresh = false;
const turnOver = (): void => {
  turnFresh = false;
};

/**
 * `Date.now()` read at most once per turn of the event loop (where the platform has
 * `setImmediate`), for bookkeeping whose precision is far coarser than a turn — a breaker's
 * time-bucketed window. The value can lag by as much as the turn has run so far.
 * @internal
 */
export function turnNow(): number {
  if (!turnFresh) {
    turnTime = Date.now();
    const defer = turnEnd();
    if (defer !== undefined) {
      turnFresh = true;
      defer(turnOver);
    }
  }
  return turnTime;
}

const MAX_TIMER_DELAY = 2_147_483_647;

// Platforms fire a delay above 2^31 − 1 ms (~24.8 days) after 1 ms: clamp, so that a far-future
// Retry-After date or an uncapped backoff waits long instead of not at all. The two objects below
// spell out the same timers rather than share them, so that each bundle carries only the one it uses.

/**
 * The platform timers without `sleep`: the default of policies that never sleep (a timeout), so
 * that their bundles do not carry {@link sleepWith}.
 * @internal
 */
export const systemTimers: Omit<Clock, 'sleep'> = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, Math.min(ms, MAX_TIMER_DELAY)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  unref: (handle) => (handle as { unref?: () => void } | null)?.unref?.(),
  ref: (handle) => (handle as { ref?: () => void } | null)?.ref?.(),
};

/**
 * The platform clock: `Date.now()` and the global timers, looked up at call time so that
 * `vi.useFakeTimers()` and similar tools still work.
 *
 * @example
 * ```ts
 * const r = retry({ clock: systemClock }); // the default
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, Math.min(ms, MAX_TIMER_DELAY)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  sleep: (ms, signal) => sleepWith(systemClock, ms, signal),
  unref: (handle) => (handle as { unref?: () => void } | null)?.unref?.(),
  ref: (handle) => (handle as { ref?: () => void } | null)?.ref?.(),
};
