import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import type { ExecuteOptions } from '../core/context.js';
import { TimeoutError } from '../core/errors.js';
import { Policy } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject, checkOneOf } from '../core/validate.js';
import { BranchContext, normalizeHandlers } from './branch.js';
import { checkPolicy } from './condition.js';
import { BranchCancelledError } from './errors.js';
import { GatherError } from './gather-error.js';
import { type BranchValue, defaultNormalize, selectBest, selectVote } from './select.js';
import type { Handler } from './types.js';

/**
 * When the gather decides: after every branch settled (`'all'`), at the first success (`'first'`),
 * at `k` successes (`{ quorum: k }`), or when `until(successes)` holds — always by `timeout` at the latest.
 *
 * @example
 * ```ts
 * import { scatterGather, type GatherMode } from 'breakwater/messaging';
 *
 * // Interactive: decide at two successes. Batch: once Claude answered, else when every model settled.
 * const gather: GatherMode<string> = interactive
 *   ? { quorum: 2 }
 *   : { until: (successes) => successes.some((s) => s.name === 'claude') };
 * const models = { gpt: askGpt, claude: askClaude, gemini: askGemini };
 * const panel = scatterGather<string, string>({ handlers: models, gather });
 * ```
 */
export type GatherMode<R> =
  | 'all'
  | 'first'
  | {
      /** Decide at this many successes; more than `n − quorum` failures rejects at once. */
      readonly quorum: number;
    }
  | {
      /** Decide when this returns true, checked after each success (successes in completion order). */
      readonly until: (successes: readonly BranchValue<R>[]) => boolean;
    };

/**
 * How the value is picked from the successes: the earliest (`'first'`), the highest `score`
 * (`'best'`), a majority over normalised values (`'vote'`), or a function of the successes
 * (in completion order).
 *
 * @example
 * ```ts
 * import { scatterGather, type SelectMode } from 'breakwater/messaging';
 *
 * // The first answer in that cites a source, else the first answer in.
 * const cited: SelectMode<Answer> = (successes) =>
 *   successes.reduce((a, b) => (a.value.sources.length === 0 && b.value.sources.length > 0 ? b : a)).value;
 * const select: SelectMode<Answer> = needsCitations ? cited : 'first';
 * const panel = scatterGather<string, Answer>({ handlers: { gpt: askGpt, claude: askClaude }, select });
 * ```
 */
export type SelectMode<R> = 'first' | 'best' | 'vote' | ((successes: readonly BranchValue<R>[]) => R);

/**
 * How the gather decided.
 *
 * @example
 * ```ts
 * import { scatterGather, type GatherCompletedBy } from 'breakwater/messaging';
 *
 * const models = { gpt: askGpt, claude: askClaude, gemini: askGemini };
 * const panel = scatterGather<string, string>({ handlers: models, select: 'vote', timeout: 20_000 });
 * const result = await panel.execute(question);
 * const by: GatherCompletedBy = result.completedBy; // 'all', or 'timeout': a model was still running at 20 s
 * const late = result.branches.filter((b) => b.status === 'timeout').map((b) => b.name);
 * if (by === 'timeout') log.warn('voted without', late);
 * ```
 */
export type GatherCompletedBy = 'all' | 'first' | 'quorum' | 'until' | 'timeout';

/**
 * One branch's outcome.
 *
 * @example
 * ```ts
 * import { scatterGather, type BranchOutcome } from 'breakwater/messaging';
 *
 * const race = scatterGather<string, string>({ handlers: { gpt: askGpt, claude: askClaude }, gather: 'first' });
 * const { branches } = await race.execute(question);
 * branches.forEach((b: BranchOutcome<string>) => {
 *   if (b.status === 'error') log.warn(`${b.name} failed after ${b.ms} ms`, b.error);
 *   else if (b.status === 'cancelled') log.debug(`${b.name} lost the race (cancelled after ${b.ms} ms)`);
 * });
 * ```
 */
export interface BranchOutcome<R> {
  /** The handler's name. */
  readonly name: string;
  /** `'ok'`, `'error'`, `'timeout'` (still running at the timeout) or `'cancelled'` (still running when the gather decided). */
  readonly status: 'ok' | 'error' | 'timeout' | 'cancelled';
  /** The value, for `'ok'`. */
  readonly value?: R | undefined;
  /** The error, for `'error'`. */
  readonly error?: unknown;
  /** Milliseconds from the scatter to the branch's settling (or to the decision, if it was aborted). */
  readonly ms: number;
}

/**
 * What {@link ScatterGather.execute} resolves with.
 *
 * @example
 * ```ts
 * import { scatterGather, type GatherResult } from 'breakwater/messaging';
 *
 * const panel = scatterGather<string, string>({ handlers: { gpt: askGpt, claude: askClaude }, gather: { quorum: 2 } });
 * const result: GatherResult<string> = await panel.execute(question, { signal });
 * log.info(result.value, result.completedBy, result.branches.map((b) => `${b.name}: ${b.status} in ${b.ms} ms`));
 * ```
 */
export interface GatherResult<R> {
  /** The selected value. */
  readonly value: R;
  /** How the gather decided. */
  readonly completedBy: GatherCompletedBy;
  /** Every branch's outcome, in `handlers` order. */
  readonly branches: readonly BranchOutcome<R>[];
}

/**
 * Options for {@link scatterGather}.
 *
 * @example
 * ```ts
 * import { scatterGather, type ScatterGatherOptions } from 'breakwater/messaging';
 * import { retry } from 'breakwater/retry';
 *
 * const options: ScatterGatherOptions<string, Answer> = {
 *   handlers: [
 *     { name: 'fast', handler: smallModel },
 *     { name: 'smart', handler: largeModel },
 *   ],
 *   select: 'best',
 *   score: (a) => a.confidence,
 *   timeout: 15_000,
 *   policy: retry({ maxRetries: 1 }),
 * };
 * const ask = scatterGather(options);
 * ```
 */
export interface ScatterGatherOptions<Q, R> {
  /** The handlers, by name (in declaration order) or as a list of `{ name, handler }`. */
  readonly handlers:
    | Readonly<Record<string, Handler<Q, R>>>
    | readonly { readonly name: string; readonly handler: Handler<Q, R> }[];
  /**
   * When to decide.
   * @defaultValue 'all'
   */
  readonly gather?: GatherMode<R> | undefined;
  /**
   * How to pick the value.
   * @defaultValue 'first'
   */
  readonly select?: SelectMode<R> | undefined;
  /** Scores a value (higher is better); required by `'best'`, breaks ties for `'vote'`. */
  readonly score?: ((value: R) => number) | undefined;
  /**
   * Maps a value to what `'vote'` compares.
   * @defaultValue {@link defaultNormalize}
   */
  readonly normalize?: ((value: R) => unknown) | undefined;
  /**
   * The gather's bound in ms: branches still running then are aborted with a `TimeoutError`.
   * @defaultValue 30000
   */
  readonly timeout?: number | undefined;
  /**
   * The policy each branch runs under (each branch gets its own execution).
   * @defaultValue `Policy.noop`
   */
  readonly policy?: Policy<any> | undefined;
  /**
   * The clock for the timeout and branch timings.
   * @defaultValue `systemClock`
   */
  readonly clock?: Clock | undefined;
}

/**
 * A scatter-gather built by {@link scatterGather}.
 *
 * @example
 * ```ts
 * import { isGatherError, scatterGather, type ScatterGather } from 'breakwater/messaging';
 *
 * const consensus: ScatterGather<string, string> = scatterGather({
 *   handlers: { gpt: askGpt, claude: askClaude, gemini: askGemini },
 *   gather: { quorum: 2 },
 *   select: 'vote',
 * });
 * const { value } = await consensus.execute(question, { signal }).catch((e) => {
 *   if (isGatherError(e)) return { value: 'The models could not agree.' }; // fewer than 2 answered
 *   throw e;
 * });
 * ```
 */
export interface ScatterGather<Q, R> {
  /**
   * Sends `request` to every handler in parallel and resolves with the selected value, how the
   * gather decided, and every branch's outcome. Branches still running at the decision are aborted
   * through their `ctx.signal`.
   *
   * @throws GatherError (an `AggregateError` of the branch errors) when the gather cannot be satisfied.
   * @throws the caller's `signal.reason` when the caller aborts.
   */
  execute(request: Q, options?: ExecuteOptions): Promise<GatherResult<R>>;
}

type Mutable<T> = { -readonly [P in keyof T]: T[P] };

const cancelled = (): unknown => new BranchCancelledError();

/**
 * Builds a scatter-gather: one request to N handlers in parallel, gathered by `all`, `first`
 * success, a `quorum`, or a predicate, bounded by `timeout`; the value is picked first, best by
 * score, or by majority vote (self-consistency). Losing branches are cancelled.
 *
 * @throws TypeError / RangeError on invalid options (naming the option).
 * @example
 * ```ts
 * // Self-consistency: ask three models, stop at two agreeing answers, cancel the third.
 * const consensus = scatterGather<string, string>({
 *   handlers: { gpt: askGpt, claude: askClaude, gemini: askGemini },
 *   gather: { quorum: 2 },
 *   select: 'vote',
 *   timeout: 20_000,
 *   policy: retry({ maxRetries: 1 }),
 * });
 * const { value, branches } = await consensus.execute(question, { signal });
 * ```
 */
export function scatterGather<Q, R>(options: ScatterGatherOptions<Q, R>): ScatterGather<Q, R> {
  checkObject('options', options);
  if (options === undefined) throw new TypeError('Expected `options` to be an object, got undefined');
  const handlers = normalizeHandlers(options.handlers);
  const n = handlers.length;
  const gather = options.gather ?? 'all';
  let quorum = 0;
  let until: ((successes: readonly BranchValue<R>[]) => boolean) | undefined;
  if (typeof gather === 'string') checkOneOf('gather', gather, ['all', 'first']);
  else if (gather !== null && typeof gather === 'object' && 'quorum' in gather) {
    quorum = checkNumber('gather.quorum', gather.quorum, 1, { integer: true, max: n });
  } else if (gather !== null && typeof gather === 'object' && 'until' in gather) {
    checkFunction('gather.until', gather.until, false);
    until = gather.until;
  } else throw new TypeError("Expected `gather` to be 'all', 'first', { quorum } or { until }");
  const select = options.select ?? 'first';
  if (typeof select !== 'function') checkOneOf('select', select, ['first', 'best', 'vote']);
  checkFunction('score', options.score);
  checkFunction('normalize', options.normalize);
  const score = options.score;
  if (select === 'best' && score === undefined)
    throw new TypeError("Expected `score` to be a function with select 'best'");
  const normalize = options.normalize ?? (defaultNormalize as (value: R) => unknown);
  const timeout = checkNumber('timeout', options.timeout ?? 30_000, 0, { exclusiveMin: true });
  if (!Number.isFinite(timeout)) throw new RangeError('Expected `timeout` to be finite: a gather is always bounded');
  checkPolicy('policy', options.policy);
  const policy: Policy<any> = options.policy ?? Policy.noop;
  const clock = options.clock ?? systemClock;
  const direct = policy.layers.length === 0;

  const pick = (successes: readonly BranchValue<R>[]): R => {
    if (select === 'first') return (successes[0] as BranchValue<R>).value;
    if (select === 'best') return selectBest(successes, score as (value: R) => number).value;
    if (select === 'vote') return selectVote(successes, normalize, score).value;
    return select(successes);
  };

  return {
    execute(request, opts) {
      const signal = opts?.signal;
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<GatherResult<R>>((resolve, reject) => {
        const start = clock.now();
        const branches: Mutable<BranchOutcome<R>>[] = [];
        const contexts: BranchContext[] = [];
        const successes: BranchValue<R>[] = [];
        let failures = 0;
        let done = false;
        let timer: TimerHandle;

        // `reason` is built only when a running branch has read its signal (an Error costs a stack trace).
        const stop = (completedBy: GatherCompletedBy | 'cancel', reason: () => unknown): void => {
          done = true;
          clock.clearTimeout(timer);
          signal?.removeEventListener('abort', onCallerAbort);
          const now = clock.now();
          const status = completedBy === 'timeout' ? 'timeout' : 'cancelled';
          let why: unknown;
          let made = false;
          const shared = (): unknown => {
            if (!made) {
              made = true;
              why = reason();
            }
            return why;
          };
          for (let i = 0; i < n; i++) {
            const b = branches[i] as Mutable<BranchOutcome<R>>;
            if (b.status !== undefined) continue;
            b.status = status;
            b.ms = now - start;
            (contexts[i] as BranchContext).abort(shared);
          }
        };

        const decide = (completedBy: GatherCompletedBy): void => {
          stop(completedBy, completedBy === 'timeout' ? () => new TimeoutError(timeout) : cancelled);
          const needed = quorum > 0 ? quorum : 1;
          if (successes.length < needed) {
            const errors: unknown[] = [];
            for (const b of branches) {
              if (b.status === 'error') errors.push(b.error);
              else if (b.status === 'timeout') errors.push(new TimeoutError(timeout));
            }
            reject(new GatherError(errors, completedBy, branches));
            return;
          }
          try {
            resolve({ value: pick(successes), completedBy, branches });
          } catch (error) {
            reject(error);
          }
        };

        const onCallerAbort = (): void => {
          if (done) return;
          const reason = (signal as AbortSignal).reason;
          stop('cancel', () => reason);
          reject(reason);
        };

        const settled = (): number => successes.length + failures;

        const onOk = (i: number, value: R): void => {
          const b = branches[i] as Mutable<BranchOutcome<R>>;
          if (done || b.status !== undefined) return;
          b.status = 'ok';
          b.value = value;
          b.ms = clock.now() - start;
          successes.push({ name: b.name, value, index: i });
          if (gather === 'first') decide('first');
          else if (quorum > 0 && successes.length >= quorum) decide('quorum');
          else if (until?.(successes) === true) decide('until');
          else if (settled() === n) decide('all');
        };

        const onError = (i: number, error: unknown): void => {
          const b = branches[i] as Mutable<BranchOutcome<R>>;
          if (done || b.status !== undefined) return;
          b.status = 'error';
          b.error = error;
          b.ms = clock.now() - start;
          failures++;
          if (quorum > 0 && failures > n - quorum) decide('quorum');
          else if (settled() === n) decide(gather === 'first' ? 'first' : 'all');
        };

        signal?.addEventListener('abort', onCallerAbort, { once: true });
        const key = opts?.key;
        const data = opts?.data;
        for (let i = 0; i < n; i++) {
          const h = handlers[i] as { name: string; handler: Handler<Q, R> };
          const c = new BranchContext(key, data);
          contexts.push(c);
          branches.push({ name: h.name, status: undefined as never, ms: 0 });
          let run: Promise<R>;
          if (direct) {
            // No policy: the handler gets the branch context itself, whose signal (and
            // AbortController) is only created if the handler reads it.
            try {
              run = Promise.resolve(h.handler(request, c));
            } catch (error) {
              run = Promise.reject(error);
            }
          } else run = policy.execute((ctx) => h.handler(request, ctx), { signal: c.signal, key, data });
          run.then(
            (value: R) => onOk(i, value),
            (error: unknown) => onError(i, error),
          );
        }
        if (!done) timer = clock.setTimeout(() => done || decide('timeout'), timeout);
      });
    },
  };
}
