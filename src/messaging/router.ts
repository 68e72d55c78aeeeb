import type { Context, ExecuteOptions } from '../core/context.js';
import { Policy } from '../core/policy.js';
import { checkFunction, checkObject } from '../core/validate.js';
import { checkConfidence, checkPolicy, checkRoutes, evaluate } from './condition.js';
import { NoRouteError } from './errors.js';
import type { Handler, Route } from './types.js';

/**
 * Options for {@link router}.
 *
 * @example
 * ```ts
 * import { router, type RouterOptions } from 'breakwater/messaging';
 *
 * const options: RouterOptions<string, string> = {
 *   routes: [
 *     { name: 'search', when: async (q, { signal }) => (await classify(q, { signal })).search, to: search },
 *     { name: 'code', when: (q) => q.startsWith('/code'), to: codeAgent },
 *   ],
 *   minConfidence: 0.7, // a search score below 0.7 goes to `otherwise`
 *   otherwise: chat,
 * };
 * const intents = router(options);
 * ```
 */
export interface RouterOptions<M, R> {
  /** Routes tried in order; the first whose `when` matches gets the message. */
  readonly routes: readonly Route<M, R>[];
  /**
   * Gets messages no route matched, and matches below `minConfidence`.
   * @defaultValue none: such messages reject with {@link NoRouteError}
   */
  readonly otherwise?: Handler<M, R> | undefined;
  /**
   * A match whose `when` returned a number below this goes to `otherwise` (a `true` counts as 1).
   * @defaultValue 0
   */
  readonly minConfidence?: number | undefined;
  /**
   * The policy every handler (routes without their own, and `otherwise`) runs under.
   * @defaultValue `Policy.noop`
   */
  readonly policy?: Policy<any> | undefined;
}

/**
 * What {@link Router.route} resolves with.
 *
 * @example
 * ```ts
 * import { router, type RouteResult } from 'breakwater/messaging';
 *
 * const intents = router<string, string>({ routes, otherwise: chat });
 * const { route, confidence, value }: RouteResult<string> = await intents.route('find papers on RAG');
 * log.info(`answered by ${route} (confidence ${confidence})`); // route is 'otherwise' when nothing matched
 * await reply(value);
 * ```
 */
export interface RouteResult<R> {
  /** The name of the route taken, or `'otherwise'`. */
  readonly route: string;
  /** The matched route's confidence (1 for `true`); for `otherwise`, the rejected match's or 0. */
  readonly confidence: number;
  /** What the handler returned. */
  readonly value: R;
}

/**
 * A content-based router built by {@link router}.
 *
 * @example
 * ```ts
 * import { router, scatterGather, type Router } from 'breakwater/messaging';
 *
 * const intents: Router<string, string> = router({ routes, otherwise: chat });
 * const { route, value } = await intents.route(prompt, { signal });
 * // `handler` nests the router in another node, here as one branch of a scatter-gather:
 * const panel = scatterGather<string, string>({ handlers: { routed: intents.handler, expert: askExpert } });
 * ```
 */
export interface Router<M, R> {
  /**
   * Sends `message` to the first matching route (or `otherwise`) and resolves with its result.
   * `options.signal` reaches every `when` and the handler as `ctx.signal`.
   *
   * @throws NoRouteError when nothing matched (or only below `minConfidence`) and there is no `otherwise`.
   */
  route(message: M, options?: ExecuteOptions): Promise<RouteResult<R>>;
  /** The router as a handler (resolves with the chosen handler's value), to nest it in other nodes. */
  readonly handler: Handler<M, R>;
}

interface Decision {
  readonly index: number; // -1 → otherwise
  readonly confidence: number;
  readonly low: boolean;
}

/**
 * Builds a content-based router: ordered `(when → to)` routes, first match wins, with an
 * `otherwise` branch. A `when` may be async (an LLM intent classifier) and may return a confidence.
 *
 * @throws TypeError / RangeError on invalid options (naming the option).
 * @example
 * ```ts
 * const intents = router<string, string>({
 *   routes: [
 *     { name: 'search', when: async (q, { signal }) => (await classify(q, { signal })).search, to: search },
 *     { name: 'write', when: (q) => q.startsWith('write'), to: write },
 *   ],
 *   minConfidence: 0.7,
 *   otherwise: askForClarification,
 *   policy: retry({ maxRetries: 2 }),
 * });
 * const { route, value } = await intents.route('find papers on RAG', { signal });
 * ```
 */
export function router<M, R>(options: RouterOptions<M, R>): Router<M, R> {
  checkObject('options', options);
  if (options === undefined) throw new TypeError('Expected `options` to be an object, got undefined');
  checkRoutes(options.routes);
  checkFunction('otherwise', options.otherwise);
  checkPolicy('policy', options.policy);
  const routes = [...options.routes];
  const otherwise = options.otherwise;
  const minConfidence = checkConfidence(options.minConfidence);
  const policy: Policy<any> = options.policy ?? Policy.noop;

  const decideFrom = async (message: M, ctx: Context, start: number, first: number): Promise<Decision> => {
    let c = first;
    for (let i = start; ; ) {
      if (c > 0) return { index: i, confidence: c, low: c < minConfidence };
      if (++i >= routes.length) return { index: -1, confidence: 0, low: false };
      c = await evaluate((routes[i] as Route<M, R>).when, message, ctx);
    }
  };

  // Synchronous `when`s are evaluated without awaiting; the first async one switches to `decideFrom`.
  const decide = (message: M, ctx: Context): Decision | Promise<Decision> => {
    for (let i = 0; i < routes.length; i++) {
      const c = evaluate((routes[i] as Route<M, R>).when, message, ctx);
      if (typeof c !== 'number') return c.then((first) => decideFrom(message, ctx, i, first));
      if (c > 0) return { index: i, confidence: c, low: c < minConfidence };
    }
    return { index: -1, confidence: 0, low: false };
  };

  const dispatch = (message: M, d: Decision, options: ExecuteOptions | undefined): Promise<RouteResult<R>> => {
    const r = d.index >= 0 ? (routes[d.index] as Route<M, R>) : undefined;
    let handler: Handler<M, R>;
    let p: Policy<any> = policy;
    let name = 'otherwise';
    if (r !== undefined && !d.low) {
      handler = r.to;
      p = r.policy ?? policy;
      name = r.name;
    } else if (otherwise !== undefined) handler = otherwise;
    else {
      return Promise.reject(
        d.low ? new NoRouteError('low-confidence', r?.name, d.confidence) : new NoRouteError('no-match'),
      );
    }
    const confidence = d.confidence;
    return p.execute((ctx) => handler(message, ctx), options).then((value: R) => ({ route: name, confidence, value }));
  };

  const route = (message: M, options?: ExecuteOptions): Promise<RouteResult<R>> =>
    Policy.noop.execute((ctx) => decide(message, ctx), options).then((d) => dispatch(message, d, options));

  return {
    route,
    handler: (message, ctx) =>
      route(message, { signal: ctx.signal, key: ctx.key, data: ctx.data }).then((r) => r.value),
  };
}
