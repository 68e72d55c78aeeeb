import { BreakwaterError, type BreakwaterErrorOptions, errorGuard } from '../core/errors.js';

/**
 * The abort reason a hedged attempt's signal receives when it lost: another attempt succeeded first
 * (or ended the call with a failure `handle` does not hedge). The call itself never rejects with it.
 *
 * @example
 * ```ts
 * await policy.execute(async ({ signal }) => {
 *   signal.addEventListener('abort', () => {
 *     if (isHedgeCancelledError(signal.reason)) metrics.count('hedge-loser');
 *   });
 *   return fetch(url, { signal });
 * });
 * ```
 */
export class HedgeCancelledError extends BreakwaterError {
  /** The attempt whose outcome ended the call (1 = the primary). */
  readonly winner: number;

  constructor(winner: number, options?: BreakwaterErrorOptions) {
    super('ERR_HEDGE_CANCELLED', `Hedged attempt cancelled: attempt ${winner} ended the call`, options);
    this.winner = winner;
  }
}

/**
 * True for a {@link HedgeCancelledError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * const answer = await hedged.execute(async ({ signal }) => {
 *   try {
 *     return await search(query, { signal });
 *   } catch (e) {
 *     if (!isHedgeCancelledError(signal.reason)) log.warn('search failed', e); // a lost race is no failure
 *     throw e;
 *   }
 * });
 * ```
 */
export const isHedgeCancelledError: (error: unknown) => error is HedgeCancelledError =
  /*#__PURE__*/ errorGuard<HedgeCancelledError>('ERR_HEDGE_CANCELLED');
