import { BreakwaterError, type BreakwaterErrorOptions, errorGuard } from '../core/errors.js';
import type { ExpectedVersion } from './types.js';

/**
 * Thrown by `append` when the stream is not at the expected version. Carries both versions.
 *
 * @example
 * ```ts
 * try { await store.append('order-1', events, { expectedVersion: 3 }); }
 * catch (e) { if (isConcurrencyError(e)) console.log(e.expected, e.actual); }
 * ```
 */
export class ConcurrencyError extends BreakwaterError {
  /** The stream appended to. */
  readonly stream: string;
  /** What the caller expected. */
  readonly expected: ExpectedVersion;
  /** The stream's version when the append was tried (0 = no stream). */
  readonly actual: number;

  constructor(stream: string, expected: ExpectedVersion, actual: number, options?: BreakwaterErrorOptions) {
    super(
      'ERR_CONCURRENCY',
      `Stream version conflict: expected ${typeof expected === 'number' ? expected : `'${expected}'`}, actual ${actual}`,
      options,
    );
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * True for a {@link ConcurrencyError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isConcurrencyError(e)) reloadAndRetry();
 * ```
 */
export const isConcurrencyError: (error: unknown) => error is ConcurrencyError =
  /*#__PURE__*/ errorGuard<ConcurrencyError>('ERR_CONCURRENCY');

/**
 * Thrown by `append` when an event id is already stored with other content, in another stream or
 * at another version (a genuine retry of the same append is a no-op instead).
 *
 * @example
 * ```ts
 * if (isDuplicateEventError(e)) console.log(e.eventId);
 * ```
 */
export class DuplicateEventError extends BreakwaterError {
  /** The reused id. */
  readonly eventId: string;

  constructor(eventId: string, options?: BreakwaterErrorOptions) {
    super('ERR_DUPLICATE_EVENT', 'Event id already stored with other content or at another place', options);
    this.eventId = eventId;
  }
}

/**
 * True for a {@link DuplicateEventError}.
 *
 * @example
 * ```ts
 * if (isDuplicateEventError(e)) console.log(e.eventId);
 * ```
 */
export const isDuplicateEventError: (error: unknown) => error is DuplicateEventError =
  /*#__PURE__*/ errorGuard<DuplicateEventError>('ERR_DUPLICATE_EVENT');

/**
 * Thrown when a stored row cannot be turned back into an event (bad JSON, missing column, …).
 *
 * @example
 * ```ts
 * if (isCorruptEventError(e)) console.log(e.position, e.reason);
 * ```
 */
export class CorruptEventError extends BreakwaterError {
  /** Global position of the bad row, if known. */
  readonly position: number | undefined;
  /** What was wrong (never the payload itself). */
  readonly reason: string;

  constructor(position: number | undefined, reason: string, options?: BreakwaterErrorOptions) {
    super('ERR_CORRUPT_EVENT', `Stored event at position ${String(position)} is malformed: ${reason}`, options);
    this.position = position;
    this.reason = reason;
  }
}

/**
 * True for a {@link CorruptEventError}.
 *
 * @example
 * ```ts
 * if (isCorruptEventError(e)) alert(e.reason);
 * ```
 */
export const isCorruptEventError: (error: unknown) => error is CorruptEventError =
  /*#__PURE__*/ errorGuard<CorruptEventError>('ERR_CORRUPT_EVENT');

/**
 * A subscription or projection stopped because its handler kept failing on one event. `cause` is
 * the handler's last error.
 *
 * @example
 * ```ts
 * sub.done.catch((e) => { if (isSubscriptionError(e)) console.log(e.position); });
 * ```
 */
export class SubscriptionError extends BreakwaterError {
  /** Global position of the event that could not be processed. */
  readonly position: number;
  /** Its id. */
  readonly eventId: string;

  constructor(position: number, eventId: string, options?: BreakwaterErrorOptions) {
    super('ERR_SUBSCRIPTION', `Handler failed on the event at position ${position}`, options);
    this.position = position;
    this.eventId = eventId;
  }
}

/**
 * True for a {@link SubscriptionError}.
 *
 * @example
 * ```ts
 * if (isSubscriptionError(e)) console.log(e.eventId);
 * ```
 */
export const isSubscriptionError: (error: unknown) => error is SubscriptionError =
  /*#__PURE__*/ errorGuard<SubscriptionError>('ERR_SUBSCRIPTION');

/**
 * An async projection stopped: its batch kept failing after the retries, or its lock is held by
 * another instance (for `rebuild`). `cause` is the last error.
 *
 * @example
 * ```ts
 * runner.done.catch((e) => { if (isProjectionError(e)) console.log(e.projection); });
 * ```
 */
export class ProjectionError extends BreakwaterError {
  /** The projection's name. */
  readonly projection: string;

  constructor(projection: string, message: string, options?: BreakwaterErrorOptions) {
    super('ERR_PROJECTION', message, options);
    this.projection = projection;
  }
}

/**
 * True for a {@link ProjectionError}.
 *
 * @example
 * ```ts
 * if (isProjectionError(e)) console.log(e.projection);
 * ```
 */
export const isProjectionError: (error: unknown) => error is ProjectionError =
  /*#__PURE__*/ errorGuard<ProjectionError>('ERR_PROJECTION');
