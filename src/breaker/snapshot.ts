import { checkNumber, checkObject, checkOneOf, fail } from '../core/validate.js';
import type { WindowSnapshot } from './strategies.js';

/** The state of a circuit breaker. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/**
 * A circuit breaker's state as plain JSON (`JSON.stringify`-safe), from `snapshot()`, for the
 * `initialState` option. A restored `half-open` state probes first; a restored `isolated` state
 * lasts until `reset()` or the release of a new `isolate()` handle.
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
