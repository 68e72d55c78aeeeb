// Random valid registry configs, and single mutations of them, for the property tests.
import fc from 'fast-check';
import { join } from '../../../src/registry/schema.js';

type Json = unknown;
type Obj = Record<string, Json>;

export const FUNCTIONS = {
  cached: () => 'cached',
  isTransient: () => true,
};

const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });
/** A record whose `undefined` values are dropped (JSON has no undefined). */
const rec = (shape: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Obj> =>
  fc.record(shape).map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));

const duration = fc.oneof(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom('250ms', '5s', '1.5s', '2m'));
const jitter3 = fc.constantFrom('none', 'full', 'equal');

const backoff = fc.oneof(
  fc.integer({ min: 0, max: 5000 }),
  rec({ type: fc.constant('constant'), delay: fc.integer({ min: 0, max: 5000 }), jitter: maybe(jitter3) }),
  rec({
    type: fc.constant('linear'),
    initial: maybe(fc.integer({ min: 0, max: 1000 })),
    step: maybe(fc.integer({ min: 0, max: 1000 })),
    max: maybe(duration),
    jitter: maybe(jitter3),
  }),
  rec({
    type: fc.constant('exponential'),
    initial: maybe(fc.integer({ min: 0, max: 1000 })),
    factor: maybe(fc.integer({ min: 1, max: 4 })),
    max: maybe(duration),
    jitter: maybe(fc.constantFrom('none', 'full', 'equal', 'decorrelated')),
  }),
);

const fraction = fc.integer({ min: 1, max: 100 }).map((n) => n / 100);
const strategy = fc.oneof(
  rec({ type: fc.constant('consecutive'), failures: fc.integer({ min: 1, max: 10 }) }),
  rec({
    type: fc.constant('failureRate'),
    threshold: fraction,
    window: duration,
    minThroughput: maybe(fc.integer({ min: 1, max: 50 })),
    buckets: maybe(fc.integer({ min: 1, max: 100 })),
  }),
  fc.integer({ min: 1, max: 100 }).chain((size) =>
    rec({
      type: fc.constant('countWindow'),
      size: fc.constant(size),
      threshold: fraction,
      minCalls: maybe(fc.integer({ min: 1, max: size })),
    }),
  ),
);

/** Layer values by kind (each valid on its own). */
const LAYERS: Record<string, fc.Arbitrary<Json>> = {
  timeout: fc.oneof(duration, rec({ after: duration, strategy: maybe(fc.constantFrom('cooperative', 'aggressive')) })),
  retry: fc.oneof(
    fc.integer({ min: 0, max: 10 }),
    rec({
      maxRetries: maybe(fc.integer({ min: 0, max: 10 })),
      backoff: maybe(backoff),
      budget: maybe(
        rec({ ratio: maybe(fraction), minPerSecond: maybe(fc.integer({ min: 0, max: 20 })), window: maybe(duration) }),
      ),
      handle: maybe(fc.constant('isTransient')),
    }),
  ),
  breaker: rec({
    strategy: maybe(strategy),
    breakDuration: maybe(
      fc.oneof(
        duration,
        backoff.filter((b) => typeof b === 'object'),
      ),
    ),
    halfOpen: maybe(rec({ probes: maybe(fc.integer({ min: 1, max: 5 })), probeTimeout: maybe(duration) })),
    slowCall: maybe(rec({ duration: duration, rate: maybe(fraction) })),
  }),
  bulkhead: fc.oneof(
    fc.integer({ min: 1, max: 100 }),
    rec({
      limit: fc.integer({ min: 1, max: 100 }),
      queue: maybe(fc.integer({ min: 0, max: 100 })),
      queueTimeout: maybe(duration),
    }),
  ),
  fallback: fc.oneof(rec({ value: fc.constantFrom('sorry', 0, null) }), rec({ to: fc.constant('cached') })),
  hedge: fc.oneof(
    duration,
    rec({
      delay: fc.oneof(
        duration,
        rec({
          percentile: fc.integer({ min: 1, max: 100 }),
          window: maybe(fc.integer({ min: 1, max: 500 })),
          min: maybe(fc.integer({ min: 1, max: 10 })),
          max: maybe(fc.integer({ min: 10, max: 1000 })),
        }),
      ),
      maxHedges: maybe(fc.integer({ min: 0, max: 3 })),
      budget: maybe(
        rec({ ratio: maybe(fraction), minPerSecond: maybe(fc.integer({ min: 0, max: 5 })), window: maybe(duration) }),
      ),
      handle: maybe(fc.constant('isTransient')),
    }),
  ),
  chaos: rec({
    fault: rec({ rate: fraction, error: maybe(fc.constant('cached')) }),
    latency: maybe(rec({ rate: fraction, ms: duration })),
    result: maybe(rec({ rate: fraction, value: fc.constantFrom('x', 1, null) })),
    enabled: maybe(fc.boolean()),
  }),
  rateLimit: fc.oneof(
    rec({
      limit: fc.integer({ min: 1, max: 1000 }),
      per: duration,
      burst: maybe(fc.integer({ min: 1, max: 100 })),
      cost: maybe(fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant('cached'))),
      maxKeys: maybe(fc.integer({ min: 1, max: 100 })),
      shadow: maybe(fc.boolean()),
      feedback: maybe(fc.constantFrom('requests', 'tokens', false)),
    }),
    rec({
      limit: fc.integer({ min: 1, max: 1000 }),
      per: duration,
      algorithm: fc.constant('sliding-window'),
      mode: fc.constant('wait'),
      maxWait: maybe(duration),
    }),
  ),
  streamTimeout: fc.oneof(
    rec({ firstChunk: duration, idle: maybe(duration), total: maybe(duration) }),
    rec({ idle: duration }),
    rec({ total: duration }),
  ),
};

/** Override values by kind (valid when merged over any layer of that kind). */
const OVERRIDES: Record<string, fc.Arbitrary<Json>> = {
  timeout: fc.oneof(duration, rec({ after: duration })),
  retry: fc.oneof(fc.integer({ min: 0, max: 10 }), rec({ maxRetries: fc.integer({ min: 0, max: 10 }) })),
  breaker: rec({ breakDuration: fc.integer({ min: 0, max: 60_000 }) }),
  bulkhead: rec({ queue: fc.integer({ min: 0, max: 100 }) }),
  streamTimeout: rec({ total: duration }),
  hedge: rec({ maxHedges: fc.integer({ min: 0, max: 3 }) }),
  chaos: rec({ enabled: fc.boolean() }),
  rateLimit: rec({ limit: fc.integer({ min: 1, max: 1000 }) }),
};

const layer = fc
  .constantFrom(...Object.keys(LAYERS))
  .chain((kind) => (LAYERS[kind] as fc.Arbitrary<Json>).map((v) => ({ [kind]: v }) as Obj));
const pipeline = fc.array(layer, { minLength: 1, maxLength: 4 });

const POLICY_NAMES = ['llm', 'tool', 'db'] as const;
const TARGET_NAMES = ['openai', 'anthropic', 'search', 'sql', 'mail'] as const;

/** A valid config: defaults, 1–3 named policies, 1–5 targets (by name, inline, or with overrides). */
export const validConfig: fc.Arbitrary<Obj> = fc
  .record({
    defaults: maybe(
      rec({
        retry: maybe(rec({ maxRetries: fc.integer({ min: 0, max: 5 }) })),
        timeout: maybe(rec({ strategy: fc.constantFrom('cooperative', 'aggressive') })),
        bulkhead: maybe(rec({ queue: fc.integer({ min: 0, max: 10 }) })),
      }),
    ),
    policies: fc
      .uniqueArray(fc.constantFrom(...POLICY_NAMES), { minLength: 1, maxLength: 3 })
      .chain((names) =>
        fc.tuple(...names.map((n) => pipeline.map((p) => [n, p] as const))).map((e) => Object.fromEntries(e)),
      ),
    targetNames: fc.uniqueArray(fc.constantFrom(...TARGET_NAMES), { minLength: 1, maxLength: 5 }),
    seed: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
  })
  .chain(({ defaults, policies, targetNames }) => {
    const names = Object.keys(policies);
    const target = fc.oneof(
      fc.constantFrom(...names),
      pipeline,
      fc.constantFrom(...names).chain((name) => {
        const layers = policies[name] as Obj[];
        const kinds = layers.map((l) => Object.keys(l)[0] as string);
        const once = kinds.filter((k) => kinds.indexOf(k) === kinds.lastIndexOf(k) && OVERRIDES[k] !== undefined);
        if (once.length === 0) return fc.constant({ policy: name } as Obj);
        return fc
          .subarray(once, { minLength: 0 })
          .chain((ks) => fc.tuple(...ks.map((k) => (OVERRIDES[k] as fc.Arbitrary<Json>).map((v) => [k, v] as const))))
          .map((entries) => ({ policy: name, ...Object.fromEntries(entries) }) as Obj);
      }),
    );
    return fc.tuple(...targetNames.map((t) => target.map((v) => [t, v] as const))).map((entries) => {
      const out: Obj = { policies, targets: Object.fromEntries(entries) };
      if (defaults !== undefined && Object.keys(defaults).length > 0) out.defaults = defaults;
      return out;
    });
  });

/** One change that makes a config invalid: `path` is where, `schemaSees` whether the JSON Schema can tell. */
export interface Mutation {
  readonly path: string;
  readonly apply: (config: Obj) => Obj;
  readonly what: string;
  readonly schemaSees: boolean;
}

const ENUMS = new Set(['strategy', 'jitter', 'type', 'algorithm', 'mode', 'feedback']);
const FUNCTION_KEYS = new Set([
  'handle',
  'handleResult',
  'retryAfter',
  'to',
  'error',
  'cost',
  'key',
  'actualCost',
  'store',
]);

function setAt(root: Json, keys: readonly (string | number)[], f: (v: Json) => Json): Json {
  if (keys.length === 0) return f(root);
  const [k, ...rest] = keys as [string | number, ...(string | number)[]];
  if (Array.isArray(root)) return root.map((v, i) => (i === k ? setAt(v, rest, f) : v));
  const o = root as Obj;
  return { ...o, [k]: setAt(o[k as string], rest, f) };
}

type Where = 'top' | 'map' | 'defaults' | 'layer' | 'target' | 'options' | 'policy-ref';

/** Every mutation of `config` this test knows how to make. */
export function mutations(config: Obj): Mutation[] {
  const out: Mutation[] = [];
  const path = (keys: readonly (string | number)[]): string => keys.reduce<string>((p, k) => join(p, k), '');
  const mk = (keys: (string | number)[], what: string, schemaSees: boolean, f: (v: Json) => Json): void => {
    out.push({ path: path(keys), what, schemaSees, apply: (c) => setAt(c, keys, f) as Obj });
  };
  const walk = (v: Json, keys: (string | number)[], where: Where, key: string | number | undefined): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        walk(x, [...keys, i], typeof x === 'string' ? 'policy-ref' : 'layer', i);
      });
      return;
    }
    if (v !== null && typeof v === 'object') {
      const o = v as Obj;
      if (where !== 'map') {
        // An unknown key; in a target object it reads as an override of a layer that is not there.
        mk(keys, `unknown key under ${path(keys) || 'the root'}`, where !== 'target', (x) => ({
          ...(x as Obj),
          zzz: 1,
        }));
      }
      for (const [k, x] of Object.entries(o)) {
        const next = [...keys, k];
        let w: Where = 'options';
        if (where === 'top') w = k === 'defaults' ? 'defaults' : 'map';
        else if (where === 'map')
          w =
            keys[0] === 'targets'
              ? typeof x === 'string'
                ? 'policy-ref'
                : Array.isArray(x)
                  ? 'map'
                  : 'target'
              : 'map';
        else if (where === 'target') w = k === 'policy' ? (typeof x === 'string' ? 'policy-ref' : 'map') : 'options';
        if (where === 'map' && keys[0] === 'targets' && w === 'target' && (x as Obj).policy === undefined) w = 'layer';
        walk(x, next, w, k);
      }
      return;
    }
    if (where === 'policy-ref' || key === 'name' || key === 'value') return;
    if (typeof v === 'boolean') {
      mk(keys, 'a number for a boolean', true, () => 1);
      return;
    }
    if (
      typeof v === 'number' ||
      (typeof v === 'string' && !ENUMS.has(String(key)) && !FUNCTION_KEYS.has(String(key)))
    ) {
      // A number (or a duration string).
      // A string where a number or a function name may go (rateLimit's `cost`) is only known bad to the registry.
      for (const bad of [-1, 'x', true, null]) {
        const seen = !(typeof bad === 'string' && FUNCTION_KEYS.has(String(key)));
        mk(keys, `${JSON.stringify(bad)} for a number`, seen, () => bad);
      }
    } else if (typeof v === 'string' && ENUMS.has(String(key))) {
      mk(keys, 'an unknown enum value', true, () => 'bogus');
    } else if (typeof v === 'string' && FUNCTION_KEYS.has(String(key))) {
      mk(keys, 'an unknown function name', false, () => 'nope');
    }
  };
  walk(config, [], 'top', undefined);
  return out;
}

/** True when an error at `error` points at a mutation at `mutated`: the same place, inside it, or the object that holds it. */
export function related(error: string, mutated: string): boolean {
  const under = (a: string, b: string) => b === '' || a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`);
  return under(error, mutated) || under(mutated, error);
}
