import { checkNumber, checkObject } from '../core/validate.js';

/**
 * Plain-JSON state of a {@link StrategyWindow}, as found in a breaker snapshot.
 *
 * @example
 * ```ts
 * import { circuitBreaker, type WindowSnapshot } from 'breakwater/breaker';
 *
 * const window: WindowSnapshot = circuitBreaker().snapshot().window;
 * switch (window.type) {
 *   case 'consecutive': console.log(`${window.count} failures in a row`); break;
 *   case 'failure-rate': console.log(`${window.counts.length / 3} time buckets, newest ${window.head}`); break;
 *   case 'count-window': console.log(`${window.filled} calls recorded`); break;
 * }
 * ```
 */
export type WindowSnapshot =
  | { readonly type: 'consecutive'; readonly count: number }
  | {
      readonly type: 'failure-rate';
      /** Bucket id (`floor(now / bucketMs)`) of the newest bucket. */
      readonly head: number;
      /** `[calls, failures, slow]` per bucket, bucket `id % buckets` at index `3 * (id % buckets)`. */
      readonly counts: readonly number[];
    }
  | {
      readonly type: 'count-window';
      /** Index of the next slot to write. */
      readonly next: number;
      /** Number of slots holding a call (≤ size). */
      readonly filled: number;
      /** Per slot: bit 1 = failed, bit 2 = slow. */
      readonly flags: readonly number[];
    };

/**
 * What a window holds at `now`: calls, failures and slow calls it still counts.
 *
 * @example
 * ```ts
 * import { countWindow, type WindowStats } from 'breakwater/breaker';
 *
 * // How the rule would judge the last calls, without a breaker.
 * const window = countWindow({ size: 20, threshold: 0.5 }).create();
 * for (const failed of recentOutcomes) window.record(Date.now(), failed, false);
 * const { calls, failures, slow }: WindowStats = window.stats(Date.now());
 * console.log(`${failures} of ${calls} failed, ${slow} slow`);
 * ```
 */
export interface WindowStats {
  readonly calls: number;
  readonly failures: number;
  readonly slow: number;
}

/**
 * The mutable statistics of one breaker, created by a {@link BreakerStrategy}. A window is a pure
 * function of the outcomes recorded and the `now` passed in: it starts no timers and reads no clock.
 *
 * @example
 * ```ts
 * import { failureRate, type StrategyWindow } from 'breakwater/breaker';
 *
 * // A window is pure: replay outcomes through a rule to see when a breaker would open.
 * const window: StrategyWindow = failureRate({ threshold: 0.5, window: 10_000, minThroughput: 4 }).create();
 * const opens = [false, true, false, true].map((failed, i) => window.record(i * 100, failed, false));
 * // [false, false, false, true]: at the 4th call, 2 of the 4 calls failed (the threshold, 0.5)
 * ```
 */
export interface StrategyWindow {
  /** The window needs the time of each outcome (a time-bucketed window). */
  readonly clocked?: boolean;
  /**
   * Records one finished call at `now`. Returns true when the breaker should open; only a failed or
   * slow call can return true.
   */
  record(now: number, failed: boolean, slow: boolean): boolean;
  /** Forgets every recorded call. */
  reset(): void;
  /** The calls the window counts at `now` (stale buckets are evicted first). */
  stats(now: number): WindowStats;
  /** Plain-JSON state for a snapshot. */
  toJSON(): WindowSnapshot;
  /** Restores from a snapshot of the same strategy; returns false (and changes nothing) otherwise. */
  restore(snapshot: WindowSnapshot): boolean;
}

/**
 * When a circuit breaker opens. Strategies are immutable and can be shared by many breakers; each
 * breaker calls `create` once for its own window.
 *
 * @example
 * ```ts
 * import { type BreakerStrategy, circuitBreaker, failureRate } from 'breakwater/breaker';
 *
 * // One immutable strategy shared by many breakers; each keeps its own window.
 * const strategy: BreakerStrategy = failureRate({ threshold: 0.5, window: 30_000 });
 * const search = circuitBreaker({ strategy, name: 'search' });
 * const billing = circuitBreaker({ strategy, name: 'billing' });
 * ```
 */
export interface BreakerStrategy {
  /** Which rule this is. */
  readonly type: WindowSnapshot['type'];
  /**
   * Creates a window. `slowRate` (from the breaker's `slowCall.rate`) is the share of slow calls at
   * which a rate strategy opens; `consecutive` counts a slow call as a failure instead.
   */
  create(slowRate?: number): StrategyWindow;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

class ConsecutiveWindow implements StrategyWindow {
  count = 0;
  readonly #n: number;
  constructor(n: number) {
    this.#n = n;
  }
  record(_now: number, failed: boolean, slow: boolean): boolean {
    if (!failed && !slow) {
      this.count = 0;
      return false;
    }
    return ++this.count >= this.#n;
  }
  reset(): void {
    this.count = 0;
  }
  stats(): WindowStats {
    return { calls: this.count, failures: this.count, slow: 0 };
  }
  toJSON(): WindowSnapshot {
    return { type: 'consecutive', count: this.count };
  }
  restore(s: WindowSnapshot): boolean {
    if (s.type !== 'consecutive' || !isCount(s.count)) return false;
    this.count = s.count;
    return true;
  }
}

/**
 * Opens after `n` handled failures in a row; any counted success resets the count. With a
 * `slowCall` rule, a slow call counts as a failure here.
 *
 * @throws RangeError / TypeError when `n` is not an integer ≥ 1.
 * @example
 * ```ts
 * const breaker = circuitBreaker({ strategy: consecutive(5), breakDuration: 10_000 });
 * ```
 */
export function consecutive(n: number): BreakerStrategy {
  checkNumber('n', n, 1, { integer: true });
  return { type: 'consecutive', create: () => new ConsecutiveWindow(n) };
}

/**
 * Options for {@link failureRate}.
 *
 * @example
 * ```ts
 * import { circuitBreaker, type FailureRateOptions, failureRate } from 'breakwater/breaker';
 *
 * // Judged over the last minute in 5 s buckets, once 20 calls finished in it.
 * const options: FailureRateOptions = { threshold: 0.5, window: 60_000, minThroughput: 20, buckets: 12 };
 * const breaker = circuitBreaker({ strategy: failureRate(options) });
 * ```
 */
export interface FailureRateOptions {
  /** Share of failed calls, in (0, 1], at which the breaker opens. */
  readonly threshold: number;
  /** Length of the sliding time window in ms. */
  readonly window: number;
  /**
   * Fewest calls in the window before the rate is judged.
   * @defaultValue 10
   */
  readonly minThroughput?: number | undefined;
  /**
   * Number of buckets the window is split into (its time resolution is `window / buckets`).
   * @defaultValue 10
   */
  readonly buckets?: number | undefined;
}

const slot = (id: number, n: number): number => ((id % n) + n) % n;

function rateOpens(
  calls: number,
  bad: number,
  slow: number,
  min: number,
  threshold: number,
  slowRate: number,
): boolean {
  return calls >= min && (bad / calls >= threshold || slow / calls >= slowRate);
}

interface RateConfig {
  readonly ms: number;
  readonly n: number;
  readonly threshold: number;
  readonly min: number;
  readonly slowRate: number;
}

/**
 * Interns immutable settings in a bounded cache: breakers built from equal options (each with its
 * own options object) share one settings object, so an instance holds only its own state.
 * @internal
 */
export function intern<T extends object>(cache: Map<string, T>, values: T): T {
  const key = Object.values(values).join(' ');
  const known = cache.get(key);
  if (known !== undefined) return known;
  if (cache.size < 64) cache.set(key, values);
  return values;
}

const configs = /*#__PURE__*/ new Map<string, RateConfig>();

class FailureRateWindow implements StrategyWindow {
  get clocked(): boolean {
    return true;
  }

  readonly #c: RateConfig;
  #counts: number[] | undefined = undefined;
  #head = 0;
  #calls = 0;
  #failures = 0;
  #slow = 0;

  constructor(config: RateConfig) {
    this.#c = config;
  }

  // Evicts every bucket that fell out of the window by bucket `id`: the window is exact after any
  // idle time. Only needed when `id` differs from the head.
  #advance(id: number): void {
    const n = this.#c.n;
    const head = this.#head;
    const counts = this.#counts;
    if (counts !== undefined && this.#calls > 0) {
      if (id <= head) return; // same bucket, or the clock stepped back: count in the newest one
      if (id - head >= n) {
        counts.fill(0);
        this.#calls = this.#failures = this.#slow = 0;
      } else {
        for (let b = head + 1; b <= id; b++) {
          const i = 3 * slot(b, n);
          this.#calls -= counts[i] as number;
          this.#failures -= counts[i + 1] as number;
          this.#slow -= counts[i + 2] as number;
          counts[i] = counts[i + 1] = counts[i + 2] = 0;
        }
      }
    }
    this.#head = id;
  }

  record(now: number, failed: boolean, slow: boolean): boolean {
    const id = Math.floor(now / this.#c.ms);
    if (id !== this.#head) this.#advance(id);
    let counts = this.#counts;
    if (counts === undefined) {
      counts = new Array<number>(3 * this.#c.n).fill(0);
      this.#counts = counts;
    }
    const i = 3 * slot(this.#head, this.#c.n);
    counts[i] = (counts[i] as number) + 1;
    this.#calls++;
    if (failed) {
      counts[i + 1] = (counts[i + 1] as number) + 1;
      this.#failures++;
    }
    if (slow) {
      counts[i + 2] = (counts[i + 2] as number) + 1;
      this.#slow++;
    }
    if (!failed && !slow) return false;
    const c = this.#c;
    return rateOpens(this.#calls, this.#failures, this.#slow, c.min, c.threshold, c.slowRate);
  }

  reset(): void {
    this.#counts?.fill(0);
    this.#calls = this.#failures = this.#slow = 0;
  }

  stats(now: number): WindowStats {
    const id = Math.floor(now / this.#c.ms);
    if (id !== this.#head) this.#advance(id);
    return { calls: this.#calls, failures: this.#failures, slow: this.#slow };
  }

  toJSON(): WindowSnapshot {
    const counts = this.#counts?.slice() ?? new Array<number>(3 * this.#c.n).fill(0);
    return { type: 'failure-rate', head: this.#head, counts };
  }

  restore(s: WindowSnapshot): boolean {
    if (s.type !== 'failure-rate' || !Number.isInteger(s.head) || !Array.isArray(s.counts)) return false;
    if (s.counts.length !== 3 * this.#c.n || !s.counts.every(isCount)) return false;
    this.#counts = s.counts.slice();
    this.#head = s.head;
    this.#calls = this.#failures = this.#slow = 0;
    for (let i = 0; i < s.counts.length; i += 3) {
      this.#calls += s.counts[i] as number;
      this.#failures += s.counts[i + 1] as number;
      this.#slow += s.counts[i + 2] as number;
    }
    return true;
  }
}

function checkThreshold(name: string, value: unknown): number {
  return checkNumber(name, value, 0, { exclusiveMin: true, max: 1 });
}

/**
 * Opens when, within the last `window` ms, at least `minThroughput` calls finished and the share of
 * failures reached `threshold`. The window is a ring of time buckets evicted lazily on every read
 * and write, so it stays exact after any idle period and needs no timer.
 *
 * @throws RangeError / TypeError when `threshold` is outside (0, 1], `window` is not > 0,
 * `minThroughput` is not an integer ≥ 1, or `buckets` is not an integer in [1, 1000].
 * @example
 * ```ts
 * const breaker = circuitBreaker({
 *   strategy: failureRate({ threshold: 0.5, minThroughput: 20, window: 30_000 }),
 * });
 * ```
 */
export function failureRate(options: FailureRateOptions): BreakerStrategy {
  checkObject('options', options);
  if (options === undefined) throw new TypeError('Expected `options` to be an object, got undefined');
  const threshold = checkThreshold('threshold', options.threshold);
  const window = checkNumber('window', options.window, 0, { exclusiveMin: true });
  if (!Number.isFinite(window)) throw new TypeError('Expected `window` to be a finite number, got Infinity');
  const min = checkNumber('minThroughput', options.minThroughput ?? 10, 1, { integer: true });
  const buckets = checkNumber('buckets', options.buckets ?? 10, 1, { integer: true, max: 1000 });
  const ms = window / buckets;
  return {
    type: 'failure-rate',
    create: (slowRate = Number.POSITIVE_INFINITY) =>
      new FailureRateWindow(intern(configs, { ms, n: buckets, threshold, min, slowRate })),
  };
}

/**
 * Options for {@link countWindow}.
 *
 * @example
 * ```ts
 * import { circuitBreaker, type CountWindowOptions, countWindow } from 'breakwater/breaker';
 *
 * // Opens when a quarter of the last 100 calls failed (judged from the 20th call on).
 * const options: CountWindowOptions = { size: 100, threshold: 0.25, minCalls: 20 };
 * const breaker = circuitBreaker({ strategy: countWindow(options) });
 * ```
 */
export interface CountWindowOptions {
  /** Number of most recent calls judged. */
  readonly size: number;
  /** Share of failed calls, in (0, 1], at which the breaker opens. */
  readonly threshold: number;
  /**
   * Fewest calls recorded before the rate is judged (≤ `size`).
   * @defaultValue `size`
   */
  readonly minCalls?: number | undefined;
}

class CountWindow implements StrategyWindow {
  readonly #size: number;
  readonly #threshold: number;
  readonly #min: number;
  readonly #slowRate: number;
  #flags: Uint8Array | undefined = undefined;
  #next = 0;
  #filled = 0;
  #failures = 0;
  #slow = 0;

  constructor(size: number, threshold: number, min: number, slowRate: number) {
    this.#size = size;
    this.#threshold = threshold;
    this.#min = min;
    this.#slowRate = slowRate;
  }

  record(_now: number, failed: boolean, slow: boolean): boolean {
    let flags = this.#flags;
    if (flags === undefined) {
      flags = new Uint8Array(this.#size);
      this.#flags = flags;
    }
    const i = this.#next;
    if (this.#filled === this.#size) {
      const old = flags[i] as number;
      if (old & 1) this.#failures--;
      if (old & 2) this.#slow--;
    } else this.#filled++;
    flags[i] = (failed ? 1 : 0) | (slow ? 2 : 0);
    if (failed) this.#failures++;
    if (slow) this.#slow++;
    this.#next = i + 1 === this.#size ? 0 : i + 1;
    if (!failed && !slow) return false;
    return rateOpens(this.#filled, this.#failures, this.#slow, this.#min, this.#threshold, this.#slowRate);
  }

  reset(): void {
    this.#flags?.fill(0);
    this.#next = this.#filled = this.#failures = this.#slow = 0;
  }

  stats(): WindowStats {
    return { calls: this.#filled, failures: this.#failures, slow: this.#slow };
  }

  toJSON(): WindowSnapshot {
    const flags = this.#flags === undefined ? new Array<number>(this.#size).fill(0) : Array.from(this.#flags);
    return { type: 'count-window', next: this.#next, filled: this.#filled, flags };
  }

  restore(s: WindowSnapshot): boolean {
    if (s.type !== 'count-window' || !Array.isArray(s.flags) || s.flags.length !== this.#size) return false;
    if (!isCount(s.next) || s.next >= this.#size || !isCount(s.filled) || s.filled > this.#size) return false;
    if (!s.flags.every((f) => isCount(f) && f <= 3)) return false;
    this.#flags = Uint8Array.from(s.flags);
    this.#next = s.next;
    this.#filled = s.filled;
    this.#failures = this.#slow = 0;
    for (const f of s.flags) {
      if (f & 1) this.#failures++;
      if (f & 2) this.#slow++;
    }
    return true;
  }
}

/**
 * Opens when, among the last `size` calls (once at least `minCalls` were recorded), the share of
 * failures reached `threshold`.
 *
 * @throws RangeError / TypeError when `size` is not an integer in [1, 100 000], `threshold` is
 * outside (0, 1], or `minCalls` is not an integer in [1, size].
 * @example
 * ```ts
 * const breaker = circuitBreaker({ strategy: countWindow({ size: 50, threshold: 0.3, minCalls: 10 }) });
 * ```
 */
export function countWindow(options: CountWindowOptions): BreakerStrategy {
  checkObject('options', options);
  if (options === undefined) throw new TypeError('Expected `options` to be an object, got undefined');
  const size = checkNumber('size', options.size, 1, { integer: true, max: 100_000 });
  const threshold = checkThreshold('threshold', options.threshold);
  const min = checkNumber('minCalls', options.minCalls ?? size, 1, { integer: true, max: size });
  return {
    type: 'count-window',
    create: (slowRate = Number.POSITIVE_INFINITY) => new CountWindow(size, threshold, min, slowRate),
  };
}
