/**
 * Test helpers: a virtual clock to drive every policy's time without real sleeps.
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
export { type VirtualClock, type VirtualClockOptions, virtualClock } from './virtual-clock.js';
