import { BreakwaterError, errorGuard } from '../core/errors.js';

/**
 * Why a bulkhead turned a call away.
 *
 * @example
 * ```ts
 * import { type BulkheadRejectReason, isBulkheadRejectedError } from 'breakwater/bulkhead';
 *
 * const status: Record<BulkheadRejectReason, number> = { full: 429, 'queue-timeout': 503 };
 * const r = await pool.executeOutcome(() => handle(req));
 * if (!r.ok && isBulkheadRejectedError(r.error)) res.status(status[r.error.reason]).end();
 * ```
 */
export type BulkheadRejectReason = 'full' | 'queue-timeout';

/**
 * Thrown by a bulkhead that cannot run a call: every slot and queue place is taken (`'full'`), or
 * the call waited in the queue longer than `queueTimeout` (`'queue-timeout'`).
 *
 * @example
 * ```ts
 * const r = await pool.executeOutcome(call);
 * if (!r.ok && isBulkheadRejectedError(r.error)) console.log(r.error.reason);
 * ```
 */
export class BulkheadRejectedError extends BreakwaterError {
  /** `'full'` or `'queue-timeout'`. */
  readonly reason: BulkheadRejectReason;

  constructor(reason: BulkheadRejectReason) {
    super(
      'ERR_BULKHEAD_REJECTED',
      reason === 'full' ? 'Bulkhead is full: the call was not attempted' : 'Bulkhead queue wait timed out',
    );
    this.reason = reason;
  }
}

/**
 * True for a {@link BulkheadRejectedError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isBulkheadRejectedError(e) && e.reason === 'full') return 'busy, try later';
 *   throw e;
 * }
 * ```
 */
export const isBulkheadRejectedError: (error: unknown) => error is BulkheadRejectedError =
  /*#__PURE__*/ errorGuard<BulkheadRejectedError>('ERR_BULKHEAD_REJECTED');
