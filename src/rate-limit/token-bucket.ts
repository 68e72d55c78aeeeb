// The token bucket: a small state object per key and the algorithm's methods over it, taking `now`.
// The policy, the in-memory store and the model tests drive the same code. The Redis store runs the
// same arithmetic in Lua.
import type { Algorithm, KeyState, RateLimitLimits } from './store.js';

/** Slack for floating-point sums: a bucket short by less than this is full enough. @internal */
export const EPS = 1e-9;

/**
 * One bucket. `tokens` may be negative (a debt from a true-up charge); `at` is the time up to which
 * refill is accounted — later than the latest reading while a server asked us to hold off; `seen`
 * is the latest clock reading, so that a clock stepping back re-bases `at` instead of minting tokens.
 * `q` is the owner's waiting queue, if any (a bucket with waiters is never evicted).
 * @internal
 */
export class TokenBucketState {
  declare tokens: number;
  declare at: number;
  declare seen: number;
  declare q: unknown;
  /** Used since the store's last eviction sweep passed it (second-chance LRU). */
  declare u: boolean;
  constructor(tokens: number, now: number) {
    this.tokens = tokens;
    this.at = this.seen = now;
    this.q = undefined;
    this.u = false;
  }
}

/** A token bucket refilled at `rate` tokens per ms, holding at most `capacity`. @internal */
export class TokenBucket implements Algorithm {
  declare readonly rate: number;
  declare readonly capacity: number;
  constructor(l: RateLimitLimits) {
    this.rate = l.limit / l.per;
    this.capacity = l.capacity;
  }

  create(now: number): KeyState {
    return new TokenBucketState(this.capacity, now);
  }

  /**
   * Brings `s` up to `now`: refills at `rate` since `at`, capped at `capacity`. A clock that went
   * back shifts `at` back by the same amount: no time passes, nothing is minted, a hold-off keeps its
   * remaining length.
   */
  refill(s: TokenBucketState, now: number): void {
    if (now < s.seen) s.at -= s.seen - now;
    s.seen = now;
    if (now > s.at) {
      const t = s.tokens + (now - s.at) * this.rate;
      s.tokens = Math.min(t, this.capacity);
      s.at = now;
    }
  }

  /** Ms from `now` until `cost` tokens are there (0: now), assuming no other take. */
  wait(state: KeyState, cost: number, now: number): number {
    const s = state as TokenBucketState;
    this.refill(s, now);
    const need = cost - s.tokens;
    return (s.at > now ? s.at - now : 0) + (need > EPS ? need / this.rate : 0);
  }

  /** Takes `cost` tokens if they are there now and returns 0; otherwise takes nothing and returns the wait (ms). */
  take(state: KeyState, cost: number, now: number): number {
    const s = state as TokenBucketState;
    this.refill(s, now);
    if (s.at <= now && s.tokens + EPS >= cost) {
      s.tokens -= cost;
      return 0;
    }
    return this.wait(s, cost, now);
  }

  stamp(_s: KeyState, now: number): number {
    return now;
  }

  /** Charges `delta` more tokens (a debt is allowed), or refunds `-delta` (never above capacity). */
  adjust(state: KeyState, delta: number, _stamp: number, now: number): void {
    const s = state as TokenBucketState;
    this.refill(s, now);
    s.tokens = Math.min(s.tokens - delta, this.capacity);
  }

  /** Empties the bucket and holds refill off for `ms` (a server's Retry-After). */
  block(state: KeyState, ms: number, now: number): void {
    const s = state as TokenBucketState;
    this.refill(s, now);
    if (s.tokens > 0) s.tokens = 0;
    if (now + ms > s.at) s.at = now + ms;
  }

  /** Lowers the tokens to `remaining` if there are more (a server's remaining count). */
  cap(state: KeyState, remaining: number, now: number): void {
    const s = state as TokenBucketState;
    this.refill(s, now);
    if (s.tokens > remaining) s.tokens = remaining;
  }

  remaining(state: KeyState, now: number): number {
    this.refill(state as TokenBucketState, now);
    return (state as TokenBucketState).tokens;
  }

  blockedFor(state: KeyState, now: number): number {
    const s = state as TokenBucketState;
    this.refill(s, now);
    return s.at > now ? s.at - now : 0;
  }
}
