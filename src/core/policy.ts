import { CallContext, type Context, type ExecuteOptions } from './context.js';
import { Emitter, type Listener, type PolicyEventBase, type Unsubscribe } from './events.js';
import type { StreamingPolicy } from './streaming.js';

/**
 * The result of {@link Policy.executeOutcome}: never a rejection.
 *
 * @example
 * ```ts
 * import type { Outcome } from 'breakwater';
 * import { retry } from 'breakwater/retry';
 *
 * const outcome: Outcome<Response> = await retry().executeOutcome(({ signal }) => fetch(url, { signal }));
 * if (outcome.ok) console.log(outcome.value.status);
 * else log.error('request failed', outcome.error);
 * ```
 */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * The event a listener receives for `type` (or every event for `'*'`).
 *
 * @example
 * ```ts
 * import type { EventOf } from 'breakwater';
 * import { retry, type RetryEvent } from 'breakwater/retry';
 *
 * type GiveUp = EventOf<RetryEvent, 'give-up'>; // the 'give-up' variant, with its `reason`
 * const alert = (e: GiveUp) => pager.notify(`${e.name} gave up after ${e.attempt} attempts: ${e.reason}`);
 * retry({ name: 'billing' }).on('give-up', alert);
 * ```
 */
export type EventOf<E extends PolicyEventBase, K> = K extends '*' ? E : Extract<E, { type: K }>;

/**
 * Something that runs a function for you: a single policy (`retry()`, `timeout()`, …) or a
 * pipeline built by {@link Policy.wrap}.
 *
 * @example
 * ```ts
 * const policy = Policy.wrap(timeout(10_000), retry({ maxRetries: 2 }));
 * const text = await policy.execute(({ signal }) => fetch(url, { signal }).then((r) => r.text()));
 * ```
 */
export interface Policy<E extends PolicyEventBase = PolicyEventBase> {
  /** Runs `fn` under this policy. Rejects with the last error, or the caller's abort reason. */
  execute<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<T>;
  /** Like {@link Policy.execute} but resolves to `{ ok, value | error }` and never rejects. */
  executeOutcome<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<Outcome<T>>;
  /**
   * Turns a plain function into a protected one with the same parameters. Use `execute` when the
   * function needs `ctx` (its signal or attempt number).
   */
  bind<A extends unknown[], T>(
    fn: (...args: A) => T | PromiseLike<T>,
    options?: ExecuteOptions,
  ): (...args: A) => Promise<T>;
  /** Listens to events of `type` (or `'*'` for all) from every layer; returns an unsubscribe. */
  on<K extends E['type'] | '*'>(type: K, listener: Listener<EventOf<E, K>>): Unsubscribe;
  /** The layers, outermost first. */
  readonly layers: readonly Layer[];
}

/** The next layer in, or the user's function at the end of the chain. @internal */
export interface Chain {
  readonly layer: Layer;
  readonly inner: Chain | undefined;
  readonly outer: Chain | undefined;
  /**
   * The layer's fast-path flags ({@link FAST} | {@link STATEFUL} | {@link FAILURE_ONLY}), copied here
   * so that the chain walk reads one object shape; one small integer keeps a policy instance small.
   */
  readonly flags: number;
}

/** {@link Chain.flags}: the layer has `enter` / `exit`. @internal */
export const FAST = 1;
/** {@link Chain.flags}: the layer's `enter` returns a token for its `exit`. @internal */
export const STATEFUL = 2;
/** {@link Chain.flags}: the layer's `exit` passes successes through. @internal */
export const FAILURE_ONLY = 4;

/** What {@link Layer.enter} returns to decline the fast path for one call. @internal */
export const SKIP: unique symbol = Symbol();

/**
 * One policy's behaviour. A layer runs the rest of the chain with {@link invoke}; it gets the one
 * {@link CallContext} of the call and must restore any field it changes.
 *
 * A layer may also offer a fast path: synchronous `enter` / `exit` hooks around the rest of the
 * chain, so that a run of such layers shares one `.then` per call instead of one each. `enter`
 * returns {@link SKIP} to use `run` for this call instead, throws to reject the call at this layer,
 * or returns a token (kept for `exit` when the layer is `stateful`). `exit` gets the outcome of
 * the rest of the chain and returns the value to pass on, throws the error to pass on, or returns
 * a promise (e.g. a retry loop) that the outer layers then wait for.
 * The protocol, its flags and a worked example: docs/architecture.md ("The life of one call").
 * @internal
 */
export interface Layer {
  readonly kind: string;
  readonly name: string | undefined;
  readonly events: Emitter<PolicyEventBase>;
  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown>;
  enter?(ctx: CallContext): unknown;
  exit?(ctx: CallContext, token: unknown, ok: boolean, value: unknown, inner: Chain | undefined): unknown;
  /**
   * Fast-path flags: {@link FAST} (has `enter` / `exit`), {@link STATEFUL} (`enter` returns a token
   * that `exit` needs), {@link FAILURE_ONLY} (`exit` passes successes through, so it is skipped for
   * them). A prototype getter, so that it costs an instance nothing.
   */
  readonly flags?: number;
  /**
   * Optional prebuilt `.then` handlers for a call where this layer is the only one entered: they
   * must do what `exit` does for that outcome without the context, token or inner chain (a bulkhead's
   * release, a breaker's success count), so that such a call makes no closure.
   */
  readonly settleOk?: ((value: unknown) => unknown) | undefined;
  readonly settleError?: ((error: unknown) => unknown) | undefined;
}

/**
 * Runs the rest of the chain: the next layers, or the user's function (whose synchronous throw
 * becomes a rejection when a layer runs it). Fast-path layers are entered one after another;
 * the first that has none (or declines) runs the rest its own way; then one `.then` unwinds the
 * entered layers, innermost first. (docs/architecture.md, "The life of one call through Policy.wrap".)
 * @internal
 */
export function invoke(ctx: CallContext, chain: Chain | undefined): unknown {
  if (chain === undefined) return ctx.fn(ctx);
  let node: Chain | undefined = chain;
  let last: Chain | undefined;
  // The tokens of stateful layers, a stack whose top is kept apart (usually there is one at most).
  let top: unknown;
  let rest: unknown[] | undefined;
  let n = 0;
  let p: unknown;
  let failureOnly = true;
  try {
    for (;;) {
      const t = node.flags & FAST ? (node.layer.enter as (ctx: CallContext) => unknown)(ctx) : SKIP;
      if (t === SKIP) {
        p = node.layer.run(ctx, node.inner);
        break;
      }
      if (node.flags & STATEFUL) {
        if (n++ > 0) {
          rest ??= [];
          rest.push(top);
        }
        top = t;
      }
      failureOnly &&= (node.flags & FAILURE_ONLY) !== 0;
      last = node;
      node = node.inner;
      if (node === undefined) {
        p = ctx.fn(ctx);
        break;
      }
    }
  } catch (error) {
    // An `enter` (or a synchronous `fn`) threw: the entered layers see the error at once.
    return last === undefined ? Promise.reject(error) : attempt(unwind, ctx, chain, last, top, rest, false, error);
  }
  if (last === undefined) return p;
  const settled = Promise.resolve(p);
  // One layer entered: its prebuilt handlers, if it has them, spare the per-call closures.
  const l = chain.layer;
  if (last === chain && l.settleError && (failureOnly || l.settleOk)) {
    return settled.then(failureOnly ? undefined : l.settleOk, l.settleError);
  }
  return settle(settled, failureOnly, ctx, chain, last, top, rest);
}

/**
 * `f(...args)` as a promise (a throw becomes a rejection). A separate function, so that the callers'
 * hot paths hold no closure (V8 would allocate their closure context on every call).
 */
function attempt<A extends unknown[]>(f: (...args: A) => unknown, ...args: A): Promise<unknown> {
  return new Promise((resolve) => resolve(f(...args)));
}

/**
 * Once a call with a caller signal settles, detaches the signal `fn` saw (if it read one) from the
 * caller's: nothing the callee hung on it stays reachable from the caller's long-lived signal. A
 * read after this point gets a signal that follows nothing.
 */
function release(ctx: CallContext): void {
  if (ctx.r !== undefined) ctx.callerSignal?.removeEventListener('abort', ctx);
  else (ctx as { callerSignal: AbortSignal | undefined }).callerSignal = undefined;
}

/** Unwinds from `node` out to `first` once `p` settles (only on failure when `failureOnly`). */
function settle(
  p: Promise<unknown>,
  failureOnly: boolean,
  ctx: CallContext,
  first: Chain,
  node: Chain,
  top: unknown,
  rest: unknown[] | undefined,
): Promise<unknown> {
  return p.then(
    failureOnly ? undefined : (value) => unwind(ctx, first, node, top, rest, true, value),
    (error: unknown) => unwind(ctx, first, node, top, rest, false, error),
  );
}

/** Runs the `exit` hooks from `node` out to `first`; returns the value or throws the error. */
function unwind(
  ctx: CallContext,
  first: Chain,
  node: Chain,
  top: unknown,
  rest: unknown[] | undefined,
  ok: boolean,
  value: unknown,
): unknown {
  for (;;) {
    let t: unknown;
    if (node.flags & STATEFUL) {
      t = top;
      top = rest?.pop();
    }
    try {
      value = (node.layer as Required<Layer>).exit(ctx, t, ok, value, node.inner);
      ok = true;
    } catch (error) {
      ok = false;
      value = error;
    }
    if (node === first) break;
    node = node.outer as Chain;
    // The exit continues asynchronously (a retry loop): the outer layers wait for it.
    if (ok && value instanceof Promise) return settle(value, false, ctx, first, node, top, rest);
  }
  if (ok) return value;
  throw value;
}

/** A sequence of layers built once; every policy object is one. @internal */
export class Pipeline<E extends PolicyEventBase = PolicyEventBase> implements Policy<E> {
  readonly layers: readonly Layer[];
  readonly #chain: Chain | undefined;

  constructor(layers: readonly Layer[]) {
    this.layers = layers;
    let chain: { -readonly [K in keyof Chain]: Chain[K] } | undefined;
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i] as Layer;
      const node = {
        layer,
        inner: chain,
        outer: undefined,
        flags: layer.flags ?? 0,
      };
      if (chain !== undefined) chain.outer = node;
      chain = node;
    }
    this.#chain = chain;
  }

  execute<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<T> {
    const ctx = new CallContext(fn, options);
    const caller = ctx.callerSignal;
    if (caller?.aborted) return Promise.reject(caller.reason);
    const p = (this.#chain !== undefined ? invoke(ctx, this.#chain) : attempt(fn, ctx)) as Promise<T>;
    return caller === undefined ? p : p.finally(() => release(ctx));
  }

  executeOutcome<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    return this.execute(fn, options).then(
      (value) => ({ ok: true, value }),
      (error: unknown) => ({ ok: false, error }),
    );
  }

  bind<A extends unknown[], T>(
    fn: (...args: A) => T | PromiseLike<T>,
    options?: ExecuteOptions,
  ): (...args: A) => Promise<T> {
    return (...args: A) => this.execute(() => fn(...args), options);
  }

  on<K extends E['type'] | '*'>(type: K, listener: Listener<EventOf<E, K>>): Unsubscribe {
    const offs = [...new Set(this.layers)].map((l) => l.events.on(type, listener as Listener<PolicyEventBase>));
    return () => {
      for (const off of offs) off();
    };
  }
}

/**
 * Base for a single-policy layer: holds the kind, name and emitter, and exposes `emit` that
 * builds no event when nobody listens.
 * @internal
 */
export abstract class BaseLayer<E extends PolicyEventBase> implements Layer {
  readonly kind: string;
  readonly name: string | undefined;
  #events: Emitter<PolicyEventBase> | undefined = undefined;

  constructor(kind: string, name: string | undefined) {
    this.kind = kind;
    this.name = name;
  }

  /** The layer's emitter, created on first use (a policy built but never called holds none). */
  get events(): Emitter<PolicyEventBase> {
    this.#events ??= new Emitter();
    return this.#events;
  }

  abstract run(ctx: CallContext, inner: Chain | undefined): Promise<unknown>;

  /**
   * True when someone listens to `type` (or to anything, without `type`). Unlike `events.has`, it
   * never creates the emitter, so a layer nobody observes allocates none on its hot path.
   */
  protected listening(type?: E['type']): boolean {
    const e = this.#events;
    return e !== undefined && e.count > 0 && (type === undefined || e.has(type));
  }

  /** Emits a typed event; guard with `this.listening(type)` so nothing is built when nobody listens. */
  protected emit(event: E): void {
    this.events.emit(event);
  }
}

/** The union of the events of a set of policies. */
export type EventsOf<P> = P extends Policy<infer E> ? E : never;

/**
 * Composes policies; the first argument is the outermost layer. A pipeline that holds a stream
 * timeout is typed as a {@link StreamingPolicy}: its `execute` hands out the timed stream.
 */
function wrap<P extends readonly Policy<any>[]>(
  ...policies: P
): 0 extends 1 & P[number] // an argument typed \`any\`: nothing is known, so no stream is assumed
  ? Policy<any>
  : [Extract<P[number], StreamingPolicy<any>>] extends [never]
    ? Policy<EventsOf<P[number]>>
    : StreamingPolicy<EventsOf<P[number]>> {
  const layers: Layer[] = [];
  for (const p of policies) {
    if (!Array.isArray((p as Policy | null)?.layers)) {
      throw new TypeError('Expected `Policy.wrap` arguments to be policies');
    }
    layers.push(...p.layers);
  }
  return new Pipeline(layers) as Policy as never;
}

let noopPolicy: Policy | undefined;

/**
 * The `Policy` value: {@link Policy.wrap} composes policies (first argument = outermost layer),
 * `Policy.noop` runs the function as is.
 *
 * @example
 * ```ts
 * const llm = Policy.wrap(timeout(60_000), retry({ maxRetries: 4 }), timeout(20_000));
 * ```
 */
export const Policy: {
  /** Composes policies; the first argument is the outermost layer. */
  readonly wrap: typeof wrap;
  /** A policy that runs `fn` directly. */
  readonly noop: Policy;
} = {
  wrap,
  get noop(): Policy {
    noopPolicy ??= new Pipeline([]);
    return noopPolicy;
  },
};
