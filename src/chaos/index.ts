/**
 * Fault injection for tests and game days: injected latency, faults and results at seeded rates,
 * switchable at run time.
 *
 * @example
 * ```ts
 * import { chaos } from 'breakwater/chaos';
 * import { seededRandom } from 'breakwater/testing';
 * const gameDay = chaos({ fault: { rate: 0.1 }, latency: { rate: 0.2, ms: 2_000 }, random: seededRandom(7) });
 * ```
 *
 * @module
 */

export {
  type ChaosEvent,
  type ChaosInjection,
  type ChaosOptions,
  chaos,
  type FaultInjection,
  type LatencyInjection,
  type ResultInjection,
} from './chaos.js';
export { InjectedFaultError, isInjectedFaultError } from './errors.js';
