/**
 * The Redis aggregator store (ioredis, an optional peer dependency): a durable aggregator's groups
 * in Redis, one writer per correlation key by a lock with a fencing token checked by the write script.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { durableAggregator } from 'breakwater/messaging';
 * import { redisAggregatorStore } from 'breakwater/messaging/redis';
 * const store = redisAggregatorStore(new Redis(), { prefix: 'myapp:results:' });
 * const results = durableAggregator({ store, correlate: (r: { taskId: string }) => r.taskId, complete: { size: 3 } });
 * ```
 *
 * @module
 */
export {
  type RedisAggregatorStoreOptions,
  type RedisScriptable,
  redisAggregatorStore,
} from './redis-aggregator-store.js';
