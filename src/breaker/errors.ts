import { BreakwaterError, errorGuard } from '../core/errors.js';

/**
 * Thrown by an open (or busy half-open) circuit breaker instead of running the call. `retryAfter`
 * is the number of ms until a probe may run, which `retry` honours as a server hint; `cause` is the
 * failure that opened the circuit.
 *
 * @example
 * ```ts
 * const r = await breaker.executeOutcome(call);
 * if (!r.ok && isBrokenCircuitError(r.error)) console.log(`try again in ${r.error.retryAfter} ms`);
 * ```
 */
export class BrokenCircuitError extends BreakwaterError {
  /** Milliseconds until a probe call may run (≥ 0). */
  readonly retryAfter: number;

  constructor(retryAfter: number, cause?: unknown) {
    super('ERR_BROKEN_CIRCUIT', 'Circuit is open: the call was not attempted', { cause });
    this.retryAfter = retryAfter;
  }
}

/**
 * Thrown while a circuit breaker is isolated by {@link CircuitBreaker.isolate}.
 *
 * @example
 * ```ts
 * const handle = breaker.isolate();
 * await breaker.execute(call).catch((e) => isIsolatedCircuitError(e)); // true
 * handle.release();
 * ```
 */
export class IsolatedCircuitError extends BreakwaterError {
  constructor() {
    super('ERR_ISOLATED_CIRCUIT', 'Circuit is isolated: the call was not attempted');
  }
}

/**
 * True for a {@link BrokenCircuitError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isBrokenCircuitError(e)) setTimeout(tryAgain, e.retryAfter);
 * ```
 */
export const isBrokenCircuitError: (error: unknown) => error is BrokenCircuitError =
  /*#__PURE__*/ errorGuard<BrokenCircuitError>('ERR_BROKEN_CIRCUIT');

/**
 * True for an {@link IsolatedCircuitError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * function onError(e: unknown) {
 *   if (isIsolatedCircuitError(e)) return cachedAnswer;
 *   throw e;
 * }
 * ```
 */
export const isIsolatedCircuitError: (error: unknown) => error is IsolatedCircuitError =
  /*#__PURE__*/ errorGuard<IsolatedCircuitError>('ERR_ISOLATED_CIRCUIT');
