/**
 * Test helpers: a virtual clock to drive every policy's time without real sleeps, a seeded random
 * source for repeatable runs, and Given/When/Then specifications for deciders and projections.
 *
 * @example
 * ```ts
 * import { virtualClock } from 'breakwater/testing';
 * const clock = virtualClock();
 * const policy = timeout({ after: 1000, clock });
 * ```
 *
 * @module
 */

export {
  type DeciderSpec,
  type DeciderThen,
  type DeciderWhen,
  deciderSpec,
  type ProjectionSpec,
  type ProjectionThen,
  type ProjectionWhen,
  projectionSpec,
} from './decider-spec.js';
export { seededRandom } from './random.js';
export { type VirtualClock, type VirtualClockOptions, virtualClock } from './virtual-clock.js';
