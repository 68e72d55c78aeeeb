/**
 * Retry with backoff and jitter, server hints (`Retry-After`), deadlines and retry budgets.
 *
 * @example
 * ```ts
 * import { retry, exponential } from 'breakwater/retry';
 * const policy = retry({ maxRetries: 3, backoff: exponential({ initial: 200 }) });
 * await policy.execute(() => fetchJson(url));
 * ```
 *
 * @module
 */

export {
  type Backoff,
  type BackoffState,
  type ConstantOptions,
  constant,
  type ExponentialOptions,
  exponential,
  type Jitter,
  type LinearOptions,
  linear,
} from './backoff.js';
export { type RetryBudget, type RetryBudgetOptions, retryBudget } from './budget.js';
export { type RetryEvent, type RetryOptions, type RetryOutcome, retry } from './retry.js';
export { retryAfterHint } from './retry-after.js';
