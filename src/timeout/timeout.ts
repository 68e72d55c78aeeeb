import { type Clock, systemTimers, turnEnd } from '../core/clock.js';
import { AbortScope, type CallContext, type Context, fork } from '../core/context.js';
import { DeadlineQueue, type Defer } from '../core/deadline-queue.js';
import { TimeoutError } from '../core/errors.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, FAST, invoke, Pipeline, type Policy, SKIP } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject, checkOneOf } from '../core/validate.js';

/**
 * `cooperative` waits for `fn` to settle after aborting its signal; `aggressive` walks away at once.
 *
 * @example
 * ```ts
 * import { timeout, type TimeoutStrategy } from 'breakwater/timeout';
 *
 * // Walk away at once from a client that ignores its signal; otherwise wait for it to stop.
 * const strategy: TimeoutStrategy = client.honoursAbort ? 'cooperative' : 'aggressive';
 * const policy = timeout({ after: 5_000, strategy });
 * ```
 */
export type TimeoutStrategy = 'cooperative' | 'aggressive';

/**
 * Events a timeout policy emits.
 *
 * @example
 * ```ts
 * import { type TimeoutEvent, timeout } from 'breakwater/timeout';
 *
 * const perAttempt = timeout({ after: 10_000, name: 'llm-attempt' });
 * perAttempt.on('timeout', (e: TimeoutEvent) => log.warn(`${e.name} timed out after ${e.ms} ms`));
 * ```
 */
export type TimeoutEvent = PolicyEventBase & {
  readonly type: 'timeout';
  /** The limit that passed, in ms. */
  readonly ms: number;
};

/**
 * Options for {@link timeout}.
 *
 * @example
 * ```ts
 * import { timeout, type TimeoutOptions } from 'breakwater/timeout';
 *
 * const options: TimeoutOptions = {
 *   after: (ctx) => (ctx.data.batch ? 120_000 : 10_000),
 *   strategy: 'cooperative',
 *   name: 'render',
 * };
 * const policy = timeout(options);
 * ```
 */
export interface TimeoutOptions {
  /** The limit in ms, or a function of the call's context. `Infinity` disables the limit. */
  readonly after: number | ((ctx: Context) => number);
  /** @defaultValue 'cooperative' */
  readonly strategy?: TimeoutStrategy | undefined;
  /** @defaultValue systemClock */
  readonly clock?: Clock | undefined;
  /** A name carried by this policy's events. */
  readonly name?: string | undefined;
}

/**
 * A call's timeout: its abort scope and its entry on the policy's deadline queue. One class for both
 * strategies (a subclass per strategy made the shared paths polymorphic).
 */
class TimeoutScope extends AbortScope {
  declare readonly layer: TimeoutLayer;
  /** The queue this scope waits on. */
  declare readonly queue: DeadlineQueue;
  /** Aggressive: the race's own `reject`, until the race ends. */
  declare reject: ((reason: unknown) => void) | undefined;
  /** Aggressive: the listener on the enclosing signal, if there is one. */
  declare onAbort: (() => void) | undefined;

  constructor(ctx: CallContext, layer: TimeoutLayer, queue: DeadlineQueue) {
    super(ctx.scope, ctx.callerSignal);
    this.layer = layer;
    this.queue = queue;
    this.reject = this.onAbort = undefined;
  }

  /** The nearer of the enclosing deadline and this scope's own (read lazily: see `DeadlineQueue`). */
  override get deadline(): number {
    const own = this.queue.due(this);
    const pd = this.parent?.deadline;
    return pd !== undefined && pd < own ? pd : own;
  }

  override expire(): void {
    // An enclosing abort that came first keeps its own reason.
    if (this.aborted) return;
    const ms = this.queue.ms;
    this.abort(new TimeoutError(ms));
    this.layer.timedOut(ms);
    const reject = this.reject;
    if (reject !== undefined) {
      this.settle();
      reject(this.reason);
    }
  }

  /** Ends an aggressive race: detaches from the enclosing signal; nothing rejects it any more. */
  settle(): void {
    this.queue.remove(this);
    this.reject = undefined;
    const onAbort = this.onAbort;
    if (onAbort !== undefined) {
      this.onAbort = undefined;
      // The enclosing signal was materialised when the listener was added: this is the same one.
      const parentSignal = this.parent !== undefined ? this.parent.signal : this.callerSignal;
      parentSignal?.removeEventListener('abort', onAbort);
    }
    this.dispose();
  }
}

class TimeoutLayer extends BaseLayer<TimeoutEvent> {
  readonly #after: number | ((ctx: Context) => number);
  readonly #aggressive: boolean;
  readonly #clock: Omit<Clock, 'sleep'>;
  readonly #defer: Defer | undefined;
  readonly #queue: DeadlineQueue | undefined;
  #queues: Map<number, DeadlineQueue> | undefined = undefined;
  /** The limit `enter` computed for the `run` that follows it. */
  #next = Number.NaN;

  constructor(o: TimeoutOptions) {
    super('timeout', o.name);
    if (typeof o.after === 'function') checkFunction('after', o.after);
    else checkNumber('after', o.after, 0);
    this.#after = o.after;
    this.#aggressive =
      checkOneOf('strategy', o.strategy ?? 'cooperative', ['cooperative', 'aggressive']) === 'aggressive';
    this.#clock = o.clock ?? systemTimers;
    // The platform timers set due times once per turn (see `DeadlineQueue`); a given clock, per call.
    this.#defer = o.clock === undefined ? turnEnd() : undefined;
    this.#queue = typeof o.after === 'number' ? new DeadlineQueue(this.#clock, this.#defer) : undefined;
  }

  timedOut(ms: number): void {
    if (this.listening('timeout'))
      this.events.emit({ type: 'timeout', kind: this.kind, name: this.name, ms } as TimeoutEvent);
  }

  #queueFor(ms: number): DeadlineQueue {
    if (this.#queue !== undefined) return this.#queue;
    this.#queues ??= new Map();
    let q = this.#queues.get(ms);
    if (q === undefined) {
      // Bound the map for functions that return many distinct limits: drop idle queues.
      if (this.#queues.size >= 64) for (const [k, v] of this.#queues) if (v.size === 0) this.#queues.delete(k);
      q = new DeadlineQueue(this.#clock, this.#defer);
      this.#queues.set(ms, q);
    }
    return q;
  }

  /** A function `after`'s limit for this call; throws when it throws or returns a bad value. */
  #limit(ctx: CallContext): number {
    const ms = (this.#after as (ctx: Context) => number)(ctx);
    if (typeof ms !== 'number' || !(ms >= 0)) {
      throw new RangeError(`Expected \`after\` to return a number ≥ 0, got ${String(ms)}`);
    }
    return ms;
  }

  /** Starts this call's deadline on the shared queue. */
  #scope(ctx: CallContext, ms: number): TimeoutScope {
    const queue = this.#queue ?? this.#queueFor(ms);
    const scope = new TimeoutScope(ctx, this, queue);
    queue.add(scope, ms, this.#defer === undefined ? this.#clock.now() : undefined);
    return scope;
  }

  get flags(): number {
    return FAST;
  }

  // Fast path (see `Layer.enter`) for a cooperative limit: the scope becomes `ctx.scope` until
  // `exit`, which finds it there (inner layers restore what they change). An aggressive or
  // infinite limit runs in `run`, with the limit computed here (`run` follows synchronously).
  enter(ctx: CallContext): unknown {
    const after = this.#after;
    const ms = typeof after === 'number' ? after : this.#limit(ctx);
    if (this.#aggressive || ms === Number.POSITIVE_INFINITY) {
      this.#next = ms;
      return SKIP;
    }
    ctx.scope = this.#scope(ctx, ms);
    return undefined;
  }

  exit(ctx: CallContext, _token: unknown, ok: boolean, value: unknown): unknown {
    const scope = ctx.scope as TimeoutScope;
    ctx.scope = scope.parent;
    scope.queue.remove(scope);
    scope.dispose();
    // A late result after an abort (own expiry, the caller's or an enclosing one) is not returned.
    if (ok && !scope.aborted) return value;
    if (ok) throw scope.reason;
    if (scope.abortedHere) throw scope.reason === value ? value : withCause(scope.reason, value);
    throw scope.aborted ? scope.reason : value; // the caller's (or an enclosing) abort, never relabelled
  }

  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    const ms = this.#next;
    this.#next = Number.NaN;
    if (ms === Number.POSITIVE_INFINITY) return start(ctx, inner);
    return this.#race(ctx, inner, this.#scope(ctx, ms));
  }

  #race(ctx: CallContext, inner: Chain | undefined, scope: TimeoutScope): Promise<unknown> {
    // Listen to the enclosing abort (caller or outer timeout) only if there is one; our own
    // expiry rejects through `scope.reject`, so no signal is created unless `fn` reads it.
    const parentSignal = scope.parent !== undefined ? scope.parent.signal : ctx.callerSignal;
    if (parentSignal?.aborted) {
      scope.settle();
      return Promise.reject(parentSignal.reason);
    }
    // The abandoned work keeps running on its own context, so outer layers can move on safely.
    const forked = fork(ctx);
    forked.scope = scope;
    return new Promise((resolve, reject) => {
      scope.reject = reject;
      if (parentSignal !== undefined) {
        scope.onAbort = () => {
          scope.settle();
          reject(parentSignal.reason);
        };
        parentSignal.addEventListener('abort', scope.onAbort, { once: true });
      }
      start(forked, inner).then(
        (value) => {
          scope.settle();
          resolve(value);
        },
        (error: unknown) => {
          scope.settle();
          reject(error);
        },
      );
    });
  }
}

/** Runs the rest of the chain as a promise (a synchronous throw of `fn` becomes a rejection). */
function start(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
  try {
    return Promise.resolve(invoke(ctx, inner));
  } catch (error) {
    return Promise.reject(error);
  }
}

function withCause(reason: unknown, cause: unknown): unknown {
  if (reason instanceof TimeoutError && reason.cause === undefined)
    return new TimeoutError(reason.timeoutMs, { cause });
  return reason;
}

/**
 * Limits how long a call may take. When the limit passes, the signal `fn` sees aborts with a
 * `TimeoutError`; `cooperative` (default) then waits for `fn` to settle and rejects with the
 * `TimeoutError`, `aggressive` rejects at once and lets `fn` run on in the background. Sets
 * `ctx.deadline` (the nearer of the enclosing deadline and its own). A caller's abort rejects with
 * the caller's reason, never a `TimeoutError`. All pending timeouts of one policy share one timer.
 *
 * @throws TypeError / RangeError when `after` or `strategy` is invalid.
 * @example
 * ```ts
 * const perAttempt = timeout(20_000);
 * const total = timeout({ after: 60_000, strategy: 'aggressive' });
 * await Policy.wrap(total, retry(), perAttempt).execute(({ signal }) => llm.chat(req, { signal }));
 * ```
 */
export function timeout(options: number | TimeoutOptions): Policy<TimeoutEvent> {
  if (typeof options !== 'number') {
    checkObject('options', options);
    if (options === undefined || options === null) throw new TypeError('Expected `timeout` options or a number of ms');
  }
  const o: TimeoutOptions = typeof options === 'number' ? { after: options } : options;
  return new Pipeline<TimeoutEvent>([new TimeoutLayer(o)]);
}
