const BRAND: unique symbol = Symbol.for('breakwater.error') as never;

/**
 * Options accepted by every breakwater error constructor.
 *
 * @example
 * ```ts
 * import { type BreakwaterErrorOptions, TimeoutError } from 'breakwater';
 *
 * const options: BreakwaterErrorOptions = { cause: new Error('socket hang up') };
 * const error = new TimeoutError(5_000, options);
 * console.log(error.code, error.cause); // 'ERR_TIMEOUT', the socket error
 * ```
 */
export interface BreakwaterErrorOptions {
  /** The error this one wraps, if any. */
  readonly cause?: unknown;
}

/**
 * Base class of every error breakwater throws. `code` is a stable string (`ERR_TIMEOUT`, …) that
 * survives bundling and two copies of the package; match on it, or use the `is…Error` guards,
 * rather than on `instanceof`.
 *
 * @example
 * ```ts
 * try { await policy.execute(call); }
 * catch (e) { if (isBreakwaterError(e)) log(e.code); }
 * ```
 */
export class BreakwaterError extends Error {
  /** Stable machine-readable code, e.g. `ERR_TIMEOUT`. */
  readonly code: string;

  constructor(code: string, message: string, options?: BreakwaterErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }

  // The cross-copy brand lives on the prototype: no per-instance property, and, being
  // non-enumerable, it never shows in logs or JSON.
  static {
    Object.defineProperty(BreakwaterError.prototype, BRAND, { value: true });
  }
}

/**
 * True for any error thrown by breakwater, including one from another copy of the package.
 *
 * @example
 * ```ts
 * if (isBreakwaterError(e)) console.log(e.code);
 * ```
 */
export function isBreakwaterError(error: unknown): error is BreakwaterError {
  return typeof error === 'object' && error !== null && (error as { [BRAND]?: unknown })[BRAND] === true;
}

/**
 * Builds a brand guard for one error code. Used by every module for its own errors.
 *
 * @example
 * ```ts
 * export const isTimeoutError = errorGuard<TimeoutError>('ERR_TIMEOUT');
 * ```
 */
export function errorGuard<E extends BreakwaterError>(code: string): (error: unknown) => error is E {
  return (error: unknown): error is E => isBreakwaterError(error) && error.code === code;
}

/**
 * Thrown by `timeout()` when its own limit passes (never for a caller's abort).
 *
 * @example
 * ```ts
 * const r = await timeout(1000).executeOutcome(call);
 * if (!r.ok && isTimeoutError(r.error)) console.log(r.error.timeoutMs);
 * ```
 */
export class TimeoutError extends BreakwaterError {
  /** The limit that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(timeoutMs: number, options?: BreakwaterErrorOptions) {
    super('ERR_TIMEOUT', `Operation timed out after ${timeoutMs} ms`, options);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * True for a {@link TimeoutError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isTimeoutError(e)) console.log(`gave up after ${e.timeoutMs} ms`);
 * ```
 */
export const isTimeoutError: (error: unknown) => error is TimeoutError =
  /*#__PURE__*/ errorGuard<TimeoutError>('ERR_TIMEOUT');
