import { SlidingBudget } from '../core/budget.js';
import type { Clock } from '../core/clock.js';

/**
 * Options for {@link hedgeBudget}.
 *
 * @example
 * ```ts
 * import { type HedgeBudgetOptions, hedge, hedgeBudget } from 'breakwater/hedge';
 *
 * // At most 5 % extra attempts over the last 30 s, and 2 per second whatever the traffic.
 * const options: HedgeBudgetOptions = { ratio: 0.05, minPerSecond: 2, window: 30_000 };
 * const policy = hedge({ delay: { percentile: 95 }, budget: hedgeBudget(options) });
 * ```
 */
export interface HedgeBudgetOptions {
  /** Hedged attempts allowed per call in the window. @defaultValue 0.1 */
  readonly ratio?: number | undefined;
  /** Hedged attempts per second always allowed, however few calls there were. @defaultValue 1 */
  readonly minPerSecond?: number | undefined;
  /** Length of the sliding window in ms. @defaultValue 10_000 */
  readonly window?: number | undefined;
  /** @defaultValue systemClock */
  readonly clock?: Pick<Clock, 'now'> | undefined;
}

/**
 * A hedge budget shared by any number of hedge policies.
 *
 * @example
 * ```ts
 * import { type HedgeBudget, hedge, hedgeBudget } from 'breakwater/hedge';
 *
 * const budget: HedgeBudget = hedgeBudget({ ratio: 0.1 });
 * const reads = hedge({ delay: { percentile: 95 }, budget });
 * const scans = hedge({ delay: 500, budget });
 * setInterval(() => metrics.gauge('hedges_per_call', budget.hedges / Math.max(1, budget.calls)), 10_000);
 * ```
 */
export interface HedgeBudget {
  /** Calls counted in the current window. */
  readonly calls: number;
  /** Hedged attempts spent in the current window. */
  readonly hedges: number;
  /** Counts one call (done by `hedge` on every call). */
  recordCall(): void;
  /** Spends one hedged attempt if the budget allows it; false means "do not hedge". */
  tryHedge(): boolean;
}

class SlidingHedgeBudget extends SlidingBudget implements HedgeBudget {
  get hedges(): number {
    return this.spent;
  }

  tryHedge(): boolean {
    return this.trySpend();
  }
}

/**
 * A budget that caps hedged attempts to `ratio × calls + minPerSecond × window` over a sliding
 * window (10 buckets, evicted lazily), so that hedging adds at most ~`ratio` extra load however slow
 * the dependency gets: when every call is slow, hedging every call would double the load on a
 * dependency that is slow because it is overloaded. Share one budget between the hedge policies that
 * call the same dependency.
 *
 * @throws RangeError / TypeError for a negative ratio or floor, or a non-positive window.
 * @example
 * ```ts
 * const budget = hedgeBudget({ ratio: 0.1 }); // hedges ≤ 10 % of calls (+ 1 per second)
 * const policy = hedge({ delay: { percentile: 95 }, budget });
 * ```
 */
export function hedgeBudget(options?: HedgeBudgetOptions): HedgeBudget {
  return new SlidingHedgeBudget(options, 0.1, 1);
}
