import { DeadlineEntry } from './deadline-queue.js';

/** Options every `execute` call accepts. */
export interface ExecuteOptions {
  /** The caller's signal: aborting it aborts `ctx.signal` and rejects with its `reason`. */
  readonly signal?: AbortSignal | undefined;
  /** Operation, idempotency or partition key, passed to `fn` as `ctx.key`. */
  readonly key?: string | undefined;
  /** A bag of user data, passed to `fn` as `ctx.data`. */
  readonly data?: Record<string, unknown> | undefined;
}

/** What a protected function is told about its call. Read-only. */
export interface Context {
  /**
   * Aborts when the caller aborts or an enclosing timeout fires. Created lazily: reading it is
   * what makes a pipeline allocate an `AbortController`, so only read it when you pass it on.
   */
  readonly signal: AbortSignal;
  /** 1 on the first try; set by `retry`. */
  readonly attempt: number;
  /** The key given to `execute`, if any. */
  readonly key: string | undefined;
  /** Clock time by which the whole operation must end, if a layer set one. */
  readonly deadline: number | undefined;
  /** The data given to `execute` (an empty object if none). */
  readonly data: Record<string, unknown>;
}

let never: AbortSignal | undefined;
/** A shared signal that never aborts, for calls with no caller signal and no timeout. */
function neverSignal(): AbortSignal {
  never ??= new AbortController().signal;
  return never;
}

/**
 * A layer of cancellation (one per running timeout). Its `AbortController` is only created when
 * someone reads `signal`; until then an abort is just recorded, and descendants check the chain.
 */
export class AbortScope extends DeadlineEntry {
  readonly parent: AbortScope | undefined;
  readonly callerSignal: AbortSignal | undefined;
  deadline: number | undefined;
  #controller: AbortController | undefined = undefined;
  #aborted = false;
  #reason: unknown = undefined;
  #parentSignal: AbortSignal | undefined = undefined;
  // Created only when a signal is materialised under a parent: a closure per scope would cost
  // more than the rest of a timeout's bookkeeping.
  #onParentAbort: (() => void) | undefined = undefined;

  constructor(parent: AbortScope | undefined, callerSignal: AbortSignal | undefined, deadline: number | undefined) {
    super();
    this.parent = parent;
    this.callerSignal = callerSignal;
    this.deadline = deadline;
  }

  /** True once this scope or any ancestor (or the caller's signal) aborted. */
  get aborted(): boolean {
    if (this.#aborted) return true;
    return this.parent !== undefined ? this.parent.aborted : this.callerSignal?.aborted === true;
  }

  /** The reason of the nearest abort (own first, then the ancestors'). */
  get reason(): unknown {
    if (this.#aborted) return this.#reason;
    return this.parent !== undefined ? this.parent.reason : this.callerSignal?.reason;
  }

  /** True when this scope itself was aborted (not an ancestor). */
  get abortedHere(): boolean {
    return this.#aborted;
  }

  get signal(): AbortSignal {
    if (this.#controller !== undefined) return this.#controller.signal;
    const controller = new AbortController();
    this.#controller = controller;
    if (this.#aborted) {
      controller.abort(this.#reason);
      return controller.signal;
    }
    const parentSignal = this.parent !== undefined ? this.parent.signal : this.callerSignal;
    if (parentSignal !== undefined) {
      if (parentSignal.aborted) controller.abort(parentSignal.reason);
      else {
        this.#parentSignal = parentSignal;
        this.#onParentAbort = () => this.#abortController(parentSignal.reason);
        parentSignal.addEventListener('abort', this.#onParentAbort, { once: true });
      }
    }
    return controller.signal;
  }

  /** Aborts this scope (and, through listeners, every materialised descendant). */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#abortController(reason);
  }

  /** Detaches from the parent's signal. Call when the scope's layer is done. */
  dispose(): void {
    if (this.#parentSignal !== undefined) {
      this.#parentSignal.removeEventListener('abort', this.#onParentAbort as () => void);
      this.#parentSignal = undefined;
      this.#onParentAbort = undefined;
    }
  }

  #abortController(reason: unknown): void {
    const c = this.#controller;
    if (c !== undefined && !c.signal.aborted) {
      this.dispose();
      c.abort(reason);
    }
  }
}

/** Any function a policy runs. */
export type Task<T> = (ctx: Context) => T | PromiseLike<T>;

/**
 * The one object a call allocates. Layers mutate `attempt` and `scope` on the way in and restore
 * them on the way out; a layer that runs work concurrently (hedge, aggressive timeout) forks it.
 * @internal
 */
export class CallContext implements Context {
  readonly fn: Task<unknown>;
  readonly key: string | undefined;
  readonly callerSignal: AbortSignal | undefined;
  attempt = 1;
  scope: AbortScope | undefined = undefined;
  // A fork of a context without data holds that context here, so both share one object, created
  // on the first read of either side (no `{}` per fork, no extra field per call).
  #data: Record<string, unknown> | CallContext | undefined;

  constructor(fn: Task<unknown>, options: ExecuteOptions | undefined) {
    this.fn = fn;
    if (options === undefined) {
      this.key = undefined;
      this.callerSignal = undefined;
      this.#data = undefined;
    } else {
      this.key = options.key;
      this.callerSignal = options.signal;
      this.#data = options.data;
    }
  }

  get signal(): AbortSignal {
    if (this.scope !== undefined) return this.scope.signal;
    return this.callerSignal ?? neverSignal();
  }

  get deadline(): number | undefined {
    return this.scope?.deadline;
  }

  get data(): Record<string, unknown> {
    let d = this.#data;
    if (d === undefined) d = {};
    else if (d instanceof CallContext) d = d.data;
    else return d;
    this.#data = d;
    return d;
  }

  /** True when the call is aborted (by the caller or an enclosing scope), without allocating. */
  get aborted(): boolean {
    return this.scope !== undefined ? this.scope.aborted : this.callerSignal?.aborted === true;
  }

  /** The abort reason when {@link CallContext.aborted}. */
  get abortReason(): unknown {
    return this.scope !== undefined ? this.scope.reason : this.callerSignal?.reason;
  }

  /** True when the caller's own signal aborted (not a timeout). */
  get callerAborted(): boolean {
    return this.callerSignal?.aborted === true;
  }

  /** A copy that can run concurrently with this one (its own `attempt` and `scope`). */
  fork(fn: Task<unknown> = this.fn): CallContext {
    const c = new CallContext(fn, { key: this.key, signal: this.callerSignal, data: undefined });
    c.#data = this.#data ?? this;
    c.attempt = this.attempt;
    c.scope = this.scope;
    return c;
  }
}
