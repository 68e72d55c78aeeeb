// The token bucket as plain functions over a state object and `now`: the policy, the in-memory
// store and the property tests drive the same code. The Redis store runs the same arithmetic in Lua.

/** Slack for floating-point sums: a bucket short by less than this is full enough. @internal */
export const EPS = 1e-9;

/** A token bucket's parameters: `rate` tokens per ms, at most `capacity` tokens. @internal */
export interface TokenBucketConfig {
  readonly rate: number;
  readonly capacity: number;
}

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

/**
 * Brings `s` up to `now`: refills at `rate` since `at`, capped at `capacity`. A clock that went back
 * shifts `at` back by the same amount: no time passes, nothing is minted, a hold-off keeps its
 * remaining length.
 * @internal
 */
export function tbRefill(s: TokenBucketState, now: number, c: TokenBucketConfig): void {
  if (now < s.seen) s.at -= s.seen - now;
  s.seen = now;
  if (now > s.at) {
    const t = s.tokens + (now - s.at) * c.rate;
    s.tokens = Math.min(t, c.capacity);
    s.at = now;
  }
}

/** Ms from `now` until `cost` tokens are there (0: now), assuming no other take. @internal */
export function tbWait(s: TokenBucketState, cost: number, now: number, c: TokenBucketConfig): number {
  tbRefill(s, now, c);
  const held = s.at > now ? s.at - now : 0;
  const need = cost - s.tokens;
  return held + (need > EPS ? need / c.rate : 0);
}

/** Takes `cost` tokens if they are there now and returns 0; otherwise takes nothing and returns the wait (ms). @internal */
export function tbTake(s: TokenBucketState, cost: number, now: number, c: TokenBucketConfig): number {
  tbRefill(s, now, c);
  if (s.at <= now && s.tokens + EPS >= cost) {
    s.tokens -= cost;
    return 0;
  }
  return tbWait(s, cost, now, c);
}

/** Charges `delta` more tokens (a debt is allowed), or refunds `-delta` (never above capacity). @internal */
export function tbAdjust(s: TokenBucketState, delta: number, now: number, c: TokenBucketConfig): void {
  tbRefill(s, now, c);
  const t = s.tokens - delta;
  s.tokens = Math.min(t, c.capacity);
}

/** Empties the bucket and holds refill off for `ms` (a server's Retry-After). @internal */
export function tbBlock(s: TokenBucketState, ms: number, now: number, c: TokenBucketConfig): void {
  tbRefill(s, now, c);
  if (s.tokens > 0) s.tokens = 0;
  if (now + ms > s.at) s.at = now + ms;
}

/** Lowers the tokens to `remaining` if there are more (a server's remaining count). @internal */
export function tbCap(s: TokenBucketState, remaining: number, now: number, c: TokenBucketConfig): void {
  tbRefill(s, now, c);
  if (s.tokens > remaining) s.tokens = remaining;
}
