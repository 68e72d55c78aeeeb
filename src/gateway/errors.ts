import { BreakwaterError, type BreakwaterErrorOptions, errorGuard } from '../core/errors.js';

/**
 * Thrown by a gateway's `call` when no endpoint of the target (nor of its fallbacks) can take the
 * call before its deadline: every endpoint is ejected, cooling down after a 429, over its limits
 * or too small for the request's context. `retryAfter` is the time (ms) until the earliest known
 * recovery among them; `cause` holds the last endpoint error of the call, if one was tried.
 *
 * @example
 * ```ts
 * const r = await gw.call('gpt-4o', request).catch((e) => e);
 * if (isGatewayUnavailableError(r)) res.setHeader('Retry-After', Math.ceil(r.retryAfter / 1000));
 * ```
 */
export class GatewayUnavailableError extends BreakwaterError {
  /** The target that had no endpoint to offer (when its fallbacks had none either: the target called). */
  readonly target: string;
  /** Ms until the earliest known recovery (an ejection or a cool-down ending, a limit refilling). */
  readonly retryAfter: number;

  constructor(target: string, retryAfter: number, options?: BreakwaterErrorOptions) {
    super(
      'ERR_GATEWAY_UNAVAILABLE',
      retryAfter === Number.POSITIVE_INFINITY
        ? `No endpoint of target "${target}" can take the request (none has the context window or the tokens per minute for it)`
        : `No endpoint of target "${target}" is available; retry after ${Math.ceil(retryAfter)} ms`,
      options,
    );
    this.target = target;
    this.retryAfter = retryAfter;
  }
}

/**
 * True for a {@link GatewayUnavailableError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isGatewayUnavailableError(e)) await sleep(e.retryAfter);
 * ```
 */
export const isGatewayUnavailableError: (error: unknown) => error is GatewayUnavailableError =
  /*#__PURE__*/ errorGuard<GatewayUnavailableError>('ERR_GATEWAY_UNAVAILABLE');

/**
 * Thrown by a gateway's `call` when its `auth` hook refuses the caller (the hook's own error is the
 * `cause`, unless the hook threw a `GatewayAuthError` itself).
 *
 * @example
 * ```ts
 * const gw = gateway({ targets, auth: (req, o) => {
 *   const key = keys.get(o?.key ?? '');
 *   if (key === undefined) throw new GatewayAuthError('unknown API key');
 *   return key;
 * } });
 * ```
 */
export class GatewayAuthError extends BreakwaterError {
  constructor(message = 'The gateway refused the caller', options?: BreakwaterErrorOptions) {
    super('ERR_GATEWAY_AUTH', message, options);
  }
}

/**
 * True for a {@link GatewayAuthError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isGatewayAuthError(e)) res.statusCode = 401;
 * ```
 */
export const isGatewayAuthError: (error: unknown) => error is GatewayAuthError =
  /*#__PURE__*/ errorGuard<GatewayAuthError>('ERR_GATEWAY_AUTH');

/**
 * Thrown by a gateway's `call` when the caller's key has spent its budget for the current period,
 * counting the estimated cost its calls in flight reserved. `retryAfter` is the time (ms) until the
 * period ends and the budget is whole again.
 *
 * @example
 * ```ts
 * if (isBudgetExceededError(e)) console.log(`${e.key} spent $${e.spent} of $${e.budget}`);
 * ```
 */
export class BudgetExceededError extends BreakwaterError {
  /** The key whose budget is spent. */
  readonly key: string;
  /** The budget, in USD per period. */
  readonly budget: number;
  /** What the key spent in the current period, in USD, with the reservations of its calls in flight. */
  readonly spent: number;
  /** Ms until the period ends. */
  readonly retryAfter: number;

  constructor(key: string, budget: number, spent: number, retryAfter: number) {
    super('ERR_BUDGET_EXCEEDED', `Budget exceeded: spent $${spent.toFixed(4)} of $${budget} this period`);
    this.key = key;
    this.budget = budget;
    this.spent = spent;
    this.retryAfter = retryAfter;
  }
}

/**
 * True for a {@link BudgetExceededError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isBudgetExceededError(e)) res.statusCode = 402;
 * ```
 */
export const isBudgetExceededError: (error: unknown) => error is BudgetExceededError =
  /*#__PURE__*/ errorGuard<BudgetExceededError>('ERR_BUDGET_EXCEEDED');
