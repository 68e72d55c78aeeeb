import type { Clock } from '../core/clock.js';
import type { Listener, Unsubscribe } from '../core/events.js';
import { type Layer, Policy } from '../core/policy.js';
import { checkFunction, checkObject, fail } from '../core/validate.js';
import { compile, type Plan, type RegistryConfig, type ResolvedLayer } from './config.js';
import { RegistryConfigError, UnknownTargetError } from './errors.js';
import { BUILT_IN, type FactoryEnv, type PolicyFactory } from './kinds.js';
import { type ConfigIssue, deepEqual, join } from './schema.js';
import { suggest } from './suggest.js';
import { CONFIG_EVENTS, Listeners, TargetPolicy } from './target.js';
import type {
  BuiltLayer,
  ConfigAppliedEvent,
  ConfigRejectedEvent,
  LayerChange,
  OptionChange,
  Registry,
  RegistryInterceptor,
  RegistryOptions,
  RegistryPolicy,
  UpdateResult,
} from './types.js';

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
  readonly #name: string;
  /** Replaced on every change, so that a call in progress keeps the list it started with. */
  interceptors: readonly RegistryInterceptor[] = [];

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
    if (o.name !== undefined && typeof o.name !== 'string') fail('name', 'a string', o.name);
    this.#name = o.name ?? 'registry';
    const r = this.apply(o.config, undefined);
    if (!r.ok) throw new RegistryConfigError(r.errors);
  }

  get name(): string {
    return this.#name;
  }

  get layers(): readonly Layer[] {
    const out = new Set<Layer>();
    for (const s of this.#state.values()) for (const l of s.pipeline.layers) out.add(l);
    return [...out];
  }

  intercept(interceptor: RegistryInterceptor): Unsubscribe {
    checkFunction('interceptor', interceptor, false);
    this.interceptors = [...this.interceptors, interceptor];
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      const i = this.interceptors.indexOf(interceptor);
      this.interceptors = [...this.interceptors.slice(0, i), ...this.interceptors.slice(i + 1)];
    };
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
  if (message.startsWith('Expected ')) return { path: layer.path, message: `e${message.slice(1)}` };
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
