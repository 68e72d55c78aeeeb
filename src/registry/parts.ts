// Shorthands for the kinds' option schemas, and pieces several kinds share. @internal
import { type Backoff, constant, exponential, linear } from '../retry/index.js';
import type { FactoryEnv } from './factory.js';
import type { FunctionSchema, NumberSchema, ObjectSchema, StringSchema, TaggedSchema } from './schema.js';

type Extra = Omit<NumberSchema, 'type'>;
export const num = (description: string, o?: Extra): NumberSchema => ({ type: 'number', description, ...o });
export const int = (description: string, min: number, o?: Extra): NumberSchema =>
  num(description, { integer: true, min, ...o });
export const ms = (description: string, o?: Extra): NumberSchema => num(description, { duration: true, min: 0, ...o });
export const fn = (description: string): FunctionSchema => ({ type: 'function', description });
export const oneOf = (description: string, values: readonly string[], d?: string): StringSchema => ({
  type: 'string',
  description,
  enum: values,
  default: d,
});
export const obj = (
  description: string,
  props: ObjectSchema['props'],
  required?: string[],
  o?: Partial<ObjectSchema>,
): ObjectSchema => ({
  type: 'object',
  description,
  props,
  required,
  ...o,
});
export const fraction = (description: string): NumberSchema => num(description, { min: 0, exclusiveMin: true, max: 1 });
const JITTER3 = ['none', 'full', 'equal'];

export const backoff: TaggedSchema = {
  type: 'tagged',
  tag: 'type',
  description: 'The delay schedule: constant, linear or exponential.',
  variants: {
    constant: obj(
      'The same delay before every retry.',
      {
        delay: ms('The delay in ms.'),
        jitter: oneOf('Spread applied to the delay.', JITTER3, 'none'),
      },
      ['delay'],
    ),
    linear: obj('initial, initial + step, …, capped at max.', {
      initial: ms('Delay before the first retry.', { default: 200 }),
      step: ms('Added per retry (default: initial).'),
      max: ms('Cap, applied before jitter.', { default: 30_000 }),
      jitter: oneOf('Spread applied after the cap.', JITTER3, 'none'),
    }),
    exponential: obj('initial · factor^(n-1), capped at max, then jittered.', {
      initial: ms('Delay before the first retry.', { default: 200 }),
      factor: num('Growth per retry.', { min: 1, default: 2 }),
      max: ms('Cap, applied before jitter.', { default: 30_000 }),
      jitter: oneOf('Spread applied after the cap.', [...JITTER3, 'decorrelated'], 'full'),
    }),
  },
};

export function makeBackoff(o: Record<string, any>): Backoff {
  if (o.type === 'constant') return constant(o.delay, { jitter: o.jitter });
  if (o.type === 'linear') return linear({ initial: o.initial, step: o.step, max: o.max, jitter: o.jitter });
  return exponential({ initial: o.initial, factor: o.factor, max: o.max, jitter: o.jitter });
}

/** The function a config option names, or undefined when the option is not set. */
export const ref = (env: FactoryEnv, name: unknown): any => (name === undefined ? undefined : env.fn(name as string));

export const handle: FunctionSchema = fn(
  'Name of a function (error, ctx) => boolean: which errors count. Default: every error.',
);
export const handleResult: FunctionSchema = fn(
  'Name of a function (result, ctx) => boolean: which results count as failures.',
);
