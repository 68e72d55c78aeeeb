import type { BreakerEvent } from '../breaker/index.js';
import type { BulkheadEvent } from '../bulkhead/index.js';
import type { Clock } from '../core/clock.js';
import type { Context, ExecuteOptions } from '../core/context.js';
import type { Listener, PolicyEventBase, Unsubscribe } from '../core/events.js';
import { type EventOf, type Layer, type Outcome, Policy } from '../core/policy.js';
import { checkFunction, checkObject, fail } from '../core/validate.js';
import type { FallbackEvent } from '../fallback/index.js';
import type { RetryEvent } from '../retry/index.js';
import type { StreamTimeoutEvent } from '../stream/index.js';
import type { TimeoutEvent } from '../timeout/index.js';
import { compile, type Plan, type RegistryConfig, type ResolvedLayer } from './config.js';
import { RegistryConfigError, UnknownTargetError } from './errors.js';
import { BUILT_IN, type FactoryEnv, type PolicyFactory } from './kinds.js';
import { type ConfigIssue, deepEqual, join, suggest } from './schema.js';

/** Options for {@link registry}. */
export interface RegistryOptions {
  /** The initial config (plain JSON); see {@link RegistryConfig}. */
  readonly config: RegistryConfig;
  /** Custom policy kinds, by the key that names them in config. A built-in kind cannot be replaced. */
  readonly factories?: Readonly<Record<string, PolicyFactory>> | undefined;
  /**
   * Functions that config refers to by name (JSON cannot hold one): fallback `to`, `handle`,
   * `handleResult`, `retryAfter`, and custom kinds' function options.
   */
  readonly functions?: Readonly<Record<string, (...args: any[]) => unknown>> | undefined;
  /** Source of time for every policy built. @defaultValue systemClock */
  readonly clock?: Clock | undefined;
  /** Source of randomness for jitter. @defaultValue Math.random */
  readonly random?: (() => number) | undefined;
}

/** One option that differs between the old and the new settings of a rebuilt layer. */
export interface OptionChange {
  /** Path within the layer's options, e.g. `backoff.initial`. */
  readonly path: string;
  /** The old value (undefined: not set). */
  readonly before: unknown;
  /** The new value (undefined: not set). */
  readonly after: unknown;
}

/** What an applied config changed in one layer of one target. */
export interface LayerChange {
  readonly target: string;
  readonly kind: string;
  readonly name: string | undefined;
  /**
   * `added` and `removed`; `rebuilt`: its settings changed, so it starts with fresh state (a closed
   * breaker, a full bucket). Layers whose settings did not change are kept, state and all, and are
   * not listed.
   */
  readonly change: 'added' | 'removed' | 'rebuilt';
  /** For `rebuilt`: the options that differ. */
  readonly options?: readonly OptionChange[] | undefined;
}

type RegistryBase = PolicyEventBase & { readonly kind: 'registry'; readonly name: undefined };

/** Emitted when `update()` (or a watched file) puts a new config in force. */
export type ConfigAppliedEvent = RegistryBase & {
  readonly type: 'config-applied';
  /** The version now in force (1 is the initial config). */
  readonly version: number;
  /** Targets that are new, gone, or whose pipeline changed. */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  /** Every layer added, removed or rebuilt. */
  readonly changes: readonly LayerChange[];
  /** Where the config came from, when not from `update()` (e.g. the watched file's path). */
  readonly source?: string | undefined;
};

/** Emitted when a config is rejected; the version in force stays. */
export type ConfigRejectedEvent = RegistryBase & {
  readonly type: 'config-rejected';
  /** The version still in force. */
  readonly version: number;
  /** Every problem found, each with its path. */
  readonly errors: readonly ConfigIssue[];
  /** Where the config came from, when not from `update()` (e.g. the watched file's path). */
  readonly source?: string | undefined;
};

/** An event of a target's pipeline, tagged with the target's name. */
export type TargetEvent<E extends PolicyEventBase = PolicyEventBase> = E & {
  /** The registry target whose pipeline emitted it. */
  readonly target: string;
};

/** Events of the built-in policy kinds, as a registry delivers them. */
export type PipelineEvent = TargetEvent<
  RetryEvent | BreakerEvent | TimeoutEvent | BulkheadEvent | FallbackEvent | StreamTimeoutEvent
>;

/** Every event a registry emits. */
export type RegistryEvent = ConfigAppliedEvent | ConfigRejectedEvent | PipelineEvent;

/** The result of {@link Registry.update}. */
export type UpdateResult =
  | { readonly ok: true; readonly version: number; readonly changes: readonly LayerChange[] }
  | { readonly ok: false; readonly version: number; readonly errors: readonly ConfigIssue[] };

/** A layer of a target's pipeline as built: see {@link Registry.describe}. */
export interface BuiltLayer extends ResolvedLayer {
  /** The policy built for it (a `CircuitBreaker` for a breaker: read its `state`, `isolate()` it). */
  readonly policy: Policy<any>;
}

/**
 * The policy of one target: the same object across config updates. A call runs on the pipeline
 * in force when it starts and finishes on it; listeners keep working across updates.
 */
export interface RegistryPolicy extends Policy<PipelineEvent> {
  /** The target's name. */
  readonly target: string;
  /** Listens to this target's events of `type` (`'*'`: all), from every pipeline it runs. */
  on<K extends PipelineEvent['type'] | '*'>(type: K, listener: Listener<EventOf<PipelineEvent, K>>): Unsubscribe;
  /** Listens to a custom kind's events (or any event type). */
  on(type: string, listener: Listener<TargetEvent>): Unsubscribe;
}

/** Named pipelines built from one JSON config, updated while the process runs. */
export interface Registry {
  /**
   * The policy of `target`: the same object for the registry's life.
   * @throws UnknownTargetError when the config in force has no such target.
   */
  get(target: string): RegistryPolicy;
  /** True when the config in force has `target`. */
  has(target: string): boolean;
  /** The targets of the config in force. */
  readonly targets: readonly string[];
  /** The version in force: 1 for the initial config, +1 for each applied update. */
  readonly version: number;
  /** A copy of the config in force. */
  readonly config: RegistryConfig;
  /**
   * Validates and applies a new config. A config with any problem is rejected whole and the one in
   * force stays. Layers whose settings did not change keep their instances (and state).
   */
  update(config: RegistryConfig): UpdateResult;
  /**
   * The layers of `target`'s pipeline in force, outermost first, with their complete options.
   * @throws UnknownTargetError when the config in force has no such target.
   */
  describe(target: string): readonly BuiltLayer[];
  /** Listens to config events and to the events of every target's pipeline (`'*'`: all of them). */
  on<K extends RegistryEvent['type'] | '*'>(type: K, listener: Listener<EventOf<RegistryEvent, K>>): Unsubscribe;
  /** Listens to a custom kind's events (or any event type). */
  on(type: string, listener: Listener<TargetEvent>): Unsubscribe;
}

/** Listeners by event type, copied on write (an emit in progress keeps its list). */
class Listeners {
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

const CONFIG_EVENTS = new Set(['config-applied', 'config-rejected']);

interface Slot {
  readonly layer: ResolvedLayer;
  readonly policy: Policy<any>;
  /** State objects made through `env.keep`, by key. */
  readonly kept: Map<string, { readonly settings: unknown; readonly value: unknown }>;
}

interface TargetState {
  readonly slots: readonly Slot[];
  readonly pipeline: Policy<any>;
}

class TargetPolicy implements RegistryPolicy {
  readonly target: string;
  pipeline: Policy<any> | undefined = undefined;
  readonly #registry: RegistryImpl;
  readonly #listeners = new Listeners();
  /** Forwarders on the current pipeline's layers, by layer and type. */
  #attached = new Map<Layer, Map<string, Unsubscribe>>();

  constructor(target: string, registry: RegistryImpl) {
    this.target = target;
    this.#registry = registry;
  }

  get layers(): readonly Layer[] {
    return this.pipeline?.layers ?? [];
  }

  execute<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<T> {
    const p = this.pipeline;
    return p === undefined ? Promise.reject(this.#registry.unknown(this.target, true)) : p.execute(fn, options);
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

/** The registry; a class behind the {@link registry} factory. @internal */
export class RegistryImpl implements Registry {
  readonly listeners: Listeners = new Listeners();
  readonly #kinds: Readonly<Record<string, PolicyFactory>>;
  readonly #functions: Readonly<Record<string, (...args: any[]) => unknown>>;
  readonly #names: ReadonlySet<string>;
  readonly #clock: Clock | undefined;
  readonly #random: (() => number) | undefined;
  readonly #handles = new Map<string, TargetPolicy>();
  #state = new Map<string, TargetState>();
  #config: RegistryConfig = {};
  #version = 0;

  constructor(o: RegistryOptions) {
    checkObject('options', o);
    if (o === undefined || o === null) fail('options', 'an object with `config`', o);
    checkObject('factories', o.factories);
    checkObject('functions', o.functions);
    checkObject('clock', o.clock);
    checkFunction('random', o.random);
    const kinds: Record<string, PolicyFactory> = { ...BUILT_IN };
    for (const [k, f] of Object.entries(o.factories ?? {})) {
      if (Object.hasOwn(BUILT_IN, k)) fail(`factories.${k}`, 'a new kind (a built-in kind cannot be replaced)', f);
      checkObject(`factories.${k}`, f);
      checkFunction(`factories.${k}.create`, f?.create, false);
      checkObject(`factories.${k}.options`, f.options);
      checkFunction(`factories.${k}.validate`, f.validate);
      if (f.options !== undefined && f.options.type !== 'object')
        fail(`factories.${k}.options`, "an object schema ({ type: 'object', props })", f.options);
      kinds[k] = f;
    }
    for (const [k, f] of Object.entries(o.functions ?? {})) checkFunction(`functions.${k}`, f, false);
    this.#kinds = kinds;
    this.#functions = o.functions ?? {};
    this.#names = new Set(Object.keys(this.#functions));
    this.#clock = o.clock;
    this.#random = o.random;
    const r = this.apply(o.config, undefined);
    if (!r.ok) throw new RegistryConfigError(r.errors);
  }

  get version(): number {
    return this.#version;
  }

  get targets(): readonly string[] {
    return [...this.#state.keys()];
  }

  get config(): RegistryConfig {
    return structuredClone(this.#config);
  }

  get(target: string): RegistryPolicy {
    const h = this.#state.has(target) ? this.#handles.get(target) : undefined;
    if (h === undefined) throw this.unknown(target, false);
    return h;
  }

  has(target: string): boolean {
    return this.#state.has(target);
  }

  describe(target: string): readonly BuiltLayer[] {
    const s = this.#state.get(target);
    if (s === undefined) throw this.unknown(target, false);
    return s.slots.map((slot) => ({ ...slot.layer, policy: slot.policy }));
  }

  unknown(target: string, removed: boolean): UnknownTargetError {
    const known = this.targets;
    return new UnknownTargetError(String(target), known, suggest(String(target), known), removed);
  }

  on(type: string, listener: Listener<any>): Unsubscribe {
    checkFunction('listener', listener, false);
    const t = String(type);
    const resync = (): void => {
      if (!CONFIG_EVENTS.has(t)) for (const h of this.#handles.values()) h.sync();
    };
    return this.listeners.add(t, listener, resync);
  }

  update(config: RegistryConfig): UpdateResult {
    return this.apply(config, undefined);
  }

  /** {@link update}, with the source named in the events. */
  apply(given: RegistryConfig, source: string | undefined): UpdateResult {
    // Our own copy: what is built from it is frozen, and the caller may go on changing theirs. A
    // value that cannot be copied is not JSON; the checks report it where it is.
    let config = given;
    try {
      config = structuredClone(given);
    } catch {}
    const r = compile(config, this.#kinds, this.#names);
    if (r.issues !== undefined) return this.reject(r.issues, source);
    const built = this.#build(r.plan);
    if (Array.isArray(built)) return this.reject(built, source);
    return this.#commit(config, built, source);
  }

  /** Reports a config that could not even be read (a watched file with invalid JSON). */
  reject(errors: readonly ConfigIssue[], source: string | undefined): UpdateResult {
    this.#emit({ type: 'config-rejected', kind: 'registry', name: undefined, version: this.#version, errors, source });
    return { ok: false, version: this.#version, errors };
  }

  #emit(event: ConfigAppliedEvent | ConfigRejectedEvent): void {
    this.listeners.emit(event.type, event);
    this.listeners.emit('*', event);
  }

  /** Builds every target's pipeline (reusing unchanged layers) without touching the state in force. */
  #build(plan: Plan): Map<string, TargetState> | ConfigIssue[] {
    const issues: ConfigIssue[] = [];
    const next = new Map<string, TargetState>();
    for (const [target, layers] of plan.targets) {
      const prev = new Map((this.#state.get(target)?.slots ?? []).map((s) => [s.layer.slot, s]));
      const slots: Slot[] = [];
      for (const layer of layers) {
        const old = prev.get(layer.slot);
        if (old !== undefined && deepEqual(old.layer.options, layer.options)) {
          slots.push({ layer, policy: old.policy, kept: old.kept });
          continue;
        }
        const kept = new Map<string, { settings: unknown; value: unknown }>();
        const env: FactoryEnv = {
          target,
          clock: this.#clock,
          random: this.#random,
          fn: <F>(name: string) => this.#functions[name] as F,
          keep: <T>(key: string, settings: unknown, make: () => T): T => {
            const had = old?.kept.get(key);
            const value = had !== undefined && deepEqual(had.settings, settings) ? (had.value as T) : make();
            kept.set(key, { settings, value });
            return value;
          },
        };
        try {
          const policy = (this.#kinds[layer.kind] as PolicyFactory).create(layer.options, env);
          if (!Array.isArray((policy as Policy | null)?.layers)) {
            issues.push({
              path: layer.path,
              message: `the ${layer.kind} factory returned ${typeof policy}, not a Policy`,
            });
          } else slots.push({ layer, policy, kept });
        } catch (error) {
          issues.push(fromThrown(layer, error));
        }
      }
      const before = this.#state.get(target);
      const same =
        before !== undefined &&
        before.slots.length === slots.length &&
        before.slots.every((s, i) => s.policy === (slots[i] as Slot).policy);
      next.set(target, { slots, pipeline: same ? before.pipeline : Policy.wrap(...slots.map((s) => s.policy)) });
    }
    return issues.length > 0 ? issues : next;
  }

  #commit(config: RegistryConfig, next: Map<string, TargetState>, source: string | undefined): UpdateResult {
    const prev = this.#state;
    const changes: LayerChange[] = [];
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    for (const [target, s] of next) {
      const p = prev.get(target);
      if (p === undefined) added.push(target);
      else if (p.pipeline !== s.pipeline) changed.push(target);
      diff(target, p?.slots ?? [], s.slots, changes);
    }
    for (const [target, p] of prev) {
      if (next.has(target)) continue;
      removed.push(target);
      diff(target, p.slots, [], changes);
    }
    this.#state = next;
    this.#config = config;
    this.#version++;
    for (const [target, s] of next) {
      let h = this.#handles.get(target);
      if (h === undefined) {
        h = new TargetPolicy(target, this);
        this.#handles.set(target, h);
      }
      if (h.pipeline !== s.pipeline) h.use(s.pipeline);
    }
    for (const target of removed) this.#handles.get(target)?.use(undefined);
    if (this.#version > 1) {
      this.#emit({
        type: 'config-applied',
        kind: 'registry',
        name: undefined,
        version: this.#version,
        added,
        removed,
        changed,
        changes,
        source,
      });
    }
    return { ok: true, version: this.#version, changes };
  }
}

/** A factory's own validation error, re-expressed with the layer's path where it names an option. */
function fromThrown(layer: ResolvedLayer, error: unknown): ConfigIssue {
  const message = String((error as Error | null)?.message ?? error);
  const m = /^Expected `([\w.]+)` to be (.*)$/s.exec(message);
  if (m !== null) {
    const path = (m[1] as string).split('.').reduce((p, k) => join(p, k), layer.path);
    return { path, message: `expected ${m[2]}` };
  }
  return { path: layer.path, message: `the ${layer.kind} factory threw: ${message}` };
}

function leaves(v: unknown, path: string, out: Map<string, unknown>): Map<string, unknown> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) leaves(x, path === '' ? k : `${path}.${k}`, out);
  } else out.set(path, v);
  return out;
}

function diff(target: string, before: readonly Slot[], after: readonly Slot[], out: LayerChange[]): void {
  const old = new Map(before.map((s) => [s.layer.slot, s]));
  for (const s of after) {
    const { kind, name } = s.layer;
    const o = old.get(s.layer.slot);
    old.delete(s.layer.slot);
    if (o === undefined) out.push({ target, kind, name, change: 'added' });
    else if (o.policy !== s.policy) {
      const a = leaves(o.layer.options, '', new Map());
      const b = leaves(s.layer.options, '', new Map());
      const options: OptionChange[] = [];
      for (const k of new Set([...a.keys(), ...b.keys()])) {
        if (!deepEqual(a.get(k), b.get(k))) options.push({ path: k, before: a.get(k), after: b.get(k) });
      }
      out.push({ target, kind, name, change: 'rebuilt', options });
    }
  }
  for (const s of old.values()) out.push({ target, kind: s.layer.kind, name: s.layer.name, change: 'removed' });
}

/**
 * Builds named pipelines from one JSON config — the service-mesh control plane, in process.
 * `get(target)` returns a policy that stays the same object while `update()` swaps what it runs:
 * calls started after an update use the new pipeline, calls in flight finish on the old one, and
 * layers whose settings did not change keep their state (an open breaker stays open). A config
 * with any problem is rejected whole and the last good one stays in force.
 *
 * @throws RegistryConfigError when the initial config is invalid (`errors` lists every problem).
 * @throws TypeError when an option other than `config` is invalid.
 * @example
 * ```ts
 * const mesh = registry({
 *   config: {
 *     policies: { llm: [{ timeout: '60s' }, { retry: { maxRetries: 4 } }, { breaker: {} }, { timeout: { after: '20s', name: 'attempt' } }] },
 *     targets: { openai: 'llm', anthropic: { policy: 'llm', retry: { maxRetries: 2 } } },
 *   },
 * });
 * const reply = await mesh.get('openai').execute(({ signal }) => client.chat.completions.create(req, { signal }));
 * ```
 */
export function registry(options: RegistryOptions): Registry {
  return new RegistryImpl(options);
}
