import { type Clock, systemClock } from '../core/clock.js';
import { abortSignal, type CallContext, type Context } from '../core/context.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, FAILURE_ONLY, FAST, invoke, Pipeline, type Policy, SKIP } from '../core/policy.js';
import { checkNumber, checkObject, fail } from '../core/validate.js';
import { InjectedFaultError } from './errors.js';

/**
 * What `chaos()` injected into a call.
 *
 * @example
 * ```ts
 * import { type ChaosInjection, chaos } from 'breakwater/chaos';
 *
 * const gameDay = chaos({ fault: { rate: 0.1 }, latency: { rate: 0.2, ms: 2_000 } });
 * const injected: Record<ChaosInjection, number> = { latency: 0, fault: 0, result: 0 };
 * gameDay.on('chaos', (e) => injected[e.injection]++);
 * ```
 */
export type ChaosInjection = 'latency' | 'fault' | 'result';

/**
 * Events a chaos policy emits.
 *
 * @example
 * ```ts
 * import { type ChaosEvent, chaos } from 'breakwater/chaos';
 *
 * const gameDay = chaos({ latency: { rate: 0.2, ms: 2_000 }, fault: { rate: 0.05 }, name: 'search' });
 * gameDay.on('chaos', (e: ChaosEvent) => {
 *   log.info(`chaos in ${e.name}: ${e.injection}`, e.ms === undefined ? {} : { ms: e.ms });
 * });
 * ```
 */
export type ChaosEvent = PolicyEventBase & {
  readonly type: 'chaos';
  /** What was injected. */
  readonly injection: ChaosInjection;
  /** For `'latency'`: the delay injected, in ms. */
  readonly ms?: number | undefined;
};

/**
 * Fails a share of calls without running them.
 *
 * @example
 * ```ts
 * import { chaos, type FaultInjection } from 'breakwater/chaos';
 *
 * // 5 % of calls fail as the API's rate limit would, with the delay it asks for (`retryAfter`, ms).
 * const rateLimited: FaultInjection = {
 *   rate: 0.05,
 *   error: () => Object.assign(new Error('429 Too Many Requests'), { status: 429, retryAfter: 1_000 }),
 * };
 * const gameDay = chaos({ fault: rateLimited });
 * ```
 */
export interface FaultInjection {
  /** Share of calls, in [0, 1]. */
  readonly rate: number;
  /**
   * The error to throw, or a function of the call's context that returns it.
   * @defaultValue a new {@link InjectedFaultError}
   */
  readonly error?: unknown;
}

/**
 * Delays a share of calls before they run.
 *
 * @example
 * ```ts
 * import { Policy } from 'breakwater';
 * import { chaos, type LatencyInjection } from 'breakwater/chaos';
 * import { retry } from 'breakwater/retry';
 * import { timeout } from 'breakwater/timeout';
 *
 * // Half of the first attempts stall for 5 s; retries run at full speed.
 * const stall: LatencyInjection = { rate: 0.5, ms: (ctx) => (ctx.attempt === 1 ? 5_000 : 0) };
 * const policy = Policy.wrap(retry({ maxRetries: 2 }), timeout(1_000), chaos({ latency: stall }));
 * ```
 */
export interface LatencyInjection {
  /** Share of calls, in [0, 1]. */
  readonly rate: number;
  /** The delay in ms, or a function of the call's context that returns it. */
  readonly ms: number | ((ctx: Context) => number);
}

/**
 * Replaces the result of a share of calls without running them.
 *
 * @example
 * ```ts
 * import { chaos, type ResultInjection } from 'breakwater/chaos';
 *
 * // One call in ten gets an empty page instead of running, to exercise the empty state.
 * const emptyPage: ResultInjection = { rate: 0.1, value: { items: [], next: null } };
 * const gameDay = chaos({ result: emptyPage });
 * ```
 */
export interface ResultInjection {
  /** Share of calls, in [0, 1]. */
  readonly rate: number;
  /** The value to return, or a function of the call's context that returns it (or a promise of it). */
  readonly value?: unknown;
}

/**
 * Options for {@link chaos}.
 *
 * @example
 * ```ts
 * import { type ChaosOptions, chaos } from 'breakwater/chaos';
 * import { seededRandom } from 'breakwater/testing';
 *
 * const options: ChaosOptions = {
 *   latency: { rate: 0.2, ms: 2_000 },
 *   fault: { rate: 0.1 },
 *   enabled: () => process.env.CHAOS === 'on', // asked on every call
 *   random: seededRandom(42), // the same draws on every run
 *   name: 'game-day',
 * };
 * const gameDay = chaos(options);
 * ```
 */
export interface ChaosOptions {
  /** Throw instead of calling `fn`. */
  readonly fault?: FaultInjection | undefined;
  /** Wait before the call (abortable). */
  readonly latency?: LatencyInjection | undefined;
  /** Return a value instead of calling `fn` (a call that a fault already took is not drawn for). */
  readonly result?: ResultInjection | undefined;
  /**
   * Whether to inject at all; a function is asked on every call, so a game day can switch chaos on
   * and off at run time. Switched off, a call passes straight through (no draw, no allocation).
   * @defaultValue true
   */
  readonly enabled?: boolean | (() => boolean) | undefined;
  /** Source of randomness in [0, 1); pass `seededRandom(seed)` to replay a run. @defaultValue Math.random */
  readonly random?: (() => number) | undefined;
  /** The clock the injected latency sleeps on. @defaultValue systemClock */
  readonly clock?: Clock | undefined;
  /** A name carried by this policy's events. */
  readonly name?: string | undefined;
}

const LATENCY = 1;
const FAULT = 2;
const RESULT = 4;

function rethrow(error: unknown): never {
  throw error;
}

class ChaosLayer extends BaseLayer<ChaosEvent> {
  readonly #enabled: boolean | (() => boolean);
  readonly #random: () => number;
  readonly #clock: Clock;
  readonly #fault: FaultInjection | undefined;
  readonly #latency: LatencyInjection | undefined;
  readonly #result: ResultInjection | undefined;
  /** The injections `enter` drew for the `run` that follows it. */
  #next = 0;

  constructor(o: ChaosOptions) {
    super('chaos', o.name);
    this.#fault = injection('fault', o.fault);
    this.#latency = injection('latency', o.latency);
    this.#result = injection('result', o.result);
    if (this.#latency !== undefined && typeof this.#latency.ms !== 'function')
      checkNumber('latency.ms', this.#latency.ms, 0);
    if (o.fault === undefined && o.latency === undefined && o.result === undefined)
      throw new TypeError('Expected at least one of `fault`, `latency` or `result`');
    const e = o.enabled ?? true;
    if (typeof e !== 'boolean' && typeof e !== 'function') fail('enabled', 'a boolean or a function', e);
    this.#enabled = e;
    this.#random = o.random ?? Math.random;
    if (typeof this.#random !== 'function') fail('random', 'a function', o.random);
    checkObject('clock', o.clock);
    this.#clock = o.clock ?? systemClock;
  }

  // Fast path (see `Layer.enter`): a call that draws no injection (or finds chaos switched off)
  // passes straight through and joins the pipeline's one `.then`; an injection runs in `run`.
  get flags(): number {
    return FAST | FAILURE_ONLY;
  }

  get settleError(): (error: unknown) => never {
    return rethrow;
  }

  enter(): unknown {
    const on = this.#enabled;
    if (on !== true && (on === false || !on())) return undefined;
    const random = this.#random;
    let plan = 0;
    const l = this.#latency;
    if (l !== undefined && random() < l.rate) plan = LATENCY;
    const f = this.#fault;
    if (f !== undefined && random() < f.rate) plan |= FAULT;
    else if (this.#result !== undefined && random() < this.#result.rate) plan |= RESULT;
    if (plan === 0) return undefined;
    this.#next = plan;
    return SKIP;
  }

  exit(_ctx: CallContext, _token: unknown, ok: boolean, value: unknown): unknown {
    if (ok) return value;
    throw value;
  }

  async run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    const plan = this.#next;
    this.#next = 0;
    if (plan & LATENCY) {
      const d = (this.#latency as LatencyInjection).ms;
      const ms = typeof d === 'number' ? d : d(ctx);
      if (typeof ms !== 'number' || !(ms >= 0))
        throw new RangeError(`Expected \`latency.ms\` to return a number ≥ 0, got ${String(ms)}`);
      this.#emit('latency', ms);
      // Abortable: the caller's abort, or an enclosing timeout's, ends the wait with its reason.
      await this.#clock.sleep(ms, abortSignal(ctx));
    }
    if (plan & FAULT) {
      this.#emit('fault');
      const e = (this.#fault as FaultInjection).error;
      throw e === undefined ? new InjectedFaultError() : typeof e === 'function' ? e(ctx) : e;
    }
    if (plan & RESULT) {
      this.#emit('result');
      const v = (this.#result as ResultInjection).value;
      return typeof v === 'function' ? v(ctx) : v;
    }
    return invoke(ctx, inner);
  }

  #emit(injection: ChaosInjection, ms?: number): void {
    if (this.listening('chaos')) this.emit({ type: 'chaos', kind: 'chaos', name: this.name, injection, ms });
  }
}

/** Validates one injection's object and its `rate`. */
function injection<T extends { readonly rate: number }>(name: string, o: T | undefined): T | undefined {
  if (o === undefined) return undefined;
  if (o === null || typeof o !== 'object') fail(name, 'an object with a `rate`', o);
  checkNumber(`${name}.rate`, o.rate, 0, { max: 1 });
  return o;
}

/**
 * Fault injection for tests and game days (Polly's Simmy, in one policy): on a share of calls, wait
 * (`latency`), then throw (`fault`) or return a canned value (`result`) instead of calling `fn`.
 * Each injection draws from `random` in that order, so a seeded `random` replays a run exactly.
 * The injected latency sleeps on `clock` and is abortable by the call's signal (the caller's reason,
 * or an enclosing timeout's). `enabled` (a boolean, or a function asked per call) switches it; a
 * call that injects nothing (switched off, or no draw fired) passes straight through the fast path.
 *
 * @throws TypeError / RangeError when an option is invalid (the message names it).
 * @example
 * ```ts
 * const gameDay = chaos({
 *   fault: { rate: 0.1, error: () => Object.assign(new Error('503'), { status: 503 }) },
 *   latency: { rate: 0.2, ms: 3_000 },
 *   enabled: () => flags.chaos,
 * });
 * const llm = Policy.wrap(retry(), timeout(10_000), gameDay);
 * ```
 */
export function chaos(options: ChaosOptions): Policy<ChaosEvent> {
  checkObject('options', options);
  if (options === undefined || options === null)
    throw new TypeError('Expected `chaos` options with `fault`, `latency` or `result`');
  return new Pipeline<ChaosEvent>([new ChaosLayer(options)]);
}
