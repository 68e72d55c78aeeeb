import { type Clock, systemClock } from './clock.js';
import { checkNumber } from './validate.js';

/** What a sliding budget is built from (retry and hedge budgets each document their own defaults). @internal */
export interface SlidingBudgetOptions {
  readonly ratio?: number | undefined;
  readonly minPerSecond?: number | undefined;
  readonly window?: number | undefined;
  readonly clock?: Pick<Clock, 'now'> | undefined;
}

const BUCKETS = 10;

/**
 * Extra work (retries, hedges) capped to `ratio × calls + minPerSecond × window` over a sliding
 * window of 10 buckets, evicted lazily on access (correct after any idle period, no timers). The
 * retry budget and the hedge budget are this with their own names and defaults.
 * @internal
 */
export class SlidingBudget {
  readonly #ratio: number;
  readonly #floor: number;
  readonly #width: number;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #calls = new Float64Array(BUCKETS);
  readonly #spent = new Float64Array(BUCKETS);
  /** Index (in bucket widths since the epoch) of the newest bucket. */
  #head: number;
  #totalCalls = 0;
  #totalSpent = 0;

  constructor(o: SlidingBudgetOptions | undefined, ratio: number, minPerSecond: number) {
    this.#ratio = checkNumber('ratio', o?.ratio ?? ratio, 0);
    const perSecond = checkNumber('minPerSecond', o?.minPerSecond ?? minPerSecond, 0);
    const window = checkNumber('window', o?.window ?? 10_000, 0, { exclusiveMin: true });
    this.#clock = o?.clock ?? systemClock;
    this.#width = window / BUCKETS;
    this.#floor = (perSecond * window) / 1000;
    this.#head = Math.floor(this.#clock.now() / this.#width);
  }

  /** Calls counted in the current window. */
  get calls(): number {
    this.#roll();
    return this.#totalCalls;
  }

  /** Extra work spent in the current window. */
  get spent(): number {
    this.#roll();
    return this.#totalSpent;
  }

  /** Counts one call. */
  recordCall(): void {
    const slot = this.#roll();
    this.#calls[slot] = (this.#calls[slot] as number) + 1;
    this.#totalCalls++;
  }

  /** Spends one unit of extra work if the budget allows it. */
  trySpend(): boolean {
    const slot = this.#roll();
    if (this.#totalSpent + 1 > this.#ratio * this.#totalCalls + this.#floor) return false;
    this.#spent[slot] = (this.#spent[slot] as number) + 1;
    this.#totalSpent++;
    return true;
  }

  /** Clears every bucket older than the window, however long the idle; returns the newest slot. */
  #roll(): number {
    const current = Math.floor(this.#clock.now() / this.#width);
    const head = this.#head;
    if (current > head) {
      const steps = Math.min(current - head, BUCKETS);
      for (let i = 1; i <= steps; i++) {
        const slot = (head + i) % BUCKETS;
        this.#totalCalls -= this.#calls[slot] as number;
        this.#totalSpent -= this.#spent[slot] as number;
        this.#calls[slot] = 0;
        this.#spent[slot] = 0;
      }
      this.#head = current;
    }
    return this.#head % BUCKETS; // a clock that stepped back keeps writing to the newest bucket
  }
}
