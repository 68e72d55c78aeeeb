/**
 * Hedged requests: when an attempt is slow, start another, take the first success and cancel the
 * rest; with percentile delays and a budget that caps the extra load.
 *
 * @example
 * ```ts
 * import { hedge, hedgeBudget } from 'breakwater/hedge';
 * const policy = hedge({ delay: { percentile: 95, max: 2_000 }, budget: hedgeBudget({ ratio: 0.1 }) });
 * const answer = await policy.execute(({ signal }) => search(query, { signal }));
 * ```
 *
 * @module
 */

export { type HedgeBudget, type HedgeBudgetOptions, hedgeBudget } from './budget.js';
export { HedgeCancelledError, isHedgeCancelledError } from './errors.js';
export { type HedgeEvent, type HedgeOptions, hedge, type PercentileDelay } from './hedge.js';
