/**
 * The Redis rate limit store (ioredis, an optional peer dependency): one bucket per key shared by a
 * fleet, one atomic Lua script per acquire on Redis's own clock.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { rateLimit } from 'breakwater/rate-limit';
 * import { redisRateLimitStore } from 'breakwater/rate-limit/redis';
 * const limiter = rateLimit({ limit: 100, per: 1000, store: redisRateLimitStore(new Redis()) });
 * ```
 *
 * @module
 */
export { type RedisLike, type RedisRateLimitStoreOptions, redisRateLimitStore } from './redis-store.js';
