import { SlidingBudget } from '../core/budget.js';
import type { Clock } from '../core/clock.js';

/**
 * Options for {@link retryBudget}.
 *
 * @example
 * ```ts
 * import { type RetryBudgetOptions, retry, retryBudget } from 'breakwater/retry';
 *
 * const options: RetryBudgetOptions = { ratio: 0.1, minPerSecond: 5, window: 30_000 };
 * const budget = retryBudget(options);
 * const policy = retry({ maxRetries: 3, budget });
 * ```
 */
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

/**
 * A retry budget shared by any number of retry policies.
 *
 * @example
 * ```ts
 * import { type RetryBudget, retry, retryBudget } from 'breakwater/retry';
 *
 * const budget: RetryBudget = retryBudget({ ratio: 0.2 });
 * const users = retry({ maxRetries: 3, budget });
 * const orders = retry({ maxRetries: 5, budget });
 * setInterval(() => metrics.gauge('retries_per_call', budget.retries / Math.max(1, budget.calls)), 10_000);
 * ```
 */
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

class SlidingRetryBudget extends SlidingBudget implements RetryBudget {
  get retries(): number {
    return this.spent;
  }

  tryRetry(): boolean {
    return this.trySpend();
  }
}

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
  return new SlidingRetryBudget(options, 0.2, 10);
}
