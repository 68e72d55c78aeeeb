import { type Clock, systemClock } from '../core/clock.js';
import { abortSignal, type CallContext, type Context, throwIfAborted } from '../core/context.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, FAILURE_ONLY, FAST, invoke, Pipeline, type Policy, SKIP } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject, fail } from '../core/validate.js';
import type { Backoff, BackoffState } from './backoff.js';
import type { RetryBudget } from './budget.js';
import { retryAfterHint } from './retry-after.js';

/**
 * What the last attempt produced: an error, or a result that `handleResult` asked to retry. Each
 * variant declares the other's key as absent, so `(n, { error }) => …` destructures; tell them apart
 * with `'error' in outcome`.
 *
 * @example
 * ```ts
 * import { retry, type RetryOutcome } from 'breakwater/retry';
 *
 * // A 503 response waits 5 s; an error waits 1 s, 2 s, 3 s, … as the attempts go.
 * const backoff = (attempt: number, outcome: RetryOutcome) => ('error' in outcome ? 1_000 * attempt : 5_000);
 * const policy = retry({ backoff, handleResult: (r) => (r as Response).status === 503 });
 * ```
 */
export type RetryOutcome<T = unknown> =
  | { readonly error: unknown; readonly result?: undefined }
  | { readonly result: T; readonly error?: undefined };

/**
 * Events a retry policy emits.
 *
 * @example
 * ```ts
 * import { retry, type RetryEvent } from 'breakwater/retry';
 *
 * const policy = retry({ maxRetries: 3, name: 'search' });
 * policy.on('*', (e: RetryEvent) => {
 *   if (e.type === 'retry') log.warn(`attempt ${e.attempt} failed, next in ${e.delay} ms`, e.error);
 *   else if (e.type === 'give-up') log.error(`${e.name} gave up after ${e.attempt} attempts (${e.reason})`);
 * });
 * ```
 */
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
      /** `'retry-after'`: the failure said no retry can succeed (`retryAfter: Infinity`). */
      readonly reason: 'max-retries' | 'budget' | 'deadline' | 'retry-after';
      readonly error?: unknown;
      readonly result?: unknown;
    })
  | (PolicyEventBase & {
      /** Emitted for calls that start while a `success` (or `'*'`) listener is subscribed. */
      readonly type: 'success';
      readonly attempt: number;
    });

/**
 * Options for {@link retry}.
 *
 * @example
 * ```ts
 * import { exponential, retry, type RetryOptions } from 'breakwater/retry';
 *
 * const options: RetryOptions = {
 *   maxRetries: 4,
 *   backoff: exponential({ initial: 200, max: 5_000 }),
 *   handle: (error) => (error as { status?: number }).status !== 400,
 *   name: 'payments',
 * };
 * const policy = retry(options);
 * ```
 */
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

/**
 * The default schedule, `exponential()` spelled out (initial 200 ms, factor 2, cap 30 s, full
 * jitter) so that a bundle that imports no backoff carries none of the other schedules.
 */
const defaultBackoff: Backoff = { delay: (n, random) => random() * Math.min(200 * 2 ** (n - 1), 30_000) };

type Outcome = { error: unknown } | { result: unknown };

class RetryLayer extends BaseLayer<RetryEvent> {
  readonly #max: number;
  readonly #delay: (attempt: number, outcome: RetryOutcome, state: BackoffState) => number;
  readonly #handle: ((error: unknown, ctx: Context) => boolean) | undefined;
  readonly #handleResult: ((result: unknown, ctx: Context) => boolean) | undefined;
  readonly #hint: ((error: unknown) => number | undefined) | undefined;
  readonly #budget: RetryBudget | undefined;
  readonly #clock: Clock;

  constructor(o: RetryOptions | undefined) {
    super('retry', o?.name);
    this.#max = checkNumber('maxRetries', o?.maxRetries ?? 3, 0, { integer: true });
    const b = o?.backoff ?? defaultBackoff;
    const random = o?.random ?? Math.random;
    checkFunction('random', random);
    if (typeof b === 'function') this.#delay = b;
    else if (typeof b?.delay === 'function') this.#delay = (n, _, state) => b.delay(n, random, state);
    else fail('backoff', 'a backoff (constant/linear/exponential) or a function', b);
    checkFunction('handle', o?.handle);
    checkFunction('handleResult', o?.handleResult);
    checkFunction('retryAfter', o?.retryAfter);
    checkObject('budget', o?.budget);
    this.#handle = o?.handle;
    this.#handleResult = o?.handleResult;
    this.#hint = o?.retryAfter;
    this.#budget = o?.budget;
    this.#clock = o?.clock ?? systemClock;
  }

  // Fast path (see `Layer.enter`): a first attempt only observes the outcome; everything after a
  // failure runs in `#loop`, as do the rarer configurations: a `success` listener (present when the
  // call starts), `handleResult`, a nested retry (whose attempt number must be restored).
  get flags(): number {
    return FAST | FAILURE_ONLY;
  }

  enter(ctx: CallContext): unknown {
    if (ctx.attempt !== 1 || this.#handleResult !== undefined || this.listening('success')) return SKIP;
    this.#budget?.recordCall();
    return undefined;
  }

  exit(ctx: CallContext, _token: unknown, ok: boolean, value: unknown, inner: Chain | undefined): unknown {
    return ok ? value : this.#loop(ctx, inner, 1, { error: value });
  }

  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    this.#budget?.recordCall();
    return this.#loop(ctx, inner, ctx.attempt, undefined);
  }

  /** The retry loop; `first` is the outcome of a first attempt that already ran. */
  async #loop(ctx: CallContext, inner: Chain | undefined, saved: number, first: Outcome | undefined): Promise<unknown> {
    const state: BackoffState = { prev: 0 };
    try {
      for (let attempt = 1; ; attempt++) {
        ctx.attempt = attempt;
        let outcome = first;
        first = undefined;
        if (outcome === undefined) {
          try {
            const result = await invoke(ctx, inner);
            if (!this.#handleResult?.(result, ctx)) {
              if (this.listening('success')) this.#emit('success', attempt);
              return result;
            }
            outcome = { result };
          } catch (error) {
            outcome = { error };
          }
        }
        // An abort of the call (caller or enclosing timeout) is never retried.
        throwIfAborted(ctx);
        if ('error' in outcome && this.#handle !== undefined && !this.#handle(outcome.error, ctx)) throw outcome.error;
        let delay = 0;
        let reason: 'max-retries' | 'deadline' | 'budget' | 'retry-after' | undefined = 'max-retries';
        if (attempt <= this.#max) {
          delay = this.#delay(attempt, outcome, state);
          if (!(delay >= 0)) delay = 0;
          if ('error' in outcome) {
            const hint = this.#hint ? this.#hint(outcome.error) : retryAfterHint(outcome.error, this.#clock.now());
            if (hint !== undefined && hint > delay) delay = hint;
          }
          const deadline = ctx.deadline;
          reason =
            delay === Number.POSITIVE_INFINITY
              ? 'retry-after'
              : deadline !== undefined && this.#clock.now() + delay >= deadline
                ? 'deadline'
                : this.#budget !== undefined && !this.#budget.tryRetry()
                  ? 'budget'
                  : undefined;
        }
        if (reason !== undefined) {
          if (this.listening('give-up')) this.#emit('give-up', attempt, { reason, ...outcome });
          if ('error' in outcome) throw outcome.error;
          return outcome.result;
        }
        if (this.listening('retry')) this.#emit('retry', attempt, { delay, ...outcome });
        if (delay > 0) await this.#clock.sleep(delay, abortSignal(ctx));
      }
    } finally {
      ctx.attempt = saved;
    }
  }

  /**
   * The backoff's delay before retry `n` after `error`, without server hints: a JetStream consumer
   * spaces redeliveries with its policy's backoff. @internal
   */
  backoffDelay(n: number, error: unknown): number {
    return this.#delay(n, { error }, { prev: 0 });
  }

  #emit(type: RetryEvent['type'], attempt: number, more?: object): void {
    this.emit({ type, kind: 'retry', name: this.name, attempt, ...more } as RetryEvent);
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
