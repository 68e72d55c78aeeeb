// The stable policy object of one target, and the listeners that follow it across updates.
import type { Context, ExecuteOptions } from '../core/context.js';
import type { Listener, PolicyEventBase, Unsubscribe } from '../core/events.js';
import { type Layer, Pipeline, type Policy } from '../core/policy.js';
import { checkFunction } from '../core/validate.js';
import type { RegistryCall, RegistryInterceptor, RegistryPolicy } from './types.js';

/** What a target's policy needs from its registry. @internal */
export interface TargetHost {
  /** The registry-wide listeners. */
  readonly listeners: Listeners;
  /** The interceptors, first registered outermost (replaced, never changed in place). */
  readonly interceptors: readonly RegistryInterceptor[];
  /** The error for a target that is not (or no longer) in the config. */
  unknown(target: string, removed: boolean): Error;
}

/** Listeners by event type, copied on write (an emit in progress keeps its list). @internal */
export class Listeners {
  readonly m: Map<string, Listener<any>[]> = new Map();

  add(type: string, listener: Listener<any>, changed: () => void): Unsubscribe {
    this.m.set(type, [...(this.m.get(type) ?? []), listener]);
    changed();
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      const list = (this.m.get(type) as Listener<any>[]).filter((l) => l !== listener);
      if (list.length > 0) this.m.set(type, list);
      else this.m.delete(type);
      changed();
    };
  }

  emit(type: string, event: unknown): void {
    for (const l of this.m.get(type) ?? []) {
      try {
        l(event);
      } catch {
        // A listener's failure never changes a call or an update.
      }
    }
  }
}

/** Event types of the registry itself, not forwarded from pipelines. @internal */
export const CONFIG_EVENTS: ReadonlySet<string> = new Set(['config-applied', 'config-rejected']);

/**
 * `executeOutcome` and `bind` are the pipeline's own (they only call `this.execute`), borrowed
 * below rather than written again.
 */
export interface TargetPolicy extends Pick<Pipeline<any>, 'executeOutcome' | 'bind'> {}

/** The policy of one target: forwards each call to the pipeline in force. @internal */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the merged interface names the two methods assigned to the prototype right after the class
export class TargetPolicy implements RegistryPolicy {
  readonly target: string;
  pipeline: Policy<any> | undefined = undefined;
  readonly #registry: TargetHost;
  readonly #listeners = new Listeners();
  /** Forwarders on the current pipeline's layers, by layer and type. */
  #attached = new Map<Layer, Map<string, Unsubscribe>>();

  constructor(target: string, registry: TargetHost) {
    this.target = target;
    this.#registry = registry;
  }

  get layers(): readonly Layer[] {
    return this.pipeline?.layers ?? [];
  }

  execute<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<T> {
    // The pipeline in force now runs the whole call, whatever an update does meanwhile.
    const p = this.pipeline;
    if (p === undefined) return Promise.reject(this.#registry.unknown(this.target, true));
    const is = this.#registry.interceptors;
    return is.length === 0 ? p.execute(fn, options) : through(is, 0, this.target, p, fn, options);
  }

  on(type: string, listener: Listener<any>): Unsubscribe {
    checkFunction('listener', listener, false);
    return this.#listeners.add(String(type), listener, () => this.sync());
  }

  /** Switches to a new pipeline (undefined: the target was removed) and moves the forwarders. */
  use(pipeline: Policy<any> | undefined): void {
    this.pipeline = pipeline;
    this.sync();
  }

  /**
   * Puts one forwarder per listened type on every layer in force, and takes off those nobody needs,
   * so that a layer nobody observes builds no events. Layers of a replaced pipeline keep theirs: the
   * calls still running on it report to the same listeners (a forwarder with no listener left does
   * nothing).
   */
  sync(): void {
    const want = new Set<string>(this.#listeners.m.keys());
    for (const t of this.#registry.listeners.m.keys()) if (!CONFIG_EVENTS.has(t)) want.add(t);
    const next = new Map<Layer, Map<string, Unsubscribe>>();
    for (const layer of this.pipeline?.layers ?? []) {
      if (next.has(layer)) continue;
      const had = this.#attached.get(layer) ?? new Map<string, Unsubscribe>();
      for (const [t, off] of had) {
        if (!want.has(t)) {
          off();
          had.delete(t);
        }
      }
      for (const t of want) {
        if (!had.has(t))
          had.set(
            t,
            layer.events.on(t, (e) => this.#deliver(t, e)),
          );
      }
      next.set(layer, had);
    }
    this.#attached = next;
  }

  #deliver(type: string, event: PolicyEventBase): void {
    const own = this.#listeners.m.has(type);
    const all = this.#registry.listeners.m.has(type);
    if (!own && !all) return;
    const e = { ...event, target: this.target };
    if (own) this.#listeners.emit(type, e);
    if (all) this.#registry.listeners.emit(type, e);
  }
}
TargetPolicy.prototype.executeOutcome = Pipeline.prototype.executeOutcome;
TargetPolicy.prototype.bind = Pipeline.prototype.bind;

/** Runs a call through the interceptors from `k` on (each `proceed` runs the next), then the pipeline. */
function through<T>(
  is: readonly RegistryInterceptor[],
  k: number,
  name: string,
  p: Policy<any>,
  fn: (ctx: Context) => T | PromiseLike<T>,
  options: ExecuteOptions | undefined,
): Promise<T> {
  const next = is[k];
  if (next === undefined) return p.execute(fn, options);
  const call: RegistryCall<T> = {
    fn,
    name,
    layers: p.layers,
    proceed: (f) => through(is, k + 1, name, p, f, options),
  };
  try {
    return next(call);
  } catch (error) {
    return Promise.reject(error);
  }
}
