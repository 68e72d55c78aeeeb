import { checkNumber, checkOneOf } from '../core/validate.js';

/**
 * How a delay is spread: `none`, `full` (U·d), `equal` (d/2 + U·d/2) or `decorrelated` (Polly v2).
 *
 * @example
 * ```ts
 * import { exponential, type Jitter } from 'breakwater/retry';
 *
 * const jitter: Jitter = process.env.NODE_ENV === 'test' ? 'none' : 'decorrelated';
 * const backoff = exponential({ initial: 100, jitter });
 * ```
 */
export type Jitter = 'none' | 'full' | 'equal' | 'decorrelated';

/**
 * Per-call state a backoff may keep between retries (created on the first failure only).
 *
 * @example
 * ```ts
 * import { type Backoff, type BackoffState, retry } from 'breakwater/retry';
 *
 * // Each delay triples the last one kept in `state.prev` (100, 300, 900 ms, …; fresh per call).
 * const tripling: Backoff = {
 *   delay(_retry: number, random: () => number, state: BackoffState) {
 *     state.prev = state.prev === 0 ? 100 : Math.min(state.prev * 3, 10_000);
 *     return state.prev * (0.5 + random() / 2);
 *   },
 * };
 * retry({ backoff: tripling });
 * ```
 */
export interface BackoffState {
  /** Free for the backoff's use; the decorrelated jitter keeps its previous curve value here. */
  prev: number;
}

/**
 * A delay schedule. `retry` is 1 for the first retry; `random` returns a number in [0, 1).
 *
 * @example
 * ```ts
 * import { type Backoff, retry } from 'breakwater/retry';
 *
 * // Fixed steps, then 5 s for every later retry, each spread over its upper half.
 * const steps: Backoff = {
 *   delay: (n, random) => ([100, 500, 2_000][n - 1] ?? 5_000) * (0.5 + random() / 2),
 * };
 * const policy = retry({ maxRetries: 6, backoff: steps });
 * ```
 */
export interface Backoff {
  /** The delay in ms before retry number `retry`. Always finite and ≥ 0. */
  delay(retry: number, random: () => number, state: BackoffState): number;
}

const JITTERS: readonly Jitter[] = ['none', 'full', 'equal', 'decorrelated'];

function spread(d: number, jitter: Jitter, random: () => number): number {
  if (jitter === 'full') return random() * d;
  if (jitter === 'equal') return d / 2 + (random() * d) / 2;
  return d;
}

/**
 * Options for {@link constant}.
 *
 * @example
 * ```ts
 * import { type ConstantOptions, constant, retry } from 'breakwater/retry';
 *
 * const options: ConstantOptions = { jitter: 'full' };
 * retry({ maxRetries: 5, backoff: constant(1_000, options) });
 * ```
 */
export interface ConstantOptions {
  /**
   * Spread applied to the delay (`decorrelated` is not meaningful here and is rejected).
   * @defaultValue 'none'
   */
  readonly jitter?: Exclude<Jitter, 'decorrelated'> | undefined;
}

/**
 * The same delay before every retry.
 *
 * @throws RangeError / TypeError when `ms` is negative or not a number, or `jitter` is unknown.
 * @example
 * ```ts
 * retry({ maxRetries: 5, backoff: constant(1000, { jitter: 'equal' }) });
 * ```
 */
export function constant(ms: number, options?: ConstantOptions): Backoff {
  checkNumber('ms', ms, 0);
  const jitter = checkOneOf('jitter', options?.jitter ?? 'none', ['none', 'full', 'equal']);
  return { delay: (_retry, random) => spread(ms, jitter, random) };
}

/**
 * Options for {@link linear}.
 *
 * @example
 * ```ts
 * import { type LinearOptions, linear, retry } from 'breakwater/retry';
 *
 * const options: LinearOptions = { initial: 250, step: 250, max: 2_000, jitter: 'equal' };
 * retry({ maxRetries: 8, backoff: linear(options) });
 * ```
 */
export interface LinearOptions {
  /** Delay before the first retry. @defaultValue 200 */
  readonly initial?: number | undefined;
  /** Added per retry. @defaultValue equal to `initial` */
  readonly step?: number | undefined;
  /** Cap, applied before jitter. @defaultValue 30_000 */
  readonly max?: number | undefined;
  /** Spread applied after the cap. @defaultValue 'none' */
  readonly jitter?: Exclude<Jitter, 'decorrelated'> | undefined;
}

/**
 * A delay that grows by `step` each retry: `initial`, `initial + step`, …, capped at `max`.
 *
 * @throws RangeError / TypeError for a negative or non-numeric option, or an unknown `jitter`.
 * @example
 * ```ts
 * retry({ backoff: linear({ initial: 100, step: 100, max: 1000 }) });
 * ```
 */
export function linear(options?: LinearOptions): Backoff {
  const initial = checkNumber('initial', options?.initial ?? 200, 0);
  const step = checkNumber('step', options?.step ?? initial, 0);
  const max = checkNumber('max', options?.max ?? 30_000, 0);
  const jitter = checkOneOf('jitter', options?.jitter ?? 'none', ['none', 'full', 'equal']);
  return {
    delay: (retry, random) => spread(Math.min(max, initial + step * (retry - 1)), jitter, random),
  };
}

/**
 * Options for {@link exponential}.
 *
 * @example
 * ```ts
 * import { type ExponentialOptions, exponential, retry } from 'breakwater/retry';
 *
 * const options: ExponentialOptions = { initial: 100, factor: 3, max: 10_000, jitter: 'equal' };
 * retry({ maxRetries: 5, backoff: exponential(options) });
 * ```
 */
export interface ExponentialOptions {
  /** Delay before the first retry (the median for `decorrelated`). @defaultValue 200 */
  readonly initial?: number | undefined;
  /** Growth per retry (ignored by `decorrelated`, whose curve doubles). @defaultValue 2 */
  readonly factor?: number | undefined;
  /** Cap, applied before jitter so callers at the cap still spread out. @defaultValue 30_000 */
  readonly max?: number | undefined;
  /** @defaultValue 'full' */
  readonly jitter?: Jitter | undefined;
}

// Polly's "decorrelated jitter v2" (Polly #530): t = n + U; f(t) = 2^t · tanh(√(4t));
// delay = (f(t) − f(prev)) / 1.4 · initial. Medians land near initial · 1, 2, 4, …
const RP_SCALING = 1 / 1.4;
// Past this exponent 2^t overflows toward Infinity (Polly #2163, cockatiel #86): treat as capped.
const MAX_EXPONENT = 1000;

/**
 * Exponential backoff: `initial · factor^(retry-1)`, capped at `max`, then jittered (full jitter by
 * default, so clients at the cap do not synchronise). `decorrelated` uses Polly's v2 formula, guarded
 * against overflow at any attempt number; once its curve passes `max`, delays are drawn from
 * `[max/2, max]`.
 *
 * @throws RangeError / TypeError for a negative or non-numeric option, `factor < 1`, or an unknown `jitter`.
 * @example
 * ```ts
 * retry({ maxRetries: 4, backoff: exponential({ initial: 500, max: 20_000 }) });
 * ```
 */
export function exponential(options?: ExponentialOptions): Backoff {
  const initial = checkNumber('initial', options?.initial ?? 200, 0);
  const factor = checkNumber('factor', options?.factor ?? 2, 1);
  const max = checkNumber('max', options?.max ?? 30_000, 0);
  const jitter = checkOneOf('jitter', options?.jitter ?? 'full', JITTERS);
  if (jitter === 'decorrelated') {
    return {
      delay(retry, random, state) {
        const t = Math.min(retry, MAX_EXPONENT) - 1 + random();
        const next = 2 ** t * Math.tanh(Math.sqrt(4 * t));
        const d = (next - state.prev) * RP_SCALING * initial;
        state.prev = next;
        // Past MAX_EXPONENT the curve stops growing (t is clamped), so `next - prev` is noise that can be
        // negative: treat those retries as past the cap, like an overflowing curve.
        if (!(d <= max) || (retry > MAX_EXPONENT && initial > 0)) return max / 2 + (random() * max) / 2;
        return Math.max(0, d);
      },
    };
  }
  return {
    delay(retry, random) {
      // factor^n may overflow to Infinity, which the cap absorbs; initial = 0 must stay 0 (0 · Infinity is NaN).
      const raw = initial === 0 ? 0 : initial * factor ** (retry - 1);
      return spread(Math.min(raw, max), jitter, random);
    },
  };
}
