import { BUILT_IN, optionsOf, type PolicyFactory } from './kinds.js';
import { DURATION_PATTERN, type NumberSchema, type ObjectSchema, type OptionSchema } from './schema.js';

type Json = { [key: string]: unknown };

const withDescription = (out: Json, s: { readonly description?: string | undefined }): Json =>
  s.description === undefined ? out : { description: s.description, ...out };

function numberSchema(s: NumberSchema): Json {
  const out: Json = { type: s.integer ? 'integer' : 'number' };
  if (s.min !== undefined) out[s.exclusiveMin ? 'exclusiveMinimum' : 'minimum'] = s.min;
  if (s.max !== undefined) out.maximum = s.max;
  if (s.default !== undefined) out.default = s.default;
  return out;
}

/**
 * JSON Schema (draft-07) of an option schema, as every piece of config (a layer, a default, an
 * override) is checked: required keys are not required here, since defaults or overrides may supply them.
 */
function convert(s: OptionSchema): Json {
  switch (s.type) {
    case 'number':
      return withDescription(
        s.duration ? { anyOf: [numberSchema(s), { type: 'string', pattern: DURATION_PATTERN }] } : numberSchema(s),
        s,
      );
    case 'string':
      return withDescription(
        {
          type: 'string',
          ...(s.enum === undefined ? {} : { enum: s.enum }),
          ...(s.default === undefined ? {} : { default: s.default }),
        },
        s,
      );
    case 'boolean':
      return withDescription({ type: 'boolean' }, s);
    case 'function':
      return withDescription({ type: 'string' }, s);
    case 'any':
      return withDescription({}, s);
    case 'array':
      return withDescription({ type: 'array', items: convert(s.items) }, s);
    case 'object':
      return withDescription(object(s), s);
    case 'tagged':
      return withDescription(
        {
          anyOf: Object.entries(s.variants).map(([tag, v]) => {
            const o = object(v);
            return withDescription({ ...o, properties: { [s.tag]: { const: tag }, ...(o.properties as Json) } }, v);
          }),
        },
        s,
      );
    case 'either':
      return withDescription({ anyOf: s.of.map(convert) }, s);
  }
}

function object(s: ObjectSchema): Json {
  const properties: Json = {};
  for (const [k, p] of Object.entries(s.props)) properties[k] = convert(p);
  return { type: 'object', properties, additionalProperties: false };
}

/** The schema of a kind's value in config: its options, or a bare value for its shorthand option. */
function kindValue(f: PolicyFactory): Json {
  const o = optionsOf(f);
  if (o === undefined) return { type: 'object' };
  const full = withDescription(object(o), o);
  const short = f.shorthand === undefined ? undefined : o.props[f.shorthand];
  return short === undefined ? full : { anyOf: [convert(short), full] };
}

/**
 * Options for {@link registrySchema}.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * import { registrySchema, type RegistrySchemaOptions } from 'breakwater/registry';
 *
 * const options: RegistrySchemaOptions = { factories: { audit: auditFactory } }; // your custom kinds
 * writeFileSync('resilience.schema.json', JSON.stringify(registrySchema(options), null, 2));
 * ```
 */
export interface RegistrySchemaOptions {
  /** Custom kinds to include (as passed to `registry({ factories })`). */
  readonly factories?: Readonly<Record<string, PolicyFactory>> | undefined;
}

/**
 * The JSON Schema (draft-07) of a registry config, generated from the same kind descriptions the
 * registry validates with. The package ships the built-in kinds' schema as
 * `breakwater/registry/schema.json`; call this with your `factories` to include custom kinds.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * writeFileSync('resilience.schema.json', JSON.stringify(registrySchema({ factories }), null, 2));
 * ```
 */
export function registrySchema(options?: RegistrySchemaOptions): Record<string, unknown> {
  const kinds: Record<string, PolicyFactory> = { ...BUILT_IN, ...options?.factories };
  const definitions: Json = {};
  const refs: Json = {};
  for (const [k, f] of Object.entries(kinds)) {
    definitions[`${k}Options`] = kindValue(f);
    refs[k] = { $ref: `#/definitions/${k}Options` };
  }
  const names = Object.keys(kinds);
  definitions.layer = {
    description: `One layer: an object with one policy kind as its key (${names.join(', ')}).`,
    type: 'object',
    minProperties: 1,
    maxProperties: 1,
    properties: refs,
    additionalProperties: false,
  };
  definitions.policy = {
    description:
      'A policy: the name of a policy in "policies", one layer, or a pipeline (layers and policy names, outermost first).',
    anyOf: [
      { type: 'string' },
      { $ref: '#/definitions/layer' },
      { type: 'array', items: { anyOf: [{ type: 'string' }, { $ref: '#/definitions/layer' }] } },
    ],
  };
  definitions.target = {
    description: 'A target: a policy, or { "policy": …, <kind or layer name>: overrides }.',
    anyOf: [
      { $ref: '#/definitions/policy' },
      {
        type: 'object',
        required: ['policy'],
        properties: { policy: { $ref: '#/definitions/policy' }, ...refs },
        additionalProperties: {
          description: 'Overrides of the layer with this name.',
          type: ['object', 'number', 'string'],
        },
      },
    ],
  };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'breakwater registry config',
    description: 'Named resilience pipelines for breakwater/registry: defaults per kind, named policies, and targets.',
    type: 'object',
    properties: {
      $schema: { type: 'string' },
      defaults: {
        description: 'Options applied to every layer of a kind; layers and target overrides win.',
        type: 'object',
        properties: refs,
        additionalProperties: false,
      },
      policies: {
        description: 'Named policies (templates): every target that binds one gets its own instances.',
        type: 'object',
        additionalProperties: { $ref: '#/definitions/policy' },
      },
      targets: {
        description: 'The call sites: registry.get(name) returns the pipeline of the target.',
        type: 'object',
        additionalProperties: { $ref: '#/definitions/target' },
      },
    },
    additionalProperties: false,
    definitions,
  };
}
