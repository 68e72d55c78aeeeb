import type { ExecuteOptions } from '../core/context.js';
import { Policy } from '../core/policy.js';
import { checkObject } from '../core/validate.js';
import { checkConfidence, checkPolicy, checkRoutes, evaluate } from './condition.js';
import type { Route } from './types.js';

/**
 * Options for {@link recipientList}.
 *
 * @example
 * ```ts
 * import { recipientList, type RecipientListOptions } from 'breakwater/messaging';
 * import { retry } from 'breakwater/retry';
 *
 * const options: RecipientListOptions<Alert, void> = {
 *   routes: [
 *     { name: 'pager', when: (a) => a.severity === 'critical', to: page },
 *     { name: 'security', when: (a, { signal }) => securityScore(a, { signal }), to: notifySecurity },
 *     { name: 'slack', when: () => true, to: postToSlack },
 *   ],
 *   minConfidence: 0.6, // a security score below 0.6 does not page the security team
 *   policy: retry({ maxRetries: 3 }),
 * };
 * const notify = recipientList(options);
 * ```
 */
export interface RecipientListOptions<M, R> {
  /** Candidate recipients; every one whose `when` matches gets the message, in parallel. */
  readonly routes: readonly Route<M, R>[];
  /**
   * A `when` that returned a number below this does not select its recipient (`true` counts as 1).
   * @defaultValue 0
   */
  readonly minConfidence?: number | undefined;
  /**
   * The policy every handler without its own runs under.
   * @defaultValue `Policy.noop`
   */
  readonly policy?: Policy<any> | undefined;
}

/**
 * One recipient's outcome, in route order.
 *
 * @example
 * ```ts
 * import { recipientList, type RecipientResult } from 'breakwater/messaging';
 *
 * const reviewers = recipientList<PullRequest, string>({ routes: [securityBot, styleBot, testBot] });
 * const results: RecipientResult<string>[] = await reviewers.route(pr);
 * for (const r of results) {
 *   if (r.status === 'ok') await comment(pr, `${r.name}: ${r.value}`);
 *   else log.warn(`${r.name} failed`, r.error); // the others still ran
 * }
 * ```
 */
export type RecipientResult<R> =
  | {
      readonly name: string;
      readonly status: 'ok';
      readonly confidence: number;
      readonly value: R;
      readonly error?: undefined;
    }
  | {
      readonly name: string;
      readonly status: 'error';
      readonly confidence: number;
      readonly value?: undefined;
      readonly error: unknown;
    };

/**
 * A recipient list built by {@link recipientList}.
 *
 * @example
 * ```ts
 * import { recipientList, type RecipientList } from 'breakwater/messaging';
 *
 * const reviewers: RecipientList<PullRequest, Review> = recipientList({ routes: [securityBot, styleBot] });
 * const reviews = await reviewers.route(pr, { signal: AbortSignal.timeout(60_000) }); // [] when none matched
 * ```
 */
export interface RecipientList<M, R> {
  /**
   * Evaluates every `when` (in parallel), sends `message` to every match in parallel and resolves,
   * once all settled, with one result per matched recipient in route order (empty when none
   * matched). A failing recipient does not fail the others. Rejects only when the caller aborts
   * or a `when` throws.
   */
  route(message: M, options?: ExecuteOptions): Promise<RecipientResult<R>[]>;
}

/**
 * Builds a recipient list: fan one message out to every matching route in parallel and collect a
 * result per recipient (settled, like `Promise.allSettled`).
 *
 * @throws TypeError / RangeError on invalid options (naming the option).
 * @example
 * ```ts
 * const notify = recipientList<Alert, void>({
 *   routes: [
 *     { name: 'pager', when: (a) => a.severity === 'critical', to: page },
 *     { name: 'slack', when: () => true, to: postToSlack },
 *   ],
 *   policy: retry({ maxRetries: 3 }),
 * });
 * for (const r of await notify.route(alert)) if (r.status === 'error') log(r.name, r.error);
 * ```
 */
export function recipientList<M, R>(options: RecipientListOptions<M, R>): RecipientList<M, R> {
  checkObject('options', options);
  if (options === undefined) throw new TypeError('Expected `options` to be an object, got undefined');
  checkRoutes(options.routes);
  checkPolicy('policy', options.policy);
  const routes = [...options.routes];
  const minConfidence = checkConfidence(options.minConfidence);
  const policy: Policy<any> = options.policy ?? Policy.noop;

  return {
    async route(message, opts) {
      const confidences = await Policy.noop.execute(
        (ctx) => Promise.all(routes.map((r) => evaluate(r.when, message, ctx))),
        opts,
      );
      const runs: Promise<RecipientResult<R>>[] = [];
      confidences.forEach((confidence, i) => {
        if (!(confidence > 0) || confidence < minConfidence) return;
        const r = routes[i] as Route<M, R>;
        runs.push(
          (r.policy ?? policy)
            .execute((ctx) => r.to(message, ctx), opts)
            .then(
              (value: R): RecipientResult<R> => ({ name: r.name, status: 'ok', confidence, value }),
              (error: unknown): RecipientResult<R> => ({ name: r.name, status: 'error', confidence, error }),
            ),
        );
      });
      const results = await Promise.all(runs);
      if (opts?.signal?.aborted) throw opts.signal.reason;
      return results;
    },
  };
}
