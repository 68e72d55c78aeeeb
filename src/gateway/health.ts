// Outlier ejection for the endpoints of one target (Envoy's algorithm, with the fixes its users
// asked for): consecutive failures eject an endpoint for `base × n` (capped, plus jitter), `n`
// decays while the endpoint is healthy, never more than `maxEjectedPercent` of the target and never
// its last healthy endpoint are ejected (so a one-endpoint target is never ejected: LiteLLM #5673,
// Envoy #3263), and an ejected endpoint comes back through one probe call. A 429 cools an endpoint
// down for its Retry-After, which is not an ejection (it says nothing about the endpoint's health).
import { checkKeys, checkNumber, checkObject } from '../core/validate.js';
import type { ErrorClass } from './classify.js';

/**
 * Options for outlier ejection, per gateway (each target applies them to its own endpoints).
 *
 * @example
 * ```ts
 * import { type EjectionOptions, gateway } from 'breakwater/gateway';
 *
 * const ejection: EjectionOptions = { consecutiveFailures: 5, base: 30_000, max: 600_000, cooldown: 2000 };
 * const gw = gateway({ targets, ejection });
 * ```
 */
export interface EjectionOptions {
  /**
   * Consecutive failures (`'overloaded'`, `'timeout'`, `'unknown'`) that eject an endpoint. An
   * `'auth'` failure ejects at once.
   * @defaultValue 3
   */
  readonly consecutiveFailures?: number | undefined;
  /** The first ejection's length in ms; the n-th lasts `base × n`. @defaultValue 10000 */
  readonly base?: number | undefined;
  /** The longest ejection in ms (before jitter). @defaultValue 300000 */
  readonly max?: number | undefined;
  /** Up to this many ms, drawn from `random`, added to each ejection. @defaultValue 1000 */
  readonly jitter?: number | undefined;
  /** Every `decay` ms an endpoint stays healthy, `n` drops by one. @defaultValue base */
  readonly decay?: number | undefined;
  /**
   * The largest share of a target's endpoints (percent) ejected at once, rounded down: with the
   * default, one of two or three, two of four. A target's last healthy endpoint is never ejected.
   * @defaultValue 50
   */
  readonly maxEjectedPercent?: number | undefined;
  /**
   * How long a 429 without Retry-After (or `retry-after-ms`) cools an endpoint down, in ms. A call
   * whose every endpoint answered 429 waits for the earliest cool-down (within its deadline) and
   * tries again; a 429 that cools nothing (0) is not retried within the call.
   * @defaultValue 1000
   */
  readonly cooldown?: number | undefined;
}

/** Validated ejection settings. @internal */
export interface Ejection {
  readonly threshold: number;
  readonly base: number;
  readonly max: number;
  readonly jitter: number;
  readonly decay: number;
  readonly percent: number;
  readonly cooldown: number;
}

/** Validates {@link EjectionOptions}. @internal */
export function ejectionOf(o: EjectionOptions | undefined): Ejection {
  checkObject('ejection', o);
  checkKeys('ejection', o, ['consecutiveFailures', 'base', 'max', 'jitter', 'decay', 'maxEjectedPercent', 'cooldown']);
  const base = checkNumber('ejection.base', o?.base ?? 10_000, 0, { exclusiveMin: true });
  return {
    threshold: checkNumber('ejection.consecutiveFailures', o?.consecutiveFailures ?? 3, 1, { integer: true }),
    base,
    max: checkNumber('ejection.max', o?.max ?? 300_000, base),
    jitter: checkNumber('ejection.jitter', o?.jitter ?? 1000, 0),
    decay: checkNumber('ejection.decay', o?.decay ?? base, 0, { exclusiveMin: true }),
    percent: checkNumber('ejection.maxEjectedPercent', o?.maxEjectedPercent ?? 50, 0, { max: 100 }),
    cooldown: checkNumber('ejection.cooldown', o?.cooldown ?? 1000, 0),
  };
}

/**
 * An endpoint's health state. `'probing'`: its ejection ended and one call may go through.
 *
 * @example
 * ```ts
 * import { gateway, type HealthState } from 'breakwater/gateway';
 *
 * function describe(state: HealthState | 'cooling'): string {
 *   switch (state) {
 *     case 'ejected': return 'out of rotation';
 *     case 'probing': return 'trying one call';
 *     default: return state; // 'healthy', or 'cooling' (rate limited by a 429)
 *   }
 * }
 * const endpoints = gateway({ targets }).snapshot().targets.chat?.endpoints ?? [];
 * for (const ep of endpoints) console.log(ep.id, describe(ep.state));
 * ```
 */
export type HealthState = 'healthy' | 'ejected' | 'probing';

/** One endpoint's health. @internal */
export class EndpointHealth {
  declare state: HealthState;
  /** Consecutive failures since the last success. */
  declare failures: number;
  /** The ejection multiplier: the next ejection lasts `base × (n + 1)`. */
  declare n: number;
  /** The time `n` last decayed from (healthy since). */
  declare since: number;
  /** When the current ejection ends. */
  declare until: number;
  declare reason: ErrorClass | undefined;
  /** When a 429's cool-down ends (0: none). */
  declare cooling: number;
  /** A probe call is in flight. */
  declare probe: boolean;
  /**
   * Bumped by every ejection and recovery: an outcome of a call that began in another epoch
   * changes nothing (a call in flight when its endpoint was ejected does not eject it again).
   */
  declare epoch: number;

  constructor() {
    this.state = 'healthy';
    this.failures = this.n = this.since = this.until = this.cooling = this.epoch = 0;
    this.reason = undefined;
    this.probe = false;
  }
}

/** What a call's outcome did to its endpoint. @internal */
export type Transition =
  | { readonly type: 'eject'; readonly until: number; readonly duration: number; readonly n: number }
  | { readonly type: 'recover' }
  | { readonly type: 'cool'; readonly until: number }
  | undefined;

/** Classes that count against an endpoint's health. */
const FAILURE: ReadonlySet<ErrorClass> = new Set<ErrorClass>(['overloaded', 'timeout', 'unknown', 'auth']);

/**
 * The health of one target's endpoints. Every method takes `now`; nothing runs on a timer (an
 * ejection ends lazily, on the next read after `until`).
 * @internal
 */
export class Health {
  readonly eps: EndpointHealth[];
  readonly #o: Ejection;
  readonly #random: () => number;

  constructor(size: number, o: Ejection, random: () => number) {
    this.eps = [];
    for (let i = 0; i < size; i++) this.eps.push(new EndpointHealth());
    this.#o = o;
    this.#random = random;
  }

  /** Moves an ejection that has ended to probing, and decays `n` of a healthy endpoint. */
  refresh(h: EndpointHealth, now: number): void {
    if (h.state === 'ejected') {
      if (now >= h.until) h.state = 'probing';
    } else if (h.state === 'healthy' && h.n > 0) {
      const steps = Math.floor((now - h.since) / this.#o.decay);
      if (steps > 0) {
        h.n = Math.max(0, h.n - steps);
        h.since += steps * this.#o.decay;
      }
    }
  }

  /** Whether endpoint `i` may take a call now (a probing one only if no probe is in flight). */
  available(i: number, now: number): boolean {
    const h = this.eps[i] as EndpointHealth;
    this.refresh(h, now);
    return now >= h.cooling && (h.state === 'healthy' || (h.state === 'probing' && !h.probe));
  }

  /** When endpoint `i` may take a call, as far as its health knows (Infinity: when its probe settles). */
  availableAt(i: number, now: number): number {
    const h = this.eps[i] as EndpointHealth;
    this.refresh(h, now);
    const at = h.state === 'ejected' ? h.until : h.state === 'probing' && h.probe ? Number.POSITIVE_INFINITY : now;
    return Math.max(at, h.cooling);
  }

  /** A call starts on endpoint `i`: returns its epoch (the token its outcome needs); marks a probe. */
  begin(i: number, now: number): number {
    const h = this.eps[i] as EndpointHealth;
    this.refresh(h, now);
    if (h.state === 'probing') h.probe = true;
    return h.epoch;
  }

  /**
   * The call that began at `epoch` on endpoint `i` ended: `cls` is its error class, or `undefined`
   * for a success; `aborted` for a call cancelled from outside (caller, hedge), which says nothing
   * about the endpoint. `retryAfter` is a 429's hint.
   */
  end(i: number, epoch: number, cls: ErrorClass | undefined, now: number, retryAfter?: number): Transition {
    const h = this.eps[i] as EndpointHealth;
    this.refresh(h, now);
    const probing = h.state === 'probing' && h.probe;
    if (epoch !== h.epoch) return undefined; // began before an ejection or recovery: stale
    if (probing) h.probe = false;
    let t: Transition;
    if (cls === 'rate-limited') {
      const until = now + (retryAfter ?? this.#o.cooldown);
      if (until > h.cooling) {
        h.cooling = until;
        t = { type: 'cool', until };
      }
    }
    if (cls !== undefined && FAILURE.has(cls)) {
      h.failures++;
      if (probing) return this.#eject(h, cls, now);
      if (h.state === 'healthy' && (cls === 'auth' || h.failures >= this.#o.threshold) && this.#mayEject(now))
        return this.#eject(h, cls, now);
      return undefined;
    }
    // The endpoint answered (a success, or an error about the request or its rate): healthy.
    h.failures = 0;
    if (probing) {
      h.state = 'healthy';
      h.reason = undefined;
      h.since = now;
      h.epoch++;
      return { type: 'recover' };
    }
    return t;
  }

  /** A call on endpoint `i` was cancelled from outside: a probe slot is freed, nothing counted. */
  abandon(i: number, epoch: number): void {
    const h = this.eps[i] as EndpointHealth;
    if (epoch === h.epoch && h.probe) h.probe = false;
  }

  /** Ejected endpoints now (probing ones count: they are not back yet). */
  ejected(now: number): number {
    let n = 0;
    for (const h of this.eps) {
      this.refresh(h, now);
      if (h.state !== 'healthy') n++;
    }
    return n;
  }

  /** One more ejection stays within `maxEjectedPercent` and leaves a healthy endpoint. */
  #mayEject(now: number): boolean {
    const total = this.eps.length;
    const ejected = this.ejected(now);
    return ejected + 1 <= Math.floor((total * this.#o.percent) / 100) && total - ejected - 1 >= 1;
  }

  #eject(h: EndpointHealth, cls: ErrorClass, now: number): Transition {
    const o = this.#o;
    this.refresh(h, now);
    h.n++;
    const duration = Math.min(o.base * h.n, o.max) + this.#random() * o.jitter;
    h.state = 'ejected';
    h.until = now + duration;
    h.reason = cls;
    h.failures = 0;
    h.probe = false;
    h.epoch++;
    return { type: 'eject', until: h.until, duration, n: h.n };
  }
}
