import { type Clock, systemTimers } from '../core/clock.js';
import { AbortScope, type CallContext, type Context } from '../core/context.js';
import { DeadlineQueue } from '../core/deadline-queue.js';
import { TimeoutError } from '../core/errors.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, invoke, Pipeline, type Policy } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject, checkOneOf } from '../core/validate.js';

/** `cooperative` waits for `fn` to settle after aborting its signal; `aggressive` walks away at once. */
export type TimeoutStrategy = 'cooperative' | 'aggressive';

/** Events a timeout policy emits. */
export type TimeoutEvent = PolicyEventBase & {
  readonly type: 'timeout';
  /** The limit that passed, in ms. */
  readonly ms: number;
};

/** Options for {@link timeout}. */
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

class TimeoutScope extends AbortScope {
  readonly #layer: TimeoutLayer;
  readonly #ms: number;
  /** Set by an aggressive call: the race's own `reject`, called at once on expiry. */
  reject: ((reason: unknown) => void) | undefined = undefined;
  /** An aggressive call's listener on the enclosing signal, if there is one. */
  onAbort: (() => void) | undefined = undefined;

  constructor(ctx: CallContext, layer: TimeoutLayer, ms: number, deadline: number) {
    const parent = ctx.scope;
    const pd = parent?.deadline;
    super(parent, ctx.callerSignal, pd !== undefined && pd < deadline ? pd : deadline);
    this.#layer = layer;
    this.#ms = ms;
  }

  override expire(): void {
    // An enclosing abort that came first keeps its own reason.
    if (this.aborted) return;
    this.abort(new TimeoutError(this.#ms));
    this.#layer.timedOut(this.#ms);
    const reject = this.reject;
    if (reject !== undefined) {
      this.settle();
      reject(this.reason);
    }
  }

  /** Ends an aggressive race: detaches from the enclosing signal; nothing rejects it any more. */
  settle(): void {
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
  readonly #queue: DeadlineQueue | undefined;
  #queues: Map<number, DeadlineQueue> | undefined = undefined;

  constructor(o: TimeoutOptions) {
    super('timeout', o.name);
    if (typeof o.after === 'function') checkFunction('after', o.after);
    else checkNumber('after', o.after, 0);
    this.#after = o.after;
    this.#aggressive =
      checkOneOf('strategy', o.strategy ?? 'cooperative', ['cooperative', 'aggressive']) === 'aggressive';
    this.#clock = o.clock ?? systemTimers;
    this.#queue = typeof o.after === 'number' ? new DeadlineQueue(this.#clock) : undefined;
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
      q = new DeadlineQueue(this.#clock);
      this.#queues.set(ms, q);
    }
    return q;
  }

  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    const after = this.#after;
    let ms: number;
    if (typeof after === 'number') ms = after;
    else {
      try {
        ms = after(ctx);
      } catch (error) {
        return Promise.reject(error);
      }
      if (typeof ms !== 'number' || !(ms >= 0)) {
        return Promise.reject(new RangeError(`Expected \`after\` to return a number ≥ 0, got ${String(ms)}`));
      }
    }
    if (ms === Number.POSITIVE_INFINITY) return start(ctx, inner);
    const now = this.#clock.now();
    const scope = new TimeoutScope(ctx, this, ms, now + ms);
    const queue = this.#queueFor(ms);
    queue.add(scope, now, ms);
    if (this.#aggressive) return this.#race(ctx, inner, scope, queue);
    const parent = ctx.scope;
    ctx.scope = scope;
    // `.then` rather than an async frame: the two handlers share one closure context.
    return start(ctx, inner).then(
      (result) => {
        ctx.scope = parent;
        queue.remove(scope);
        scope.dispose();
        // A late result after an abort (own expiry, the caller's or an enclosing one) is not returned.
        if (scope.aborted) throw scope.reason;
        return result;
      },
      (error: unknown) => {
        ctx.scope = parent;
        queue.remove(scope);
        scope.dispose();
        if (scope.abortedHere) throw scope.reason === error ? error : withCause(scope.reason, error);
        throw scope.aborted ? scope.reason : error; // the caller's (or an enclosing) abort, never relabelled
      },
    );
  }

  #race(ctx: CallContext, inner: Chain | undefined, scope: TimeoutScope, queue: DeadlineQueue): Promise<unknown> {
    // Listen to the enclosing abort (caller or outer timeout) only if there is one; our own
    // expiry rejects through `scope.reject`, so no signal is created unless `fn` reads it.
    const parentSignal = scope.parent !== undefined ? scope.parent.signal : ctx.callerSignal;
    if (parentSignal?.aborted) {
      queue.remove(scope);
      return Promise.reject(parentSignal.reason);
    }
    // The abandoned work keeps running on its own context, so outer layers can move on safely.
    const forked = ctx.fork();
    forked.scope = scope;
    return new Promise((resolve, reject) => {
      scope.reject = reject;
      if (parentSignal !== undefined) {
        scope.onAbort = () => {
          queue.remove(scope);
          scope.settle();
          reject(parentSignal.reason);
        };
        parentSignal.addEventListener('abort', scope.onAbort, { once: true });
      }
      start(forked, inner).then(
        (value) => {
          queue.remove(scope);
          scope.settle();
          resolve(value);
        },
        (error: unknown) => {
          queue.remove(scope);
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
