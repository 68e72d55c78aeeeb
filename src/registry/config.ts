// Reads a registry config into a plan: for every target, its layers (outermost first) with complete
// options. Collects every problem, each with its path, instead of stopping at the first.
import type { PolicyFactory } from './kinds.js';
import { optionsOf } from './kinds.js';
import { type CheckEnv, type ConfigIssue, check, join, jsonType, merge, type ObjectSchema, show } from './schema.js';
import { suggest, unknownKey } from './suggest.js';

/**
 * One layer of a pipeline in config: an object with one policy kind as its key, e.g.
 * `{ "retry": { "maxRetries": 3 } }`.
 *
 * @example
 * ```ts
 * import { type LayerConfig, registry } from 'breakwater/registry';
 *
 * const attempt: LayerConfig = { timeout: { after: '20s', name: 'attempt' } }; // one kind per layer
 * const retries: LayerConfig = { retry: 3 }; // a bare value: the kind's shorthand option (maxRetries)
 * const mesh = registry({ config: { targets: { openai: [retries, attempt] } } });
 * ```
 */
export type LayerConfig = { readonly [kind: string]: unknown };

/**
 * A policy in config: the name of a policy in `policies`, one layer, or a pipeline (an array of
 * layers and policy names, outermost first).
 *
 * @example
 * ```ts
 * import { type PolicyConfig, registry } from 'breakwater/registry';
 *
 * const pipeline: PolicyConfig = [{ timeout: '60s' }, { retry: 2 }, { breaker: {} }]; // outermost first
 * const byName: PolicyConfig = 'llm'; // a policy from `policies`
 * const oneLayer: PolicyConfig = { timeout: 5000 };
 * const mesh = registry({ config: { policies: { llm: pipeline }, targets: { openai: byName, search: oneLayer } } });
 * ```
 */
export type PolicyConfig = string | LayerConfig | readonly (string | LayerConfig)[];

/**
 * A target bound to a policy, with per-target overrides keyed by layer kind or layer `name`.
 *
 * @example
 * ```ts
 * import { registry, type TargetConfig } from 'breakwater/registry';
 *
 * // The shared `llm` policy, with this target's retries and its `attempt` timeout overridden.
 * const anthropic: TargetConfig = { policy: 'llm', retry: { maxRetries: 6 }, attempt: { after: 5000 } };
 * const llm = [{ retry: 2 }, { timeout: { after: '20s', name: 'attempt' } }];
 * const mesh = registry({ config: { policies: { llm }, targets: { anthropic } } });
 * ```
 */
export interface TargetConfig {
  /** The policy this target uses: a name from `policies`, one layer, or an inline pipeline. */
  readonly policy: PolicyConfig;
  /** Overrides, e.g. `"retry": { "maxRetries": 6 }` or `"attempt": { "after": 5000 }`. */
  readonly [override: string]: unknown;
}

/**
 * The registry's JSON config. `registrySchema()` (and the shipped `breakwater/registry/schema.json`) describe it.
 *
 * @example
 * ```ts
 * import { registry, type RegistryConfig } from 'breakwater/registry';
 *
 * const config: RegistryConfig = {
 *   $schema: './node_modules/breakwater/schema/registry.schema.json', // for editors
 *   defaults: { retry: { maxRetries: 2, backoff: { type: 'exponential', initial: '250ms' } } },
 *   policies: { llm: [{ timeout: '60s' }, { retry: {} }, { breaker: {} }] },
 *   targets: { openai: 'llm', search: [{ timeout: 5000 }, { retry: 1 }] },
 * };
 * const mesh = registry({ config });
 * ```
 */
export interface RegistryConfig {
  /** For editors: the path or URL of the JSON Schema. Ignored. */
  readonly $schema?: string | undefined;
  /** Options applied to every layer of a kind, e.g. `"retry": { "maxRetries": 2 }`; layers and targets override them. */
  readonly defaults?: { readonly [kind: string]: unknown } | undefined;
  /** Named policies (templates): every target that binds one gets its own instances (its own breaker state). */
  readonly policies?: { readonly [name: string]: PolicyConfig } | undefined;
  /** The call sites: `registry.get(name)` returns the target's pipeline. */
  readonly targets?: { readonly [name: string]: PolicyConfig | TargetConfig } | undefined;
}

/**
 * A layer of a target's pipeline, as resolved from config.
 *
 * @example
 * ```ts
 * import { registry, type ResolvedLayer } from 'breakwater/registry';
 *
 * const config = { defaults: { retry: { maxRetries: 2 } }, targets: { search: [{ timeout: '5s' }, { retry: {} }] } };
 * const mesh = registry({ config });
 * const layers: readonly ResolvedLayer[] = mesh.describe('search');
 * for (const { path, kind, options } of layers) console.log(path, kind, options);
 * // targets.search[0].timeout timeout { after: 5000, strategy: 'cooperative' }
 * // targets.search[1].retry retry { maxRetries: 2 }
 * ```
 */
export interface ResolvedLayer {
  /** The policy kind, e.g. `'retry'`. */
  readonly kind: string;
  /** The layer's `name` option, if set. */
  readonly name: string | undefined;
  /** Complete options: defaults, the policy's options and the target's overrides merged; durations in ms. */
  readonly options: Readonly<Record<string, unknown>>;
  /** Where the layer is defined, e.g. `policies.llm[1].retry`. */
  readonly path: string;
  /** Identity across config versions within a target: kind, name and occurrence. @internal */
  readonly slot: string;
}

/** The result of reading a valid config. @internal */
export interface Plan {
  readonly targets: ReadonlyMap<string, readonly ResolvedLayer[]>;
}

interface LayerDef {
  readonly kind: string;
  /** Partial options (valid as a piece), or undefined if the piece had problems. */
  readonly options: Record<string, unknown> | undefined;
  readonly path: string;
  /** The piece was a bare value for the kind's shorthand option. */
  readonly short: boolean;
}

type Item = { readonly ref: string; readonly path: string } | LayerDef;

const TOP = ['$schema', 'defaults', 'policies', 'targets'];
const isObj = (v: unknown): v is Record<string, unknown> => jsonType(v) === 'object';

/** Reads `config`; returns the plan, or every problem found. @internal */
export function compile(
  config: unknown,
  given: Readonly<Record<string, PolicyFactory>>,
  functions: ReadonlySet<string>,
):
  | { readonly plan: Plan; readonly issues?: undefined }
  | { readonly plan?: undefined; readonly issues: ConfigIssue[] } {
  // Without a prototype: a key such as `constructor` or `__proto__` in the config is no kind.
  const kinds: Readonly<Record<string, PolicyFactory>> = Object.assign(Object.create(null), given);
  const issues: ConfigIssue[] = [];
  const env: CheckEnv = { functions, issues };
  const kindNames = Object.keys(kinds);
  const add = (path: string, message: string): void => {
    issues.push({ path, message });
  };

  if (!isObj(config)) {
    add('', `expected the config to be an object with "defaults", "policies" and "targets", got ${show(config)}`);
    return { issues };
  }
  for (const k of Object.keys(config)) if (!TOP.includes(k)) add(join('', k), unknownKey('key', k, TOP));
  if (config.$schema !== undefined && typeof config.$schema !== 'string') {
    add('$schema', `expected a string, got ${show(config.$schema)}`);
  }
  const section = (key: string): Record<string, unknown> => {
    const v = config[key];
    if (v === undefined) return {};
    if (isObj(v)) return v;
    add(key, `expected an object, got ${show(v)}`);
    return {};
  };

  /** Checks one piece of options for `kind` (a layer's, a default's or an override's). */
  const piece = (kind: string, value: unknown, path: string): LayerDef => {
    const f = kinds[kind] as PolicyFactory;
    const schema = optionsOf(f);
    const short = f.shorthand !== undefined && !isObj(value);
    if (schema === undefined) {
      if (isObj(value)) return { kind, options: value, path, short };
      add(path, `expected an object, got ${show(value)}`);
      return { kind, options: undefined, path, short };
    }
    if (short) {
      const key = f.shorthand as string;
      const v = check(schema.props[key] as ObjectSchema, value, path, env, true);
      return { kind, options: v === undefined ? undefined : { [key]: v }, path, short };
    }
    if (!isObj(value)) {
      const alt = f.shorthand === undefined ? '' : ` or ${describeShort(schema, f.shorthand)}`;
      add(path, `expected an object of ${kind} options${alt}, got ${show(value)}`);
      return { kind, options: undefined, path, short };
    }
    return { kind, options: check(schema, value, path, env, true) as Record<string, unknown> | undefined, path, short };
  };

  // defaults
  const defaults = new Map<string, LayerDef>();
  for (const [k, v] of Object.entries(section('defaults'))) {
    const path = join('defaults', k);
    if (kinds[k] === undefined) add(path, unknownKey('policy kind', k, kindNames));
    else defaults.set(k, piece(k, v, path));
  }

  /** One layer object: exactly one kind key. */
  const layer = (value: Record<string, unknown>, path: string): LayerDef | undefined => {
    const keys = Object.keys(value);
    if (keys.length !== 1) {
      add(
        path,
        keys.length === 0
          ? `expected a layer with one policy kind as its key (${kindNames.join(', ')}), got an empty object`
          : `expected one policy kind per layer, got ${keys.map((k) => JSON.stringify(k)).join(', ')}: list several layers as an array, outermost first`,
      );
      return undefined;
    }
    const kind = keys[0] as string;
    if (kinds[kind] === undefined) {
      add(join(path, kind), unknownKey('policy kind', kind, kindNames));
      return undefined;
    }
    return piece(kind, value[kind], join(path, kind));
  };

  /** A policy spec: a name, a layer or an array of both. */
  const items = (spec: unknown, path: string): Item[] => {
    if (typeof spec === 'string') return [{ ref: spec, path }];
    // A layer that could not be read stays in the list as a broken one, so that nothing is built
    // from the rest (and no override reports a layer missing because of it).
    const broken = (p: string): LayerDef => ({ kind: '', options: undefined, path: p, short: false });
    if (isObj(spec)) return [layer(spec, path) ?? broken(path)];
    if (Array.isArray(spec)) {
      return spec.map((v, i): Item => {
        const p = join(path, i);
        if (typeof v === 'string') return { ref: v, path: p };
        if (isObj(v)) return layer(v, p) ?? broken(p);
        add(p, `expected a layer such as { "retry": { … } } or a policy name, got ${show(v)}`);
        return broken(p);
      });
    }
    add(
      path,
      `expected a policy: a name from "policies", a layer such as { "retry": { … } }, or an array of layers, got ${show(spec)}`,
    );
    return [broken(path)];
  };

  // policies
  const policies = new Map<string, Item[]>();
  const reached = new Set<string>();
  for (const [name, spec] of Object.entries(section('policies')))
    policies.set(name, items(spec, join('policies', name)));

  /** The layers of a list of items, with policy references expanded. */
  const expand = (list: readonly Item[], stack: readonly string[]): LayerDef[] | undefined => {
    const out: LayerDef[] = [];
    let ok = true;
    for (const it of list) {
      if (!('ref' in it)) {
        out.push(it);
        continue;
      }
      const target = policies.get(it.ref);
      if (target === undefined) {
        const close = suggest(it.ref, policies.keys());
        const known = [...policies.keys()];
        add(
          it.path,
          `unknown policy ${JSON.stringify(it.ref)}${close === undefined ? '' : `; did you mean ${JSON.stringify(close)}?`}${
            close === undefined ? ` (policies: ${known.length === 0 ? 'none' : known.join(', ')})` : ''
          }`,
        );
        ok = false;
      } else if (stack.includes(it.ref)) {
        add(it.path, `policy ${JSON.stringify(it.ref)} refers back to itself (${[...stack, it.ref].join(' → ')})`);
        ok = false;
      } else {
        reached.add(it.ref);
        const inner = expand(target, [...stack, it.ref]);
        if (inner === undefined) ok = false;
        else out.push(...inner);
      }
    }
    return ok ? out : undefined;
  };

  const seen = new Set<string>();
  /** Merges defaults, the layer and an override, checks the whole, and attributes problems to the piece that set the value. */
  const resolve = (
    layers: readonly LayerDef[],
    overrides: readonly (LayerDef | undefined)[],
  ): ResolvedLayer[] | undefined => {
    const out: ResolvedLayer[] = [];
    const counts = new Map<string, number>();
    let ok = true;
    layers.forEach((l, i) => {
      const d = defaults.get(l.kind);
      const o = overrides[i];
      if (
        l.options === undefined ||
        (d !== undefined && d.options === undefined) ||
        (o !== undefined && o.options === undefined)
      ) {
        ok = false;
        return;
      }
      const f = kinds[l.kind] as PolicyFactory;
      const schema = optionsOf(f);
      const sources = [o, l, d].filter((s): s is LayerDef => s !== undefined);
      let merged: unknown = d?.options ?? {};
      merged = schema === undefined ? { ...(merged as object), ...l.options } : merge(schema, merged, l.options);
      if (o !== undefined)
        merged = schema === undefined ? { ...(merged as object), ...o.options } : merge(schema, merged, o.options);
      const local: ConfigIssue[] = [];
      const full =
        schema === undefined
          ? (merged as Record<string, unknown>)
          : (check(schema, merged, '', { functions, issues: local }, false) as Record<string, unknown> | undefined);
      if (full !== undefined && f.validate !== undefined) {
        try {
          local.push(...(f.validate(full) ?? []));
        } catch (error) {
          local.push({
            path: '',
            message: `the ${l.kind} validator threw: ${String((error as Error)?.message ?? error)}`,
          });
        }
      }
      for (const issue of local) {
        const path = attribute(sources, l, issue.path, f.shorthand);
        const key = `${path}\0${issue.message}`;
        if (!seen.has(key)) {
          seen.add(key);
          add(path, issue.message);
        }
      }
      if (full === undefined || local.length > 0) {
        ok = false;
        return;
      }
      const name = typeof full.name === 'string' ? full.name : undefined;
      const id = `${l.kind}:${name ?? ''}`;
      const n = counts.get(id) ?? 0;
      counts.set(id, n + 1);
      // Frozen: the next update compares against these, and describe() hands them out.
      out.push({ kind: l.kind, name, options: freeze(full), path: l.path, slot: `${id}:${n}` });
    });
    return ok ? out : undefined;
  };

  // targets
  const plan = new Map<string, ResolvedLayer[]>();
  for (const [name, spec] of Object.entries(section('targets'))) {
    const path = join('targets', name);
    let policySpec: unknown = spec;
    let policyPath = path;
    let overrideKeys: string[] = [];
    const isTargetObject = isObj(spec) && (spec.policy !== undefined || Object.keys(spec).length !== 1);
    if (isTargetObject) {
      if (spec.policy === undefined) {
        add(
          join(path, 'policy'),
          `required: the policy this target uses (a name from "policies", or layers such as [{ "timeout": 5000 }, { "retry": 3 }]); other keys override layers of that policy`,
        );
        continue;
      }
      policySpec = spec.policy;
      policyPath = join(path, 'policy');
      overrideKeys = Object.keys(spec).filter((k) => k !== 'policy');
    }
    const layers = expand(items(policySpec, policyPath), []);
    if (layers === undefined || layers.some((l) => l.options === undefined)) {
      // Problems in the policy itself were reported where they are. Its overrides are checked on
      // their own where the key names a kind; whether they match a layer is not judged.
      for (const key of overrideKeys)
        if (kinds[key] !== undefined) piece(key, (spec as Record<string, unknown>)[key], join(path, key));
      continue;
    }
    const overrides: (LayerDef | undefined)[] = layers.map(() => undefined);
    let ok = true;
    for (const key of overrideKeys) {
      const op = join(path, key);
      const named = layers.flatMap((l, i) => (l.options?.name === key ? [i] : []));
      const byKind = named.length > 0 ? named : layers.flatMap((l, i) => (l.kind === key ? [i] : []));
      if (byKind.length !== 1) {
        ok = false;
        const labels = layers.map((l) =>
          typeof l.options?.name === 'string' ? `${l.kind} ${JSON.stringify(l.options.name)}` : l.kind,
        );
        const what = typeof policySpec === 'string' ? `policy ${JSON.stringify(policySpec)}` : 'this pipeline';
        if (byKind.length === 0) {
          const close = suggest(key, [
            ...new Set([
              ...layers.map((l) => l.kind),
              ...layers.flatMap((l) => (typeof l.options?.name === 'string' ? [l.options.name] : [])),
            ]),
          ]);
          add(
            op,
            `${what} has no layer named or of kind ${JSON.stringify(key)} (its layers: ${labels.join(', ') || 'none'})${
              close === undefined ? '' : `; did you mean ${JSON.stringify(close)}?`
            }`,
          );
        } else {
          add(
            op,
            `${what} has ${byKind.length} ${key} layers (${byKind.map((i) => labels[i]).join(', ')}): give each a "name" and override it by that name`,
          );
        }
        continue;
      }
      const i = byKind[0] as number;
      if (overrides[i] !== undefined) {
        ok = false;
        add(op, `overrides the same layer as ${JSON.stringify((overrides[i] as LayerDef).path.split('.').pop())}`);
        continue;
      }
      overrides[i] = piece((layers[i] as LayerDef).kind, (spec as Record<string, unknown>)[key], op);
    }
    const resolved = resolve(layers, overrides);
    if (ok && resolved !== undefined) plan.set(name, resolved);
  }

  // Policies no target binds by name are still checked, with the defaults applied.
  for (const [name, list] of policies) {
    if (reached.has(name)) continue;
    const layers = expand(list, [name]);
    if (layers !== undefined) resolve(layers, []);
  }

  return issues.length > 0 ? { issues } : { plan: { targets: plan } };
}

function describeShort(schema: ObjectSchema, key: string): string {
  const p = schema.props[key];
  return p === undefined ? key : `a bare ${key} (${p.type === 'number' && p.duration ? 'a duration' : p.type})`;
}

function freeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) freeze(x);
    Object.freeze(v);
  }
  return v;
}

function at(value: unknown, path: readonly string[]): unknown {
  let v = value;
  for (const k of path) {
    if (!isObj(v)) return undefined;
    v = v[k];
  }
  return v;
}

/** The path of the piece that set the value at `rel` (or the layer's, for a missing value). */
function attribute(sources: readonly LayerDef[], layer: LayerDef, rel: string, shorthand: string | undefined): string {
  const parts = rel === '' ? [] : rel.split('.');
  for (const s of sources) {
    if (parts.length > 0 && at(s.options, parts) === undefined) continue;
    if (parts.length === 0 && s !== layer) continue;
    if (s.short && parts[0] === shorthand) return s.path;
    return parts.reduce((p, k) => join(p, k), s.path);
  }
  return parts.reduce((p, k) => join(p, k), layer.path);
}
