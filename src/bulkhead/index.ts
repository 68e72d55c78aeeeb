/**
 * Bulkhead: bounds how many calls run at once, with a bounded FIFO queue, queue timeouts and
 * immediate removal of aborted waiters.
 *
 * @example
 * ```ts
 * import { bulkhead } from 'breakwater/bulkhead';
 *
 * const batch = bulkhead({ limit: 2, queue: 100 });
 * await batch.execute(() => summarize(doc));
 * ```
 *
 * @module
 */
export { type Bulkhead, type BulkheadEvent, type BulkheadOptions, bulkhead } from './bulkhead.js';
export { BulkheadRejectedError, type BulkheadRejectReason, isBulkheadRejectedError } from './errors.js';
