// The sliding window: a small state object per key and the algorithm's methods over it, taking
// `now`. The window is kept as up to SLOTS + 1 time slots of width per / SLOTS holding the cost
// admitted in them; a slot counts until it is wholly older than the window, so an admission counts
// for between `per` and `per × (1 + 1/SLOTS)`: no window of length `per` ever holds more than
// `limit`, memory per key is bounded, and a saturated window still admits ≥ SLOTS / (SLOTS + 1) of
// `limit` per `per`.
import type { Algorithm, KeyState, RateLimitLimits } from './store.js';
import { EPS } from './token-bucket.js';

/** Slots per window. @internal */
export const SLOTS = 50;

/**
 * One window: `slots` holds pairs (slot index, cost admitted in it), oldest first; `sum` is their
 * total; `until` holds admissions off (a server's Retry-After); `seen` is the latest clock reading;
 * `q` is the owner's waiting queue, if any. A slot's index is `floor(time / width)` in the clock's
 * current frame; after the clock steps back the stored indices are shifted into the new frame.
 * @internal
 */
export class SlidingWindowState {
  declare slots: number[];
  declare sum: number;
  declare until: number;
  declare seen: number;
  /** Slots shifted back so far (clock steps back): a slot's id `index + off` never changes. */
  declare off: number;
  declare q: unknown;
  /** Used since the store's last eviction sweep passed it (second-chance LRU). */
  declare u: boolean;
  constructor(now: number) {
    this.slots = [];
    this.sum = this.off = 0;
    this.until = this.seen = now;
    this.q = undefined;
    this.u = false;
  }
}

/** A sliding window admitting at most `limit` per `per` ms. @internal */
export class SlidingWindow implements Algorithm {
  declare readonly limit: number;
  declare readonly capacity: number;
  declare readonly per: number;
  /** `per / SLOTS`. */
  declare readonly width: number;
  constructor(l: RateLimitLimits) {
    this.limit = this.capacity = l.limit;
    this.per = l.per;
    this.width = l.per / SLOTS;
  }

  create(now: number): KeyState {
    return new SlidingWindowState(now);
  }

  /**
   * Drops slots that left the window at `now`. A clock that went back shifts the slots back by as
   * many slots as the current slot moved (every admission keeps its age, so none counts for less
   * time than before) and the hold-off by the step: nothing is minted.
   */
  prune(s: SlidingWindowState, now: number): void {
    const width = this.width;
    if (now < s.seen) {
      // Shift by the slots the clock went back, so that every admission keeps its age in slots.
      const shift = Math.floor(s.seen / width) - Math.floor(now / width);
      if (shift > 0) for (let i = 0; i < s.slots.length; i += 2) (s.slots[i] as number) -= shift;
      s.off += shift;
      s.until -= s.seen - now;
    }
    s.seen = now;
    const min = Math.floor(now / width) - SLOTS;
    const a = s.slots;
    let i = 0;
    while (i < a.length && (a[i] as number) < min) {
      s.sum -= a[i + 1] as number;
      i += 2;
    }
    if (i > 0) a.splice(0, i);
    if (a.length === 0) s.sum = 0; // no drift from float subtraction once empty
  }

  /**
   * Ms from `now` until `cost` fits, assuming no other admission. Exact while `cost ≤ limit`; a
   * larger `cost` (a queue's total, for an estimate) adds one window per further `limit`.
   */
  wait(state: KeyState, cost: number, now: number): number {
    const s = state as SlidingWindowState;
    this.prune(s, now);
    const limit = this.limit;
    let extra = 0;
    if (cost > limit) {
      const more = Math.ceil(cost / limit) - 1;
      cost -= more * limit;
      extra = more * (this.per + this.width);
    }
    const start = Math.max(s.until, now);
    const need = s.sum + cost - limit;
    if (need <= EPS) return start - now + extra;
    const a = s.slots;
    let freed = 0;
    for (let i = 0; i < a.length; i += 2) {
      freed += a[i + 1] as number;
      if (freed + EPS >= need) {
        const gone = ((a[i] as number) + SLOTS + 1) * this.width;
        return Math.max(gone, start) - now + extra;
      }
    }
    return start - now + extra; // unreachable while cost ≤ limit: emptying the window frees everything
  }

  /** Admits `cost` now if it fits and returns 0; otherwise changes nothing and returns the wait (ms). */
  take(state: KeyState, cost: number, now: number): number {
    const s = state as SlidingWindowState;
    this.prune(s, now);
    if (s.until <= now && s.sum + cost <= this.limit + EPS) {
      add(s, Math.floor(now / this.width), cost);
      return 0;
    }
    return this.wait(s, cost, now);
  }

  /** The stamp of an admission made now, for a later {@link SlidingWindow.adjust}: its slot's id. */
  stamp(state: KeyState, now: number): number {
    const s = state as SlidingWindowState;
    this.prune(s, now);
    return Math.floor(now / this.width) + s.off;
  }

  /**
   * Trues up an admission with stamp `stamp`: a refund (`delta < 0`) comes off that admission's
   * slot while it is still in the window (never below zero); a charge goes to that slot, or to the
   * current one once it has left.
   */
  adjust(state: KeyState, delta: number, stamp: number, now: number): void {
    const s = state as SlidingWindowState;
    this.prune(s, now);
    const index = stamp - s.off;
    const a = s.slots;
    for (let i = 0; i < a.length; i += 2) {
      if (a[i] === index) {
        const v = a[i + 1] as number;
        const next = Math.max(v + delta, 0);
        a[i + 1] = next;
        s.sum += next - v;
        return;
      }
    }
    if (delta > 0) add(s, Math.floor(now / this.width), delta);
  }

  /** Admits nothing for `ms` (a server's Retry-After). */
  block(state: KeyState, ms: number, now: number): void {
    const s = state as SlidingWindowState;
    this.prune(s, now);
    if (now + ms > s.until) s.until = now + ms;
  }

  /** Fills the window so that at most `remaining` is left (a server's remaining count). */
  cap(state: KeyState, remaining: number, now: number): void {
    const s = state as SlidingWindowState;
    this.prune(s, now);
    const free = this.limit - s.sum;
    if (free > remaining) add(s, Math.floor(now / this.width), free - Math.max(remaining, 0));
  }

  remaining(state: KeyState, now: number): number {
    this.prune(state as SlidingWindowState, now);
    return this.limit - (state as SlidingWindowState).sum;
  }

  blockedFor(state: KeyState, now: number): number {
    const s = state as SlidingWindowState;
    this.prune(s, now);
    return s.until > now ? s.until - now : 0;
  }
}

function add(s: SlidingWindowState, index: number, cost: number): void {
  const a = s.slots;
  const n = a.length;
  if (n > 0 && a[n - 2] === index) (a[n - 1] as number) += cost;
  else a.push(index, cost);
  s.sum += cost;
}
