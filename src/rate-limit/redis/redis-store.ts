import { LuaScript, withTimeout } from '../../core/redis.js';
import { checkNumber, checkObject, fail } from '../../core/validate.js';
import { RateLimitStoreError } from '../errors.js';
import type { RateLimitLimits, RateLimitStore, StoreDecision } from '../store.js';
import { SCRIPT } from './lua.js';

/**
 * What the store needs from an ioredis client (`Redis`, or a cluster client: each key is one slot).
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { type RedisLike, redisRateLimitStore } from 'breakwater/rate-limit/redis';
 *
 * const client: RedisLike = new Redis({ enableOfflineQueue: false }); // an ioredis Redis or Cluster
 * const store = redisRateLimitStore(client, { prefix: 'myapp:rpm:' });
 * ```
 */
export interface RedisLike {
  /** Runs a cached Lua script. */
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** Runs (and caches) a Lua script. */
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/**
 * Options for {@link redisRateLimitStore}.
 *
 * @example
 * ```ts
 * import { rateLimit } from 'breakwater/rate-limit';
 * import { type RedisRateLimitStoreOptions, redisRateLimitStore } from 'breakwater/rate-limit/redis';
 *
 * const options: RedisRateLimitStoreOptions = { prefix: 'myapp:openai-tpm:', timeout: 250 }; // a prefix per limit
 * const store = redisRateLimitStore(redis, options);
 * const tpm = rateLimit({ limit: 90_000, per: 60_000, store, onStoreError: 'fail-open' });
 * ```
 */
export interface RedisRateLimitStoreOptions {
  /**
   * Prefix of every key. Limiters that share a prefix (and a key) share one bucket: give each limit
   * its own prefix.
   * @defaultValue 'breakwater:rate-limit:'
   */
  readonly prefix?: string | undefined;
  /**
   * Longest one operation may take, in ms, before it fails with `RateLimitStoreError`. Configure the
   * client to fail fast while disconnected too (`enableOfflineQueue: false` or a small
   * `maxRetriesPerRequest`).
   * @defaultValue 1000
   */
  readonly timeout?: number | undefined;
}

const RUN = /*#__PURE__*/ new LuaScript(SCRIPT);

class RedisStore implements RateLimitStore {
  readonly #client: RedisLike;
  readonly #prefix: string;
  readonly #timeout: number;

  constructor(client: RedisLike, prefix: string, timeout: number) {
    this.#client = client;
    this.#prefix = prefix;
    this.#timeout = timeout;
  }

  async acquire(key: string, cost: number, limits: RateLimitLimits, take: boolean): Promise<StoreDecision> {
    const r = (await this.#run(key, take ? 'take' : 'check', limits, cost, 0)) as string[];
    return {
      ok: Number(r[0]) === 1,
      wait: Number(r[1]),
      remaining: Number(r[2]),
      at: Number(r[3]),
      blockedFor: Number(r[4]),
    };
  }

  async adjust(key: string, delta: number, at: number, limits: RateLimitLimits): Promise<void> {
    await this.#run(key, 'adjust', limits, delta, at);
  }

  async block(key: string, ms: number, limits: RateLimitLimits): Promise<void> {
    await this.#run(key, 'block', limits, ms, 0);
  }

  async cap(key: string, remaining: number, limits: RateLimitLimits): Promise<void> {
    await this.#run(key, 'cap', limits, remaining, 0);
  }

  #run(key: string, op: string, l: RateLimitLimits, x: number, y: number): Promise<unknown> {
    const args = [op, l.algorithm === 'token-bucket' ? 't' : 'w', l.limit, l.per, l.capacity, x, y];
    return withTimeout(
      RUN.run(this.#client, [this.#prefix + key], args),
      this.#timeout,
      () => new RateLimitStoreError(`Redis did not answer within ${this.#timeout} ms`),
      (error) => new RateLimitStoreError('Redis rate limit operation failed', { cause: error }),
    );
  }
}

/**
 * A rate limit store in Redis (ioredis), shared by every process that uses the same prefix: each
 * acquire is one atomic Lua script (a token bucket, or the sliding window's slots) run on Redis's
 * own clock, so the limit holds across processes whose clocks disagree. Keys expire once their
 * bucket would be full (or their window empty) again. A failure or a slow answer is a
 * `RateLimitStoreError`; the limiter's `onStoreError` decides what a call does then.
 *
 * @throws TypeError / RangeError when `client` is not an ioredis client or an option is invalid (`timeout` not a finite number > 0, …).
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { rateLimit } from 'breakwater/rate-limit';
 * import { redisRateLimitStore } from 'breakwater/rate-limit/redis';
 *
 * const redis = new Redis({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
 * const fleetWide = rateLimit({
 *   limit: 500, per: 60_000,
 *   store: redisRateLimitStore(redis, { prefix: 'myapp:openai-rpm:' }),
 *   onStoreError: 'fail-open',
 * });
 * ```
 */
export function redisRateLimitStore(client: RedisLike, options?: RedisRateLimitStoreOptions): RateLimitStore {
  const c = client as Partial<RedisLike> | null;
  if (c === null || typeof c !== 'object' || typeof c.evalsha !== 'function' || typeof c.eval !== 'function') {
    throw new TypeError('Expected `client` to be an ioredis client');
  }
  checkObject('options', options);
  const prefix = options?.prefix ?? 'breakwater:rate-limit:';
  if (typeof prefix !== 'string') throw new TypeError(`Expected \`prefix\` to be a string, got ${typeof prefix}`);
  const timeout = checkNumber('timeout', options?.timeout ?? 1000, 0, { exclusiveMin: true });
  if (timeout === Number.POSITIVE_INFINITY) fail('timeout', 'a finite number', timeout, RangeError);
  return new RedisStore(client, prefix, timeout);
}
