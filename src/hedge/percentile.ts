/**
 * The latest `size` latency samples in a ring, and their percentile by nearest rank: the smallest
 * sample such that at least `p` % of the samples are ≤ it (`p = 100` is the maximum). Adding a
 * sample is O(1); a percentile is an O(n) selection over a scratch copy, so the hedge policy asks
 * for one only every few samples.
 * @internal
 */
export class LatencyWindow {
  readonly #ring: Float64Array;
  readonly #scratch: Float64Array;
  #count = 0;
  #next = 0;

  constructor(size: number) {
    this.#ring = new Float64Array(size);
    this.#scratch = new Float64Array(size);
  }

  /** Samples held (at most the window's size). */
  get count(): number {
    return this.#count;
  }

  /** Adds a sample, evicting the oldest once the window is full. */
  add(ms: number): void {
    const ring = this.#ring;
    ring[this.#next] = ms;
    this.#next = this.#next + 1 === ring.length ? 0 : this.#next + 1;
    if (this.#count < ring.length) this.#count++;
  }

  /** The `p`-th percentile (0 < p ≤ 100) of the samples held; `NaN` when there are none. */
  percentile(p: number): number {
    const n = this.#count;
    if (n === 0) return Number.NaN;
    const a = this.#scratch;
    a.set(n === this.#ring.length ? this.#ring : this.#ring.subarray(0, n));
    const rank = Math.min(n, Math.max(1, Math.ceil((p * n) / 100)));
    return select(a, n, rank - 1);
  }
}

/** The `k`-th smallest (0-based) of `a[0 .. n)`, reordering `a` (Hoare partition quickselect). */
function select(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) < pivot) i++;
      while ((a[j] as number) > pivot) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i] = a[j] as number;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k] as number;
  }
  return a[k] as number;
}
