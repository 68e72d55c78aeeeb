import { checkNumber, checkObject, checkOneOf, fail } from '../core/validate.js';
import type { WindowSnapshot } from './strategies.js';

/**
 * The state of a circuit breaker.
 *
 * @example
 * ```ts
 * import { type BreakerState, circuitBreaker } from 'breakwater/breaker';
 *
 * const breaker = circuitBreaker({ name: 'search' });
 * const level: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2, isolated: 3 };
 * setInterval(() => metrics.gauge('breaker_state', level[breaker.state], { breaker: 'search' }), 5_000);
 * ```
 */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/**
 * A circuit breaker's state as plain JSON (`JSON.stringify`-safe), from `snapshot()`, for the
 * `initialState` option. A restored `half-open` state probes first; a restored `isolated` state
 * lasts until `reset()` or the release of a new `isolate()` handle.
 *
 * @example
 * ```ts
 * import { type BreakerSnapshot, circuitBreaker } from 'breakwater/breaker';
 *
 * // Carry the circuit's state across a restart.
 * const saved = await cache.get('breaker:search');
 * const breaker = circuitBreaker({ initialState: saved ? (JSON.parse(saved) as BreakerSnapshot) : undefined });
 * process.on('SIGTERM', () => {
 *   const snapshot: BreakerSnapshot = breaker.snapshot();
 *   cache.set('breaker:search', JSON.stringify(snapshot));
 * });
 * ```
 */
export interface BreakerSnapshot {
  /** The state when the snapshot was taken. */
  readonly state: BreakerState;
  /** Clock time at which the break ends (`state: 'open'`), else 0. */
  readonly openUntil: number;
  /** Consecutive openings so far (drives an escalating `breakDuration`); 0 after a close. */
  readonly openings: number;
  /** The strategy's statistics (ignored on restore if the strategy differs). */
  readonly window: WindowSnapshot;
}

const STATES: readonly BreakerState[] = ['closed', 'open', 'half-open', 'isolated'];

/** Validates an `initialState` option. @internal */
export function readSnapshot(value: unknown): BreakerSnapshot {
  checkObject('initialState', value);
  const s = value as BreakerSnapshot;
  checkOneOf('initialState.state', s.state, STATES);
  checkNumber('initialState.openUntil', s.openUntil, Number.NEGATIVE_INFINITY);
  checkNumber('initialState.openings', s.openings, 0, { integer: true });
  if (s.window === undefined) fail('initialState.window', 'an object', undefined);
  checkObject('initialState.window', s.window);
  return s;
}
