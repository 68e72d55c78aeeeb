// The worked example of docs/architecture.md ("Writing a new policy"): a minimal layer, an
// in-flight gauge. It counts the calls running through it and emits `peak` when the count reaches a
// new multiple of `every`. In src/ it would be src/in-flight/in-flight.ts with imports from
// '../core/…'; test/docs/in-flight-policy.test.ts tests it and checks the page shows this file.
import type { CallContext } from '../src/core/context.js';
import type { PolicyEventBase } from '../src/core/events.js';
import { BaseLayer, type Chain, FAST, invoke, Pipeline, type Policy } from '../src/core/policy.js';
import { checkNumber, checkObject } from '../src/core/validate.js';

/** Events of an in-flight gauge. */
export type InFlightEvent = PolicyEventBase & { readonly type: 'peak'; readonly inFlight: number };

/** Options for {@link inFlight}. */
export interface InFlightOptions {
  /** Emit `peak` each time the count reaches a multiple of this. @defaultValue 100 */
  readonly every?: number | undefined;
  /** A name carried by this policy's events. */
  readonly name?: string | undefined;
}

/** A policy that knows how many calls are running through it. */
export interface InFlight extends Policy<InFlightEvent> {
  readonly inFlight: number;
}

class InFlightLayer extends BaseLayer<InFlightEvent> {
  count = 0;
  readonly #every: number;
  // The prebuilt settle handlers, made on first use (a gauge never called holds none).
  #ok: ((value: unknown) => unknown) | undefined = undefined;
  #err: ((error: unknown) => never) | undefined = undefined;

  constructor(o: InFlightOptions) {
    super('in-flight', o.name);
    // Validate in the factory's call, naming the option: "Expected `every` to be an integer ≥ 1, got 0".
    this.#every = checkNumber('every', o.every ?? 100, 1, { integer: true });
  }

  // FAST: this layer has `enter` / `exit`. Not STATEFUL (no token for `exit`), not FAILURE_ONLY
  // (a success must decrement too). A prototype getter: the flags cost an instance nothing.
  get flags(): number {
    return FAST;
  }

  // Synchronous, allocation-free; never declines (a layer that must wait or race returns SKIP and
  // does it in `run`). Build the event only when someone listens.
  enter(): unknown {
    const n = ++this.count;
    if (n % this.#every === 0 && this.listening('peak')) {
      this.emit({ type: 'peak', kind: this.kind, name: this.name, inFlight: n });
    }
    return undefined;
  }

  // The outcome of the rest of the chain: pass the value on, or throw the error on, unchanged.
  exit(_ctx: CallContext, _token: unknown, ok: boolean, value: unknown): unknown {
    this.count--;
    if (ok) return value;
    throw value;
  }

  // What `exit` does, without the context: used when this is the only layer a call entered, so that
  // such a call makes no closure.
  get settleOk(): (value: unknown) => unknown {
    this.#ok ??= (value) => {
      this.count--;
      return value;
    };
    return this.#ok;
  }

  get settleError(): (error: unknown) => never {
    this.#err ??= (error) => {
      this.count--;
      throw error;
    };
    return this.#err;
  }

  // The general path, for a runner that does not use the fast path: same effect as enter + exit.
  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    this.enter();
    let p: Promise<unknown>;
    try {
      p = Promise.resolve(invoke(ctx, inner));
    } catch (error) {
      p = Promise.reject(error);
    }
    return p.then(this.settleOk, this.settleError);
  }
}

class InFlightPolicy extends Pipeline<InFlightEvent> implements InFlight {
  readonly #layer: InFlightLayer;
  constructor(layer: InFlightLayer) {
    super([layer]);
    this.#layer = layer;
  }
  get inFlight(): number {
    return this.#layer.count;
  }
}

/**
 * Creates an in-flight gauge: counts the calls running through it.
 *
 * @throws TypeError / RangeError naming the option when `every` is not an integer ≥ 1.
 * @example
 * ```ts
 * const gauge = inFlight({ every: 50 });
 * gauge.on('peak', (e) => console.warn(`${e.inFlight} calls in flight`));
 * const llm = Policy.wrap(gauge, retry({ maxRetries: 2 }), timeout(20_000));
 * ```
 */
export function inFlight(options: InFlightOptions = {}): InFlight {
  checkObject('options', options);
  return new InFlightPolicy(new InFlightLayer(options));
}
