import type { DeadlineEntry } from './deadline-queue.js';

/**
 * Options every `execute` call accepts.
 *
 * @example
 * ```ts
 * import type { ExecuteOptions } from 'breakwater';
 *
 * const options: ExecuteOptions = {
 *   signal: AbortSignal.timeout(5_000),
 *   key: `order-${order.id}`,
 *   data: { tenant: 'acme' },
 * };
 * const receipt = await policy.execute(({ key, signal }) => payments.charge(order, { key, signal }), options);
 * ```
 */
export interface ExecuteOptions {
  /** The caller's signal: aborting it aborts `ctx.signal` and rejects with its `reason`. */
  readonly signal?: AbortSignal | undefined;
  /** Operation, idempotency or partition key, passed to `fn` as `ctx.key`. */
  readonly key?: string | undefined;
  /** A bag of user data, passed to `fn` as `ctx.data`. */
  readonly data?: Record<string, unknown> | undefined;
}

/**
 * What a protected function is told about its call. Read-only.
 *
 * @example
 * ```ts
 * import type { Context } from 'breakwater';
 * import { retry } from 'breakwater/retry';
 *
 * async function loadUser(ctx: Context, id: string) {
 *   const headers = { 'x-attempt': String(ctx.attempt), 'x-tenant': String(ctx.data.tenant) };
 *   return (await fetch(`${api}/users/${id}`, { signal: ctx.signal, headers })).json();
 * }
 * const user = await retry().execute((ctx) => loadUser(ctx, '42'), { data: { tenant: 'acme' } });
 * ```
 */
export interface Context {
  /**
   * Aborts when the caller aborts or an enclosing timeout fires. It belongs to this call: two calls
   * never see the same signal, and it follows the caller's through one listener that is removed when
   * the call settles, so listeners a client adds and never removes die with the call. Created lazily:
   * reading it is what makes a pipeline allocate an `AbortController`, so only read it when you pass
   * it on.
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

const NONE: unique symbol = Symbol();

/**
 * A layer of cancellation (one per running timeout; see docs/architecture.md on the lazy signal).
 * Its `AbortController` is only created when someone reads `signal`; until then an abort is just
 * recorded, and descendants check the chain.
 * It is also its timeout's {@link DeadlineEntry}. One flat class whose fields are assigned in the
 * constructor (a scope is built on every call of a timeout; each level of a class hierarchy, and
 * each field initialiser, costs a call).
 */
export class AbortScope implements DeadlineEntry {
  declare dueAt: number;
  declare prev: DeadlineEntry | undefined;
  declare next: DeadlineEntry | undefined;
  declare queued: boolean;
  declare readonly parent: AbortScope | undefined;
  declare readonly callerSignal: AbortSignal | undefined;
  declare private _deadline: number | undefined;
  declare private _controller: AbortController | undefined;
  declare private _reason: unknown;
  /**
   * The enclosing signal this scope's (materialised) signal listens to, through `handleEvent`;
   * `null` once the scope was disposed (its layer is done: a later read follows nothing).
   */
  declare private _listening: AbortSignal | null | undefined;

  constructor(parent: AbortScope | undefined, callerSignal: AbortSignal | undefined, deadline?: number) {
    this.dueAt = 0;
    this.prev = this.next = undefined;
    this.queued = false;
    this.parent = parent;
    this.callerSignal = callerSignal;
    this._deadline = deadline;
    this._controller = this._listening = undefined;
    this._reason = NONE;
  }

  /** Called when the scope's deadline passes (a timeout's scope aborts itself). */
  expire(): void {}

  /** Clock time by which the work under this scope must end, if any: its own, else the enclosing one. */
  get deadline(): number | undefined {
    return this._deadline ?? this.parent?.deadline;
  }

  /** True once this scope or any ancestor (or the caller's signal) aborted. */
  get aborted(): boolean {
    if (this._reason !== NONE) return true;
    return this.parent !== undefined ? this.parent.aborted : this.callerSignal?.aborted === true;
  }

  /** The reason of the nearest abort (own first, then the ancestors'). */
  get reason(): unknown {
    if (this._reason !== NONE) return this._reason;
    return this.parent !== undefined ? this.parent.reason : this.callerSignal?.reason;
  }

  /** True when this scope itself was aborted (not an ancestor). */
  get abortedHere(): boolean {
    return this._reason !== NONE;
  }

  get signal(): AbortSignal {
    if (this._controller !== undefined) return this._controller.signal;
    const controller = new AbortController();
    this._controller = controller;
    if (this._reason !== NONE) controller.abort(this._reason);
    else if (this._listening === null) {
      // Read after the scope's layer was done with it (an async generator's body runs when its
      // stream is read, after the call settled): it must not hang on the enclosing (caller's)
      // long-lived signal, where whatever the callee adds to it would stay. It reports an abort
      // that already happened, and follows nothing.
      if (this.aborted) controller.abort(this.reason);
    } else {
      const parentSignal = this.parent !== undefined ? this.parent.signal : this.callerSignal;
      if (parentSignal?.aborted) controller.abort(parentSignal.reason);
      else if (parentSignal !== undefined) {
        this._listening = parentSignal;
        parentSignal.addEventListener('abort', this, { once: true });
      }
    }
    return controller.signal;
  }

  /** The enclosing signal aborted: abort the materialised signal with its reason. @internal */
  handleEvent(): void {
    this._abortController((this._listening as AbortSignal).reason);
  }

  /** Aborts this scope (and, through listeners, every materialised descendant). */
  abort(reason: unknown): void {
    if (this._reason !== NONE) return;
    this._reason = reason;
    this._abortController(reason);
  }

  /**
   * Detaches from the parent's signal. Call when the scope's layer is done: a signal first read
   * after this follows nothing (it is aborted if the scope or an enclosing one already was).
   */
  dispose(): void {
    const l = this._listening;
    if (l !== undefined && l !== null) l.removeEventListener('abort', this);
    this._listening = null;
  }

  private _abortController(reason: unknown): void {
    const c = this._controller;
    if (c !== undefined && !c.signal.aborted) {
      this.dispose();
      c.abort(reason);
    }
  }
}

/** Any function a policy runs. */
export type Task<T> = (ctx: Context) => T | PromiseLike<T>;

/**
 * The one object a call allocates (its fields and the lazy signal: docs/architecture.md, "The life of
 * one call through Policy.wrap"). Layers mutate `attempt` and `scope` on the way in and restore
 * them on the way out; a layer that runs work concurrently (hedge, aggressive timeout) forks it
 * with {@link fork}.
 * @internal
 */
export class CallContext implements Context {
  // Assigned in the constructor, not by field initialisers: one is built on every call.
  declare readonly fn: Task<unknown>;
  declare readonly key: string | undefined;
  declare readonly callerSignal: AbortSignal | undefined;
  declare attempt: number;
  declare scope: AbortScope | undefined;
  /** The `data` option; `{}` is made on the first read of `data` (none per call otherwise). */
  declare d: Record<string, unknown> | undefined;
  /**
   * The call's own root scope, made on the first read of `signal` outside any layer's scope: the
   * signal `fn` sees then belongs to this call alone (it follows the caller's signal through one
   * listener, removed when the call settles; see {@link Pipeline.execute}). HTTP clients add abort
   * listeners they never remove, so handing them the caller's long-lived signal (or one shared
   * never-aborting signal) would leak one listener per call.
   */
  declare r: AbortController | undefined;
  /** For a fork: the call it was forked from, which owns the root scope. */
  declare o: CallContext | undefined;

  constructor(fn: Task<unknown>, options: ExecuteOptions | undefined) {
    this.fn = fn;
    this.key = options?.key;
    this.callerSignal = options?.signal;
    this.attempt = 1;
    this.scope = undefined;
    this.d = options?.data;
    this.r = this.o = undefined;
  }

  get signal(): AbortSignal {
    const s = this.scope;
    if (s !== undefined) return s.signal;
    const o = this.o ?? this;
    if (o.r === undefined) {
      const c = new AbortController();
      o.r = c;
      const caller = o.callerSignal;
      if (caller?.aborted) c.abort(caller.reason);
      else caller?.addEventListener('abort', o, { once: true });
    }
    return o.r.signal;
  }

  /** The caller's signal aborted: abort the call's own signal with its reason. @internal */
  handleEvent(): void {
    this.r?.abort(this.callerSignal?.reason);
  }

  get deadline(): number | undefined {
    return this.scope?.deadline;
  }

  get data(): Record<string, unknown> {
    // A fork shares the bag of the call it was forked from (made there on the first read of either).
    // biome-ignore lint/suspicious/noAssignInExpressions: one expression minifies smaller (every bundle has it)
    return (this.d ??= this.o?.data ?? {});
  }
}

/**
 * The signal that aborts this call, for a layer that listens itself and removes its listener: the
 * innermost scope's, or the caller's. Unlike `ctx.signal` it never makes the call's own signal (an
 * `AbortController` per call). Undefined when nothing can abort the call.
 * @internal
 */
export function abortSignal(ctx: CallContext): AbortSignal | undefined {
  return ctx.scope !== undefined ? ctx.scope.signal : ctx.callerSignal;
}

/**
 * Throws the abort reason when the call is aborted (by the caller or an enclosing scope), without
 * allocating a signal.
 * @internal
 */
export function throwIfAborted(ctx: CallContext): void {
  const s = ctx.scope;
  if (s !== undefined ? s.aborted : ctx.callerSignal?.aborted)
    throw s !== undefined ? s.reason : ctx.callerSignal?.reason;
}

/**
 * A copy of `ctx` that can run concurrently with it (its own `attempt` and `scope`), sharing its
 * key, caller signal and data.
 * @internal
 */
export function fork(ctx: CallContext, fn: Task<unknown> = ctx.fn): CallContext {
  const c = new CallContext(fn, undefined) as { -readonly [K in keyof CallContext]: CallContext[K] };
  c.key = ctx.key;
  c.callerSignal = ctx.callerSignal;
  c.d = ctx.d; // one object for both sides (when the call has none yet, made on the first read)
  c.attempt = ctx.attempt;
  c.scope = ctx.scope;
  c.o = ctx.o ?? ctx;
  return c;
}
