import type { CallContext, Context } from '../core/context.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, invoke, Pipeline, type Policy } from '../core/policy.js';
import { checkFunction, checkObject } from '../core/validate.js';

/**
 * What the fallback replaces: the error, or a result that `handleResult` rejected. Each variant
 * declares the other's key as absent, so `({ error }) => …` destructures; tell them apart with
 * `'error' in reason` (an error may itself be `undefined`).
 *
 * @example
 * ```ts
 * import { fallback, type FallbackReason } from 'breakwater/fallback';
 *
 * const fromCache = (reason: FallbackReason) => {
 *   log.warn('serving the cached page', 'error' in reason ? reason.error : 'empty result');
 *   return cache.get(url);
 * };
 * const policy = fallback({ to: fromCache, handleResult: (page) => page === null });
 * ```
 */
export type FallbackReason =
  | { readonly error: unknown; readonly result?: undefined }
  | { readonly result: unknown; readonly error?: undefined };

/**
 * Events a fallback policy emits.
 *
 * @example
 * ```ts
 * import { type FallbackEvent, fallback } from 'breakwater/fallback';
 *
 * const policy = fallback({ to: () => staleAnswer, handleResult: (r) => r === null, name: 'answers' });
 * policy.on('fallback', (e: FallbackEvent) => {
 *   metrics.increment('fallback', { policy: e.name ?? '-', on: 'error' in e ? 'error' : 'result' });
 * });
 * ```
 */
export type FallbackEvent = PolicyEventBase & {
  readonly type: 'fallback';
  readonly error?: unknown;
  readonly result?: unknown;
};

/**
 * Options for {@link fallback}.
 *
 * @example
 * ```ts
 * import { isTimeoutError, Policy } from 'breakwater';
 * import { type FallbackOptions, fallback } from 'breakwater/fallback';
 * import { timeout } from 'breakwater/timeout';
 *
 * const options: FallbackOptions<Answer> = {
 *   to: () => cheapModel.answer(question),
 *   handle: (error) => isTimeoutError(error),
 *   handleResult: (answer) => (answer as Answer).text === '',
 *   name: 'answer',
 * };
 * const policy = Policy.wrap(fallback(options), timeout(20_000));
 * ```
 */
export interface FallbackOptions<R = unknown> {
  /**
   * Produces the replacement value. Receives the failure (`{ error }` or `{ result }`) and the
   * call's context; may be async (e.g. a call to a cheaper model). What it throws is rethrown.
   */
  readonly to: (reason: FallbackReason, ctx: Context) => R | PromiseLike<R>;
  /** Which errors fall back. The caller's abort does not, unless this says so. @defaultValue every error */
  readonly handle?: ((error: unknown, ctx: Context) => boolean) | undefined;
  /** Which results fall back (e.g. an empty answer). @defaultValue none */
  readonly handleResult?: ((result: unknown, ctx: Context) => boolean) | undefined;
  /** A name carried by this policy's events. */
  readonly name?: string | undefined;
}

class FallbackLayer extends BaseLayer<FallbackEvent> {
  readonly #to: (reason: FallbackReason, ctx: Context) => unknown;
  readonly #handle: ((error: unknown, ctx: Context) => boolean) | undefined;
  readonly #handleResult: ((result: unknown, ctx: Context) => boolean) | undefined;

  constructor(o: FallbackOptions) {
    super('fallback', o.name);
    checkFunction('to', o.to, false);
    checkFunction('handle', o.handle);
    checkFunction('handleResult', o.handleResult);
    this.#to = o.to;
    this.#handle = o.handle;
    this.#handleResult = o.handleResult;
  }

  // A plain `.then` rather than an async frame: the success path runs no code of ours at all.
  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    let p: Promise<unknown>;
    try {
      p = Promise.resolve(invoke(ctx, inner));
    } catch (error) {
      p = Promise.reject(error);
    }
    const handleResult = this.#handleResult;
    return p.then(
      handleResult === undefined
        ? undefined
        : (result: unknown) => (handleResult(result, ctx) ? this.#replace({ result }, ctx) : result),
      (error: unknown) => {
        if (this.#handle !== undefined) {
          if (!this.#handle(error, ctx)) throw error;
        } else if (ctx.callerSignal?.aborted) {
          // The caller gave up: do not produce a value nobody wants; reject with the caller's reason.
          throw ctx.callerSignal?.reason;
        }
        return this.#replace({ error }, ctx);
      },
    );
  }

  #replace(reason: FallbackReason, ctx: CallContext): unknown {
    if (this.listening('fallback')) this.events.emit({ type: 'fallback', kind: this.kind, name: this.name, ...reason });
    return this.#to(reason, ctx);
  }
}

/**
 * Replaces a failure with a value: a cached answer, a degraded reply, or a call to another model.
 * The fallback receives the failure, so it can choose by error class.
 *
 * @throws TypeError when `to` is missing or an option is not a function.
 * @example
 * ```ts
 * const withBackup = Policy.wrap(
 *   fallback({ to: ({ error }) => cheapModel.chat(req), handle: (e) => isTimeoutError(e) }),
 *   timeout(20_000),
 * );
 * ```
 */
export function fallback<R = unknown>(options: FallbackOptions<R>): Policy<FallbackEvent> {
  checkObject('options', options);
  if (options === undefined || options === null) throw new TypeError('Expected `fallback` options with `to`');
  return new Pipeline<FallbackEvent>([new FallbackLayer(options as FallbackOptions)]);
}
