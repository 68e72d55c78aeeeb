import { type Clock, systemClock } from '../core/clock.js';
import type { CallContext, Context } from '../core/context.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, invoke, Pipeline, type Policy, SKIP } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject } from '../core/validate.js';
import { type Backoff, type BackoffState, exponential } from './backoff.js';
import type { RetryBudget } from './budget.js';
import { retryAfterHint } from './retry-after.js';

/**
 * What the last attempt produced: an error, or a result that `handleResult` asked to retry. Each
 * variant declares the other's key as absent, so `(n, { error }) => …` destructures; tell them apart
 * with `'error' in outcome`.
 */
export type RetryOutcome<T = unknown> =
  | { readonly error: unknown; readonly result?: undefined }
  | { readonly result: T; readonly error?: undefined };

/** Events a retry policy emits. */
export type RetryEvent =
  | (PolicyEventBase & {
      readonly type: 'retry';
      /** The attempt that failed (1 for the first call). */
      readonly attempt: number;
      /** The delay before the next attempt, in ms. */
      readonly delay: number;
      readonly error?: unknown;
      readonly result?: unknown;
    })
  | (PolicyEventBase & {
      readonly type: 'give-up';
      readonly attempt: number;
      /** Why no further attempt is made. */
      readonly reason: 'max-retries' | 'budget' | 'deadline';
      readonly error?: unknown;
      readonly result?: unknown;
    })
  | (PolicyEventBase & {
      /** Emitted for calls that start while a `success` (or `'*'`) listener is subscribed. */
      readonly type: 'success';
      readonly attempt: number;
    });

/** Options for {@link retry}. */
export interface RetryOptions {
  /** Retries after the first call; at most `maxRetries + 1` calls. `Infinity` retries forever. @defaultValue 3 */
  readonly maxRetries?: number | undefined;
  /** The delay schedule, or `(attempt, outcome) => ms`. @defaultValue exponential() */
  readonly backoff?: Backoff | ((attempt: number, outcome: RetryOutcome) => number) | undefined;
  /** Which errors are retried. The caller's abort is never retried. @defaultValue every error */
  readonly handle?: ((error: unknown, ctx: Context) => boolean) | undefined;
  /** Which results are retried (e.g. an HTTP 503 response). @defaultValue none */
  readonly handleResult?: ((result: unknown, ctx: Context) => boolean) | undefined;
  /**
   * Reads the delay a failure asks for; the actual delay is at least this.
   * @defaultValue `retryAfter` (ms) on the error, or `retry-after-ms` / `Retry-After` headers
   */
  readonly retryAfter?: ((error: unknown) => number | undefined) | undefined;
  /** A budget shared with other retry policies, to stop retry storms. */
  readonly budget?: RetryBudget | undefined;
  /** @defaultValue systemClock */
  readonly clock?: Clock | undefined;
  /** Source of randomness in [0, 1) for jitter. @defaultValue Math.random */
  readonly random?: (() => number) | undefined;
  /** A name carried by this policy's events. */
  readonly name?: string | undefined;
}

class RetryLayer extends BaseLayer<RetryEvent> {
  readonly #max: number;
  readonly #backoff: Backoff | undefined;
  readonly #backoffFn: ((attempt: number, outcome: RetryOutcome) => number) | undefined;
  readonly #handle: ((error: unknown, ctx: Context) => boolean) | undefined;
  readonly #handleResult: ((result: unknown, ctx: Context) => boolean) | undefined;
  readonly #hint: ((error: unknown) => number | undefined) | undefined;
  readonly #budget: RetryBudget | undefined;
  readonly #clock: Clock;
  readonly #random: () => number;

  constructor(o: RetryOptions | undefined) {
    super('retry', o?.name);
    this.#max = checkNumber('maxRetries', o?.maxRetries ?? 3, 0, { integer: true });
    const backoff = o?.backoff ?? exponential();
    if (typeof backoff === 'function') this.#backoffFn = backoff;
    else if (backoff !== null && typeof backoff === 'object' && typeof backoff.delay === 'function')
      this.#backoff = backoff;
    else throw new TypeError('Expected `backoff` to be a backoff (constant/linear/exponential) or a function');
    checkFunction('handle', o?.handle);
    checkFunction('handleResult', o?.handleResult);
    checkFunction('retryAfter', o?.retryAfter);
    checkFunction('random', o?.random);
    checkObject('budget', o?.budget);
    this.#handle = o?.handle;
    this.#handleResult = o?.handleResult;
    this.#hint = o?.retryAfter;
    this.#budget = o?.budget;
    this.#clock = o?.clock ?? systemClock;
    this.#random = o?.random ?? Math.random;
  }

  // Fast path (see `Layer.enter`): a first attempt only observes the outcome; everything after a
  // failure runs in `#loop`, as do the rarer configurations: a `success` listener (present when the
  // call starts), `handleResult`, a nested retry (whose attempt number must be restored).
  get failureOnly(): boolean {
    return true;
  }

  enter(ctx: CallContext): unknown {
    if (ctx.attempt !== 1 || this.#handleResult !== undefined || this.listening('success')) return SKIP;
    this.#budget?.recordCall();
    return undefined;
  }

  exit(ctx: CallContext, _token: unknown, ok: boolean, value: unknown, inner: Chain | undefined): unknown {
    return ok ? value : this.#loop(ctx, inner, 1, true, value);
  }

  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    return this.#loop(ctx, inner, ctx.attempt, false, undefined);
  }

  /** The retry loop; `failed` means the first attempt already ran and threw `firstError`. */
  async #loop(
    ctx: CallContext,
    inner: Chain | undefined,
    saved: number,
    failed: boolean,
    firstError: unknown,
  ): Promise<unknown> {
    if (!failed) this.#budget?.recordCall();
    let state: BackoffState | undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        ctx.attempt = attempt;
        let outcome: RetryOutcome;
        try {
          if (failed) {
            failed = false;
            throw firstError;
          }
          const result = await invoke(ctx, inner);
          if (this.#handleResult === undefined || !this.#handleResult(result, ctx)) {
            if (this.listening('success')) this.#emit({ type: 'success', attempt });
            return result;
          }
          outcome = { result };
        } catch (error) {
          // An abort of the call (caller or enclosing timeout) is never retried.
          if (ctx.aborted) throw ctx.abortReason;
          if (this.#handle !== undefined && !this.#handle(error, ctx)) throw error;
          outcome = { error };
        }
        if (ctx.aborted) throw ctx.abortReason;
        if (attempt > this.#max) return this.#giveUp(attempt, 'max-retries', outcome);
        state ??= { prev: 0 };
        let delay =
          this.#backoffFn !== undefined
            ? this.#backoffFn(attempt, outcome)
            : (this.#backoff as Backoff).delay(attempt, this.#random, state);
        if (!(delay >= 0)) delay = 0;
        if ('error' in outcome) {
          const hint =
            this.#hint !== undefined ? this.#hint(outcome.error) : retryAfterHint(outcome.error, this.#clock.now());
          if (hint !== undefined && hint > delay) delay = hint;
        }
        const deadline = ctx.deadline;
        if (deadline !== undefined && this.#clock.now() + delay >= deadline) {
          return this.#giveUp(attempt, 'deadline', outcome);
        }
        if (this.#budget !== undefined && !this.#budget.tryRetry()) return this.#giveUp(attempt, 'budget', outcome);
        if (this.listening('retry')) this.#emit({ type: 'retry', attempt, delay, ...outcome });
        if (delay > 0) {
          // Only materialise a signal when something can abort this call.
          await this.#clock.sleep(
            delay,
            ctx.scope !== undefined || ctx.callerSignal !== undefined ? ctx.signal : undefined,
          );
        }
      }
    } finally {
      ctx.attempt = saved;
    }
  }

  #giveUp(attempt: number, reason: 'max-retries' | 'budget' | 'deadline', outcome: RetryOutcome): unknown {
    if (this.listening('give-up')) this.#emit({ type: 'give-up', attempt, reason, ...outcome });
    if ('error' in outcome) throw outcome.error;
    return outcome.result;
  }

  #emit(e: { type: RetryEvent['type'] } & Record<string, unknown>): void {
    this.events.emit({ ...e, kind: this.kind, name: this.name } as RetryEvent);
  }
}

/**
 * Retries a failing call with backoff and jitter. The delay honours server hints (an error's
 * `retryAfter`, or `Retry-After` / `retry-after-ms` headers); the caller's abort is never retried and
 * interrupts a backoff sleep at once; no sleep starts that would end past `ctx.deadline`. After the
 * last attempt, the last error is rethrown unchanged (or the last result returned).
 *
 * @throws TypeError / RangeError when an option is invalid (the message names it).
 * @example
 * ```ts
 * const policy = retry({
 *   maxRetries: 4,
 *   backoff: exponential({ initial: 500, max: 20_000 }),
 *   handle: (e) => (e as { status?: number }).status !== 400,
 * });
 * const reply = await policy.execute(({ signal }) => llm.chat(req, { signal }));
 * ```
 */
export function retry(options?: RetryOptions): Policy<RetryEvent> {
  checkObject('options', options);
  return new Pipeline<RetryEvent>([new RetryLayer(options)]);
}
