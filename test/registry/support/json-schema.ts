// A minimal JSON Schema (draft-07) validator covering the keywords the registry schema uses, so
// that the test checks the shipped schema without a validator dependency. An unknown keyword is an
// error here, so the schema cannot grow a keyword this checker silently ignores.

type Schema = { [key: string]: unknown } | boolean;

const KNOWN = new Set([
  '$schema',
  'title',
  'description',
  'default',
  'definitions',
  '$ref',
  'type',
  'properties',
  'additionalProperties',
  'required',
  'enum',
  'const',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'pattern',
  'anyOf',
  'oneOf',
  'items',
  'minProperties',
  'maxProperties',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** True when `value` is valid against `schema` (whose `$ref`s point into `root.definitions`). */
export function validates(root: Schema, value: unknown, schema: Schema = root): boolean {
  if (schema === true) return true;
  if (schema === false) return false;
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`unsupported keyword ${k}`);
  if (typeof schema.$ref === 'string') {
    const name = /^#\/definitions\/(.+)$/.exec(schema.$ref)?.[1];
    const target =
      name === undefined ? undefined : (root as { definitions?: Record<string, Schema> }).definitions?.[name];
    if (target === undefined) throw new Error(`unresolved ${schema.$ref}`);
    if (!validates(root, value, target)) return false;
  }
  const t = typeOf(value);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const ok = types.some((x) => x === t || (x === 'integer' && t === 'number' && Number.isInteger(value)));
    if (!ok) return false;
  }
  if (schema.enum !== undefined && !(schema.enum as unknown[]).some((e) => equal(e, value))) return false;
  if (schema.const !== undefined && !equal(schema.const, value)) return false;
  if (t === 'number') {
    const n = value as number;
    if (!Number.isFinite(n)) return false; // not JSON
    if (typeof schema.minimum === 'number' && n < schema.minimum) return false;
    if (typeof schema.maximum === 'number' && n > schema.maximum) return false;
    if (typeof schema.exclusiveMinimum === 'number' && n <= schema.exclusiveMinimum) return false;
  }
  if (t === 'string' && typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value as string))
    return false;
  if (t === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (typeof schema.minProperties === 'number' && keys.length < schema.minProperties) return false;
    if (typeof schema.maxProperties === 'number' && keys.length > schema.maxProperties) return false;
    for (const r of (schema.required as string[] | undefined) ?? []) if (!(r in o)) return false;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const k of keys) {
      const p = Object.hasOwn(props, k) ? props[k] : undefined;
      if (p !== undefined) {
        if (!validates(root, o[k], p)) return false;
      } else if (
        schema.additionalProperties !== undefined &&
        !validates(root, o[k], schema.additionalProperties as Schema)
      ) {
        return false;
      }
    }
  }
  if (t === 'array' && schema.items !== undefined) {
    for (const v of value as unknown[]) if (!validates(root, v, schema.items as Schema)) return false;
  }
  if (schema.anyOf !== undefined && !(schema.anyOf as Schema[]).some((s) => validates(root, value, s))) return false;
  if (schema.oneOf !== undefined && (schema.oneOf as Schema[]).filter((s) => validates(root, value, s)).length !== 1)
    return false;
  return true;
}
