/**
 * A circuit breaker shared by a fleet, its state in Redis (ioredis, an optional peer dependency):
 * when one process opens the circuit, every process with the same `key` rejects within the
 * staleness bound, and one fleet-wide probe decides when it closes.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { circuitBreaker } from 'breakwater/breaker';
 * import { redisBreakerStore } from 'breakwater/breaker/redis';
 *
 * const breaker = circuitBreaker({ store: redisBreakerStore(new Redis(), { key: 'llm:openai' }) });
 * ```
 *
 * @module
 */

export { BreakerStoreError, isBreakerStoreError } from './backend.js';
export {
  type RedisBreakerClient,
  type RedisBreakerStore,
  type RedisBreakerStoreOptions,
  type RedisBreakerSubscriber,
  redisBreakerStore,
} from './redis-store.js';
