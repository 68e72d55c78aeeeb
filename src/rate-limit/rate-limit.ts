import { type Clock, systemTimers, type TimerHandle } from '../core/clock.js';
import { abortSignal, type CallContext, type Context } from '../core/context.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, FAST, invoke, Pipeline, type Policy, SKIP, STATEFUL } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject, checkOneOf, fail } from '../core/validate.js';
import { RateLimitedError, type RateLimitReason, RateLimitStoreError } from './errors.js';
import { readHint, type ServerHint } from './feedback.js';
import {
  type Algorithm,
  type Awaitable,
  algorithm,
  type KeyState,
  MemoryStore,
  type RateLimitLimits,
  type RateLimitStore,
  type StoreDecision,
} from './store.js';

/**
 * Options for {@link rateLimit}.
 *
 * @example
 * ```ts
 * import { rateLimit, type RateLimitOptions } from 'breakwater/rate-limit';
 *
 * const options: RateLimitOptions<{ usage: { total_tokens: number } }> = {
 *   limit: 90_000, per: 60_000, burst: 120_000, // tokens per minute
 *   cost: (ctx) => Number(ctx.data.estimate), actualCost: (r) => r.usage.total_tokens,
 *   key: (ctx) => ctx.key ?? 'anonymous',
 *   mode: 'wait', maxWait: 15_000,
 * };
 * const tpm = rateLimit(options);
 * ```
 */
export interface RateLimitOptions<R = unknown> {
  /** Cost admitted per `per` ms: the refill rate of the bucket, or the cap of the window. */
  readonly limit: number;
  /** The period of `limit`, in ms. */
  readonly per: number;
  /**
   * Token bucket only: the bucket's size, the most cost admitted at once after a quiet spell. Any
   * window of `per` ms admits at most `limit + burst`; the sustained rate is `limit` per `per`.
   * @defaultValue limit
   */
  readonly burst?: number | undefined;
  /**
   * `'token-bucket'` (bursts up to `burst`, then `limit` per `per`) or `'sliding-window'` (no
   * window of `per` ms ever holds more than `limit`).
   * @defaultValue 'token-bucket'
   */
  readonly algorithm?: 'token-bucket' | 'sliding-window' | undefined;
  /** The weight of a call (e.g. estimated LLM tokens), a number ≥ 0 or `(ctx) => number`. @defaultValue 1 */
  readonly cost?: number | ((ctx: Context) => number) | undefined;
  /**
   * The real cost, read from the result once the call succeeded (e.g. `usage.total_tokens`): the
   * difference to `cost` is charged or refunded. Return `undefined` to keep the estimate. A failed
   * call keeps its estimated cost. @defaultValue none (the estimate stands)
   */
  readonly actualCost?: ((result: R, ctx: Context) => number | undefined) | undefined;
  /** The partition of a call (a user id, an API key): each key has its own bucket. @defaultValue one bucket */
  readonly key?: ((ctx: Context) => string) | undefined;
  /** In-memory store: most keys kept; the least recently used idle key is forgotten beyond. @defaultValue 10000 */
  readonly maxKeys?: number | undefined;
  /** `'reject'` a call that does not fit now, or let it `'wait'` in a FIFO queue. @defaultValue 'reject' */
  readonly mode?: 'reject' | 'wait' | undefined;
  /** `mode: 'wait'` only: the longest wait, in ms; a call that would wait longer is rejected at once. @defaultValue Infinity */
  readonly maxWait?: number | undefined;
  /** Count and emit `rate-limited` events, but admit every call (try a limit out in production). @defaultValue false */
  readonly shadow?: boolean | undefined;
  /** Where the state lives. @defaultValue an in-memory store (one per policy) */
  readonly store?: RateLimitStore | undefined;
  /**
   * What to do when a shared store fails: `'throw'` a `RateLimitStoreError`, `'fail-open'` (admit
   * the call, unlimited), or `'fail-closed'` (reject it with `RateLimitedError`, reason
   * `'store-unavailable'`). A `store-error` event is emitted either way.
   * @defaultValue 'throw'
   */
  readonly onStoreError?: 'throw' | 'fail-open' | 'fail-closed' | undefined;
  /**
   * Which server headers adjust the bucket: the `requests` or the `tokens` family
   * (`x-ratelimit-remaining-tokens`, …); `false` reads none (Retry-After included).
   * @defaultValue 'tokens' when `cost` is given, else 'requests'
   */
  readonly feedback?: 'requests' | 'tokens' | false | undefined;
  /** Source of time. @defaultValue systemClock */
  readonly clock?: Clock | undefined;
  /** A name carried by every event. */
  readonly name?: string | undefined;
}

type Base = PolicyEventBase & { readonly kind: 'rate-limit'; readonly key: string };
/**
 * Events of a rate limiter.
 *
 * @example
 * ```ts
 * import { rateLimit, type RateLimitEvent } from 'breakwater/rate-limit';
 *
 * rateLimit({ limit: 50, per: 1000, mode: 'wait' }).on('*', (e: RateLimitEvent) => {
 *   switch (e.type) {
 *     case 'rate-limited': log.info(`${e.key} turned away (${e.reason}), retry in ${e.retryAfter} ms`); break;
 *     case 'wait': log.debug(`${e.key} waits ~${e.delay} ms (${e.queued} queued)`); break;
 *     case 'store-error': log.warn(`rate limit store failed (${e.action})`, e.error); break;
 *   }
 * });
 * ```
 */
export type RateLimitEvent =
  | (Base & {
      /** A call was not admitted (or, in shadow mode, would not have been). */
      readonly type: 'rate-limited';
      readonly cost: number;
      readonly retryAfter: number;
      readonly reason: RateLimitReason;
      /** True in shadow mode: the call ran anyway. */
      readonly shadow: boolean;
    })
  | (Base & {
      /** A call joined the wait queue; `delay` is the expected wait (ms), `queued` the queue length. */
      readonly type: 'wait';
      readonly cost: number;
      readonly delay: number;
      readonly queued: number;
    })
  | (Base & {
      /** A server's headers adjusted the bucket. */
      readonly type: 'feedback';
      readonly hint: ServerHint;
    })
  | (Base & {
      /** The shared store failed; `action` is what the limiter did about it. */
      readonly type: 'store-error';
      readonly error: unknown;
      readonly action: 'throw' | 'fail-open' | 'fail-closed' | 'ignored';
    });

/**
 * Which key and cost a low-level call is about.
 *
 * @example
 * ```ts
 * import { rateLimit, type RateLimitRequest } from 'breakwater/rate-limit';
 *
 * const limiter = rateLimit({ limit: 100, per: 1000 });
 * const request: RateLimitRequest = { key: tenantId, cost: batch.length };
 * const lease = await limiter.tryAcquire(request); // undefined when it does not fit now
 * if (lease === undefined) console.log('over the limit; left now:', (await limiter.check(request)).remaining);
 * ```
 */
export interface RateLimitRequest {
  /** The partition. @defaultValue '' (the limiter's one bucket when it has no `key` option) */
  readonly key?: string | undefined;
  /** The cost. @defaultValue 1 */
  readonly cost?: number | undefined;
}

/**
 * Options of {@link RateLimit.acquire}.
 *
 * @example
 * ```ts
 * import { estimateTokens } from 'breakwater/gateway';
 * import { rateLimit, type RateLimitAcquireOptions } from 'breakwater/rate-limit';
 *
 * const tpm = rateLimit({ limit: 90_000, per: 60_000, mode: 'wait', maxWait: 20_000 });
 * const options: RateLimitAcquireOptions = { key: apiKey, cost: estimateTokens(request), signal: req.signal };
 * const lease = await tpm.acquire(options); // waits its turn, or rejects with RateLimitedError
 * const reply = await llm(request);
 * await lease.trueUp(reply.usage.total_tokens);
 * ```
 */
export interface RateLimitAcquireOptions extends RateLimitRequest {
  /** Aborting it makes a waiting acquire leave the queue and reject with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** Clock time by which the acquire must succeed; a wait that would end later is rejected at once. */
  readonly deadline?: number | undefined;
}

/**
 * What {@link RateLimit.check} answers.
 *
 * @example
 * ```ts
 * import { rateLimit, type RateLimitDecision } from 'breakwater/rate-limit';
 *
 * const limiter = rateLimit({ limit: 100, per: 60_000 });
 * const d: RateLimitDecision = await limiter.check({ cost: 5 }); // takes nothing
 * if (!d.allowed) console.log(`5 more fit in ${d.retryAfter} ms (${d.remaining} left now)`);
 * ```
 */
export interface RateLimitDecision {
  /** True when `cost` would be admitted now. */
  readonly allowed: boolean;
  /** Ms until it would be (0 when `allowed`; `Infinity` when `cost` exceeds the capacity). */
  readonly retryAfter: number;
  /** Cost available now (negative while a true-up charge is being paid off). */
  readonly remaining: number;
}

/**
 * One key's state, from {@link RateLimit.snapshot}.
 *
 * @example
 * ```ts
 * import { rateLimit, type RateLimitSnapshot } from 'breakwater/rate-limit';
 *
 * const perUser = rateLimit({ limit: 60, per: 60_000, key: (ctx) => ctx.key ?? '' });
 * const s: RateLimitSnapshot = await perUser.snapshot({ key: 'user-42' });
 * console.log(`${s.key}: ${s.remaining}/${s.capacity}, ${s.waiting} waiting, held off ${s.blockedFor} ms`);
 * ```
 */
export interface RateLimitSnapshot {
  readonly key: string;
  /** Cost available now (negative while a true-up charge is being paid off). */
  readonly remaining: number;
  /** Most cost admitted at once (`burst`, or `limit` for the window). */
  readonly capacity: number;
  /** Ms during which nothing is admitted because a server asked (Retry-After), 0 when none. */
  readonly blockedFor: number;
  /** Calls of this process waiting for this key. */
  readonly waiting: number;
}

/**
 * Cost taken by {@link RateLimit.acquire} or {@link RateLimit.tryAcquire}, to be trued up.
 *
 * @example
 * ```ts
 * import { rateLimit, type RateLimitLease } from 'breakwater/rate-limit';
 *
 * const tpm = rateLimit({ limit: 90_000, per: 60_000 });
 * const lease: RateLimitLease | undefined = await tpm.tryAcquire({ cost: 2000 }); // the estimate
 * if (lease !== undefined) {
 *   const reply = await llm(request);
 *   await lease.trueUp(reply.usage.total_tokens); // charges or refunds the difference
 * }
 * ```
 */
export interface RateLimitLease {
  readonly key: string;
  /** The cost taken. */
  readonly cost: number;
  /**
   * Charges or refunds the difference between `actualCost` and {@link RateLimitLease.cost}; a
   * refund never fills the bucket beyond its capacity. Only the first call counts.
   * @throws TypeError when `actualCost` is not a number ≥ 0.
   */
  trueUp(actualCost: number): Awaitable<void>;
  /** Gives the whole cost back (`trueUp(0)`). */
  refund(): Awaitable<void>;
}

/**
 * A rate limiter: a {@link Policy} whose calls take cost from a bucket, plus the low-level methods
 * a gateway builds on. With the in-memory store the low-level methods answer synchronously; with a
 * remote store they return promises (`await` works on both).
 *
 * @example
 * ```ts
 * import { type RateLimit, rateLimit } from 'breakwater/rate-limit';
 *
 * const perUser: RateLimit = rateLimit({ limit: 60, per: 60_000, key: (ctx) => ctx.key ?? '' });
 * const { allowed, retryAfter } = await perUser.check({ key: userId });
 * if (allowed) await perUser.execute(() => handle(req), { key: userId });
 * else res.status(429).set('Retry-After', String(Math.ceil(retryAfter / 1000))).end();
 * ```
 */
export interface RateLimit extends Policy<RateLimitEvent> {
  /** Says whether `cost` for `key` would be admitted now, and if not when, without taking anything. */
  check(request?: RateLimitRequest): Awaitable<RateLimitDecision>;
  /**
   * Takes `cost` for `key` as a call through the policy would: waits in `mode: 'wait'`, rejects
   * with {@link RateLimitedError} otherwise; in shadow mode always resolves. Rejects with a
   * `TypeError` / `RangeError` naming a bad `key`, `cost`, `signal` or `deadline`.
   */
  acquire(options?: RateLimitAcquireOptions): Promise<RateLimitLease>;
  /** Takes `cost` for `key` if it fits now (and nobody is waiting for it); `undefined` otherwise. */
  tryAcquire(request?: RateLimitRequest): Awaitable<RateLimitLease | undefined>;
  /** Admits nothing for `key` during the next `ms` (a server's Retry-After). */
  drain(ms: number, options?: { readonly key?: string | undefined }): Awaitable<void>;
  /** Lowers what `key` has left to `remaining` (a server's count); with `reset` ≤ 0 left, holds off `reset` ms. */
  setRemaining(
    remaining: number,
    options?: { readonly key?: string | undefined; readonly reset?: number },
  ): Awaitable<void>;
  /** Applies the rate limit headers of a result or error (as the policy does for its own calls). */
  observe(value: unknown, options?: { readonly key?: string | undefined }): Awaitable<void>;
  /** The state of `key`. */
  snapshot(options?: { readonly key?: string | undefined }): Awaitable<RateLimitSnapshot>;
}

// A waiter in a key's FIFO queue: a node of the list, its own abort listener, and its promise's
// resolvers (captured by a shared executor, so queueing makes no closure).
class Waiter {
  declare readonly q: Queue;
  declare readonly cost: number;
  declare readonly until: number;
  declare readonly reason: RateLimitReason;
  declare before: Waiter | undefined;
  declare after: Waiter | undefined;
  declare done: boolean;
  declare signal: AbortSignal | undefined;
  declare resolve: (token: unknown) => void;
  declare reject: (error: unknown) => void;
  declare readonly promise: Promise<unknown>;

  constructor(q: Queue, cost: number, until: number, reason: RateLimitReason) {
    this.q = q;
    this.cost = cost;
    this.until = until;
    this.reason = reason;
    this.before = this.after = this.signal = undefined;
    this.done = false;
    making = this;
    this.promise = new Promise(capture);
  }

  handleEvent(): void {
    this.q.layer.leave(this, (this.signal as AbortSignal).reason);
  }
}

let making: Waiter | undefined;
function capture(resolve: (token: unknown) => void, reject: (error: unknown) => void): void {
  const w = making as Waiter;
  w.resolve = resolve;
  w.reject = reject;
}

/** The waiters of one key, in arrival order; `cost` is their total, `timer` wakes the head. */
class Queue {
  declare readonly layer: RateLimitLayer;
  declare readonly key: string;
  declare readonly state: KeyState | undefined;
  declare head: Waiter | undefined;
  declare tail: Waiter | undefined;
  declare size: number;
  declare cost: number;
  declare timer: TimerHandle;
  declare busy: boolean;
  constructor(layer: RateLimitLayer, key: string, state: KeyState | undefined) {
    this.layer = layer;
    this.key = key;
    this.state = state;
    this.head = this.tail = this.timer = undefined;
    this.size = this.cost = 0;
    this.busy = false;
  }
}

/** A lease: cost taken for a key, with what a true-up needs (the local state, or the store's time). */
class Lease implements RateLimitLease {
  declare readonly layer: RateLimitLayer;
  declare readonly key: string;
  declare readonly cost: number;
  declare readonly at: number;
  declare readonly state: KeyState | undefined;
  declare done: boolean;
  constructor(layer: RateLimitLayer, key: string, state: KeyState | undefined, cost: number, at: number) {
    this.layer = layer;
    this.key = key;
    this.state = state;
    this.cost = cost;
    this.at = at;
    this.done = false;
  }
  trueUp(actualCost: number): Awaitable<void> {
    checkNumber('actualCost', actualCost, 0);
    if (this.done) return;
    this.done = true;
    return this.layer.adjust(this, actualCost - this.cost);
  }
  refund(): Awaitable<void> {
    return this.trueUp(0);
  }
}

const then = <T, U>(v: Awaitable<T>, f: (v: T) => U): Awaitable<U> => (v instanceof Promise ? v.then(f) : f(v));
const ceil = (ms: number): number => (ms > 0 ? Math.ceil(ms - 1e-6) : 0);

class RateLimitLayer extends BaseLayer<RateLimitEvent> {
  readonly #limits: RateLimitLimits;
  readonly #capacity: number;
  readonly #store: RateLimitStore;
  /** The in-memory store (and its algorithm), when the state is local: the synchronous fast path. */
  readonly #mem: MemoryStore | undefined;
  readonly #algo: Algorithm | undefined;
  readonly #cost: number | ((ctx: Context) => number);
  readonly #actual: ((result: unknown, ctx: Context) => number | undefined) | undefined;
  readonly #key: ((ctx: Context) => string) | undefined;
  readonly #wait: boolean;
  readonly #maxWait: number;
  readonly #shadow: boolean;
  readonly #onStoreError: 'throw' | 'fail-open' | 'fail-closed';
  readonly #feedback: 'requests' | 'tokens' | undefined;
  readonly #clock: Omit<Clock, 'sleep'>;
  readonly #flags: number;
  /** Waiting queues of a remote store, by key (a local state holds its own queue in `q`). */
  readonly #queues = new Map<string, Queue>();
  // `enter` declines a call it cannot decide synchronously and `run` is called right after it
  // (see `invoke`): the key and cost it computed are handed over here rather than computed twice.
  #handed = false;
  #handKey = '';
  #handCost = 0;
  #ok: ((value: unknown) => unknown) | undefined = undefined;
  #err: ((error: unknown) => never) | undefined = undefined;

  constructor(o: RateLimitOptions) {
    super('rate-limit', o.name);
    const limit = checkNumber('limit', o.limit, 0, { exclusiveMin: true });
    if (!Number.isFinite(limit)) fail('limit', 'a finite number', limit, RangeError);
    const per = checkNumber('per', o.per, 0, { exclusiveMin: true });
    if (!Number.isFinite(per)) fail('per', 'a finite number', per, RangeError);
    const alg = checkOneOf('algorithm', o.algorithm ?? 'token-bucket', ['token-bucket', 'sliding-window']);
    if (alg === 'sliding-window' && o.burst !== undefined) {
      fail('burst', "undefined with algorithm 'sliding-window' (the window admits at most `limit`)", o.burst);
    }
    const burst = checkNumber('burst', o.burst ?? limit, 0, { exclusiveMin: true });
    if (!Number.isFinite(burst)) fail('burst', 'a finite number', burst, RangeError);
    this.#capacity = alg === 'token-bucket' ? burst : limit;
    this.#limits = { algorithm: alg, limit, per, capacity: this.#capacity };
    const cost = o.cost ?? 1;
    if (typeof cost === 'number') checkNumber('cost', cost, 0);
    else checkFunction('cost', cost);
    this.#cost = cost;
    checkFunction('actualCost', o.actualCost);
    this.#actual = o.actualCost;
    checkFunction('key', o.key);
    this.#key = o.key;
    const maxKeys = checkNumber('maxKeys', o.maxKeys ?? 10_000, 1, { integer: true });
    this.#wait = checkOneOf('mode', o.mode ?? 'reject', ['reject', 'wait']) === 'wait';
    if (o.maxWait !== undefined && !this.#wait) fail('maxWait', "undefined unless mode is 'wait'", o.maxWait);
    this.#maxWait = checkNumber('maxWait', o.maxWait ?? Number.POSITIVE_INFINITY, 0);
    if (o.shadow !== undefined && typeof o.shadow !== 'boolean') fail('shadow', 'a boolean', o.shadow);
    this.#shadow = o.shadow === true;
    this.#onStoreError = checkOneOf('onStoreError', o.onStoreError ?? 'throw', ['throw', 'fail-open', 'fail-closed']);
    const fb = o.feedback ?? (o.cost === undefined ? 'requests' : 'tokens');
    this.#feedback =
      fb === false ? undefined : checkOneOf<'requests' | 'tokens'>('feedback', fb, ['requests', 'tokens']);
    checkObject('clock', o.clock);
    const clock = o.clock ?? systemTimers;
    this.#clock = clock;
    checkObject('store', o.store);
    const store = o.store as Partial<RateLimitStore> | undefined;
    if (store !== undefined && (typeof store.acquire !== 'function' || typeof store.adjust !== 'function')) {
      fail('store', 'a rate limit store', store);
    }
    if (o.store === undefined) {
      this.#algo = algorithm(this.#limits);
      this.#mem = new MemoryStore(this.#algo, maxKeys, () => clock.now());
      this.#store = this.#mem;
    } else {
      if (o.maxKeys !== undefined)
        fail('maxKeys', 'undefined with a `store` (it bounds the in-memory store)', o.maxKeys);
      this.#algo = this.#mem = undefined;
      this.#store = o.store;
    }
    // A call needs its token at exit only to true up or to read server feedback.
    this.#flags = FAST | (this.#actual !== undefined || this.#feedback !== undefined ? STATEFUL : 0);
    this.#prebuild();
  }

  get flags(): number {
    return this.#flags;
  }

  get capacity(): number {
    return this.#capacity;
  }

  #keyOf(ctx: Context): string {
    const k = (this.#key as (ctx: Context) => string)(ctx);
    if (typeof k !== 'string') fail('key', 'a function returning a string', k);
    return k;
  }

  #costOf(ctx: Context): number {
    const f = this.#cost;
    if (typeof f === 'number') return f;
    const c = f(ctx);
    if (!(c >= 0 && c < Number.POSITIVE_INFINITY)) fail('cost', 'a function returning a finite number ≥ 0', c);
    return c;
  }

  // --- the policy: fast path (in-memory store, a call that fits now) ---------------------------

  enter(ctx: CallContext): unknown {
    const mem = this.#mem;
    if (mem === undefined) return SKIP;
    const key = this.#key === undefined ? '' : this.#keyOf(ctx);
    const cost = this.#costOf(ctx);
    const now = this.#clock.now();
    const s = mem.get(key, now);
    let wait = 0;
    if (s.q === undefined || (s.q as Queue).head === undefined) {
      wait = (this.#algo as Algorithm).take(s, cost, now);
      if (wait === 0) {
        return this.#actual === undefined ? s : new Lease(this, key, s, cost, (this.#algo as Algorithm).stamp(s, now));
      }
    }
    if (this.#wait && !this.#shadow && cost <= this.#capacity) {
      this.#handed = true;
      this.#handKey = key;
      this.#handCost = cost;
      return SKIP;
    }
    const reason = cost > this.#capacity ? 'capacity' : 'limit';
    const error = this.#limited(reason, reason === 'capacity' ? Number.POSITIVE_INFINITY : ceil(wait), key, cost);
    if (error === undefined) return s; // shadow: admitted uncharged
    throw error;
  }

  exit(ctx: CallContext, token: unknown, ok: boolean, value: unknown): unknown {
    this.#settle(ctx, token, ok, value);
    if (ok) return value;
    throw value;
  }

  // A call that entered only this layer, on an unkeyed in-memory limiter without true-up: its token
  // is the one state, so handlers made once settle it without a per-call closure.
  get settleOk(): ((value: unknown) => unknown) | undefined {
    return this.#ok;
  }

  get settleError(): ((error: unknown) => never) | undefined {
    return this.#err;
  }

  #prebuild(): void {
    if (this.#mem === undefined || this.#key !== undefined || this.#actual !== undefined) return;
    const mem = this.#mem;
    this.#ok = (value) => {
      if (this.#feedback !== undefined && typeof value === 'object' && value !== null) {
        this.#observe(mem.get('', 0), '', value);
      }
      return value;
    };
    this.#err = (error) => {
      if (this.#feedback !== undefined && typeof error === 'object' && error !== null) {
        this.#observe(mem.get('', 0), '', error);
      }
      throw error;
    };
  }

  /** Trues up and reads server feedback once a call settled. */
  #settle(ctx: Context, token: unknown, ok: boolean, value: unknown): void {
    if (token instanceof Lease) {
      if (ok && this.#actual !== undefined && !token.done) {
        let actual: number | undefined;
        try {
          actual = this.#actual(value, ctx);
        } catch {
          actual = undefined; // a broken estimate reader must not fail a call that succeeded
        }
        if (actual !== undefined && actual >= 0 && actual < Number.POSITIVE_INFINITY) {
          token.done = true;
          const p = this.adjust(token, actual - token.cost);
          if (p instanceof Promise) p.catch(() => undefined);
        }
      }
      if (this.#feedback !== undefined && typeof value === 'object' && value !== null) {
        this.#observe(token.state, token.key, value);
      }
    } else if (this.#feedback !== undefined && typeof value === 'object' && value !== null) {
      if (typeof token === 'string') this.#observe(undefined, token, value);
      else this.#observe(token as KeyState, '', value, this.#key === undefined ? '' : this.#keyOf(ctx));
    }
  }

  // --- the policy: slow path (waiting, or a remote store) --------------------------------------

  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    let key: string;
    let cost: number;
    try {
      if (this.#handed) {
        this.#handed = false;
        key = this.#handKey;
        cost = this.#handCost;
      } else {
        key = this.#key === undefined ? '' : this.#keyOf(ctx);
        cost = this.#costOf(ctx);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#runAdmitted(ctx, inner, key, cost);
  }

  async #runAdmitted(ctx: CallContext, inner: Chain | undefined, key: string, cost: number): Promise<unknown> {
    const t = this.#admit(key, cost, abortSignal(ctx), ctx.deadline, this.#actual !== undefined);
    const token = t instanceof Promise ? await t : t;
    let value: unknown;
    try {
      value = await invoke(ctx, inner);
    } catch (error) {
      this.#settle(ctx, token, false, error);
      throw error;
    }
    this.#settle(ctx, token, true, value);
    return value;
  }

  /**
   * Admits `cost` for `key` (waiting in FIFO order in wait mode). Gives the call's token — a
   * {@link Lease} when `lease` is asked for or the store is remote, else the local state; for a call
   * admitted uncharged (shadow, fail-open) the state or the key — or a promise of it. Throws (or
   * rejects with) `RateLimitedError`, the store's error, or the abort reason. With the in-memory store
   * everything up to joining the queue is synchronous, so two calls in one tick see each other.
   */
  #admit(
    key: string,
    cost: number,
    signal: AbortSignal | undefined,
    deadline: number | undefined,
    lease: boolean,
  ): unknown {
    const local = this.#mem;
    const pass = local !== undefined ? local.get(key, this.#clock.now()) : key;
    if (cost > this.#capacity) {
      const error = this.#limited('capacity', Number.POSITIVE_INFINITY, key, cost);
      if (error === undefined) return pass;
      throw error;
    }
    if (signal?.aborted) throw signal.reason;
    const q = this.#queueOf(key, false);
    // Behind other waiters, only ask when it would fit (FIFO: nobody overtakes them).
    const ahead = q === undefined || q.head === undefined ? -1 : q.cost;
    let d: Awaitable<StoreDecision>;
    try {
      d = this.#store.acquire(key, ahead < 0 ? cost : ahead + cost, this.#limits, ahead < 0);
    } catch (error) {
      return this.#storeFailed(error, key, cost, pass);
    }
    if (d instanceof Promise) {
      return d.then(
        (d) => {
          // The caller left (or an enclosing timeout fired) during the round trip: give back what
          // the store took and do not run the call.
          if (signal?.aborted) {
            if (d.ok && ahead < 0) this.#quiet(this.#store.adjust(key, -cost, d.at, this.#limits), key);
            throw signal.reason;
          }
          return this.#admitted(d, ahead, key, cost, signal, deadline, lease, pass);
        },
        (error: unknown) => {
          if (signal?.aborted) throw signal.reason;
          return this.#storeFailed(error, key, cost, pass);
        },
      );
    }
    return this.#admitted(d, ahead, key, cost, signal, deadline, lease, pass);
  }

  #admitted(
    d: StoreDecision,
    ahead: number,
    key: string,
    cost: number,
    signal: AbortSignal | undefined,
    deadline: number | undefined,
    lease: boolean,
    pass: unknown,
  ): unknown {
    if (ahead < 0) {
      if (d.ok) return this.#token(key, cost, d.at, lease);
      if (!this.#wait || this.#shadow) {
        const error = this.#limited('limit', ceil(d.wait), key, cost);
        if (error === undefined) return pass;
        throw error;
      }
    }
    const wait = d.wait;
    const now = this.#clock.now();
    const maxAt = now + this.#maxWait;
    const until = deadline !== undefined && deadline < maxAt ? deadline : maxAt;
    const reason: RateLimitReason = until === maxAt ? 'max-wait' : 'deadline';
    if (now + wait > until) {
      // Waiting would end past the deadline or maxWait: fail now rather than sleep into it.
      throw this.#limited(reason, ceil(wait), key, cost) as RateLimitedError;
    }
    if (signal?.aborted) throw signal.reason; // a remote store's answer may have taken a while
    const queue = this.#queueOf(key, true) as Queue;
    const w = new Waiter(queue, cost, until, reason);
    if (queue.tail === undefined) queue.head = w;
    else {
      queue.tail.after = w;
      w.before = queue.tail;
    }
    queue.tail = w;
    queue.size++;
    queue.cost += cost;
    if (signal !== undefined) {
      w.signal = signal;
      signal.addEventListener('abort', w, { once: true });
    }
    if (this.listening('wait')) {
      this.emit({
        type: 'wait',
        kind: 'rate-limit',
        name: this.name,
        key,
        cost,
        delay: ceil(wait),
        queued: queue.size,
      });
    }
    if (queue.head === w) this.#arm(queue, wait);
    return w.promise.then((at) => (at === undefined ? pass : this.#token(key, cost, at as number, lease)));
  }

  #token(key: string, cost: number, at: number, lease: boolean): unknown {
    const local = this.#mem;
    if (local === undefined) return new Lease(this, key, undefined, cost, at);
    const s = local.get(key, this.#clock.now());
    return lease ? new Lease(this, key, s, cost, at) : s;
  }

  /** A `RateLimitedError` to throw, after the `rate-limited` event; `undefined` in shadow mode (admit). */
  #limited(reason: RateLimitReason, retryAfter: number, key: string, cost: number): RateLimitedError | undefined {
    if (this.listening('rate-limited')) {
      const shadow = this.#shadow;
      this.emit({ type: 'rate-limited', kind: 'rate-limit', name: this.name, key, cost, retryAfter, reason, shadow });
    }
    return this.#shadow ? undefined : new RateLimitedError(reason, retryAfter, { key, cost });
  }

  #storeFailed(error: unknown, key: string, cost: number, pass: unknown): unknown {
    const action = this.#onStoreError;
    if (this.listening('store-error')) {
      this.emit({ type: 'store-error', kind: 'rate-limit', name: this.name, key, error, action });
    }
    if (action === 'fail-open') return pass;
    if (action === 'fail-closed') throw new RateLimitedError('store-unavailable', 0, { key, cost, cause: error });
    throw error instanceof RateLimitStoreError
      ? error
      : new RateLimitStoreError('The rate limit store failed', { cause: error });
  }

  // --- the wait queue ----------------------------------------------------------------------------

  #queueOf(key: string, make: boolean): Queue | undefined {
    const local = this.#mem;
    if (local !== undefined) {
      const s = local.get(key, this.#clock.now());
      if (s.q === undefined && make) s.q = new Queue(this, key, s);
      return s.q as Queue | undefined;
    }
    let q = this.#queues.get(key);
    if (q === undefined && make) {
      q = new Queue(this, key, undefined);
      this.#queues.set(key, q);
    }
    return q;
  }

  #arm(q: Queue, wait: number): void {
    if (q.timer !== undefined) this.#clock.clearTimeout(q.timer);
    q.timer = this.#clock.setTimeout(
      () => {
        q.timer = undefined;
        this.#wake(q);
      },
      Math.max(1, ceil(wait)),
    );
  }

  /** Admits waiters from the head while their cost is there; arms the timer for the next. */
  #wake(q: Queue): void {
    while (!q.busy) {
      const w = q.head;
      if (w === undefined) {
        this.#drop(q);
        return;
      }
      const d = this.#store.acquire(q.key, w.cost, this.#limits, true);
      if (d instanceof Promise) {
        q.busy = true;
        d.then(
          (d) => {
            q.busy = false;
            if (this.#decide(q, w, d)) this.#wake(q);
          },
          (error: unknown) => {
            q.busy = false;
            if (!w.done) {
              this.#unlink(w);
              try {
                w.resolve(this.#storeFailed(error, q.key, w.cost, undefined));
              } catch (e) {
                w.reject(e);
              }
            }
            this.#wake(q);
          },
        );
        return;
      }
      if (!this.#decide(q, w, d)) return;
    }
  }

  /** Acts on the head's acquire; true to go on with the next head. */
  #decide(q: Queue, w: Waiter, d: StoreDecision): boolean {
    if (w.done) {
      // It left (aborted) while a remote acquire was in flight: give the cost back.
      if (d.ok) this.#quiet(this.#store.adjust(q.key, -w.cost, d.at, this.#limits));
      return true;
    }
    if (d.ok) {
      this.#unlink(w);
      w.resolve(d.at);
      return true;
    }
    if (this.#clock.now() + d.wait > w.until) {
      this.#unlink(w);
      w.reject(this.#limited(w.reason, ceil(d.wait), q.key, w.cost));
      return true;
    }
    this.#arm(q, d.wait);
    // The head was expected to fit by now and does not: the others' expectations are stale too.
    this.#revalidate(q);
    return false;
  }

  /**
   * After something made waits longer (a server's hold-off, a true-up charge, an expectation that
   * did not hold), rejects at once every waiter that can no longer be admitted in time. Local
   * state only: a remote store's waiters are checked as they reach the head.
   */
  #revalidate(q: Queue): void {
    const s = q.state;
    if (s === undefined) return;
    const algo = this.#algo as Algorithm;
    const now = this.#clock.now();
    let ahead = 0;
    for (let w = q.head; w !== undefined; ) {
      const next = w.after;
      const wait = algo.wait(s, ahead + w.cost, now);
      if (now + wait > w.until) {
        this.#unlink(w);
        w.reject(this.#limited(w.reason, ceil(wait), q.key, w.cost));
      } else ahead += w.cost;
      w = next;
    }
    if (q.head === undefined) this.#drop(q);
  }

  #unlink(w: Waiter): void {
    const q = w.q;
    w.done = true;
    const { before, after } = w;
    if (before === undefined) q.head = after;
    else before.after = after;
    if (after === undefined) q.tail = before;
    else after.before = before;
    w.before = w.after = undefined;
    q.size--;
    q.cost -= w.cost;
    if (q.size === 0) q.cost = 0;
    w.signal?.removeEventListener('abort', w);
  }

  /** Forgets an empty queue (its timer, its place in the map or on the state). */
  #drop(q: Queue): void {
    if (q.head !== undefined || q.busy) return;
    if (q.timer !== undefined) {
      this.#clock.clearTimeout(q.timer);
      q.timer = undefined;
    }
    if (q.state !== undefined) {
      if (q.state.q === q) q.state.q = undefined;
    } else if (this.#queues.get(q.key) === q) this.#queues.delete(q.key);
  }

  /** A waiter's signal aborted: it leaves at once, rejecting with the abort reason. @internal */
  leave(w: Waiter, reason: unknown): void {
    if (w.done) return;
    const q = w.q;
    const wasHead = q.head === w;
    this.#unlink(w);
    w.reject(reason);
    // The next waiter may fit sooner now that the head's cost is not needed.
    if (wasHead) this.#wake(q);
    else if (q.head === undefined) this.#drop(q);
  }

  // --- true-up and server feedback -------------------------------------------------------------

  /** Charges `delta` (or refunds `-delta`) for a lease; wakes or re-checks the key's waiters. @internal */
  adjust(lease: Lease, delta: number): Awaitable<void> {
    if (delta === 0) return;
    const s = lease.state;
    if (s === undefined) return this.#quiet(this.#store.adjust(lease.key, delta, lease.at, this.#limits), lease.key);
    (this.#algo as Algorithm).adjust(s, delta, lease.at, this.#clock.now());
    this.#changed(s, delta < 0);
  }

  /** A local state changed: a refund may admit the head now; a charge may make waits too long. */
  #changed(s: KeyState, better: boolean): void {
    const q = s.q as Queue | undefined;
    if (q === undefined || q.head === undefined) return;
    if (better) this.#wake(q);
    else {
      this.#revalidate(q);
      if (q.head !== undefined) this.#wake(q);
    }
  }

  /** Reads a result's or error's rate limit headers and applies them to the key. */
  #observe(state: KeyState | undefined, key: string, value: unknown, realKey = key): void {
    const hint = readHint(value, this.#feedback as 'requests' | 'tokens', this.#clock.now());
    if (hint !== undefined) this.#quiet(this.apply(realKey, hint, state), realKey);
  }

  /** Applies a server's hint to `key`'s state. @internal */
  apply(key: string, hint: ServerHint, state?: KeyState): Awaitable<void> {
    const { retryAfter, remaining, reset } = hint;
    const hold = retryAfter ?? (remaining !== undefined && remaining <= 0 ? reset : undefined);
    if (this.listening('feedback')) this.emit({ type: 'feedback', kind: 'rate-limit', name: this.name, key, hint });
    const algo = this.#algo;
    if (algo !== undefined) {
      const now = this.#clock.now();
      const s = state ?? (this.#mem as MemoryStore).get(key, now);
      if (remaining !== undefined) algo.cap(s, remaining, now);
      if (hold !== undefined && hold > 0) algo.block(s, hold, now);
      this.#changed(s, false);
      return;
    }
    const store = this.#store;
    const capped = remaining === undefined ? undefined : store.cap(key, remaining, this.#limits);
    return then(capped, () => (hold !== undefined && hold > 0 ? store.block(key, hold, this.#limits) : undefined)) as
      | Promise<void>
      | undefined;
  }

  /** Lets a background store write fail without an unhandled rejection (a `store-error` event says so). */
  #quiet(p: Awaitable<void>, key = ''): Awaitable<void> {
    if (!(p instanceof Promise)) return p;
    return p.catch((error: unknown) => {
      if (this.listening('store-error')) {
        this.emit({ type: 'store-error', kind: 'rate-limit', name: this.name, key, error, action: 'ignored' });
      }
    });
  }

  // --- the low-level API -----------------------------------------------------------------------

  check(key: string, cost: number): Awaitable<RateLimitDecision> {
    const q = this.#queueOf(key, false);
    const ahead = q === undefined || q.head === undefined ? 0 : q.cost;
    return then(this.#store.acquire(key, ahead + cost, this.#limits, false), (d) => ({
      allowed: d.ok && ahead === 0 && cost <= this.#capacity,
      retryAfter: cost > this.#capacity ? Number.POSITIVE_INFINITY : ceil(d.wait),
      remaining: d.remaining,
    }));
  }

  acquire(o: RateLimitAcquireOptions | undefined): Promise<RateLimitLease> {
    const key = o?.key ?? '';
    const cost = o?.cost ?? 1;
    return new Promise<unknown>((resolve) => resolve(this.#admit(key, cost, o?.signal, o?.deadline, true))).then(
      (t) => {
        if (t instanceof Lease) return t;
        const free = new Lease(this, key, undefined, cost, Number.NaN); // admitted uncharged (shadow, fail-open)
        free.done = true;
        return free;
      },
    );
  }

  tryAcquire(key: string, cost: number): Awaitable<RateLimitLease | undefined> {
    const q = this.#queueOf(key, false);
    if ((q !== undefined && q.head !== undefined) || cost > this.#capacity) return undefined;
    return then(this.#store.acquire(key, cost, this.#limits, true), (d) =>
      d.ok ? (this.#token(key, cost, d.at, true) as Lease) : undefined,
    );
  }

  snapshot(key: string): Awaitable<RateLimitSnapshot> {
    const q = this.#queueOf(key, false);
    return then(this.#store.acquire(key, 0, this.#limits, false), (d) => ({
      key,
      remaining: d.remaining,
      capacity: this.#capacity,
      blockedFor: d.blockedFor,
      waiting: q?.size ?? 0,
    }));
  }

  observeValue(value: unknown, key: string): Awaitable<void> {
    const hint = this.#feedback === undefined ? undefined : readHint(value, this.#feedback, this.#clock.now());
    return hint === undefined ? undefined : this.apply(key, hint);
  }
}

class RateLimitPolicy extends Pipeline<RateLimitEvent> implements RateLimit {
  readonly #l: RateLimitLayer;
  constructor(layer: RateLimitLayer) {
    super([layer]);
    this.#l = layer;
  }
  check(request?: RateLimitRequest): Awaitable<RateLimitDecision> {
    return this.#l.check(keyOf(request), costOf(request));
  }
  acquire(options?: RateLimitAcquireOptions): Promise<RateLimitLease> {
    try {
      keyOf(options);
      costOf(options);
      checkObject('options', options);
      const signal = options?.signal as Partial<AbortSignal> | null | undefined;
      if (signal !== undefined && typeof signal?.addEventListener !== 'function')
        fail('signal', 'an AbortSignal', signal);
      if (options?.deadline !== undefined) checkNumber('deadline', options.deadline, Number.NEGATIVE_INFINITY);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#l.acquire(options);
  }
  tryAcquire(request?: RateLimitRequest): Awaitable<RateLimitLease | undefined> {
    return this.#l.tryAcquire(keyOf(request), costOf(request));
  }
  drain(ms: number, options?: { readonly key?: string | undefined }): Awaitable<void> {
    return this.#l.apply(keyOf(options), { retryAfter: checkNumber('ms', ms, 0) });
  }
  setRemaining(
    remaining: number,
    options?: { readonly key?: string | undefined; readonly reset?: number },
  ): Awaitable<void> {
    checkNumber('remaining', remaining, 0);
    const reset = options?.reset === undefined ? undefined : checkNumber('reset', options.reset, 0);
    return this.#l.apply(keyOf(options), { remaining, reset });
  }
  observe(value: unknown, options?: { readonly key?: string | undefined }): Awaitable<void> {
    return this.#l.observeValue(value, keyOf(options));
  }
  snapshot(options?: { readonly key?: string | undefined }): Awaitable<RateLimitSnapshot> {
    return this.#l.snapshot(keyOf(options));
  }
}

function keyOf(o: { readonly key?: string | undefined } | undefined): string {
  const k = o?.key ?? '';
  if (typeof k !== 'string') fail('key', 'a string', k);
  return k;
}

function costOf(o: { readonly cost?: number | undefined } | undefined): number {
  return o?.cost === undefined ? 1 : checkNumber('cost', o.cost, 0);
}

/**
 * Creates a rate limiter: each call takes `cost` (default 1) from a token bucket that refills at
 * `limit` per `per` ms and holds `burst` (default `limit`), or from a sliding window that admits at
 * most `limit` per `per` ms. A call that does not fit is rejected with {@link RateLimitedError}
 * (whose `retryAfter` `retry` honours), or in `mode: 'wait'` waits in a FIFO queue — bounded by
 * `maxWait` and the call's deadline, rejected at once when the wait would end past either. Server
 * rate limit headers on results and errors (Retry-After, OpenAI's and Anthropic's remaining/reset)
 * adjust the bucket. The returned policy also has the low-level methods of {@link RateLimit}.
 *
 * @throws TypeError / RangeError naming the option when one is invalid (`limit`, `per` not finite
 * numbers > 0, `burst` with the sliding window, `maxWait` without `mode: 'wait'`, …).
 * @example
 * ```ts
 * const perUser = rateLimit({
 *   limit: 40_000, per: 60_000,                    // tokens per minute
 *   cost: (ctx) => estimateTokens(ctx.data.prompt),
 *   actualCost: (r: { usage: { total_tokens: number } }) => r.usage.total_tokens,
 *   key: (ctx) => String(ctx.data.userId),
 *   mode: 'wait', maxWait: 10_000,
 * });
 * await perUser.execute(({ signal }) => llm(prompt, { signal }), { data: { userId, prompt } });
 * ```
 */
export function rateLimit<R = unknown>(options: RateLimitOptions<R>): RateLimit {
  checkObject('options', options);
  if (options === undefined) throw new TypeError('Expected `options` to be an object, got undefined');
  return new RateLimitPolicy(new RateLimitLayer(options as RateLimitOptions));
}
