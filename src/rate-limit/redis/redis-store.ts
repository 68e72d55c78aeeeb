import { checkNumber, checkObject, fail } from '../../core/validate.js';
import { RateLimitStoreError } from '../errors.js';
import type { RateLimitLimits, RateLimitStore, StoreDecision } from '../store.js';
import { SCRIPT } from './lua.js';

/** What the store needs from an ioredis client (`Redis`, or a cluster client: each key is one slot). */
export interface RedisLike {
  /** Runs a cached Lua script. */
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** Runs (and caches) a Lua script. */
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** Options for {@link redisRateLimitStore}. */
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

async function sha1(text: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text)));
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}

class RedisStore implements RateLimitStore {
  readonly #client: RedisLike;
  readonly #prefix: string;
  readonly #timeout: number;
  #sha: string | undefined = undefined;
  #shaPending: Promise<string> | undefined = undefined;

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

  async #run(key: string, op: string, l: RateLimitLimits, x: number, y: number): Promise<unknown> {
    const k = this.#prefix + key;
    const args = [op, l.algorithm === 'token-bucket' ? 't' : 'w', l.limit, l.per, l.capacity, x, y];
    const client = this.#client;
    let sha = this.#sha;
    if (sha === undefined) {
      this.#shaPending ??= sha1(SCRIPT);
      sha = await this.#shaPending;
      this.#sha = sha;
    }
    return this.#guard(
      client.evalsha(sha, 1, k, ...args).catch((error: unknown) => {
        // The server lost its script cache (restart, SCRIPT FLUSH): send the script itself.
        if (!String((error as Error | null)?.message).startsWith('NOSCRIPT')) throw error;
        return client.eval(SCRIPT, 1, k, ...args);
      }),
    );
  }

  #guard<T>(pending: Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new RateLimitStoreError(`Redis did not answer within ${this.#timeout} ms`)),
        // Platforms fire a delay above 2^31 − 1 ms after 1 ms.
        Math.min(this.#timeout, 2_147_483_647),
      );
      pending.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(new RateLimitStoreError('Redis rate limit operation failed', { cause: error }));
        },
      );
    });
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
