import { type Clock, systemTimers, type TimerHandle } from '../core/clock.js';
import { abortSignal, type CallContext, throwIfAborted } from '../core/context.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, FAST, invoke, Pipeline, type Policy, SKIP } from '../core/policy.js';
import { checkNumber, checkObject } from '../core/validate.js';
import { BulkheadRejectedError } from './errors.js';

/**
 * Options for {@link bulkhead}.
 *
 * @example
 * ```ts
 * import { type BulkheadOptions, bulkhead } from 'breakwater/bulkhead';
 *
 * // 8 calls at once, 16 more waiting at most 2 s each; anything beyond is rejected at once.
 * const options: BulkheadOptions = { limit: 8, queue: 16, queueTimeout: 2_000, name: 'model-api' };
 * const pool = bulkhead(options);
 * ```
 */
export interface BulkheadOptions {
  /** Most calls running at once (an integer ≥ 1). */
  readonly limit: number;
  /**
   * Most calls waiting for a slot, in FIFO order; beyond that calls are rejected (`'full'`).
   * @defaultValue 0
   */
  readonly queue?: number | undefined;
  /** Longest wait in the queue in ms before rejecting (`'queue-timeout'`). @defaultValue no limit */
  readonly queueTimeout?: number | undefined;
  /** Source of time (for `queueTimeout`). @defaultValue systemClock */
  readonly clock?: Clock | undefined;
  /** Name carried by every event. @defaultValue undefined */
  readonly name?: string | undefined;
}

type Base = PolicyEventBase & { readonly kind: 'bulkhead' };
/**
 * Events of a bulkhead.
 *
 * @example
 * ```ts
 * import { type BulkheadEvent, bulkhead } from 'breakwater/bulkhead';
 *
 * const pool = bulkhead({ limit: 4, queue: 10, name: 'renderer' });
 * pool.on('*', (e: BulkheadEvent) => {
 *   if (e.type === 'reject') metrics.increment('bulkhead.rejected', { reason: e.error.reason });
 *   else if (e.type === 'enqueue') metrics.gauge('bulkhead.queued', e.queued);
 *   else metrics.histogram('bulkhead.wait_ms', e.waited); // 'dequeue'
 * });
 * ```
 */
export type BulkheadEvent =
  | (Base & { readonly type: 'reject'; readonly error: BulkheadRejectedError })
  | (Base & { readonly type: 'enqueue'; readonly queued: number })
  | (Base & { readonly type: 'dequeue'; readonly waited: number });

/**
 * A bulkhead: a {@link Policy} that bounds concurrency, with a bounded FIFO queue.
 *
 * @example
 * ```ts
 * import { type Bulkhead, bulkhead } from 'breakwater/bulkhead';
 *
 * const pool: Bulkhead = bulkhead({ limit: 8, queue: 16 });
 * const html = await pool.execute(({ signal }) => render(page, { signal }));
 * setInterval(() => metrics.gauge('render.saturation', (pool.active + pool.queued) / 24), 5_000);
 * ```
 */
export interface Bulkhead extends Policy<BulkheadEvent> {
  /** Calls running now. */
  readonly active: number;
  /** Calls waiting for a slot now. */
  readonly queued: number;
}

// One queued call: a node of the FIFO list, the abort listener itself, and the call to start when
// a finishing call hands over its slot. Fields are assigned in the constructor (no initialisers)
// and the outcome promise takes a shared executor, so queueing a call makes no closure.
class Waiter {
  declare readonly layer: BulkheadLayer;
  declare readonly enqueuedAt: number;
  declare readonly ctx: CallContext;
  declare readonly inner: Chain | undefined;
  declare before: Waiter | undefined;
  declare after: Waiter | undefined;
  declare done: boolean;
  declare resolve: (value: unknown) => void;
  declare reject: (error: unknown) => void;
  declare signal: AbortSignal | undefined;
  declare readonly outcome: Promise<unknown>;

  constructor(layer: BulkheadLayer, now: number, ctx: CallContext, inner: Chain | undefined) {
    this.layer = layer;
    this.enqueuedAt = now;
    this.ctx = ctx;
    this.inner = inner;
    this.before = this.after = this.signal = undefined;
    this.done = false;
    making = this;
    this.outcome = new Promise(capture);
  }

  handleEvent(): void {
    this.layer.drop(this, (this.signal as AbortSignal).reason, false);
  }
}

/** The waiter whose outcome promise is being made: {@link capture} stores its resolvers. */
let making: Waiter | undefined;
function capture(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
  const w = making as Waiter;
  w.resolve = resolve;
  w.reject = reject;
}

class BulkheadLayer extends BaseLayer<BulkheadEvent> {
  readonly #limit: number;
  readonly #max: number;
  readonly #timeout: number;
  readonly #clock: Omit<Clock, 'sleep'>;
  /**
   * The queue-timeout timer, armed for the head waiter while anyone waits. Waiters join at the tail
   * and share one timeout, so the queue is also in deadline order: one timer serves all of them.
   */
  #timer: TimerHandle = undefined;
  #head: Waiter | undefined = undefined;
  #tail: Waiter | undefined = undefined;
  active = 0;
  queued = 0;
  #ok: ((value: unknown) => unknown) | undefined = undefined;
  #err: ((error: unknown) => never) | undefined = undefined;

  constructor(o: BulkheadOptions) {
    super('bulkhead', o.name);
    this.#limit = checkNumber('limit', o.limit, 1, { integer: true });
    this.#max = checkNumber('queue', o.queue ?? 0, 0, { integer: true });
    const t = o.queueTimeout;
    this.#timeout = t === undefined ? 0 : checkNumber('queueTimeout', t, 0, { exclusiveMin: true });
    if (!Number.isFinite(this.#timeout)) this.#timeout = 0;
    checkObject('clock', o.clock);
    this.#clock = o.clock ?? systemTimers;
  }

  get flags(): number {
    return FAST;
  }

  // Fast path (see `Layer.enter`): a free slot implies an empty queue, since a finishing call
  // hands its slot straight to the head waiter; a full bulkhead queues in `run`.
  enter(): unknown {
    if (this.active >= this.#limit) return SKIP;
    this.active++;
    return undefined;
  }

  exit(_ctx: CallContext, _token: unknown, ok: boolean, value: unknown): unknown {
    this.#release();
    if (ok) return value;
    throw value;
  }

  // The exit of a call that entered nothing else, as handlers made once per bulkhead.
  get settleOk(): (value: unknown) => unknown {
    this.#ok ??= (value) => {
      this.#release();
      return value;
    };
    return this.#ok;
  }

  get settleError(): (error: unknown) => never {
    this.#err ??= (error) => {
      this.#release();
      throw error;
    };
    return this.#err;
  }

  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    return this.#runQueued(ctx, inner);
  }

  #reject(reason: 'full' | 'queue-timeout'): BulkheadRejectedError {
    const error = new BulkheadRejectedError(reason);
    if (this.listening('reject'))
      this.events.emit({ type: 'reject', kind: 'bulkhead', name: this.name, error } as Base);
    return error;
  }

  #runQueued(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    if (this.queued >= this.#max) return Promise.reject(this.#reject('full'));
    try {
      throwIfAborted(ctx);
    } catch (error) {
      return Promise.reject(error);
    }
    const w = new Waiter(this, this.#clock.now(), ctx, inner);
    if (this.#tail === undefined) this.#head = w;
    else {
      this.#tail.after = w;
      w.before = this.#tail;
    }
    this.#tail = w;
    this.queued++;
    if (this.listening('enqueue')) {
      this.events.emit({ type: 'enqueue', kind: 'bulkhead', name: this.name, queued: this.queued } as Base);
    }
    if (this.#timeout > 0 && this.#timer === undefined) this.#arm(this.#timeout);
    // Listen for an abort only while queued, and only when something can abort the call.
    const signal = abortSignal(ctx);
    if (signal !== undefined) {
      w.signal = signal;
      signal.addEventListener('abort', w, { once: true });
    }
    return w.outcome;
  }

  /** Starts a waiter's call in the slot a finishing call handed over; the slot is freed when it settles. */
  #start(w: Waiter): void {
    if (this.listening('dequeue')) {
      const waited = this.#clock.now() - w.enqueuedAt;
      this.events.emit({ type: 'dequeue', kind: 'bulkhead', name: this.name, waited } as Base);
    }
    let p: unknown;
    try {
      throwIfAborted(w.ctx);
      p = invoke(w.ctx, w.inner);
    } catch (error) {
      // Settled through the promise, not here: a queue of functions that throw at once must not
      // start each other recursively.
      p = Promise.reject(error);
    }
    Promise.resolve(p).then(this.settleOk, this.settleError).then(w.resolve, w.reject);
  }

  #unlink(w: Waiter): void {
    w.done = true;
    const { before, after } = w;
    if (before === undefined) this.#head = after;
    else before.after = after;
    if (after === undefined) this.#tail = before;
    else after.before = before;
    w.before = w.after = undefined;
    w.signal?.removeEventListener('abort', w);
    if (--this.queued === 0 && this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(ms: number): void {
    this.#timer = this.#clock.setTimeout(() => this.#expire(), ms);
  }

  /** Rejects every waiter whose queue timeout passed (they are at the head), then re-arms. */
  #expire(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    let w = this.#head;
    while (w !== undefined && w.enqueuedAt + this.#timeout <= now) {
      this.drop(w, undefined, true);
      w = this.#head;
    }
    if (w !== undefined && this.#timer === undefined) this.#arm(Math.max(1, w.enqueuedAt + this.#timeout - now));
  }

  /** Takes a waiter out of the queue and rejects it (queue timeout or abort). */
  drop(w: Waiter, error: unknown, timedOut: boolean): void {
    if (w.done) return;
    this.#unlink(w);
    w.reject(timedOut ? this.#reject('queue-timeout') : error);
  }

  #release(): void {
    const w = this.#head;
    if (w === undefined) {
      this.active--;
      return;
    }
    this.#unlink(w); // the slot passes to the head waiter: `active` is unchanged
    this.#start(w);
  }
}

class BulkheadPolicy extends Pipeline<BulkheadEvent> implements Bulkhead {
  readonly #layer: BulkheadLayer;
  constructor(layer: BulkheadLayer) {
    super([layer]);
    this.#layer = layer;
  }
  get active(): number {
    return this.#layer.active;
  }
  get queued(): number {
    return this.#layer.queued;
  }
}

/**
 * Creates a bulkhead: at most `limit` calls run at once; up to `queue` more wait in FIFO order (each
 * at most `queueTimeout` ms); beyond that calls fail at once with {@link BulkheadRejectedError}. A
 * queued call whose signal aborts leaves the queue at once and rejects with the abort reason. A
 * slot is released when the function settles — even if an outer aggressive timeout already walked
 * away from it, so the bulkhead bounds real work, not waiting callers.
 *
 * @throws TypeError / RangeError naming the option when `limit` is not an integer ≥ 1, `queue` is
 * not an integer ≥ 0, or `queueTimeout` is not > 0.
 * @example
 * ```ts
 * const realtime = bulkhead({ limit: 8, queue: 16, queueTimeout: 2_000 });
 * const reply = await realtime.execute(({ signal }) => callModel(prompt, { signal }));
 * ```
 */
export function bulkhead(options: BulkheadOptions): Bulkhead {
  checkObject('options', options);
  if (options === undefined) throw new TypeError('Expected `options` to be an object, got undefined');
  return new BulkheadPolicy(new BulkheadLayer(options));
}
