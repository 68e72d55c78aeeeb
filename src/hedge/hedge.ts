import { type Clock, systemTimers, turnEnd } from '../core/clock.js';
import { AbortScope, type CallContext, type Context, fork } from '../core/context.js';
import { type DeadlineEntry, DeadlineQueue, type Defer } from '../core/deadline-queue.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, invoke, Pipeline, type Policy } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject, fail } from '../core/validate.js';
import type { HedgeBudget } from './budget.js';
import { HedgeCancelledError } from './errors.js';
import { LatencyWindow } from './percentile.js';

/**
 * Events a hedge policy emits.
 *
 * @example
 * ```ts
 * import { type HedgeEvent, hedge } from 'breakwater/hedge';
 *
 * const policy = hedge({ delay: { percentile: 95, max: 2_000 }, name: 'search' });
 * policy.on('*', (e: HedgeEvent) => {
 *   if (e.type === 'hedge') log.debug(`attempt ${e.attempt} started (${e.trigger}, delay ${e.delay} ms)`);
 *   else if (e.type === 'hedge-denied') metrics.increment('hedge.denied');
 *   else metrics.increment('hedge.won', { attempt: e.attempt, of: e.attempts }); // 'hedge-win'
 * });
 * ```
 */
export type HedgeEvent =
  | (PolicyEventBase & {
      /** A hedged attempt started. */
      readonly type: 'hedge';
      /** The attempt that started (2 for the first hedge; the primary is 1). */
      readonly attempt: number;
      /** The delay in force for this call, in ms. */
      readonly delay: number;
      /** `'delay'`: the previous attempt was still pending after `delay`; `'failure'`: an attempt failed. */
      readonly trigger: 'delay' | 'failure';
    })
  | (PolicyEventBase & {
      /** A hedged attempt was due but the budget refused it. */
      readonly type: 'hedge-denied';
      /** The attempt that did not start. */
      readonly attempt: number;
    })
  | (PolicyEventBase & {
      /** A call that hedged succeeded (not emitted for calls whose primary succeeded alone). */
      readonly type: 'hedge-win';
      /** The attempt that won (1 = the primary). */
      readonly attempt: number;
      /** Attempts started for this call, the winner's included. */
      readonly attempts: number;
    });

/**
 * A delay computed from the latencies this policy observed: the `percentile` of the primary attempt's
 * time to success over the latest `window` calls, clamped to `[min, max]`.
 *
 * @example
 * ```ts
 * import { hedge, type PercentileDelay } from 'breakwater/hedge';
 *
 * // Hedge calls slower than the p95 of the last 500, kept within 50 ms – 2 s (2 s until 20 samples).
 * const delay: PercentileDelay = { percentile: 95, window: 500, min: 50, max: 2_000 };
 * const policy = hedge({ delay });
 * ```
 */
export interface PercentileDelay {
  /** Percent, e.g. `95` for p95 (between 1 and 100). */
  readonly percentile: number;
  /** Number of latest samples kept (a count, not a time span). @defaultValue 200 */
  readonly window?: number | undefined;
  /**
   * Lower bound of the delay in ms. Above 0, so that calls faster than the clock's resolution (a
   * p95 of 0 ms) do not hedge every call at once.
   * @defaultValue 1
   */
  readonly min?: number | undefined;
  /**
   * Upper bound of the delay in ms, and the delay used until 20 samples (or `window`, if smaller)
   * have been seen. Without it, no hedge is started on time until then.
   * @defaultValue Infinity
   */
  readonly max?: number | undefined;
}

/**
 * Options for {@link hedge}.
 *
 * @example
 * ```ts
 * import { type HedgeOptions, hedge, hedgeBudget } from 'breakwater/hedge';
 *
 * const options: HedgeOptions = {
 *   delay: (ctx) => (ctx.data.interactive ? 200 : 1_000),
 *   maxHedges: 2,
 *   budget: hedgeBudget({ ratio: 0.05 }),
 *   handle: (error) => (error as { status?: number }).status !== 400,
 *   name: 'replicas',
 * };
 * const policy = hedge(options);
 * ```
 */
export interface HedgeOptions {
  /**
   * How long an attempt may run before the next one starts: ms, a function of the call's context
   * (evaluated once per call), or a {@link PercentileDelay}. `0` starts every attempt at once;
   * `Infinity` hedges on failures only.
   */
  readonly delay: number | ((ctx: Context) => number) | PercentileDelay;
  /** Extra attempts per call, beyond the primary. @defaultValue 1 */
  readonly maxHedges?: number | undefined;
  /** A budget shared across calls (and policies) that caps the extra load. @defaultValue no cap */
  readonly budget?: HedgeBudget | undefined;
  /**
   * Which failures start the next attempt at once. A failure it rejects ends the call with that
   * error (the other attempts are cancelled). @defaultValue every error
   */
  readonly handle?: ((error: unknown, ctx: Context) => boolean) | undefined;
  /** @defaultValue systemClock */
  readonly clock?: Omit<Clock, 'sleep'> | undefined;
  /** A name carried by this policy's events. */
  readonly name?: string | undefined;
}

/** Samples needed before a percentile delay is trusted. */
const WARM = 20;

/**
 * A hedged attempt (2, 3, …), made only when one starts: its own abort scope (a lazily
 * materialised signal that follows the enclosing one, and that the hedge aborts when the attempt
 * loses) and its own forked context. Composition, not a subclass of `AbortScope`: see `HedgeCall`.
 */
class Attempt {
  declare readonly n: number;
  declare pending: boolean;
  declare readonly scope: AbortScope;
  /** The attempt's own context (what `handle` is given). */
  declare readonly fork: CallContext;

  constructor(ctx: CallContext, n: number) {
    this.n = n;
    this.pending = true;
    this.scope = new AbortScope(ctx.scope, ctx.callerSignal);
    this.fork = attemptContext(ctx, this.scope, n);
  }
}

/** A fork of `ctx` for attempt `n`, on its own scope. */
function attemptContext(ctx: CallContext, scope: AbortScope, n: number): CallContext {
  const c = fork(ctx);
  c.scope = scope;
  c.attempt = n;
  return c;
}

let executing: HedgeCall;
// One executor for every call's promise: no closure per call.
function executor(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
  executing.resolve = resolve;
  executing.reject = reject;
}

/**
 * One call. It is also the primary attempt's record (`n`, `pending`, `scope`, `fork`) and the call's
 * entry on the layer's deadline queue, so that a call whose primary wins alone makes, besides the
 * call's promise, this object, the primary's scope and its forked context — never a closure over
 * the call's state beyond the two handlers of the primary's outcome.
 *
 * A plain class, not a subclass: a derived class is constructed ~10× slower once a class in its
 * chain has had its `name` redefined, which is what `keepNames` builds do (tsx, esbuild
 * `--keep-names`). The primary's scope is therefore a plain `AbortScope` of its own.
 */
class HedgeCall implements DeadlineEntry {
  declare dueAt: number;
  declare prev: DeadlineEntry | undefined;
  declare next: DeadlineEntry | undefined;
  declare queued: boolean;
  declare readonly n: number;
  /** The primary is still running. */
  declare pending: boolean;
  /** The primary's abort scope and context. */
  declare readonly scope: AbortScope;
  declare readonly fork: CallContext;
  declare readonly layer: HedgeLayer;
  declare readonly ctx: CallContext;
  declare readonly inner: Chain | undefined;
  declare readonly delay: number;
  declare readonly queue: DeadlineQueue | undefined;
  /** Clock time the call started (read only for a percentile delay). */
  declare readonly t0: number;
  declare resolve: (value: unknown) => void;
  declare reject: (error: unknown) => void;
  /** The hedged attempts (made on the first hedge). */
  declare hedges: Attempt[] | undefined;
  declare started: number;
  /** Attempts still running. */
  declare running: number;
  declare done: boolean;
  /** The primary's error, once it failed (`NONE` until then). */
  declare primaryError: unknown;
  declare readonly promise: Promise<unknown>;

  constructor(layer: HedgeLayer, ctx: CallContext, inner: Chain | undefined, delay: number, t0: number) {
    this.dueAt = 0;
    this.prev = this.next = undefined;
    this.queued = false;
    this.n = 1;
    this.pending = true;
    const scope = new AbortScope(ctx.scope, ctx.callerSignal);
    this.scope = scope;
    this.fork = attemptContext(ctx, scope, 1);
    this.layer = layer;
    this.ctx = ctx;
    this.inner = inner;
    this.delay = delay;
    this.queue = delay > 0 && delay < Number.POSITIVE_INFINITY ? layer.queueFor(delay) : undefined;
    this.t0 = t0;
    this.hedges = undefined;
    this.started = this.running = 1;
    this.done = false;
    this.primaryError = NONE;
    executing = this;
    this.promise = new Promise(executor);
  }

  /** The hedge timer fired: the latest attempt is still pending after `delay`. */
  expire(): void {
    if (!this.done && !aborted(this.ctx)) this.hedge('delay');
  }

  /** Arms (or re-arms) the hedge timer if another attempt may still start. */
  arm(): void {
    const q = this.queue;
    if (q === undefined || this.started > this.layer.maxHedges) return;
    q.remove(this);
    q.add(this, this.delay, this.layer.stamp());
  }

  /** Starts attempt `started + 1`; false when none may start (count or budget). */
  hedge(trigger: 'delay' | 'failure'): boolean {
    const layer = this.layer;
    const n = this.started + 1;
    if (this.done || n > layer.maxHedges + 1) return false;
    if (layer.budget !== undefined && !layer.budget.tryHedge()) {
      layer.denied(n);
      return false;
    }
    layer.hedged(n, this.delay, trigger);
    const a = new Attempt(this.ctx, n);
    if (this.hedges === undefined) this.hedges = [a];
    else this.hedges.push(a);
    this.started = n;
    this.running++;
    run(this, a);
    this.arm();
    return true;
  }

  ok(a: Attempt | HedgeCall, value: unknown): void {
    a.pending = false;
    this.running--;
    if (this.done) closeLate(value);
    else if (aborted(this.ctx)) {
      // A result that comes after the call was aborted (caller or enclosing timeout) is not returned.
      closeLate(value);
      this.finish(a, false, reasonOf(this.ctx));
    } else {
      this.layer.observe(this);
      if (this.started > 1) this.layer.won(a.n, this.started);
      this.finish(a, true, value);
    }
  }

  failed(a: Attempt | HedgeCall, error: unknown): void {
    a.pending = false;
    this.running--;
    if (this.done) return;
    if (a === this) this.primaryError = error;
    if (aborted(this.ctx)) {
      this.finish(a, false, reasonOf(this.ctx));
      return;
    }
    const handle = this.layer.handle;
    let again = true;
    try {
      again = handle === undefined || handle(error, a.fork);
    } catch (thrown) {
      error = thrown; // a throwing `handle` ends the call with what it threw
      again = false;
    }
    if (!again) this.finish(a, false, error);
    // Fallback mode: a failure does not wait for the delay; the next attempt starts at once.
    else if (!this.hedge('failure') && this.running === 0) this.finish(a, false, this.primaryError);
  }

  /** Ends the call: cancels the attempts still pending, releases every attempt's signal, settles. */
  finish(by: Attempt | HedgeCall, ok: boolean, value: unknown): void {
    this.done = true;
    if (this.queued) (this.queue as DeadlineQueue).remove(this);
    const hedges = this.hedges;
    if (hedges !== undefined) {
      // The losers still pending are cancelled (unless the call itself was aborted: they already
      // see that reason); all share one reason object.
      const cancel = aborted(this.ctx) ? undefined : new HedgeCancelledError(by.n);
      if (this !== by && this.pending && cancel !== undefined) this.scope.abort(cancel);
      for (const a of hedges) {
        if (a !== by && a.pending && cancel !== undefined) a.scope.abort(cancel);
        a.scope.dispose();
      }
    }
    this.scope.dispose();
    if (ok) this.resolve(value);
    else this.reject(value);
  }
}

const NONE: unique symbol = Symbol();

/** Runs attempt `a` of `call` (the call itself for the primary) on its own context. */
function run(call: HedgeCall, a: Attempt | HedgeCall): void {
  let p: unknown;
  try {
    p = invoke(a.fork, call.inner);
  } catch (error) {
    p = Promise.reject(error);
  }
  // `invoke` returns what `fn` returned when no layer is inside: it may be a plain value or a foreign
  // thenable.
  (p instanceof Promise ? p : Promise.resolve(p)).then(
    (value) => call.ok(a, value),
    (error: unknown) => call.failed(a, error),
  );
}

/** Most calls of one turn batched before the pending ones are queued (see `HedgeLayer.#track`). */
const BATCH = 32;

/** Queues the calls of a batch that still wait for their hedge timer. */
function drain(batch: readonly HedgeCall[], now: number | undefined): void {
  for (const c of batch) if (!c.done && !c.queued) (c.queue as DeadlineQueue).add(c, c.delay, now);
}

function aborted(ctx: CallContext): boolean {
  const s = ctx.scope;
  return s !== undefined ? s.aborted : ctx.callerSignal?.aborted === true;
}

function reasonOf(ctx: CallContext): unknown {
  const s = ctx.scope;
  return s !== undefined ? s.reason : ctx.callerSignal?.reason;
}

/**
 * A losing attempt's late value is nobody's: if it is a stream (an async iterable, such as the
 * `AsyncIterable` a `streamTimeout` resolves to at its first chunk), close it.
 */
function closeLate(value: unknown): void {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return;
  const open = (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator];
  if (typeof open !== 'function') return;
  try {
    const r = (open.call(value) as AsyncIterator<unknown>).return?.();
    if (r !== undefined) Promise.resolve(r).then(undefined, noop);
  } catch {
    // Closing is best effort: the loser's stream was already aborted through its signal.
  }
}

function noop(): void {}

class HedgeLayer extends BaseLayer<HedgeEvent> {
  readonly maxHedges: number;
  readonly budget: HedgeBudget | undefined;
  readonly handle: ((error: unknown, ctx: Context) => boolean) | undefined;
  readonly #delay: number | ((ctx: Context) => number) | undefined;
  readonly #clock: Omit<Clock, 'sleep'>;
  readonly #defer: Defer | undefined;
  readonly #queue: DeadlineQueue | undefined;
  #queues: Map<number, DeadlineQueue> | undefined = undefined;
  #lastMs = Number.NaN;
  #lastQueue: DeadlineQueue | undefined = undefined;
  // Percentile mode.
  readonly #window: LatencyWindow | undefined;
  readonly #p: number;
  readonly #min: number;
  readonly #max: number;
  readonly #refresh: number;
  /** Samples needed before the percentile is used (until then: `max`). */
  readonly #warm: number;
  #fresh = 0;
  #current: number;
  /** The calls started this turn whose hedge timer is not set yet (platform timers only). */
  #batch: HedgeCall[] | undefined = undefined;
  readonly #turnEnd = (): void => this.#onTurnEnd();

  constructor(o: HedgeOptions) {
    super('hedge', o.name);
    const d = o.delay;
    this.#p = this.#min = 0;
    this.#max = this.#current = Number.POSITIVE_INFINITY;
    this.#refresh = this.#warm = 1;
    if (typeof d === 'number') {
      checkNumber('delay', d, 0);
      this.#delay = d;
    } else if (typeof d === 'function') this.#delay = d;
    else if (d !== null && typeof d === 'object') {
      this.#p = checkNumber('delay.percentile', d.percentile, 1, { max: 100 });
      const size = checkNumber('delay.window', d.window ?? 200, 1, { integer: true, max: 100_000 });
      this.#min = checkNumber('delay.min', d.min ?? 1, 0, { exclusiveMin: true });
      this.#max = checkNumber('delay.max', d.max ?? Number.POSITIVE_INFINITY, this.#min);
      this.#current = this.#max;
      this.#window = new LatencyWindow(size);
      // Recompute the percentile every tenth of the window: O(1) amortised per call.
      this.#refresh = Math.max(1, Math.floor(size / 10));
      this.#warm = Math.min(WARM, size);
    } else fail('delay', 'a number of ms, a function, or { percentile, window, min, max }', d);
    this.maxHedges = checkNumber('maxHedges', o.maxHedges ?? 1, 0, { integer: true, max: 100 });
    checkObject('budget', o.budget);
    if (o.budget !== undefined && typeof o.budget.tryHedge !== 'function')
      fail('budget', 'a hedge budget (hedgeBudget())', o.budget);
    checkFunction('handle', o.handle);
    checkObject('clock', o.clock);
    this.budget = o.budget;
    this.handle = o.handle;
    this.#clock = o.clock ?? systemTimers;
    // The platform timers set due times once per turn (see `DeadlineQueue`); a given clock, per call.
    this.#defer = o.clock === undefined ? turnEnd() : undefined;
    this.#queue =
      typeof d === 'number' && d > 0 && d < Number.POSITIVE_INFINITY
        ? new DeadlineQueue(this.#clock, this.#defer)
        : undefined;
  }

  /**
   * Starts `call`'s hedge timer. With an injected clock, at once. With the platform timers, the
   * call joins the turn's batch, and only the calls still pending when the turn ends go on the
   * deadline queue, due `delay` after the turn's end (when a coarse queue would have fixed their
   * due time anyway). Most calls that settle before their delay settle within the turn they started
   * in (cached or in-memory work), and then never touch the queue: linking a young call into the
   * long-lived queue and out again costs more than the rest of such a call (the write barrier
   * records every store of a new object into an old one).
   */
  #track(call: HedgeCall): void {
    const defer = this.#defer;
    if (defer === undefined) {
      (call.queue as DeadlineQueue).add(call, call.delay, this.#clock.now());
      return;
    }
    let b = this.#batch;
    if (b === undefined) {
      b = this.#batch = [];
      defer(this.#turnEnd);
    } else if (b.length >= BATCH) {
      // A long turn (a loop of calls that settle in microtasks): queue the pending ones now, due
      // when the turn ends, so that the batch stays small.
      drain(b, undefined);
      b = this.#batch = [];
    }
    b.push(call);
  }

  #onTurnEnd(): void {
    const b = this.#batch;
    this.#batch = undefined;
    if (b !== undefined) drain(b, this.#clock.now());
  }

  /** The `now` to pass to `DeadlineQueue.add`: none for a coarse queue (see `DeadlineQueue`). */
  stamp(): number | undefined {
    return this.#defer === undefined ? this.#clock.now() : undefined;
  }

  queueFor(ms: number): DeadlineQueue {
    if (this.#queue !== undefined) return this.#queue;
    // A percentile delay changes once per refresh: most calls reuse the latest queue.
    if (ms === this.#lastMs) return this.#lastQueue as DeadlineQueue;
    this.#queues ??= new Map();
    let q = this.#queues.get(ms);
    if (q === undefined) {
      // Bound the map for delays that take many values: drop idle queues.
      if (this.#queues.size >= 64) for (const [k, v] of this.#queues) if (v.size === 0) this.#queues.delete(k);
      q = new DeadlineQueue(this.#clock, this.#defer);
      this.#queues.set(ms, q);
    }
    this.#lastMs = ms;
    this.#lastQueue = q;
    return q;
  }

  /** This call's delay. */
  #delayFor(ctx: CallContext): number {
    const d = this.#delay;
    if (typeof d === 'number') return d;
    if (d === undefined) return this.#current;
    const ms = d(ctx);
    if (typeof ms !== 'number' || !(ms >= 0)) {
      throw new RangeError(`Expected \`delay\` to return a number ≥ 0, got ${String(ms)}`);
    }
    return ms;
  }

  /** Records a successful call's primary latency (percentile mode). */
  observe(call: HedgeCall): void {
    const w = this.#window;
    if (w === undefined || call.primaryError !== NONE) return;
    // The primary's time to success; if a hedge won, the time it had run without one (a lower
    // bound: counting only winners would talk the percentile down, and hedge ever more).
    w.add(Math.max(0, this.#clock.now() - call.t0));
    if (w.count < this.#warm) return;
    // Recomputed every tenth of the window (at once when warm-up ends): O(1) amortised per call.
    if (++this.#fresh < this.#refresh && w.count > this.#warm) return;
    this.#fresh = 0;
    const p = w.percentile(this.#p);
    this.#current = Math.min(this.#max, Math.max(this.#min, p));
  }

  hedged(attempt: number, delay: number, trigger: 'delay' | 'failure'): void {
    if (this.listening('hedge'))
      this.emit({ type: 'hedge', kind: 'hedge', name: this.name, attempt, delay, trigger } as HedgeEvent);
  }

  denied(attempt: number): void {
    if (this.listening('hedge-denied'))
      this.emit({ type: 'hedge-denied', kind: 'hedge', name: this.name, attempt } as HedgeEvent);
  }

  won(attempt: number, attempts: number): void {
    if (this.listening('hedge-win'))
      this.emit({ type: 'hedge-win', kind: 'hedge', name: this.name, attempt, attempts } as HedgeEvent);
  }

  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    if (aborted(ctx)) return Promise.reject(reasonOf(ctx));
    let delay: number;
    try {
      delay = this.#delayFor(ctx);
    } catch (error) {
      return Promise.reject(error);
    }
    this.budget?.recordCall();
    const call = new HedgeCall(this, ctx, inner, delay, this.#window !== undefined ? this.#clock.now() : 0);
    run(call, call);
    if (delay === 0) {
      while (!call.done && call.hedge('delay'));
    } else if (call.queue !== undefined && this.maxHedges > 0 && !call.done) {
      this.#track(call);
    }
    return call.promise;
  }
}

/**
 * Hedged requests: while an attempt is still pending after `delay`, start another (up to
 * `maxHedges` extra), and return the first success. Every other attempt is then aborted through its
 * own signal with a {@link HedgeCancelledError}, and its late outcome ignored (a late stream is
 * closed). An attempt that fails before the delay starts the next one at once. If every attempt
 * fails, the primary's error is rethrown. A caller's abort (or an enclosing timeout's) aborts every
 * attempt's signal, starts no more, and rejects with the abort's reason once an attempt settles.
 *
 * `ctx.attempt` is 1 for the primary, 2 for the first hedge, and so on; each attempt has its own
 * signal (made only if it reads `ctx.signal`). A shared {@link hedgeBudget} caps the extra load.
 *
 * @throws TypeError / RangeError when an option is invalid (the message names it).
 * @example
 * ```ts
 * const policy = hedge({ delay: { percentile: 95, max: 2_000 }, maxHedges: 1, budget: hedgeBudget({ ratio: 0.1 }) });
 * const answer = await policy.execute(({ signal }) => search(query, { signal }));
 * ```
 */
export function hedge(options: HedgeOptions): Policy<HedgeEvent> {
  checkObject('options', options);
  if (options === undefined || options === null) throw new TypeError('Expected `hedge` options with `delay`');
  return new Pipeline<HedgeEvent>([new HedgeLayer(options)]);
}
