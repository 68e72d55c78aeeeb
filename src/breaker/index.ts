/**
 * Circuit breaker: stops calling a dependency that keeps failing, rejects at once with
 * `BrokenCircuitError` (carrying `retryAfter`), and probes it again after a break.
 *
 * @example
 * ```ts
 * import { circuitBreaker, failureRate } from 'breakwater/breaker';
 *
 * const breaker = circuitBreaker({
 *   strategy: failureRate({ threshold: 0.5, minThroughput: 20, window: 30_000 }),
 *   breakDuration: 15_000,
 * });
 * const reply = await breaker.execute(({ signal }) => callModel(prompt, { signal }));
 * ```
 *
 * @module
 */
export {
  type BreakBackoff,
  type BreakerChange,
  type BreakerEvent,
  type BreakerLink,
  type BreakerStore,
  type CircuitBreaker,
  type CircuitBreakerOptions,
  circuitBreaker,
  type IsolationHandle,
} from './breaker.js';
export {
  BrokenCircuitError,
  IsolatedCircuitError,
  isBrokenCircuitError,
  isIsolatedCircuitError,
} from './errors.js';
export type { BreakerSnapshot, BreakerState } from './snapshot.js';
export {
  type BreakerStrategy,
  type CountWindowOptions,
  consecutive,
  countWindow,
  type FailureRateOptions,
  failureRate,
  type StrategyWindow,
  type WindowSnapshot,
  type WindowStats,
} from './strategies.js';
