/**
 * breakwater core: the {@link Policy} pipeline, the call {@link Context}, the {@link Clock}, and
 * the error base class shared by every module.
 *
 * @example
 * ```ts
 * import { Policy } from 'breakwater';
 * import { retry } from 'breakwater/retry';
 * import { timeout } from 'breakwater/timeout';
 *
 * const policy = Policy.wrap(timeout(30_000), retry({ maxRetries: 3 }), timeout(10_000));
 * const reply = await policy.execute(({ signal }) => callModel(prompt, { signal }));
 * ```
 *
 * @module breakwater
 */

export { type Clock, sleepWith, systemClock, type TimerHandle } from './core/clock.js';
export type { Context, ExecuteOptions } from './core/context.js';
export {
  BreakwaterError,
  type BreakwaterErrorOptions,
  errorGuard,
  isBreakwaterError,
  isTimeoutError,
  TimeoutError,
} from './core/errors.js';
export type { Listener, PolicyEventBase, Unsubscribe } from './core/events.js';
export { type EventOf, type Outcome, Policy } from './core/policy.js';
export type { StreamingPolicy } from './core/streaming.js';
