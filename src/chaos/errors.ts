import { BreakwaterError, errorGuard } from '../core/errors.js';

/**
 * The error `chaos()` injects when its `fault` has no `error` of its own, so that a test can tell an
 * injected failure from a real one.
 *
 * @example
 * ```ts
 * const r = await chaos({ fault: { rate: 1 } }).executeOutcome(call);
 * if (!r.ok && isInjectedFaultError(r.error)) console.log('injected');
 * ```
 */
export class InjectedFaultError extends BreakwaterError {
  constructor() {
    super('ERR_INJECTED_FAULT', 'Fault injected by chaos()');
  }
}

/**
 * True for an {@link InjectedFaultError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * expect(isInjectedFaultError(error)).toBe(true);
 * ```
 */
export const isInjectedFaultError: (error: unknown) => error is InjectedFaultError =
  /*#__PURE__*/ errorGuard<InjectedFaultError>('ERR_INJECTED_FAULT');
