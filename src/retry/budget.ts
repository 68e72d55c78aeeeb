import { type Clock, systemClock } from '../core/clock.js';
import { checkNumber } from '../core/validate.js';

/** Options for {@link retryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed per call in the window. @defaultValue 0.2 */
  readonly ratio?: number | undefined;
  /** Retries per second always allowed, however few calls there were. @defaultValue 10 */
  readonly minPerSecond?: number | undefined;
  /** Length of the sliding window in ms. @defaultValue 10_000 */
  readonly window?: number | undefined;
  /** @defaultValue systemClock */
  readonly clock?: Clock | undefined;
}

/** A retry budget shared by any number of retry policies. */
export interface RetryBudget {
  /** Calls counted in the current window. */
  readonly calls: number;
  /** Retries spent in the current window. */
  readonly retries: number;
  /** Counts one call (done by `retry` on every first attempt). */
  recordCall(): void;
  /** Spends one retry if the budget allows it; false means "do not retry". */
  tryRetry(): boolean;
}

const BUCKETS = 10;

/**
 * A budget that caps retries to `ratio × calls + minPerSecond × window` over a sliding window, so
 * that when a dependency is down, retries cannot multiply the load on it (a retry storm). Share one
 * budget between the retry policies that call the same dependency.
 *
 * @throws RangeError / TypeError for a negative ratio or floor, or a non-positive window.
 * @example
 * ```ts
 * const budget = retryBudget({ ratio: 0.1 });
 * const a = retry({ maxRetries: 3, budget });
 * const b = retry({ maxRetries: 5, budget });
 * ```
 */
export function retryBudget(options?: RetryBudgetOptions): RetryBudget {
  const ratio = checkNumber('ratio', options?.ratio ?? 0.2, 0);
  const minPerSecond = checkNumber('minPerSecond', options?.minPerSecond ?? 10, 0);
  const window = checkNumber('window', options?.window ?? 10_000, 0, { exclusiveMin: true });
  const clock = options?.clock ?? systemClock;
  const width = window / BUCKETS;
  const floor = (minPerSecond * window) / 1000;
  const calls = new Float64Array(BUCKETS);
  const retries = new Float64Array(BUCKETS);
  let head = Math.floor(clock.now() / width); // index (in widths since epoch) of the newest bucket
  let totalCalls = 0;
  let totalRetries = 0;

  // Lazy eviction: every bucket older than the window is cleared on access, however long the idle.
  const roll = (): number => {
    const current = Math.floor(clock.now() / width);
    if (current > head) {
      const steps = Math.min(current - head, BUCKETS);
      for (let i = 1; i <= steps; i++) {
        const slot = (head + i) % BUCKETS;
        totalCalls -= calls[slot] as number;
        totalRetries -= retries[slot] as number;
        calls[slot] = 0;
        retries[slot] = 0;
      }
      head = current;
    }
    return head % BUCKETS;
  };

  return {
    get calls() {
      roll();
      return totalCalls;
    },
    get retries() {
      roll();
      return totalRetries;
    },
    recordCall() {
      const slot = roll();
      calls[slot] = (calls[slot] as number) + 1;
      totalCalls++;
    },
    tryRetry() {
      const slot = roll();
      if (totalRetries + 1 > ratio * totalCalls + floor) return false;
      retries[slot] = (retries[slot] as number) + 1;
      totalRetries++;
      return true;
    },
  };
}
