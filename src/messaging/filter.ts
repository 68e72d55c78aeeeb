import type { Context, ExecuteOptions } from '../core/context.js';
import { Policy } from '../core/policy.js';
import { checkFunction, checkObject } from '../core/validate.js';
import { checkPolicy, evaluate } from './condition.js';
import { FilteredError } from './errors.js';
import type { Condition, Handler } from './types.js';

/**
 * What a filter does with a message its predicate rejects.
 *
 * @example
 * ```ts
 * import { filter, type RejectAction } from 'breakwater/messaging';
 *
 * // Strict deployments refuse outright; the others hand the message to a human.
 * const onReject: RejectAction<string, string> = strict ? 'throw' : (text) => reviewQueue.hold(text);
 * const safe = filter<string, string>(isSafe, { onReject });
 * ```
 */
export type RejectAction<M, D> = 'drop' | 'throw' | Handler<M, D>;

/**
 * Options for {@link filter}.
 *
 * @example
 * ```ts
 * import { filter, type FilterOptions } from 'breakwater/messaging';
 * import { timeout } from 'breakwater/timeout';
 *
 * const options: FilterOptions<string, never> = {
 *   onReject: 'throw', // FilteredError, with `filter: 'moderation'`
 *   name: 'moderation',
 *   policy: timeout(30_000), // around the downstream handler, not the predicate
 * };
 * const answer = filter(isSafe, options).to(agent);
 * ```
 */
export interface FilterOptions<M, D> {
  /**
   * `'drop'`: the result says `{ accepted: false, dropped: true }`; `'throw'`: reject with
   * {@link FilteredError}; a handler: divert the message to it (its value is in the result).
   * @defaultValue 'drop'
   */
  readonly onReject?: RejectAction<M, D> | undefined;
  /**
   * The policy the downstream handler and the divert handler run under.
   * @defaultValue `Policy.noop`
   */
  readonly policy?: Policy<any> | undefined;
  /** A name reported by {@link FilteredError}. */
  readonly name?: string | undefined;
}

/**
 * The outcome of a filtered call.
 *
 * @example
 * ```ts
 * import { filter, type FilterResult } from 'breakwater/messaging';
 *
 * const safe = filter<string, string>(isSafe, { onReject: (text) => escalate(text) });
 * const answer = safe.to((text, { signal }) => agent.run(text, { signal }));
 * const r: FilterResult<string, string> = await answer(prompt, ctx);
 * if (r.accepted) await reply(r.value); // the agent's answer
 * else if (!r.dropped) await reply(`A human will follow up (ticket ${r.value}).`); // what `escalate` returned
 * ```
 */
export type FilterResult<R, D = never> =
  | { readonly accepted: true; readonly dropped: false; readonly value: R }
  | { readonly accepted: false; readonly dropped: true; readonly value: undefined }
  | { readonly accepted: false; readonly dropped: false; readonly value: D };

/**
 * A message filter built by {@link filter}.
 *
 * @example
 * ```ts
 * import { filter, type MessageFilter } from 'breakwater/messaging';
 *
 * const relevant: MessageFilter<Doc> = filter<Doc>((doc) => doc.score >= 0.5); // onReject: 'drop'
 * const { accepted } = await relevant.check(doc);
 * const summarize = relevant.to(summarizer); // runs `summarizer` for relevant documents only
 * ```
 */
export interface MessageFilter<M, D = never> {
  /**
   * Checks one message: accepted → `{ accepted: true, value: message }`; rejected → per `onReject`.
   *
   * @throws FilteredError (as a rejection) with `onReject: 'throw'`.
   */
  check(message: M, options?: ExecuteOptions): Promise<FilterResult<M, D>>;
  /**
   * Puts the filter in front of `handler`: the returned handler runs `handler` (under `policy`) only
   * for accepted messages.
   */
  to<R>(handler: Handler<M, R>): Handler<M, FilterResult<R, D>>;
}

const DROPPED = /*#__PURE__*/ Object.freeze({ accepted: false, dropped: true, value: undefined }) as {
  readonly accepted: false;
  readonly dropped: true;
  readonly value: undefined;
};

/**
 * Builds a message filter (content-safety gate, relevance check, …): messages that fail
 * `predicate` are dropped, rejected with {@link FilteredError}, or diverted to a handler.
 * The predicate may be async and gets `ctx.signal`; it may also return a number (`> 0` passes).
 *
 * @throws TypeError on invalid options (naming the option).
 * @example
 * ```ts
 * const safe = filter<string, string>(async (text, { signal }) => !(await moderation(text, { signal })).flagged, {
 *   onReject: () => 'Sorry, I cannot help with that.',
 * });
 * const answer = safe.to(agent); // a Handler<string, FilterResult<string, string>>
 * const r = await answer(prompt, ctx);
 * if (!r.accepted) console.log('diverted:', r.value);
 * ```
 */
export function filter<M, D = never>(predicate: Condition<M>, options?: FilterOptions<M, D>): MessageFilter<M, D> {
  checkFunction('predicate', predicate, false);
  checkObject('options', options);
  const onReject = options?.onReject ?? 'drop';
  if (onReject !== 'drop' && onReject !== 'throw' && typeof onReject !== 'function') {
    throw new TypeError("Expected `onReject` to be 'drop', 'throw' or a handler function");
  }
  checkPolicy('policy', options?.policy);
  const policy: Policy<any> = options?.policy ?? Policy.noop;
  const name = options?.name;

  const reject = (message: M, ctx: Context): Promise<FilterResult<never, D>> => {
    if (onReject === 'drop') return Promise.resolve(DROPPED);
    if (onReject === 'throw') return Promise.reject(new FilteredError(name));
    return policy
      .execute((c) => onReject(message, c), { signal: ctx.signal, key: ctx.key, data: ctx.data })
      .then((value: D) => ({ accepted: false, dropped: false, value }));
  };

  const run = <R>(
    message: M,
    ctx: Context,
    accept: (message: M, ctx: Context) => Promise<FilterResult<R, D>>,
  ): Promise<FilterResult<R, D>> => {
    const c = evaluate(predicate, message, ctx);
    if (typeof c === 'number') return c > 0 ? accept(message, ctx) : reject(message, ctx);
    return c.then((v) => (v > 0 ? accept(message, ctx) : reject(message, ctx)));
  };

  const pass = (message: M): Promise<FilterResult<M, D>> =>
    Promise.resolve({ accepted: true, dropped: false, value: message });

  return {
    check: (message, opts) => Policy.noop.execute((ctx) => run(message, ctx, pass), opts),
    to<R>(handler: Handler<M, R>): Handler<M, FilterResult<R, D>> {
      checkFunction('handler', handler, false);
      const accept = (message: M, ctx: Context): Promise<FilterResult<R, D>> =>
        policy
          .execute((c) => handler(message, c), { signal: ctx.signal, key: ctx.key, data: ctx.data })
          .then((value: R) => ({ accepted: true, dropped: false, value }));
      return (message, ctx) => run(message, ctx, accept);
    },
  };
}
