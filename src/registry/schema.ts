import { suggest, unknownKey } from './suggest.js';

// A small description language for policy options in JSON config. One description per kind gives
// three things: the validator (every problem with its path and what was expected), the
// normalisation (durations to ms, defaults filled in), and the JSON Schema that editors read.

/**
 * One problem in a config: where (`targets.openai.retry.maxRetries`) and what was wrong.
 *
 * @example
 * ```ts
 * import { type ConfigIssue, registry } from 'breakwater/registry';
 *
 * const show = (issue: ConfigIssue): string => `${issue.path || '(the config)'}: ${issue.message}`;
 * const r = registry({ config }).update({ targets: { openai: { retry: -1 } } });
 * if (!r.ok) console.error(r.errors.map(show).join('\n')); // targets.openai.retry: expected an integer ≥ 0, got -1
 * ```
 */
export interface ConfigIssue {
  /** Dotted path to the offending value (`''` for the whole config). */
  readonly path: string;
  /** What was expected and what was found, e.g. `expected an integer ≥ 0, got -1`. */
  readonly message: string;
}

interface Described {
  /** Shown by editors (JSON Schema `description`). */
  readonly description?: string | undefined;
}

/**
 * A number (optionally an integer, bounded); `duration` also accepts strings such as `"1.5s"`.
 *
 * @example
 * ```ts
 * import type { NumberSchema, PolicyFactory } from 'breakwater/registry';
 *
 * const ttl: NumberSchema = { type: 'number', duration: true, min: 0, exclusiveMin: true, default: 60_000 };
 * const factories = {
 *   // "ttl": "5m" in config arrives in `create` as 300000
 *   cache: { options: { type: 'object', props: { ttl } }, create: (o) => cachePolicy({ ttl: o.ttl }) },
 * } satisfies Record<string, PolicyFactory>;
 * ```
 */
export interface NumberSchema extends Described {
  readonly type: 'number';
  readonly min?: number | undefined;
  readonly max?: number | undefined;
  /** `min` itself is not allowed. */
  readonly exclusiveMin?: boolean | undefined;
  readonly integer?: boolean | undefined;
  /** Milliseconds, or a string with a unit: `"250ms"`, `"5s"`, `"2m"`, `"1h"`. */
  readonly duration?: boolean | undefined;
  /** Filled in when the option is not set. */
  readonly default?: number | undefined;
}

/**
 * A string, optionally one of `enum`.
 *
 * @example
 * ```ts
 * import type { PolicyFactory, StringSchema } from 'breakwater/registry';
 *
 * const level: StringSchema = { type: 'string', enum: ['debug', 'info', 'warn'], default: 'info' };
 * const factories = {
 *   audit: { options: { type: 'object', props: { level } }, create: (o) => auditPolicy(o.level) },
 * } satisfies Record<string, PolicyFactory>;
 * ```
 */
export interface StringSchema extends Described {
  readonly type: 'string';
  readonly enum?: readonly string[] | undefined;
  readonly default?: string | undefined;
}

/**
 * `true` or `false`.
 *
 * @example
 * ```ts
 * import type { BooleanSchema, PolicyFactory } from 'breakwater/registry';
 *
 * const dryRun: BooleanSchema = { type: 'boolean', default: false, description: 'Log, shed nothing.' };
 * const factories = {
 *   shed: { options: { type: 'object', props: { dryRun } }, create: (o) => loadShedder({ dryRun: o.dryRun }) },
 * } satisfies Record<string, PolicyFactory>;
 * ```
 */
export interface BooleanSchema extends Described {
  readonly type: 'boolean';
  readonly default?: boolean | undefined;
}

/**
 * The name of a function passed to the registry in `functions` (JSON cannot hold a function).
 *
 * @example
 * ```ts
 * import { type FunctionSchema, type PolicyFactory, registry } from 'breakwater/registry';
 *
 * const key: FunctionSchema = { type: 'function', description: 'Name of a function (ctx) => string.' };
 * const factories = {
 *   coalesce: { options: { type: 'object', props: { key } }, create: (o, env) => coalesce({ key: env.fn(o.key) }) },
 * } satisfies Record<string, PolicyFactory>;
 * const config = { targets: { orders: { coalesce: { key: 'byOrderId' } } } };
 * const mesh = registry({ config, factories, functions: { byOrderId } });
 * ```
 */
export interface FunctionSchema extends Described {
  readonly type: 'function';
}

/**
 * Any JSON value.
 *
 * @example
 * ```ts
 * import type { AnySchema, PolicyFactory } from 'breakwater/registry';
 *
 * const value: AnySchema = { type: 'any', description: 'Served while the cache is cold (any JSON value).' };
 * const factories = {
 *   warmCache: { options: { type: 'object', props: { value } }, create: (o) => warmCache({ initial: o.value }) },
 * } satisfies Record<string, PolicyFactory>;
 * ```
 */
export interface AnySchema extends Described {
  readonly type: 'any';
}

/**
 * A list of values of one schema.
 *
 * @example
 * ```ts
 * import type { ArraySchema, PolicyFactory } from 'breakwater/registry';
 *
 * const statuses: ArraySchema = { type: 'array', items: { type: 'number', integer: true, min: 100, max: 599 } };
 * const factories = {
 *   failOn: { options: { type: 'object', props: { statuses } }, create: (o) => failOn(new Set(o.statuses)) },
 * } satisfies Record<string, PolicyFactory>;
 * ```
 */
export interface ArraySchema extends Described {
  readonly type: 'array';
  readonly items: OptionSchema;
}

/**
 * An object with known keys (any other key is an error).
 *
 * @example
 * ```ts
 * import type { ObjectSchema, PolicyFactory } from 'breakwater/registry';
 *
 * const options: ObjectSchema = {
 *   type: 'object',
 *   props: { topic: { type: 'string' }, sample: { type: 'number', min: 0, max: 1, default: 1 } },
 *   required: ['topic'], // any other key is reported with its path
 * };
 * const factories = {
 *   audit: { options, create: (o) => auditPolicy(o.topic, o.sample) },
 * } satisfies Record<string, PolicyFactory>;
 * ```
 */
export interface ObjectSchema extends Described {
  readonly type: 'object';
  readonly props: { readonly [key: string]: OptionSchema };
  readonly required?: readonly string[] | undefined;
  /**
   * Checks across keys of a complete value (e.g. `minCalls ≤ size`); returns problems with paths
   * relative to the object.
   */
  readonly check?: ((value: Readonly<Record<string, unknown>>) => readonly ConfigIssue[] | undefined) | undefined;
}

/**
 * Objects told apart by a tag key: `{ "type": "exponential", "initial": 200 }`.
 *
 * @example
 * ```ts
 * import type { TaggedSchema } from 'breakwater/registry';
 *
 * // In config: { "type": "fixed", "size": "1m" } or { "type": "rolling", "size": "10s", "buckets": 10 }
 * const window: TaggedSchema = {
 *   type: 'tagged', tag: 'type',
 *   variants: {
 *     fixed: { type: 'object', props: { size: { type: 'number', duration: true } }, required: ['size'] },
 *     rolling: { type: 'object', props: { size: { type: 'number', duration: true }, buckets: { type: 'number' } } },
 *   },
 * };
 * ```
 */
export interface TaggedSchema extends Described {
  readonly type: 'tagged';
  readonly tag: string;
  readonly variants: { readonly [tag: string]: ObjectSchema };
}

/**
 * One of several schemas, chosen by the JSON type of the value (a number or an object, …).
 *
 * @example
 * ```ts
 * import type { EitherSchema } from 'breakwater/registry';
 *
 * // In config: "limit": 10, or "limit": { "max": 10, "queue": 50 }
 * const limit: EitherSchema = {
 *   type: 'either',
 *   of: [
 *     { type: 'number', integer: true, min: 1 },
 *     { type: 'object', props: { max: { type: 'number' }, queue: { type: 'number' } } },
 *   ],
 * };
 * ```
 */
export interface EitherSchema extends Described {
  readonly type: 'either';
  readonly of: readonly OptionSchema[];
}

/**
 * A description of policy options, used for validation, normalisation and the JSON Schema.
 *
 * @example
 * ```ts
 * import type { OptionSchema } from 'breakwater/registry';
 *
 * // A starting value for an option, to write a sample config from a kind's schema.
 * function sample(s: OptionSchema): unknown {
 *   switch (s.type) {
 *     case 'number': return s.default ?? s.min ?? 0;
 *     case 'string': return s.default ?? s.enum?.[0] ?? '';
 *     case 'boolean': return s.default ?? false;
 *     case 'object': return Object.fromEntries(Object.entries(s.props).map(([k, p]) => [k, sample(p)]));
 *     default: return null;
 *   }
 * }
 * ```
 */
export type OptionSchema =
  | NumberSchema
  | StringSchema
  | BooleanSchema
  | FunctionSchema
  | AnySchema
  | ArraySchema
  | ObjectSchema
  | TaggedSchema
  | EitherSchema;

/** What a check needs besides the value. @internal */
export interface CheckEnv {
  /** Names of the functions given to the registry. */
  readonly functions: ReadonlySet<string>;
  readonly issues: ConfigIssue[];
}

/** Appends `key` to a path: `a.b`, or `a["odd key"]` for a key that is not an identifier. @internal */
export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

/** The value as shown in a message: numbers and short strings as they are, never an object's content. @internal */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined) return String(v);
  return `a ${typeof v}`;
}

/** `'number'`, `'string'`, `'boolean'`, `'object'`, `'array'`, `'null'` or `'other'`. @internal */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  return t === 'number' || t === 'string' || t === 'boolean' || t === 'object' ? t : 'other';
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;
/** The pattern of a duration string (also in the JSON Schema). @internal */
export const DURATION_PATTERN: string = DURATION.source;

/** `"1.5s"` → 1500; undefined for anything else. @internal */
export function parseDuration(s: string): number | undefined {
  const m = DURATION.exec(s.trim());
  return m === null ? undefined : Number(m[1]) * (UNITS[m[2] as string] as number);
}

function bounds(s: NumberSchema): string {
  const lo = s.min === undefined ? '' : ` ${s.exclusiveMin ? '>' : '≥'} ${s.min}`;
  const hi = s.max === undefined ? '' : `${lo === '' ? '' : ' and'} ≤ ${s.max}`;
  return lo + hi;
}

/** What a schema expects, in words: `an integer ≥ 0`, `one of "a", "b"`. @internal */
export function expected(s: OptionSchema): string {
  switch (s.type) {
    case 'number':
      if (s.duration) return `a duration in ms${bounds(s)} (or a string such as "1.5s")`;
      return `${s.integer ? 'an integer' : 'a number'}${bounds(s)}`;
    case 'string':
      return s.enum === undefined ? 'a string' : `one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`;
    case 'boolean':
      return 'true or false';
    case 'function':
      return 'the name of a function given in `functions`';
    case 'any':
      return 'any JSON value';
    case 'array':
      return 'an array';
    case 'object':
      return 'an object';
    case 'tagged':
      return `an object with "${s.tag}": ${Object.keys(s.variants)
        .map((k) => JSON.stringify(k))
        .join(', ')}`;
    case 'either':
      return s.of.map(expected).join(', or ');
  }
}

/** The JSON types a schema accepts (for {@link EitherSchema}). */
function accepts(s: OptionSchema, t: string): boolean {
  switch (s.type) {
    case 'number':
      return t === 'number' || (s.duration === true && t === 'string');
    case 'string':
    case 'function':
      return t === 'string';
    case 'boolean':
      return t === 'boolean';
    case 'any':
      return true;
    case 'array':
      return t === 'array';
    case 'object':
    case 'tagged':
      return t === 'object';
    case 'either':
      return s.of.some((o) => accepts(o, t));
  }
}

function problem(env: CheckEnv, path: string, message: string): undefined {
  env.issues.push({ path, message });
  return undefined;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => jsonType(v) === 'object';

/** `o[k]` if `k` is `o`'s own key: a config key such as `constructor` or `__proto__` names nothing inherited. @internal */
export const own = <T>(o: { readonly [key: string]: T }, k: string): T | undefined =>
  Object.hasOwn(o, k) ? o[k] : undefined;

/**
 * Validates `value` against `s`, pushing every problem (with its path) to `env.issues`; returns the
 * normalised value (durations in ms, defaults filled in unless `partial`), or undefined if invalid.
 * `partial` checks a piece that will be merged with others: required keys and cross-key checks are
 * left for the merged value.
 * @internal
 */
export function check(s: OptionSchema, value: unknown, path: string, env: CheckEnv, partial: boolean): unknown {
  const t = jsonType(value);
  switch (s.type) {
    case 'number': {
      let n = value;
      if (typeof value === 'string' && s.duration) n = parseDuration(value);
      if (typeof n !== 'number' || !Number.isFinite(n) || (s.integer && !Number.isInteger(n))) {
        return problem(env, path, `expected ${expected(s)}, got ${show(value)}`);
      }
      const low = s.min !== undefined && (s.exclusiveMin ? n <= s.min : n < s.min);
      if (low || (s.max !== undefined && n > s.max))
        return problem(env, path, `expected ${expected(s)}, got ${show(value)}`);
      return n;
    }
    case 'string':
      if (t !== 'string' || (s.enum !== undefined && !s.enum.includes(value as string))) {
        const close = t === 'string' && s.enum !== undefined ? suggest(value as string, s.enum) : undefined;
        const hint = close === undefined ? '' : `; did you mean ${JSON.stringify(close)}?`;
        return problem(env, path, `expected ${expected(s)}, got ${show(value)}${hint}`);
      }
      return value;
    case 'boolean':
      return t === 'boolean' ? value : problem(env, path, `expected true or false, got ${show(value)}`);
    case 'function': {
      if (t === 'string' && env.functions.has(value as string)) return value;
      const known = [...env.functions];
      const close = t === 'string' ? suggest(value as string, known) : undefined;
      const list = known.length === 0 ? ' (none were given)' : ` (given: ${known.join(', ')})`;
      const hint = close === undefined ? '' : `; did you mean ${JSON.stringify(close)}?`;
      return problem(
        env,
        path,
        `expected the name of a function given in \`functions\`${list}, got ${show(value)}${hint}`,
      );
    }
    case 'any':
      return t === 'other' ? problem(env, path, `expected a JSON value, got ${show(value)}`) : value;
    case 'array': {
      if (!Array.isArray(value)) return problem(env, path, `expected an array, got ${show(value)}`);
      const before = env.issues.length;
      const out = value.map((v, i) => check(s.items, v, join(path, i), env, partial));
      return env.issues.length === before ? out : undefined;
    }
    case 'object':
      return checkObject(s, value, path, env, partial);
    case 'tagged': {
      if (!isPlainObject(value)) return problem(env, path, `expected ${expected(s)}, got ${show(value)}`);
      const tag = value[s.tag];
      const names = Object.keys(s.variants);
      if (tag === undefined && partial) return checkUntagged(s, value, path, env);
      const variant = typeof tag === 'string' ? own(s.variants, tag) : undefined;
      if (variant === undefined) {
        const close = typeof tag === 'string' ? suggest(tag, names) : undefined;
        const hint = close === undefined ? '' : `; did you mean ${JSON.stringify(close)}?`;
        const got = tag === undefined ? 'nothing' : show(tag);
        return problem(
          env,
          join(path, s.tag),
          `expected one of ${names.map((n) => JSON.stringify(n)).join(', ')}, got ${got}${hint}`,
        );
      }
      const { [s.tag]: _, ...rest } = value;
      const out = checkObject(variant, rest, path, env, partial, s.tag);
      return out === undefined ? undefined : { [s.tag]: tag, ...(out as object) };
    }
    case 'either': {
      const match = s.of.filter((o) => accepts(o, t));
      if (match.length === 0) return problem(env, path, `expected ${expected(s)}, got ${show(value)}`);
      return check(match[0] as OptionSchema, value, path, env, partial);
    }
  }
}

function checkObject(
  s: ObjectSchema,
  value: unknown,
  path: string,
  env: CheckEnv,
  partial: boolean,
  tag?: string,
): Record<string, unknown> | undefined {
  if (!isPlainObject(value)) return problem(env, path, `expected an object, got ${show(value)}`);
  const before = env.issues.length;
  const out: Record<string, unknown> = {};
  const keys = Object.keys(s.props);
  for (const [k, v] of Object.entries(value)) {
    const p = own(s.props, k);
    if (p === undefined) {
      problem(env, join(path, k), unknownKey('option', k, tag === undefined ? keys : [tag, ...keys]));
      continue;
    }
    if (v === undefined) continue;
    const r = check(p, v, join(path, k), env, partial);
    if (r !== undefined) out[k] = r;
  }
  if (!partial) {
    for (const k of s.required ?? [])
      if (value[k] === undefined) problem(env, join(path, k), `required: ${expected(s.props[k] as OptionSchema)}`);
    if (env.issues.length === before) {
      for (const [k, p] of Object.entries(s.props)) {
        const d = (p as { default?: unknown }).default;
        if (out[k] === undefined && d !== undefined) out[k] = d;
      }
      for (const i of s.check?.(out) ?? []) problem(env, join(path, i.path), i.message);
    }
  }
  return env.issues.length === before ? out : undefined;
}

/** A partial tagged value without its tag (an override such as `{ "initial": 500 }`). */
function checkUntagged(s: TaggedSchema, value: Record<string, unknown>, path: string, env: CheckEnv): unknown {
  const before = env.issues.length;
  const out: Record<string, unknown> = {};
  const all = new Set<string>([s.tag]);
  for (const v of Object.values(s.variants)) for (const k of Object.keys(v.props)) all.add(k);
  for (const [k, v] of Object.entries(value)) {
    const owner = Object.values(s.variants).find((o) => own(o.props, k) !== undefined);
    if (owner === undefined) {
      problem(env, join(path, k), unknownKey('option', k, [...all]));
      continue;
    }
    const r = check(owner.props[k] as OptionSchema, v, join(path, k), env, true);
    if (r !== undefined) out[k] = r;
  }
  return env.issues.length === before ? out : undefined;
}

/**
 * Deep-merges option pieces, later ones winning: nested objects merge key by key, except that a
 * tagged object whose tag changes is replaced (a `constant` backoff does not inherit `factor`).
 * @internal
 */
export function merge(s: OptionSchema, base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (base === undefined || !isPlainObject(base) || !isPlainObject(over)) return over;
  if (s.type === 'tagged') {
    const bt = base[s.tag];
    const ot = over[s.tag];
    if (ot !== undefined && ot !== bt) return over;
    const variant = own(s.variants, (ot ?? bt) as string);
    return variant === undefined ? { ...base, ...over } : merge(variant, base, over);
  }
  if (s.type === 'either') {
    const o = s.of.find((x) => accepts(x, 'object'));
    return o === undefined ? over : merge(o, base, over);
  }
  if (s.type !== 'object') return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const p = own(s.props, k);
    out[k] = p === undefined ? v : merge(p, base[k], v);
  }
  return out;
}

/** True when two JSON-like values are equal (key order ignored). @internal */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) {
      return false;
    }
  }
  return true;
}
