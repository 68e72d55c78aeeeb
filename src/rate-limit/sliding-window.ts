// The sliding window as plain functions over a state object and `now`. The window is kept as up to
// SLOTS + 1 time slots of width per / SLOTS holding the cost admitted in them; a slot counts until
// it is wholly older than the window, so an admission counts for between `per` and
// `per × (1 + 1/SLOTS)`: no window of length `per` ever holds more than `limit`, memory per key
// is bounded, and a saturated window still admits ≥ SLOTS / (SLOTS + 1) of `limit` per `per`.
import { EPS } from './token-bucket.js';

/** Slots per window. @internal */
export const SLOTS = 50;

/** A window's parameters: at most `limit` cost per `per` ms; `width` = per / SLOTS. @internal */
export interface SlidingWindowConfig {
  readonly limit: number;
  readonly per: number;
  readonly width: number;
}

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

/**
 * Drops slots that left the window at `now`. A clock that went back shifts the slots back by as
 * many slots as the current slot moved (every admission keeps its age, so none counts for less time
 * than before) and the hold-off by the step: nothing is minted.
 * @internal
 */
export function swPrune(s: SlidingWindowState, now: number, c: SlidingWindowConfig): void {
  if (now < s.seen) {
    // Shift by the slots the clock went back, so that every admission keeps its age in slots.
    const shift = Math.floor(s.seen / c.width) - Math.floor(now / c.width);
    if (shift > 0) for (let i = 0; i < s.slots.length; i += 2) (s.slots[i] as number) -= shift;
    s.off += shift;
    s.until -= s.seen - now;
  }
  s.seen = now;
  const min = Math.floor(now / c.width) - SLOTS;
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
 * Ms from `now` until `cost` fits, assuming no other admission. Exact while `cost ≤ limit`; a larger
 * `cost` (a queue's total, for an estimate) adds one window per further `limit`.
 * @internal
 */
export function swWait(s: SlidingWindowState, cost: number, now: number, c: SlidingWindowConfig): number {
  swPrune(s, now, c);
  let extra = 0;
  if (cost > c.limit) {
    const more = Math.ceil(cost / c.limit) - 1;
    cost -= more * c.limit;
    extra = more * (c.per + c.width);
  }
  const start = Math.max(s.until, now);
  const need = s.sum + cost - c.limit;
  if (need <= EPS) return start - now + extra;
  const a = s.slots;
  let freed = 0;
  for (let i = 0; i < a.length; i += 2) {
    freed += a[i + 1] as number;
    if (freed + EPS >= need) {
      const gone = ((a[i] as number) + SLOTS + 1) * c.width;
      return Math.max(gone, start) - now + extra;
    }
  }
  return start - now + extra; // unreachable while cost ≤ limit: emptying the window frees everything
}

function add(s: SlidingWindowState, index: number, cost: number): void {
  const a = s.slots;
  const n = a.length;
  if (n > 0 && a[n - 2] === index) (a[n - 1] as number) += cost;
  else a.push(index, cost);
  s.sum += cost;
}

/** Admits `cost` now if it fits and returns 0; otherwise changes nothing and returns the wait (ms). @internal */
export function swTake(s: SlidingWindowState, cost: number, now: number, c: SlidingWindowConfig): number {
  swPrune(s, now, c);
  if (s.until <= now && s.sum + cost <= c.limit + EPS) {
    add(s, Math.floor(now / c.width), cost);
    return 0;
  }
  return swWait(s, cost, now, c);
}

/** The stamp of an admission made now, for a later {@link swAdjust}: its slot's id. @internal */
export function swStamp(s: SlidingWindowState, now: number, c: SlidingWindowConfig): number {
  swPrune(s, now, c);
  return Math.floor(now / c.width) + s.off;
}

/**
 * Trues up an admission with stamp `stamp` ({@link swStamp}): a refund (`delta < 0`) comes off that
 * admission's slot while it is still in the window (never below zero); a charge goes to that slot,
 * or to the current one once it has left.
 * @internal
 */
export function swAdjust(
  s: SlidingWindowState,
  delta: number,
  stamp: number,
  now: number,
  c: SlidingWindowConfig,
): void {
  swPrune(s, now, c);
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
  if (delta > 0) add(s, Math.floor(now / c.width), delta);
}

/** Admits nothing for `ms` (a server's Retry-After). @internal */
export function swBlock(s: SlidingWindowState, ms: number, now: number, c: SlidingWindowConfig): void {
  swPrune(s, now, c);
  if (now + ms > s.until) s.until = now + ms;
}

/** Fills the window so that at most `remaining` is left (a server's remaining count). @internal */
export function swCap(s: SlidingWindowState, remaining: number, now: number, c: SlidingWindowConfig): void {
  swPrune(s, now, c);
  const free = c.limit - s.sum;
  if (free > remaining) add(s, Math.floor(now / c.width), free - Math.max(remaining, 0));
}
