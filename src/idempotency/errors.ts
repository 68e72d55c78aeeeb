import { BreakwaterError, type BreakwaterErrorOptions, errorGuard } from '../core/errors.js';

// Keys are not payloads, but they can be long: messages show at most this many characters of one.
const KEY_SHOWN = 100;
function showKey(key: string): string {
  return JSON.stringify(key.length > KEY_SHOWN ? `${key.slice(0, KEY_SHOWN)}…` : key);
}

/**
 * Thrown by `idempotent()` when a call has no `key` (and `onMissingKey` is `'throw'`, the default).
 *
 * @example
 * ```ts
 * await policy.execute(fn, { key: toolCall.id }); // not: policy.execute(fn)
 * ```
 */
export class IdempotencyKeyMissingError extends BreakwaterError {
  constructor() {
    super(
      'ERR_IDEMPOTENCY_KEY_MISSING',
      'An idempotent call needs a key: pass `execute(fn, { key })` (or set `onMissingKey: "pass-through"`)',
    );
  }
}

/**
 * Thrown when a key is reused with a different request payload (a different fingerprint).
 *
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isIdempotencyKeyReusedError(e)) return reply(422);
 *   throw e;
 * }
 * ```
 */
export class IdempotencyKeyReusedError extends BreakwaterError {
  /** The idempotency key. */
  readonly key: string;
  constructor(key: string) {
    super('ERR_IDEMPOTENCY_KEY_REUSED', `Idempotency key ${showKey(key)} was already used with a different payload`);
    this.key = key;
  }
}

/**
 * Thrown for a duplicate while the first call still runs: at once with `onDuplicate: 'reject'`, or
 * after `maxWait` with `'wait'`.
 *
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isIdempotencyInProgressError(e)) return reply(409, { retryAfterMs: e.retryAfter });
 *   throw e;
 * }
 * ```
 */
export class IdempotencyInProgressError extends BreakwaterError {
  /** The idempotency key. */
  readonly key: string;
  /** Milliseconds until the current holder's lease ends (a hint for when to try again). */
  readonly retryAfter: number;
  constructor(key: string, retryAfter: number) {
    super('ERR_IDEMPOTENCY_IN_PROGRESS', `A call with idempotency key ${showKey(key)} is already in progress`);
    this.key = key;
    this.retryAfter = retryAfter;
  }
}

/**
 * Thrown to a holder whose lease lapsed (or was taken over) before it could store its result; the
 * result was not stored.
 *
 * @example
 * ```ts
 * if (isIdempotencyLeaseLostError(e)) metrics.increment('idempotency.lease_lost');
 * ```
 */
export class IdempotencyLeaseLostError extends BreakwaterError {
  /** The idempotency key. */
  readonly key: string;
  constructor(key: string) {
    super(
      'ERR_IDEMPOTENCY_LEASE_LOST',
      `Lost the claim on idempotency key ${showKey(key)} before completing; the result was not stored`,
    );
    this.key = key;
  }
}

/**
 * Thrown when the idempotency store cannot be reached (connection refused, timeout, …); `cause`
 * holds the driver's error. Calls fail fast with it rather than run without protection.
 *
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isIdempotencyStoreUnavailableError(e)) return reply(503);
 *   throw e;
 * }
 * ```
 */
export class IdempotencyStoreUnavailableError extends BreakwaterError {
  /** Which store failed: `'postgres'`, `'redis'`, `'sqlite'`, … */
  readonly store: string;
  constructor(store: string, options?: BreakwaterErrorOptions) {
    const detail = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super('ERR_IDEMPOTENCY_STORE_UNAVAILABLE', `Idempotency store (${store}) is unavailable${detail}`, options);
    this.store = store;
  }
}

/**
 * Thrown when a stored record cannot be read (corrupted or written by something else).
 *
 * @example
 * ```ts
 * if (isIdempotencyRecordMalformedError(e)) log.error('bad record', e.key);
 * ```
 */
export class IdempotencyRecordMalformedError extends BreakwaterError {
  /** The idempotency key of the bad record. */
  readonly key: string;
  constructor(key: string, options?: BreakwaterErrorOptions) {
    super(
      'ERR_IDEMPOTENCY_RECORD_MALFORMED',
      `The stored idempotency record for key ${showKey(key)} is malformed`,
      options,
    );
    this.key = key;
  }
}

/**
 * Thrown when a result (or a fingerprinted payload) is not JSON-serialisable: functions, symbols,
 * bigints, cycles and non-finite numbers are refused rather than silently lost.
 *
 * @example
 * ```ts
 * if (isIdempotencyNotSerializableError(e)) console.error(e.what, e.key);
 * ```
 */
export class IdempotencyNotSerializableError extends BreakwaterError {
  /** The idempotency key. */
  readonly key: string;
  /** What could not be serialised. */
  readonly what: 'result' | 'fingerprint';
  constructor(key: string, what: 'result' | 'fingerprint', options?: BreakwaterErrorOptions) {
    super(
      'ERR_IDEMPOTENCY_NOT_SERIALIZABLE',
      `The ${what} for idempotency key ${showKey(key)} is not JSON-serialisable`,
      options,
    );
    this.key = key;
    this.what = what;
  }
}

/**
 * True for an {@link IdempotencyKeyMissingError}, also from another copy of the package.
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isIdempotencyKeyMissingError(e)) return reply(400);
 *   throw e;
 * }
 * ```
 */
export const isIdempotencyKeyMissingError: (error: unknown) => error is IdempotencyKeyMissingError =
  /*#__PURE__*/ errorGuard<IdempotencyKeyMissingError>('ERR_IDEMPOTENCY_KEY_MISSING');
/**
 * True for an {@link IdempotencyKeyReusedError}, also from another copy of the package.
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isIdempotencyKeyReusedError(e)) return reply(422);
 *   throw e;
 * }
 * ```
 */
export const isIdempotencyKeyReusedError: (error: unknown) => error is IdempotencyKeyReusedError =
  /*#__PURE__*/ errorGuard<IdempotencyKeyReusedError>('ERR_IDEMPOTENCY_KEY_REUSED');
/**
 * True for an {@link IdempotencyInProgressError}, also from another copy of the package.
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isIdempotencyInProgressError(e)) return reply(409);
 *   throw e;
 * }
 * ```
 */
export const isIdempotencyInProgressError: (error: unknown) => error is IdempotencyInProgressError =
  /*#__PURE__*/ errorGuard<IdempotencyInProgressError>('ERR_IDEMPOTENCY_IN_PROGRESS');
/**
 * True for an {@link IdempotencyLeaseLostError}, also from another copy of the package.
 * @example
 * ```ts
 * if (isIdempotencyLeaseLostError(e)) log.warn('lease lost', e.key);
 * ```
 */
export const isIdempotencyLeaseLostError: (error: unknown) => error is IdempotencyLeaseLostError =
  /*#__PURE__*/ errorGuard<IdempotencyLeaseLostError>('ERR_IDEMPOTENCY_LEASE_LOST');
/**
 * True for an {@link IdempotencyStoreUnavailableError}, also from another copy of the package.
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isIdempotencyStoreUnavailableError(e)) return reply(503);
 *   throw e;
 * }
 * ```
 */
export const isIdempotencyStoreUnavailableError: (error: unknown) => error is IdempotencyStoreUnavailableError =
  /*#__PURE__*/ errorGuard<IdempotencyStoreUnavailableError>('ERR_IDEMPOTENCY_STORE_UNAVAILABLE');
/**
 * True for an {@link IdempotencyRecordMalformedError}, also from another copy of the package.
 * @example
 * ```ts
 * if (isIdempotencyRecordMalformedError(e)) log.error(e.key);
 * ```
 */
export const isIdempotencyRecordMalformedError: (error: unknown) => error is IdempotencyRecordMalformedError =
  /*#__PURE__*/ errorGuard<IdempotencyRecordMalformedError>('ERR_IDEMPOTENCY_RECORD_MALFORMED');
/**
 * True for an {@link IdempotencyNotSerializableError}, also from another copy of the package.
 * @example
 * ```ts
 * if (isIdempotencyNotSerializableError(e)) log.error(e.what);
 * ```
 */
export const isIdempotencyNotSerializableError: (error: unknown) => error is IdempotencyNotSerializableError =
  /*#__PURE__*/ errorGuard<IdempotencyNotSerializableError>('ERR_IDEMPOTENCY_NOT_SERIALIZABLE');
