import { BreakwaterError, type BreakwaterErrorOptions, errorGuard } from '../core/errors.js';

/**
 * Why a rate limiter turned a call away: not enough tokens now (`'limit'`, reject mode), the wait
 * would end past `maxWait` (`'max-wait'`) or past the call's deadline (`'deadline'`), the call costs
 * more than the bucket can ever hold (`'capacity'`, `retryAfter` is `Infinity`), or the shared store
 * is unreachable and `onStoreError` is `'fail-closed'` (`'store-unavailable'`).
 *
 * @example
 * ```ts
 * import { isRateLimitedError, type RateLimitReason } from 'breakwater/rate-limit';
 *
 * function httpStatus(reason: RateLimitReason): number {
 *   switch (reason) {
 *     case 'store-unavailable': return 503;
 *     case 'capacity': return 413; // the call can never fit
 *     default: return 429; // 'limit', 'max-wait', 'deadline'
 *   }
 * }
 * if (isRateLimitedError(error)) res.status(httpStatus(error.reason)).end();
 * ```
 */
export type RateLimitReason = 'limit' | 'max-wait' | 'deadline' | 'capacity' | 'store-unavailable';

/**
 * Options of {@link RateLimitedError}.
 *
 * @example
 * ```ts
 * import { RateLimitedError, type RateLimitedErrorOptions } from 'breakwater/rate-limit';
 *
 * // A quota check of your own fails as breakwater's limiter does (`retry` waits out `retryAfter`).
 * const options: RateLimitedErrorOptions = { key: tenant, cost: tokens };
 * if (quota.remaining(tenant) < tokens) throw new RateLimitedError('limit', quota.msUntilReset(tenant), options);
 * ```
 */
export interface RateLimitedErrorOptions extends BreakwaterErrorOptions {
  /** The partition the call was counted in. @defaultValue '' */
  readonly key?: string | undefined;
  /** The call's cost. @defaultValue 1 */
  readonly cost?: number | undefined;
}

/**
 * Thrown by a rate limiter that does not admit a call. `retryAfter` is how long (ms) until the call
 * would be admitted, as far as the limiter knows now; `retry` waits at least that long before its
 * next attempt.
 *
 * @example
 * ```ts
 * const r = await limiter.executeOutcome(call);
 * if (!r.ok && isRateLimitedError(r.error)) console.log(`try again in ${r.error.retryAfter} ms`);
 * ```
 */
export class RateLimitedError extends BreakwaterError {
  /** Milliseconds until the call would be admitted (`Infinity` when it never can be). */
  readonly retryAfter: number;
  /** Why the call was not admitted. */
  readonly reason: RateLimitReason;
  /** The partition key the call was counted in (`''` when the limiter is not keyed). */
  readonly key: string;
  /** The call's cost. */
  readonly cost: number;

  constructor(reason: RateLimitReason, retryAfter: number, options?: RateLimitedErrorOptions) {
    super(
      'ERR_RATE_LIMITED',
      reason === 'capacity'
        ? 'Rate limited: the call costs more than the bucket holds and can never be admitted'
        : reason === 'store-unavailable'
          ? 'Rate limited: the rate limit store is unavailable (fail-closed)'
          : `Rate limited (${reason}): retry after ${retryAfter} ms`,
      options,
    );
    this.retryAfter = retryAfter;
    this.reason = reason;
    this.key = options?.key ?? '';
    this.cost = options?.cost ?? 1;
  }
}

/**
 * True for a {@link RateLimitedError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isRateLimitedError(e)) res.setHeader('Retry-After', Math.ceil(e.retryAfter / 1000));
 * ```
 */
export const isRateLimitedError: (error: unknown) => error is RateLimitedError =
  /*#__PURE__*/ errorGuard<RateLimitedError>('ERR_RATE_LIMITED');

/**
 * Thrown (by default) when a shared rate limit store such as Redis cannot be reached or does not
 * answer in time; `cause` holds the client's error. With `onStoreError: 'fail-open'` or
 * `'fail-closed'` the limiter admits or rejects instead.
 *
 * @example
 * ```ts
 * if (isRateLimitStoreError(e)) log.warn('rate limit store down', e.cause);
 * ```
 */
export class RateLimitStoreError extends BreakwaterError {
  constructor(message: string, options?: BreakwaterErrorOptions) {
    super('ERR_RATE_LIMIT_STORE', message, options);
  }
}

/**
 * True for a {@link RateLimitStoreError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isRateLimitStoreError(e)) return degradeGracefully();
 *   throw e;
 * }
 * ```
 */
export const isRateLimitStoreError: (error: unknown) => error is RateLimitStoreError =
  /*#__PURE__*/ errorGuard<RateLimitStoreError>('ERR_RATE_LIMIT_STORE');
