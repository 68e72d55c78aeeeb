/**
 * Rate limiting: a token bucket or a sliding window per key, weighted costs trued up after the call
 * (LLM tokens), reject or wait (FIFO, deadline-aware), shadow mode, server feedback from
 * Retry-After and OpenAI/Anthropic rate limit headers, and a store shared by a fleet
 * (`breakwater/rate-limit/redis`).
 *
 * @example
 * ```ts
 * import { rateLimit } from 'breakwater/rate-limit';
 *
 * const limiter = rateLimit({ limit: 10, per: 1000 });
 * await limiter.execute(() => callApi());
 * ```
 *
 * @module
 */
export {
  isRateLimitedError,
  isRateLimitStoreError,
  RateLimitedError,
  type RateLimitedErrorOptions,
  type RateLimitReason,
  RateLimitStoreError,
} from './errors.js';
export type { ServerHint } from './feedback.js';
export {
  type RateLimit,
  type RateLimitAcquireOptions,
  type RateLimitDecision,
  type RateLimitEvent,
  type RateLimitLease,
  type RateLimitOptions,
  type RateLimitRequest,
  type RateLimitSnapshot,
  rateLimit,
} from './rate-limit.js';
export type { Awaitable, RateLimitLimits, RateLimitStore, StoreDecision } from './store.js';
