// The store of rate limit state: the in-memory default (an LRU of per-key states driven by the
// algorithms) and the interface a shared store (Redis) implements.
import { SlidingWindow, type SlidingWindowState } from './sliding-window.js';
import { TokenBucket, type TokenBucketState } from './token-bucket.js';

/**
 * A value, or a promise of it: synchronous with the in-memory store, a promise with a remote one.
 *
 * @example
 * ```ts
 * import type { Awaitable, RateLimit } from 'breakwater/rate-limit';
 *
 * // Answers at once (no microtask) when the limiter's store is the in-memory one.
 * function allowedNow(limiter: RateLimit, key: string): Awaitable<boolean> {
 *   const d = limiter.check({ key });
 *   return d instanceof Promise ? d.then((x) => x.allowed) : d.allowed;
 * }
 * ```
 */
export type Awaitable<T> = T | Promise<T>;

/**
 * The parameters a store applies to every key (handed to it on every operation).
 *
 * @example
 * ```ts
 * import type { RateLimitLimits } from 'breakwater/rate-limit';
 *
 * // In a store of your own: how long a key's state matters (until the bucket is full, the window empty).
 * const ttl = (limits: RateLimitLimits): number =>
 *   limits.algorithm === 'token-bucket' ? Math.ceil((limits.capacity / limits.limit) * limits.per) : limits.per;
 * ```
 */
export interface RateLimitLimits {
  /** `'token-bucket'` or `'sliding-window'`. */
  readonly algorithm: 'token-bucket' | 'sliding-window';
  /** Cost admitted per `per` ms (the refill rate of the bucket; the window's cap). */
  readonly limit: number;
  /** The period of `limit`, in ms. */
  readonly per: number;
  /** Most cost admitted at once: the bucket's size (`burst`), or `limit` for the window. */
  readonly capacity: number;
}

/**
 * What a store answers to an acquire or a check.
 *
 * @example
 * ```ts
 * import type { RateLimitStore, StoreDecision } from 'breakwater/rate-limit';
 *
 * // Wraps a shared store to count what it refuses.
 * const counted = (inner: RateLimitStore): RateLimitStore => ({
 *   async acquire(key, cost, limits, take) {
 *     const d: StoreDecision = await inner.acquire(key, cost, limits, take);
 *     if (!d.ok) refusals.add(1, { key, waitMs: d.wait, blocked: d.blockedFor > 0 });
 *     return d;
 *   },
 *   adjust: (...a) => inner.adjust(...a), block: (...a) => inner.block(...a), cap: (...a) => inner.cap(...a),
 * });
 * ```
 */
export interface StoreDecision {
  /** True when the cost was taken (acquire) or would be (check). */
  readonly ok: boolean;
  /** Ms until the cost would fit, when it does not now (0 when `ok`). */
  readonly wait: number;
  /** Cost still available now, after this acquire. */
  readonly remaining: number;
  /** The stamp of an acquire, handed back to `adjust` for its true-up (the store's time, or a slot id). */
  readonly at: number;
  /** Ms the store still holds every admission off (a server's Retry-After), 0 when none. */
  readonly blockedFor: number;
}

/**
 * Where a rate limiter keeps its state. The in-memory store is the default; `redisRateLimitStore`
 * (in `breakwater/rate-limit/redis`) shares it across processes. Every operation is atomic for its
 * key and uses the store's own clock; `limits` carries the limiter's parameters.
 *
 * @example
 * ```ts
 * import { rateLimit, type RateLimitStore, RateLimitStoreError } from 'breakwater/rate-limit';
 *
 * // A store that is down, to test what the limiter does then.
 * const down: RateLimitStore = {
 *   acquire: () => Promise.reject(new RateLimitStoreError('store down')),
 *   adjust: async () => {}, block: async () => {}, cap: async () => {},
 * };
 * const limiter = rateLimit({ limit: 10, per: 1000, store: down, onStoreError: 'fail-closed' });
 * await limiter.execute(work); // rejects with RateLimitedError, reason 'store-unavailable'
 * ```
 */
export interface RateLimitStore {
  /** Takes `cost` for `key` when it fits now (`take` true), or only says whether it would (`take` false). */
  acquire(key: string, cost: number, limits: RateLimitLimits, take: boolean): Awaitable<StoreDecision>;
  /** Charges `delta` more (or refunds `-delta`) for an acquire made at store time `at`. */
  adjust(key: string, delta: number, at: number, limits: RateLimitLimits): Awaitable<void>;
  /** Admits nothing for `key` during the next `ms` and drops what is available now. */
  block(key: string, ms: number, limits: RateLimitLimits): Awaitable<void>;
  /** Lowers what is available for `key` to at most `remaining`. */
  cap(key: string, remaining: number, limits: RateLimitLimits): Awaitable<void>;
}

/** One key's state in memory. @internal */
export type KeyState = TokenBucketState | SlidingWindowState;

/**
 * The algorithm of an in-memory limiter with its parameters bound (`TokenBucket`, `SlidingWindow`):
 * one interface, so the policy calls either without a branch per call.
 * @internal
 */
export interface Algorithm {
  readonly capacity: number;
  create(now: number): KeyState;
  take(s: KeyState, cost: number, now: number): number;
  wait(s: KeyState, cost: number, now: number): number;
  /** What a lease keeps of an admission made now, for `adjust` (the time, or the window's slot id). */
  stamp(s: KeyState, now: number): number;
  adjust(s: KeyState, delta: number, stamp: number, now: number): void;
  block(s: KeyState, ms: number, now: number): void;
  cap(s: KeyState, remaining: number, now: number): void;
  /** Available now (may be negative), and ms still held off. */
  remaining(s: KeyState, now: number): number;
  blockedFor(s: KeyState, now: number): number;
}

/** The algorithm object for `limits`. @internal */
export function algorithm(limits: RateLimitLimits): Algorithm {
  return limits.algorithm === 'token-bucket' ? new TokenBucket(limits) : new SlidingWindow(limits);
}

/**
 * Per-key states in memory, bounded by `maxKeys`, with a second-chance approximation of LRU: a hit
 * only sets the state's used bit (no `Map` reordering per call); when full, the sweep from the
 * oldest entry moves used ones to the back (clearing the bit) and forgets the first unused one
 * without waiters (it starts afresh, full, if it comes back).
 * @internal
 */
export class MemoryStore implements RateLimitStore {
  readonly algo: Algorithm;
  readonly #max: number;
  readonly #now: () => number;
  readonly #map = new Map<string, KeyState>();
  /** The state of key `''` (an unkeyed limiter's one bucket), kept out of the LRU. */
  #empty: KeyState | undefined = undefined;

  constructor(algo: Algorithm, maxKeys: number, now: () => number) {
    this.algo = algo;
    this.#max = maxKeys;
    this.#now = now;
  }

  get size(): number {
    return this.#map.size;
  }

  /** The state of `key`, made (full) when absent; marks it used. */
  get(key: string, now: number): KeyState {
    if (key === '') {
      this.#empty ??= this.algo.create(now);
      return this.#empty;
    }
    const m = this.#map;
    let s = m.get(key);
    if (s !== undefined) {
      s.u = true;
      return s;
    }
    if (m.size >= this.#max) this.#evict();
    s = this.algo.create(now);
    m.set(key, s);
    return s;
  }

  #evict(): void {
    const m = this.#map;
    // Each used entry is passed over at most once (its bit is cleared), so two laps always end.
    for (let lap = 0; lap < 2 * m.size + 1; lap++) {
      const first = m.entries().next();
      if (first.done === true) return;
      const [k, v] = first.value;
      m.delete(k);
      if (v.u || v.q !== undefined) {
        v.u = false;
        m.set(k, v);
      } else return;
    }
  }

  /** The state of `key` if it has one (no recency change). */
  peek(key: string): KeyState | undefined {
    return key === '' ? this.#empty : this.#map.get(key);
  }

  acquire(key: string, cost: number, _limits: RateLimitLimits, take: boolean): StoreDecision {
    const now = this.#now();
    const a = this.algo;
    // A check of an unknown key looks at a fresh state without keeping it.
    const s = take ? this.get(key, now) : (this.peek(key) ?? a.create(now));
    const wait = take ? a.take(s, cost, now) : a.wait(s, cost, now);
    const at = a.stamp(s, now);
    return { ok: wait === 0, wait, remaining: a.remaining(s, now), at, blockedFor: a.blockedFor(s, now) };
  }

  adjust(key: string, delta: number, at: number): void {
    // A refund to a forgotten key is moot (it starts full); a charge makes it again.
    const now = this.#now();
    const s = delta > 0 ? this.get(key, now) : this.peek(key);
    if (s !== undefined) this.algo.adjust(s, delta, at, now);
  }

  block(key: string, ms: number): void {
    const now = this.#now();
    this.algo.block(this.get(key, now), ms, now);
  }

  cap(key: string, remaining: number): void {
    const now = this.#now();
    this.algo.cap(this.get(key, now), remaining, now);
  }
}
