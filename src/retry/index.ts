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
export { retry, type RetryOptions, type RetryEvent, type RetryOutcome } from './retry.js';
export {
  constant,
  linear,
  exponential,
  type Backoff,
  type BackoffState,
  type Jitter,
  type ConstantOptions,
  type LinearOptions,
  type ExponentialOptions,
} from './backoff.js';
export { retryBudget, type RetryBudget, type RetryBudgetOptions } from './budget.js';
export { retryAfterHint } from './retry-after.js';
