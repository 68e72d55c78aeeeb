// Running one step's `run` or `compensate` with its signal and its own time limit.
import type { Clock } from '../core/clock.js';
import { AbortScope } from '../core/context.js';
import { TimeoutError } from '../core/errors.js';
import type { StepContext } from './definition.js';

/**
 * Calls `fn` with a context whose signal follows `parent` and, when `timeoutMs` is set, also aborts
 * with a `TimeoutError` at that limit; the call then rejects at once (a step that ignores its signal
 * is walked away from, its late result ignored). @internal
 */
export function callWithLimit<T>(
  fn: (ctx: StepContext) => T | PromiseLike<T>,
  base: Omit<StepContext, 'signal'>,
  parent: AbortSignal,
  timeoutMs: number | undefined,
  clock: Clock,
): Promise<T> {
  if (timeoutMs === undefined) return callOwned(fn, base, parent);
  if (parent.aborted) return Promise.reject(parent.reason);
  const controller = new AbortController();
  const onParent = (): void => controller.abort(parent.reason);
  parent.addEventListener('abort', onParent, { once: true });
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      clock.clearTimeout(timer);
      parent.removeEventListener('abort', onParent);
      return true;
    };
    const timer = clock.setTimeout(() => {
      const error = new TimeoutError(timeoutMs);
      controller.abort(error);
      if (finish()) reject(error);
    }, timeoutMs);
    clock.unref?.(timer);
    controller.signal.addEventListener(
      'abort',
      () => {
        if (finish()) reject(controller.signal.reason);
      },
      { once: true },
    );
    new Promise<T>((r) => r(fn({ ...base, signal: controller.signal }))).then(
      (v) => {
        if (finish()) resolve(v);
      },
      (e) => {
        if (finish()) reject(e);
      },
    );
  });
}

/**
 * Calls `fn` with a context whose signal is its own: made on the first read, following `parent`
 * through one listener that is removed when the call settles. A step's client may hang abort
 * listeners on it that it never removes; on the saga's long-lived signal they would pile up.
 * @internal
 */
export function callOwned<T>(
  fn: (ctx: StepContext) => T | PromiseLike<T>,
  base: Omit<StepContext, 'signal'>,
  parent: AbortSignal,
): Promise<T> {
  const scope = new AbortScope(undefined, parent);
  const ctx = Object.defineProperty({ ...base }, 'signal', { get: () => scope.signal, enumerable: true });
  let v: T | PromiseLike<T>;
  try {
    v = fn(ctx as StepContext);
  } catch (e) {
    scope.dispose();
    return Promise.reject(e);
  }
  if (!isThenable(v)) {
    scope.dispose();
    return Promise.resolve(v);
  }
  return Promise.resolve(v).then(
    (value) => {
      scope.dispose();
      return value;
    },
    (error: unknown) => {
      scope.dispose();
      throw error;
    },
  );
}

function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as PromiseLike<T> | null)?.then === 'function';
}

/**
 * Retries `fn` up to `retries` more times, waiting `delay`, `2 × delay`, … between attempts; the
 * default policy of compensations. @internal
 */
export async function retryLoop<T>(
  fn: (attempt: number) => T | PromiseLike<T>,
  retries: number,
  delay: number,
  clock: Clock,
  signal: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt > retries || signal.aborted) throw e;
      await clock.sleep(delay * 2 ** (attempt - 1), signal);
    }
  }
}
