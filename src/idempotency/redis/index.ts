/**
 * The Redis idempotency store (ioredis, an optional peer dependency).
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { idempotent } from 'breakwater/idempotency';
 * import { redisIdempotencyStore } from 'breakwater/idempotency/redis';
 * const once = idempotent({ store: redisIdempotencyStore(new Redis({ enableOfflineQueue: false })) });
 * ```
 *
 * @module
 */
export { type RedisIdempotencyStoreOptions, type RedisLike, redisIdempotencyStore } from './redis-store.js';
