import { BreakwaterError, type BreakwaterErrorOptions, errorGuard } from '../core/errors.js';

/**
 * Why a {@link NoRouteError} was thrown.
 *
 * @example
 * ```ts
 * import { isNoRouteError, type NoRouteReason } from 'breakwater/messaging';
 *
 * try {
 *   await intents.route(text);
 * } catch (e) {
 *   if (!isNoRouteError(e)) throw e;
 *   const reason: NoRouteReason = e.reason;
 *   await say(reason === 'low-confidence' ? `Did you mean ${e.route}?` : 'Sorry, I cannot help with that.');
 * }
 * ```
 */
export type NoRouteReason = 'no-match' | 'low-confidence';

/**
 * Thrown by a router when no route matches (or the match is below `minConfidence`) and there is
 * no `otherwise` handler.
 *
 * @example
 * ```ts
 * try { await intents.route(msg); }
 * catch (e) { if (isNoRouteError(e)) console.log(e.reason, e.route, e.confidence); }
 * ```
 */
export class NoRouteError extends BreakwaterError {
  /** `'no-match'` when no route matched, `'low-confidence'` when the match was below `minConfidence`. */
  readonly reason: NoRouteReason;
  /** The name of the low-confidence route, if any. */
  readonly route: string | undefined;
  /** The confidence of the low-confidence route, if any. */
  readonly confidence: number | undefined;

  constructor(reason: NoRouteReason, route?: string, confidence?: number, options?: BreakwaterErrorOptions) {
    super(
      'ERR_NO_ROUTE',
      reason === 'no-match' ? 'No route matched the message' : 'The matching route was below `minConfidence`',
      options,
    );
    this.reason = reason;
    this.route = route;
    this.confidence = confidence;
  }
}

/**
 * True for a {@link NoRouteError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isNoRouteError(e)) return fallbackAnswer();
 *   throw e;
 * }
 * ```
 */
export const isNoRouteError: (error: unknown) => error is NoRouteError =
  /*#__PURE__*/ errorGuard<NoRouteError>('ERR_NO_ROUTE');

/**
 * Thrown by a filter with `onReject: 'throw'` when its predicate rejects a message.
 *
 * @example
 * ```ts
 * const safe = filter(isSafe, { onReject: 'throw' }).to(agent);
 * try { await safe(prompt, ctx); } catch (e) { if (isFilteredError(e)) refuse(); }
 * ```
 */
export class FilteredError extends BreakwaterError {
  /** The filter's `name` option, if one was given. */
  readonly filter: string | undefined;

  constructor(filter?: string, options?: BreakwaterErrorOptions) {
    super('ERR_FILTERED', 'The message was rejected by a filter', options);
    this.filter = filter;
  }
}

/**
 * True for a {@link FilteredError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isFilteredError(e)) return 'Sorry, I cannot help with that.';
 *   throw e;
 * }
 * ```
 */
export const isFilteredError: (error: unknown) => error is FilteredError =
  /*#__PURE__*/ errorGuard<FilteredError>('ERR_FILTERED');

/**
 * Thrown by `aggregator().add()` with `late: 'reject'` when the message's key already completed.
 * The key is a property, never part of the message text.
 *
 * @example
 * ```ts
 * try { agg.add(msg); } catch (e) { if (isLateMessageError(e)) deadLetter(msg); }
 * ```
 */
export class LateMessageError extends BreakwaterError {
  /** The correlation key that had already completed. */
  readonly key: unknown;

  constructor(key: unknown, options?: BreakwaterErrorOptions) {
    super('ERR_LATE_MESSAGE', 'A message arrived for a correlation key that already completed', options);
    this.key = key;
  }
}

/**
 * True for a {@link LateMessageError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isLateMessageError(e)) deadLetter(msg);
 * ```
 */
export const isLateMessageError: (error: unknown) => error is LateMessageError =
  /*#__PURE__*/ errorGuard<LateMessageError>('ERR_LATE_MESSAGE');

/**
 * Thrown by `aggregator().add()` after `close()`.
 *
 * @example
 * ```ts
 * agg.close();
 * try { agg.add(msg); } catch (e) { if (isAggregatorClosedError(e)) console.log('closed'); }
 * ```
 */
export class AggregatorClosedError extends BreakwaterError {
  constructor(options?: BreakwaterErrorOptions) {
    super('ERR_AGGREGATOR_CLOSED', 'The aggregator is closed', options);
  }
}

/**
 * True for an {@link AggregatorClosedError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isAggregatorClosedError(e)) return; // shutting down: the message is redelivered elsewhere
 *   throw e;
 * }
 * ```
 */
export const isAggregatorClosedError: (error: unknown) => error is AggregatorClosedError =
  /*#__PURE__*/ errorGuard<AggregatorClosedError>('ERR_AGGREGATOR_CLOSED');

/**
 * The abort reason a scatter-gather branch sees on its `ctx.signal` when the gather decided
 * without it (another branch won, a quorum was reached, or the gather became unsatisfiable).
 *
 * @example
 * ```ts
 * handler: async (req, { signal }) => {
 *   try { return await model(req, { signal }); }
 *   catch (e) { if (isBranchCancelledError(signal.reason)) metrics.cancelled++; throw e; }
 * }
 * ```
 */
export class BranchCancelledError extends BreakwaterError {
  constructor(options?: BreakwaterErrorOptions) {
    super('ERR_BRANCH_CANCELLED', 'The gather decided without this branch', options);
  }
}

/**
 * True for a {@link BranchCancelledError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * const consensus = scatterGather<string, string>({
 *   handlers: {
 *     gpt: async (question, { signal }) => {
 *       try {
 *         return await askGpt(question, { signal });
 *       } catch (e) {
 *         if (!isBranchCancelledError(signal.reason)) log.warn('gpt failed', e); // not when it lost
 *         throw e;
 *       }
 *     },
 *     claude: askClaude,
 *   },
 *   gather: 'first',
 * });
 * ```
 */
export const isBranchCancelledError: (error: unknown) => error is BranchCancelledError =
  /*#__PURE__*/ errorGuard<BranchCancelledError>('ERR_BRANCH_CANCELLED');

/**
 * Thrown by an aggregator store when it cannot hold a correlation key's lock: it waited `lockWait`
 * for it (`'timeout'`), or its lease lapsed before the write, so the write was refused (`'lost'`;
 * another process may hold the key now). Nothing was stored; retry the operation (a broker does by
 * redelivering).
 *
 * @example
 * ```ts
 * try { await results.add(part); } catch (e) { if (isAggregatorLockError(e)) msg.nak(1000); }
 * ```
 */
export class AggregatorLockError extends BreakwaterError {
  /** The correlation key. */
  readonly key: string;
  /** `'timeout'`: the lock was not acquired in time; `'lost'`: the lease lapsed before the write. */
  readonly reason: 'timeout' | 'lost';

  constructor(key: string, reason: 'timeout' | 'lost', options?: BreakwaterErrorOptions) {
    super(
      'ERR_AGGREGATOR_LOCK',
      reason === 'timeout'
        ? 'Timed out waiting for the lock of an aggregator group'
        : 'The lock of an aggregator group lapsed before the write',
      options,
    );
    this.key = key;
    this.reason = reason;
  }
}

/**
 * True for an {@link AggregatorLockError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isAggregatorLockError(e)) return retryLater();
 *   throw e;
 * }
 * ```
 */
export const isAggregatorLockError: (error: unknown) => error is AggregatorLockError =
  /*#__PURE__*/ errorGuard<AggregatorLockError>('ERR_AGGREGATOR_LOCK');
