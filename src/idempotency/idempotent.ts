import type { Clock, TimerHandle } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { AbortScope, abortSignal, type CallContext, type Context, throwIfAborted } from '../core/context.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, invoke, Pipeline, type Policy } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject, checkOneOf } from '../core/validate.js';
import {
  IdempotencyInProgressError,
  IdempotencyKeyMissingError,
  IdempotencyKeyReusedError,
  IdempotencyLeaseLostError,
} from './errors.js';
import { memoryIdempotencyStore } from './memory-store.js';
import { decodeOutcome, encodeError, encodeValue, fingerprintOf } from './serialize.js';
import type { IdempotencyStore } from './store.js';

/**
 * Options for {@link idempotent}.
 *
 * @example
 * ```ts
 * import { idempotent, type IdempotentOptions } from 'breakwater/idempotency';
 *
 * const options: IdempotentOptions = {
 *   ttl: 3_600_000, // replay a result for an hour
 *   lease: 10_000,
 *   onDuplicate: 'reject', // IdempotencyInProgressError (with retryAfter) while the first call runs
 *   fingerprint: (ctx) => ctx.data.body,
 *   cacheErrors: (e) => e instanceof ValidationError, // replayed; other failures free the key
 * };
 * const once = idempotent(options);
 * ```
 */
export interface IdempotentOptions {
  /**
   * Where records live. Share one store between processes (SQLite, PostgreSQL, Redis) to dedupe
   * across them.
   * @defaultValue a new `memoryIdempotencyStore()`
   */
  readonly store?: IdempotencyStore | undefined;
  /**
   * How long a completed result is kept and replayed, in ms.
   * @defaultValue 86_400_000 (24 h)
   */
  readonly ttl?: number | undefined;
  /**
   * Lease of an in-progress claim, in ms; renewed every `lease / 3` while `fn` runs. A crashed
   * holder's key is taken over once its lease lapses; a holder whose renewal finds the claim gone
   * sees its signal abort with `IdempotencyLeaseLostError`.
   * @defaultValue 30_000
   */
  readonly lease?: number | undefined;
  /**
   * What identifies the request payload (hashed with SHA-256 over canonical JSON); the same key
   * with a different fingerprint is `IdempotencyKeyReusedError`. `false` turns the check off.
   * @defaultValue `(ctx) => ctx.data`
   */
  readonly fingerprint?: ((ctx: Context) => unknown) | false | undefined;
  /**
   * What a duplicate does while the first call still runs: `'wait'` for its result (up to
   * `maxWait`), or `'reject'` at once with `IdempotencyInProgressError`.
   * @defaultValue 'wait'
   */
  readonly onDuplicate?: 'wait' | 'reject' | undefined;
  /**
   * Longest a duplicate waits for the first call's result, in ms.
   * @defaultValue 30_000
   */
  readonly maxWait?: number | undefined;
  /**
   * Which failures are stored and replayed (terminal ones); the others release the key so a retry
   * runs again.
   * @defaultValue `() => false` (no failure is stored)
   */
  readonly cacheErrors?: ((error: unknown) => boolean) | undefined;
  /**
   * What a call without a key does: `'throw'` `IdempotencyKeyMissingError`, or `'pass-through'`
   * (run unprotected).
   * @defaultValue 'throw'
   */
  readonly onMissingKey?: 'throw' | 'pass-through' | undefined;
  /**
   * Time source for leases, retention and waits.
   * @defaultValue systemClock
   */
  readonly clock?: Clock | undefined;
  /** A name carried by every event of this policy. */
  readonly name?: string | undefined;
}

/**
 * Events of an `idempotent()` policy. `key` is the idempotency key.
 *
 * @example
 * ```ts
 * import { idempotent, type IdempotencyEvent } from 'breakwater/idempotency';
 *
 * const once = idempotent();
 * once.on('*', (e: IdempotencyEvent) => {
 *   if (e.type === 'duplicate') log.info(`${e.key}: duplicate (${e.inProcess ? 'this process' : 'another one'})`);
 *   else if (e.type === 'lease-lost') log.warn(`${e.key}: lease lost, another holder may run it`);
 *   else metrics.idempotency.inc({ type: e.type });
 * });
 * ```
 */
export type IdempotencyEvent =
  | (PolicyEventBase & { readonly type: 'claim'; readonly key: string })
  | (PolicyEventBase & { readonly type: 'complete'; readonly key: string })
  | (PolicyEventBase & { readonly type: 'release'; readonly key: string })
  | (PolicyEventBase & { readonly type: 'replay'; readonly key: string })
  | (PolicyEventBase & { readonly type: 'duplicate'; readonly key: string; readonly inProcess: boolean })
  | (PolicyEventBase & { readonly type: 'lease-lost'; readonly key: string });

interface Flight {
  readonly fingerprint: string | undefined;
  readonly promise: Promise<unknown>;
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

const FIRST_POLL = 25;
const MAX_POLL = 1000;
const defaultFingerprint = (ctx: Context): unknown => ctx.data;
const never = (): boolean => false;

class IdempotentLayer extends BaseLayer<IdempotencyEvent> {
  readonly #store: IdempotencyStore;
  readonly #ttl: number;
  readonly #lease: number;
  readonly #fingerprint: ((ctx: Context) => unknown) | false;
  readonly #reject: boolean;
  readonly #maxWait: number;
  readonly #cacheErrors: (error: unknown) => boolean;
  readonly #passThrough: boolean;
  readonly #clock: Clock;
  readonly #inflight = new Map<string, Flight>();

  constructor(o: IdempotentOptions) {
    super('idempotent', o.name);
    this.#store = o.store ?? memoryIdempotencyStore();
    this.#ttl = checkNumber('ttl', o.ttl ?? 86_400_000, 1);
    this.#lease = checkNumber('lease', o.lease ?? 30_000, 3);
    this.#fingerprint = o.fingerprint ?? defaultFingerprint;
    this.#reject = checkOneOf('onDuplicate', o.onDuplicate ?? 'wait', ['wait', 'reject']) === 'reject';
    this.#maxWait = checkNumber('maxWait', o.maxWait ?? 30_000, 0);
    this.#cacheErrors = o.cacheErrors ?? never;
    this.#passThrough = checkOneOf('onMissingKey', o.onMissingKey ?? 'throw', ['throw', 'pass-through']) !== 'throw';
    this.#clock = o.clock ?? systemClock;
  }

  async run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    const key = ctx.key;
    if (key === undefined) {
      if (this.#passThrough) return invoke(ctx, inner);
      throw new IdempotencyKeyMissingError();
    }
    const fp = this.#fingerprint === false ? undefined : await fingerprintOf(this.#fingerprint(ctx), key);
    const flight = this.#inflight.get(key);
    if (flight !== undefined) {
      if (flight.fingerprint !== fp) throw new IdempotencyKeyReusedError(key);
      this.#emit('duplicate', key, true);
      // A duplicate that can be aborted stops waiting on its own abort; the first call runs on.
      if (ctx.callerSignal === undefined && ctx.scope === undefined) return flight.promise;
      return untilAborted(flight.promise, abortSignal(ctx) as AbortSignal);
    }
    const promise = this.#lead(ctx, inner, key, fp);
    this.#inflight.set(key, { fingerprint: fp, promise });
    try {
      return await promise;
    } finally {
      this.#inflight.delete(key);
    }
  }

  #emit(type: IdempotencyEvent['type'], key: string, inProcess?: boolean): void {
    if (!this.listening(type)) return;
    const e = { type, kind: this.kind, name: this.name, key } as { inProcess?: boolean };
    if (type === 'duplicate') e.inProcess = inProcess === true;
    this.events.emit(e as IdempotencyEvent);
  }

  async #lead(ctx: CallContext, inner: Chain | undefined, key: string, fp: string | undefined): Promise<unknown> {
    const clock = this.#clock;
    const deadline = clock.now() + this.#maxWait;
    let poll = FIRST_POLL;
    let waited = false;
    for (;;) {
      const now = clock.now();
      const r = await this.#store.claim(key, { fingerprint: fp, lease: this.#lease, now });
      if (r.claimed) return this.#runClaimed(ctx, inner, key, r.token);
      const rec = r.record;
      if (fp !== undefined && rec.fingerprint !== undefined && rec.fingerprint !== fp) {
        throw new IdempotencyKeyReusedError(key);
      }
      if (rec.status === 'completed') {
        this.#emit('replay', key);
        return decodeOutcome(key, rec.result as string);
      }
      const retryAfter = Math.max(0, rec.leaseUntil - now);
      const left = deadline - clock.now();
      if (this.#reject || left <= 0) throw new IdempotencyInProgressError(key, retryAfter);
      if (!waited) {
        waited = true;
        this.#emit('duplicate', key, false);
      }
      throwIfAborted(ctx);
      // Wake no later than the holder's lease end, to take the key over if it crashed.
      await clock.sleep(Math.max(1, Math.min(poll, left, retryAfter)), abortSignal(ctx));
      poll = Math.min(poll * 2, MAX_POLL);
    }
  }

  async #runClaimed(ctx: CallContext, inner: Chain | undefined, key: string, token: string): Promise<unknown> {
    this.#emit('claim', key);
    const store = this.#store;
    const clock = this.#clock;
    const lease = this.#lease;
    let done = false;
    let lost = false;
    let timer: TimerHandle | undefined;
    // The signal `fn` sees aborts when the lease is lost: another holder may run the key now, so a
    // cooperative `fn` stops instead of doing its side effects a second time.
    const saved = ctx.scope;
    const scope = new AbortScope(saved, ctx.callerSignal, saved?.deadline);
    ctx.scope = scope;
    const schedule = (): void => {
      timer = clock.setTimeout(renew, lease / 3);
      clock.unref?.(timer);
    };
    const renew = (): void => {
      timer = undefined;
      store.renew(key, token, lease, clock.now()).then(
        (owned) => {
          if (done) return;
          if (owned) schedule();
          else {
            lost = true;
            this.#emit('lease-lost', key);
            // An earlier abort (the caller's, a timeout's) keeps its own reason.
            if (!scope.aborted) scope.abort(new IdempotencyLeaseLostError(key));
          }
        },
        // A store hiccup: keep trying while the lease may still be ours.
        () => {
          if (!done) schedule();
        },
      );
    };
    schedule();
    let value: unknown;
    try {
      value = await invoke(ctx, inner);
    } catch (error) {
      done = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      await this.#settleFailure(key, token, error, lost);
      // Stopped by the loss: the lease error, even if `fn` rejected with something else meanwhile.
      throw scope.abortedHere ? scope.reason : error;
    } finally {
      ctx.scope = saved;
      scope.dispose();
    }
    done = true;
    if (timer !== undefined) clock.clearTimeout(timer);
    if (lost) throw scope.abortedHere ? scope.reason : new IdempotencyLeaseLostError(key);
    let json: string;
    try {
      json = encodeValue(key, value);
    } catch (error) {
      await this.#settleFailure(key, token, error, false);
      throw error;
    }
    if (!(await store.complete(key, token, json, this.#ttl, clock.now()))) {
      this.#emit('lease-lost', key);
      throw new IdempotencyLeaseLostError(key);
    }
    this.#emit('complete', key);
    return value;
  }

  // The user's failure wins: a store problem while recording it must not hide it.
  async #settleFailure(key: string, token: string, error: unknown, lost: boolean): Promise<void> {
    if (lost) return;
    const now = this.#clock.now();
    try {
      if (this.#cacheErrors(error)) {
        if (await this.#store.complete(key, token, encodeError(error), this.#ttl, now)) this.#emit('complete', key);
      } else if (await this.#store.release(key, token, now)) this.#emit('release', key);
    } catch {
      // The lease lapses on its own; the next caller then runs again.
    }
  }
}

/**
 * Makes a call run once per idempotency key: the first call claims the key (atomically, with a lease
 * and a fencing token) and stores its result; duplicates get that result, wait for it while it is
 * being computed, or are told to retry later. The key comes from `execute(fn, { key })`.
 *
 * Results must be JSON-serialisable (replays get a JSON copy). A result stored by a holder that lost
 * its lease is refused (`IdempotencyLeaseLostError`), so a completed record is never overwritten.
 *
 * @throws TypeError / RangeError naming a bad option.
 * @example
 * ```ts
 * const once = idempotent({ store: memoryIdempotencyStore(), ttl: 3_600_000 });
 * const result = await once.execute(() => tools.run(call.name, call.args), {
 *   key: call.id,
 *   data: { name: call.name, args: call.args }, // fingerprinted: same id, other args → error
 * });
 * ```
 */
export function idempotent(options?: IdempotentOptions): Policy<IdempotencyEvent> {
  checkObject('options', options);
  const o = options ?? {};
  checkObject('clock', o.clock);
  checkFunction('cacheErrors', o.cacheErrors);
  if (o.fingerprint !== false) checkFunction('fingerprint', o.fingerprint);
  const store = o.store;
  if (store !== undefined && (typeof store !== 'object' || store === null || typeof store.claim !== 'function')) {
    throw new TypeError('Expected `store` to be an idempotency store (with `claim`, `complete`, …)');
  }
  return new Pipeline([new IdempotentLayer(o)]) as Policy as Policy<IdempotencyEvent>;
}
