import type { Context } from '../core/context.js';
import type { Policy } from '../core/policy.js';

/**
 * A message handler: gets the message and the call's {@link Context} (pass `ctx.signal` on to
 * anything that can be cancelled).
 *
 * @example
 * ```ts
 * const search: Handler<string, string> = (query, { signal }) => searchApi(query, { signal });
 * ```
 */
export type Handler<M, R> = (message: M, ctx: Context) => R | PromiseLike<R>;

/**
 * A routing condition: `true`/`false`, or a confidence (a number; `> 0` matches) such as an intent
 * classifier's score. May be async.
 *
 * @example
 * ```ts
 * const isSearch: Condition<string> = async (text, { signal }) => (await classify(text, { signal })).search;
 * ```
 */
export type Condition<M> = (message: M, ctx: Context) => boolean | number | PromiseLike<boolean | number>;

/**
 * One route of a router or recipient list.
 *
 * @example
 * ```ts
 * import { recipientList, router, type Route } from 'breakwater/messaging';
 * import { retry } from 'breakwater/retry';
 *
 * const billing: Route<Ticket, string> = {
 *   name: 'billing',
 *   when: (t) => t.tags.includes('invoice'),
 *   to: (t, { signal }) => billingAgent.answer(t, { signal }),
 *   policy: retry({ maxRetries: 2 }), // instead of the node's own `policy`
 * };
 * const triage = router({ routes: [billing], otherwise: generalAgent });
 * const audit = recipientList({ routes: [billing, auditLog] });
 * ```
 */
export interface Route<M, R> {
  /** The route's name, reported in results and errors. */
  readonly name: string;
  /** Whether the message goes this way (a boolean or a confidence). */
  readonly when: Condition<M>;
  /** The handler that receives the message. */
  readonly to: Handler<M, R>;
  /**
   * The policy the handler runs under, instead of the node's `policy`.
   * @defaultValue the node's `policy`
   */
  readonly policy?: Policy<any> | undefined;
}
