import type { Clock, TimerHandle } from '../core/clock.js';
import { systemClock, turnNow } from '../core/clock.js';
import { AbortScope, type CallContext, type Context } from '../core/context.js';
import { TimeoutError } from '../core/errors.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, FAST, invoke, Pipeline, type Policy, SKIP, STATEFUL } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject, fail } from '../core/validate.js';
import { BrokenCircuitError, IsolatedCircuitError } from './errors.js';
import { type BreakerSnapshot, type BreakerState, readSnapshot } from './snapshot.js';
import { type BreakerStrategy, consecutive, intern, type StrategyWindow } from './strategies.js';

/**
 * A delay schedule object, such as a backoff from `breakwater/retry` (`exponential(…)`).
 *
 * @example
 * ```ts
 * import { type BreakBackoff, circuitBreaker } from 'breakwater/breaker';
 * import { exponential } from 'breakwater/retry';
 *
 * // Breaks of 5 s, 10 s, 20 s, … (at most 5 min) while the circuit keeps reopening; reset on close.
 * const breakDuration: BreakBackoff = exponential({ initial: 5_000, max: 300_000, jitter: 'none' });
 * const breaker = circuitBreaker({ breakDuration });
 * ```
 */
export interface BreakBackoff {
  /** The break in ms before probe number `n` (1 for the first opening). */
  delay(n: number, random: () => number, state: { prev: number }): number;
}

/**
 * Options for {@link circuitBreaker}.
 *
 * @example
 * ```ts
 * import { type CircuitBreakerOptions, circuitBreaker, failureRate } from 'breakwater/breaker';
 *
 * const options: CircuitBreakerOptions = {
 *   strategy: failureRate({ threshold: 0.5, window: 30_000, minThroughput: 20 }),
 *   breakDuration: (openings) => Math.min(5_000 * 2 ** (openings - 1), 120_000),
 *   halfOpen: { probes: 3, probeTimeout: 2_000 },
 *   slowCall: { duration: 1_500, rate: 0.8 },
 *   handle: (error) => (error as { status?: number }).status !== 404,
 *   name: 'search',
 * };
 * const breaker = circuitBreaker(options);
 * ```
 */
export interface CircuitBreakerOptions {
  /** When to open. @defaultValue `consecutive(5)` */
  readonly strategy?: BreakerStrategy | undefined;
  /**
   * How long the circuit stays open before probing: ms, a function of the number of consecutive
   * openings (1, 2, …; reset on close), or a backoff such as `exponential()` from `breakwater/retry`.
   * @defaultValue 30_000
   */
  readonly breakDuration?: number | ((openings: number) => number) | BreakBackoff | undefined;
  /** Half-open behaviour. */
  readonly halfOpen?:
    | {
        /** Probe calls admitted after a break; all must succeed to close. @defaultValue 1 */
        readonly probes?: number | undefined;
        /** A probe still running after this many ms counts as failed (its signal aborts). @defaultValue none */
        readonly probeTimeout?: number | undefined;
      }
    | undefined;
  /** Calls slower than `duration` ms count as failures when their share reaches `rate` (default 1). */
  readonly slowCall?: { readonly duration: number; readonly rate?: number | undefined } | undefined;
  /** Which errors count as failures. @defaultValue every error */
  readonly handle?: ((error: unknown, ctx: Context) => boolean) | undefined;
  /** Which results count as failures (the result is still returned). @defaultValue none */
  readonly handleResult?: ((result: unknown, ctx: Context) => boolean) | undefined;
  /** Source of time. @defaultValue systemClock */
  readonly clock?: Clock | undefined;
  /** State to start from, as returned by {@link CircuitBreaker.snapshot}. @defaultValue closed */
  readonly initialState?: BreakerSnapshot | undefined;
  /** Name carried by every event. @defaultValue undefined */
  readonly name?: string | undefined;
  /**
   * Shares the open, half-open and isolated state and the probe slots with other breakers, such as
   * every process of a fleet (`redisBreakerStore` from `breakwater/breaker/redis`). The failure
   * statistics stay local. @defaultValue none (this breaker's state is its own)
   */
  readonly store?: BreakerStore | undefined;
}

/**
 * What a breaker reports to its {@link BreakerStore}: one of its own transitions (`open`, `close`,
 * `half-open`, `isolate`), an `isolate()` call, the release of its last isolation handle
 * (`release`: with a store, the store decides when the circuit closes), or `reset()`.
 *
 * @example
 * ```ts
 * import type { BreakerChange, BreakerStore } from 'breakwater/breaker';
 *
 * // The `changed` hook of a custom store: page on the changes that stop traffic.
 * const changed: BreakerStore['changed'] = (change: BreakerChange, detail) => {
 *   switch (change) {
 *     case 'open': return pager.notify(`circuit open for ${detail?.breakDuration} ms`);
 *     case 'isolate': return pager.notify('circuit isolated');
 *     default: return log.info(`circuit ${change}`); // half-open, close, release, reset
 *   }
 * };
 * ```
 */
export type BreakerChange = 'open' | 'close' | 'half-open' | 'isolate' | 'release' | 'reset';

/**
 * The hooks a breaker calls on a shared state store (the {@link CircuitBreakerOptions.store}
 * option). A closed breaker's calls never reach the store; only transitions, probes and
 * `isolate()` / `reset()` do. Implement it to share breaker state through another backend.
 *
 * @example
 * ```ts
 * import { type BreakerStore, circuitBreaker } from 'breakwater/breaker';
 * import { redisBreakerStore } from 'breakwater/breaker/redis';
 *
 * // Every process built with this store's key shares one circuit.
 * const store: BreakerStore = redisBreakerStore(redis, { key: 'llm:openai' });
 * const breaker = circuitBreaker({ store, breakDuration: 10_000 });
 * ```
 */
export interface BreakerStore {
  /** Called once by `circuitBreaker()`: the store keeps `breaker` to read and drive it. */
  attach(breaker: BreakerLink): void;
  /**
   * The breaker changed state; `detail` comes with `open`. Also called, synchronously inside the
   * call, for a state the store itself applied through {@link BreakerLink.sync}: a store that
   * writes changes out should skip those (the Redis store sets a flag around its `sync` calls).
   */
  changed(change: BreakerChange, detail?: { readonly breakDuration: number; readonly openings: number }): void;
  /**
   * Asks for one of the fleet's `probes` probe slots before a half-open probe runs: true runs the
   * probe, false rejects the call with `BrokenCircuitError` (a store that cannot decide resolves
   * true). It must not reject.
   */
  lease(probes: number): Promise<boolean>;
  /**
   * A probe that got a lease in the current half-open period ended: `true` it succeeded, `false` it
   * counted neither way (its slot is free again). A failed probe is reported as `changed('open')`.
   */
  done(ok: boolean): void;
}

/**
 * A breaker as its {@link BreakerStore} sees it.
 *
 * @example
 * ```ts
 * import { type BreakerLink, type BreakerStore, circuitBreaker } from 'breakwater/breaker';
 *
 * // A store keeping local rules (every probe may run) that logs each change. With a store, the last
 * // isolation's release closes the circuit only when the store says so: this one does at once.
 * let link: BreakerLink | undefined;
 * const store: BreakerStore = {
 *   attach(breaker) {
 *     link = breaker;
 *   },
 *   changed(change) {
 *     log.info(`${link?.name}: ${change}`);
 *     if (change === 'release') link?.sync('closed', 0, 0);
 *   },
 *   lease: async () => true,
 *   done() {},
 * };
 * const breaker = circuitBreaker({ name: 'payments', store });
 * ```
 */
export interface BreakerLink {
  /** The breaker's `name` option. */
  readonly name: string | undefined;
  /** The breaker's state (as {@link CircuitBreaker.state}). */
  readonly state: BreakerState;
  /** As {@link CircuitBreaker.snapshot}. */
  snapshot(): BreakerSnapshot;
  /** As {@link CircuitBreaker.reset}, without reporting it back to the store. */
  reset(): void;
  /**
   * Adopts a state decided elsewhere, emitting the transition's event: `open` for `ms` more ms as
   * opening number `openings` (a new break, even when already open), `closed` (statistics
   * forgotten), or `isolated` (call it only when the breaker is not isolated).
   */
  sync(state: 'open' | 'closed' | 'isolated', ms: number, openings: number): void;
  /** True when someone listens to `type`. */
  listening(type: BreakerEvent['type']): boolean;
  /** Emits an event (guard with {@link BreakerLink.listening}). */
  emit(event: BreakerEvent): void;
}

type Base = PolicyEventBase & { readonly kind: 'breaker' };
/**
 * Events of a circuit breaker.
 *
 * @example
 * ```ts
 * import { type BreakerEvent, circuitBreaker } from 'breakwater/breaker';
 *
 * const breaker = circuitBreaker({ name: 'search' });
 * breaker.on('*', (e: BreakerEvent) => {
 *   if (e.type === 'open') log.warn(`${e.name} open for ${e.breakDuration} ms (#${e.openings})`, e.cause);
 *   else if (e.type === 'reject') metrics.increment('breaker.rejected', { code: e.error.code });
 *   else if (e.type === 'failure') metrics.histogram(`breaker.failure.${e.reason}`, e.duration);
 * });
 * ```
 */
export type BreakerEvent =
  | (Base & {
      readonly type: 'open';
      readonly cause: unknown;
      readonly breakDuration: number;
      readonly openings: number;
    })
  | (Base & { readonly type: 'half-open' | 'close' | 'isolate' })
  | (Base & { readonly type: 'reject'; readonly error: BrokenCircuitError | IsolatedCircuitError })
  /** `degraded`: the shared store failed; the breaker runs on its local state until it answers again. */
  | (Base & { readonly type: 'degraded'; readonly error: unknown })
  /** `resynced`: the shared store answers again; local and shared state are reconciled. */
  | (Base & { readonly type: 'resynced' })
  /** `success` and `failure`: for calls that started while someone listened to the breaker. */
  | (Base & { readonly type: 'success'; readonly duration: number })
  | (Base & {
      readonly type: 'failure';
      /** `error`: a handled error; `result`: a handled result; `slow`: a slow call; `probe-timeout`. */
      readonly reason: 'error' | 'result' | 'slow' | 'probe-timeout';
      readonly error: unknown;
      readonly duration: number;
    });

/**
 * Ends one {@link CircuitBreaker.isolate} call; the circuit closes when every handle is released.
 *
 * @example
 * ```ts
 * import { circuitBreaker, type IsolationHandle } from 'breakwater/breaker';
 *
 * const breaker = circuitBreaker({ name: 'billing' });
 * // The provider's maintenance window: calls fail at once with IsolatedCircuitError.
 * const maintenance: IsolationHandle = breaker.isolate();
 * await maintenanceOver();
 * maintenance.release(); // the circuit closes once every handle is released
 * ```
 */
export interface IsolationHandle {
  /** Releases this isolation. Calling it twice is harmless. */
  release(): void;
}

/**
 * A circuit breaker: a {@link Policy} with state you can read, force and save.
 *
 * @example
 * ```ts
 * import { type CircuitBreaker, circuitBreaker } from 'breakwater/breaker';
 *
 * const byHost = new Map<string, CircuitBreaker>();
 * function breakerFor(host: string): CircuitBreaker {
 *   const known = byHost.get(host);
 *   if (known !== undefined) return known;
 *   const breaker = circuitBreaker({ name: host });
 *   byHost.set(host, breaker);
 *   return breaker;
 * }
 * const res = await breakerFor(url.host).execute(({ signal }) => fetch(url, { signal }));
 * const states = [...byHost].map(([host, b]) => ({ host, state: b.state }));
 * ```
 */
export interface CircuitBreaker extends Policy<BreakerEvent> {
  /** The current state; reads `'half-open'` as soon as the break has elapsed. */
  readonly state: BreakerState;
  /** Holds the circuit open (calls fail with `IsolatedCircuitError`) until every handle is released. */
  isolate(): IsolationHandle;
  /** Closes the circuit, forgets its statistics and ends every isolation. */
  reset(): void;
  /** The state as plain JSON, for `initialState` of a breaker in another process or later. */
  snapshot(): BreakerSnapshot;
}

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const ISOLATED = 3;
const NAMES: readonly BreakerState[] = ['closed', 'open', 'half-open', 'isolated'];
const always = (): boolean => true;

const ErrorCtor = Error as { stackTraceLimit?: number };

/**
 * A fail-fast rejection, built without capturing a stack (the stack would only show breakwater's
 * own frames, and capturing it costs more than the rest of the rejection). `retryAfter < 0` means
 * isolated.
 */
function failFast(retryAfter: number, cause: unknown): BrokenCircuitError | IsolatedCircuitError {
  const limit = ErrorCtor.stackTraceLimit;
  if (limit !== undefined) ErrorCtor.stackTraceLimit = 0;
  try {
    return retryAfter < 0 ? new IsolatedCircuitError() : new BrokenCircuitError(retryAfter, cause);
  } finally {
    if (limit !== undefined) ErrorCtor.stackTraceLimit = limit;
  }
}

function matches(f: (x: unknown, ctx: Context) => boolean, x: unknown, ctx: Context): boolean {
  try {
    return f(x, ctx) === true;
  } catch {
    return true; // a throwing predicate must not wedge the breaker; count conservatively
  }
}

class Trip {
  openUntil = 0;
  openings = 0;
  lastBreak = 0;
  inFlight = 0;
  succeeded = 0;
  isolations = 0;
  epoch = 0;
  cause: unknown = undefined;
  /** Backoff state for a `BreakBackoff` `breakDuration`. */
  prev = 0;
  /** The shared state store, if any (here rather than on the breaker: a breaker without one pays nothing). */
  store: BreakerStore | undefined = undefined;
}

interface Settings {
  readonly breakDuration: NonNullable<CircuitBreakerOptions['breakDuration']>;
  readonly probes: number;
  readonly probeTimeout: number;
  /** The slow-call duration, or -1 without a slow-call rule. */
  readonly slowMs: number;
}

const settings = /*#__PURE__*/ new Map<string, Settings>();

class BreakerLayer extends BaseLayer<BreakerEvent> {
  readonly #clock: Clock;
  readonly #window: StrategyWindow;
  readonly #handle: (error: unknown, ctx: Context) => boolean;
  readonly #handleResult: ((result: unknown, ctx: Context) => boolean) | undefined;
  /** The rarely read settings, shared between breakers with the same ones (a smaller instance). */
  readonly #cfg: Settings;
  /** The success handler of the fast path, made on first use. */
  #state = CLOSED;
  #gen = 0; // bumped on every transition: outcomes of older calls only update statistics
  // Everything beyond the closed state lives in a side object made on first need, so a breaker
  // that never opened stays small.
  #trip: Trip | undefined = undefined;

  constructor(o: CircuitBreakerOptions) {
    super('breaker', o.name);
    checkObject('halfOpen', o.halfOpen);
    checkObject('slowCall', o.slowCall);
    checkFunction('handle', o.handle);
    checkFunction('handleResult', o.handleResult);
    checkObject('clock', o.clock);
    const strategy = o.strategy ?? consecutive(5);
    if (typeof strategy?.create !== 'function')
      fail('strategy', 'a breaker strategy such as `consecutive(5)`', strategy);
    const b = o.breakDuration ?? 30_000;
    if (typeof b === 'number') checkNumber('breakDuration', b, 0);
    else if (typeof b !== 'function' && typeof (b as BreakBackoff | null)?.delay !== 'function')
      fail('breakDuration', 'a number, a function or a backoff', b);
    const probes = checkNumber('halfOpen.probes', o.halfOpen?.probes ?? 1, 1, { integer: true });
    const pt = o.halfOpen?.probeTimeout;
    const probeTimeout = pt === undefined ? 0 : checkNumber('halfOpen.probeTimeout', pt, 0, { exclusiveMin: true });
    let slowRate: number | undefined;
    let slowMs = -1; // a small integer, not Infinity: no boxed double per instance
    if (o.slowCall !== undefined) {
      slowMs = checkNumber('slowCall.duration', o.slowCall.duration, 0);
      slowRate = checkNumber('slowCall.rate', o.slowCall.rate ?? 1, 0, { exclusiveMin: true, max: 1 });
    }
    // Infinity probe timeout: no timer at all.
    const cfg = { breakDuration: b, probes, probeTimeout: Number.isFinite(probeTimeout) ? probeTimeout : 0, slowMs };
    this.#cfg = typeof b === 'number' ? intern(settings, cfg) : cfg; // a function or backoff: its own
    this.#window = strategy.create(slowRate);
    this.#handle = o.handle ?? always;
    this.#handleResult = o.handleResult;
    this.#clock = o.clock ?? systemClock;
    if (o.initialState !== undefined) this.#restore(readSnapshot(o.initialState));
    const store = o.store;
    if (store !== undefined) {
      if (typeof store?.attach !== 'function') fail('store', 'a breaker store', store);
      this.#t.store = store;
      store.attach(this as unknown as BreakerLink);
    }
  }

  /** The fast path's token is the generation (a prototype getter: no field per breaker). */
  get flags(): number {
    return FAST | STATEFUL;
  }

  // Fast path (see `Layer.enter`): a closed breaker with no result rule, no slow-call rule and no
  // listener only feeds its window; the token is the generation, so that a stale failure (from
  // before the circuit last changed state) causes no transition.
  enter(): unknown {
    if (this.#state !== CLOSED || this.#handleResult !== undefined || this.#cfg.slowMs >= 0 || this.listening())
      return SKIP;
    return this.#gen;
  }

  exit(ctx: CallContext, gen: unknown, ok: boolean, value: unknown): unknown {
    if (ok) {
      // A success only fills the current bucket: the platform clock is read once per turn for it.
      this.#window.record(
        this.#window.clocked ? (this.#clock === systemClock ? turnNow() : this.#clock.now()) : 0,
        false,
        false,
      );
      return value;
    }
    this.#settleError(ctx, value, gen as number, Number.NaN, false);
    throw value;
  }

  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    if (this.#state !== CLOSED) {
      const now = this.#clock.now();
      const error = this.#admit(now);
      return error === undefined ? this.#runGuarded(ctx, inner, now, true) : this.#reject(error);
    }
    // Closed, with a result rule, a slow-call rule or a listener. The clock is read at the start only
    // when a duration is needed (slow-call rule or a listener).
    const start = this.#cfg.slowMs >= 0 || this.listening() ? this.#clock.now() : Number.NaN;
    return this.#runGuarded(ctx, inner, start, false);
  }

  get #t(): Trip {
    this.#trip ??= new Trip();
    return this.#trip;
  }

  get state(): BreakerState {
    if (this.#state === OPEN && this.#clock.now() >= this.#t.openUntil) this.#transition(HALF_OPEN, 'half-open');
    return NAMES[this.#state] as BreakerState;
  }

  #reject(error: BrokenCircuitError | IsolatedCircuitError): Promise<never> {
    this.#event('reject', { error });
    return Promise.reject(error);
  }

  /** Admission outside the closed state: the error to fail fast with, or undefined for a probe. */
  #admit(now: number): BrokenCircuitError | IsolatedCircuitError | undefined {
    if (this.#state === ISOLATED) return failFast(-1, undefined);
    const t = this.#t;
    if (this.#state === OPEN) {
      if (now < t.openUntil) return failFast(t.openUntil - now, t.cause);
      this.#transition(HALF_OPEN, 'half-open');
    }
    if (t.inFlight + t.succeeded >= this.#cfg.probes) return this.#busy();
    return undefined;
  }

  /** The rejection while every probe slot is taken. */
  #busy(): BrokenCircuitError | IsolatedCircuitError {
    return failFast(this.#cfg.probeTimeout || this.#t.lastBreak, this.#t.cause);
  }

  /** Runs a probe (half-open), or a closed call whose outcome needs more than the fast path. */
  async #runGuarded(ctx: CallContext, inner: Chain | undefined, now: number, probe: boolean): Promise<unknown> {
    if (probe) this.#t.inFlight++;
    const gen = this.#gen;
    const store = this.#trip?.store;
    // A shared store hands out the fleet's probe slots: without one, the call is rejected as if
    // every local slot were taken (or as the state the store brought meanwhile says).
    if (probe && store !== undefined) {
      const granted = await store.lease(this.#cfg.probes);
      // The caller left (or an enclosing timeout fired) while the fleet was asked: no probe runs
      // for nobody, and a slot it was given goes back.
      const s = ctx.scope ?? ctx.callerSignal;
      if (!granted || s?.aborted) {
        if (gen === this.#gen) {
          this.#t.inFlight--;
          if (granted) store.done(false);
        }
        if (s?.aborted) throw s.reason;
        return this.#reject(this.#admit(this.#clock.now()) ?? this.#busy());
      }
    }
    let scope: AbortScope | undefined;
    let expired = false; // a probe past its timeout was already counted as failed
    let timer: TimerHandle;
    const saved = ctx.scope;
    if (probe && this.#cfg.probeTimeout > 0) {
      const deadline = now + this.#cfg.probeTimeout;
      const d = saved?.deadline;
      const s = new AbortScope(saved, ctx.callerSignal, d !== undefined && d < deadline ? d : deadline);
      scope = s;
      ctx.scope = s;
      timer = this.#clock.setTimeout(() => {
        expired = true;
        this.#probeExpired(gen, s, now);
      }, this.#cfg.probeTimeout);
    }
    let result: unknown;
    let failed = false;
    try {
      result = await invoke(ctx, inner);
    } catch (error) {
      failed = true;
      result = error;
    } finally {
      if (scope !== undefined) {
        ctx.scope = saved;
        scope.dispose();
        this.#clock.clearTimeout(timer);
      }
    }
    if (failed) {
      if (!expired) this.#settleError(ctx, result, gen, now, probe);
      throw result;
    }
    if (!expired) this.#settleResult(ctx, result, gen, now, probe);
    return result;
  }

  #probeExpired(gen: number, scope: AbortScope, start: number): void {
    const error = new TimeoutError(this.#cfg.probeTimeout);
    if (gen === this.#gen && this.#state === HALF_OPEN) {
      const now = this.#clock.now();
      this.#event('failure', { reason: 'probe-timeout', error, duration: now - start });
      this.#open(error);
    }
    scope.abort(error);
  }

  #settleError(ctx: CallContext, error: unknown, gen: number, start: number, probe: boolean): void {
    // A call aborted from outside the breaker (by its caller, an enclosing timeout, or a hedge
    // that cancelled this attempt) says nothing about the downstream: it counts neither way, and a
    // probe frees its slot for the next caller.
    const s = ctx.scope;
    if ((s ? s.aborted : ctx.callerSignal?.aborted) || !matches(this.#handle, error, ctx)) {
      if (probe && gen === this.#gen) {
        this.#t.inFlight--;
        this.#t.store?.done(false);
      }
      return;
    }
    this.#record(true, 'error', error, gen, start, probe);
  }

  #settleResult(ctx: CallContext, result: unknown, gen: number, start: number, probe: boolean): void {
    const f = this.#handleResult;
    if (f !== undefined && matches(f, result, ctx)) this.#record(true, 'result', result, gen, start, probe);
    else this.#record(false, 'error', undefined, gen, start, probe);
  }

  #record(failed: boolean, reason: 'error' | 'result', cause: unknown, gen: number, start: number, probe: boolean) {
    // Untimed calls (consecutive strategy, no slow-call rule, no listener) skip the clock.
    const now = this.#window.clocked || !Number.isNaN(start) ? this.#clock.now() : 0;
    const duration = now - start;
    const slow = this.#cfg.slowMs >= 0 && duration > this.#cfg.slowMs;
    const opens = this.#window.record(now, failed, slow);
    // A call that started before anyone listened was not timed: it reports no success or failure
    // event (its transitions still do), rather than a made-up duration.
    if (!Number.isNaN(duration) && this.listening()) {
      if (failed) this.#event('failure', { reason, error: cause, duration });
      else if (slow) this.#event('failure', { reason: 'slow', error: undefined, duration });
      else this.#event('success', { duration });
    }
    if (gen !== this.#gen) return;
    if (this.#state === CLOSED) {
      if (opens) this.#open(cause);
    } else if (probe) {
      this.#t.inFlight--;
      if (failed || slow) this.#open(cause);
      else {
        this.#t.store?.done(true);
        if (++this.#t.succeeded >= this.#cfg.probes) this.#close();
      }
    }
  }

  /** Emits an event of `type` if someone listens to it (nothing is built otherwise). */
  #event(type: BreakerEvent['type'], fields?: object): void {
    if (this.listening(type)) this.events.emit({ type, kind: 'breaker', name: this.name, ...fields } as Base);
  }

  #breakFor(openings: number): number {
    const b = this.#cfg.breakDuration;
    let d = 30_000;
    try {
      d = typeof b === 'number' ? b : typeof b === 'function' ? b(openings) : b.delay(openings, Math.random, this.#t);
    } catch {
      // A throwing schedule keeps the default break.
    }
    // biome-ignore lint/complexity/useMathMinMax: Math.max would keep NaN; NaN must become 0
    return d >= 0 ? d : 0;
  }

  #transition(state: number, type: BreakerEvent['type'], fields?: object): void {
    this.#state = state;
    this.#gen++;
    const t = this.#t;
    t.inFlight = t.succeeded = 0;
    this.#event(type, fields);
    t.store?.changed(type as BreakerChange, fields as { breakDuration: number; openings: number } | undefined);
  }

  /** Opens: for `ms` as opening number `openings` when the store says so, else by the schedule. */
  #open(cause: unknown, ms = -1, openings = this.#t.openings + 1): void {
    const now = this.#clock.now();
    const t = this.#t;
    t.openings = openings;
    const breakDuration = ms < 0 ? this.#breakFor(openings) : ms;
    t.openUntil = now + breakDuration;
    t.lastBreak = breakDuration;
    t.cause = cause;
    this.#transition(OPEN, 'open', { cause, breakDuration, openings });
  }

  #close(): void {
    const was = this.#state;
    const t = this.#t;
    t.openings = 0;
    t.cause = undefined;
    t.prev = 0;
    this.#window.reset();
    if (was === CLOSED) this.#gen++;
    else this.#transition(CLOSED, 'close');
  }

  isolate(): IsolationHandle {
    const t = this.#t;
    t.isolations++;
    if (this.#state !== ISOLATED) this.#transition(ISOLATED, 'isolate');
    else t.store?.changed('isolate');
    const epoch = t.epoch;
    let released = false;
    return {
      release: () => {
        if (released || epoch !== t.epoch) return;
        released = true;
        // With a store, the circuit closes when the fleet's last isolation ends: the store decides.
        if (--t.isolations === 0) t.store ? t.store.changed('release') : this.#close();
      },
    };
  }

  reset(): void {
    const t = this.#t;
    t.isolations = 0;
    t.epoch++;
    this.#close();
    t.store?.changed('reset');
  }

  /** {@link BreakerLink.sync}: a state decided by the store. */
  sync(state: 'open' | 'closed' | 'isolated', ms: number, openings: number): void {
    if (state === 'open') this.#open(undefined, ms, openings);
    else if (state === 'closed') this.#close();
    else this.#transition(ISOLATED, 'isolate'); // the store syncs a change only
  }

  snapshot(): BreakerSnapshot {
    const state = this.state;
    const now = this.#clock.now();
    this.#window.stats(now);
    return {
      state,
      openUntil: this.#state === OPEN ? this.#t.openUntil : 0,
      openings: this.#t.openings,
      window: this.#window.toJSON(),
    };
  }

  #restore(s: BreakerSnapshot): void {
    const t = this.#t;
    this.#state = NAMES.indexOf(s.state);
    t.openUntil = s.openUntil;
    t.openings = s.openings;
    t.lastBreak = this.#breakFor(Math.max(1, s.openings));
    this.#window.restore(s.window);
  }
}

class CircuitBreakerPolicy extends Pipeline<BreakerEvent> implements CircuitBreaker {
  get #layer(): BreakerLayer {
    return this.layers[0] as BreakerLayer;
  }

  get state(): BreakerState {
    return this.#layer.state;
  }
  isolate(): IsolationHandle {
    return this.#layer.isolate();
  }
  reset(): void {
    this.#layer.reset();
  }
  snapshot(): BreakerSnapshot {
    return this.#layer.snapshot();
  }
}

/**
 * Creates a circuit breaker: after the `strategy` sees too many failures it opens and rejects calls at
 * once with {@link BrokenCircuitError}; after `breakDuration` it admits `halfOpen.probes` probe calls
 * and closes when they all succeed. `Policy.wrap(breaker, …)` shares this breaker's state.
 *
 * @throws TypeError / RangeError naming the option when an option is invalid.
 * @example
 * ```ts
 * const breaker = circuitBreaker({
 *   strategy: failureRate({ threshold: 0.5, minThroughput: 20, window: 30_000 }),
 *   breakDuration: 10_000,
 *   halfOpen: { probes: 2, probeTimeout: 5_000 },
 * });
 * breaker.on('open', (e) => log.warn('model API down', e.cause));
 * const reply = await breaker.execute(({ signal }) => callModel(prompt, { signal }));
 * ```
 */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreaker {
  checkObject('options', options);
  return new CircuitBreakerPolicy([new BreakerLayer(options ?? {})]);
}
