// The policy kinds a config can name. A kind is one table entry: its options' schema (which gives
// the validator, the defaults and the JSON Schema) and the factory call that builds it.

import { type BreakBackoff, circuitBreaker, consecutive, countWindow, failureRate } from '../breaker/index.js';
import { bulkhead } from '../bulkhead/index.js';
import type { Clock } from '../core/clock.js';
import type { Policy } from '../core/policy.js';
import { fallback } from '../fallback/index.js';
import { type Backoff, constant, exponential, linear, retry, retryBudget } from '../retry/index.js';
import { streamTimeout } from '../stream/index.js';
import { timeout } from '../timeout/index.js';
import type { ConfigIssue, FunctionSchema, NumberSchema, ObjectSchema, StringSchema, TaggedSchema } from './schema.js';

/** What a {@link PolicyFactory} gets besides its options. */
export interface FactoryEnv {
  /** The target this policy is built for. */
  readonly target: string;
  /** The registry's `clock` option (undefined: the policy's default). */
  readonly clock: Clock | undefined;
  /** The registry's `random` option (undefined: the policy's default). */
  readonly random: (() => number) | undefined;
  /**
   * The function given to the registry under `name` in `functions` (options of schema type
   * `function` hold such names).
   * @typeParam F - The function's type, as the policy expects it.
   */
  fn<F extends (...args: any[]) => unknown>(name: string): F;
  /**
   * A state object (a retry budget, a cache) kept across config updates: returns the object made
   * for this target and layer by the previous config under `key` if its `settings` are deep-equal,
   * else calls `make`.
   */
  keep<T>(key: string, settings: unknown, make: () => T): T;
}

/**
 * A policy kind: how config options are checked and turned into a Policy. Pass custom kinds to
 * `registry({ factories })`; the built-in kinds have the same shape.
 *
 * @example
 * ```ts
 * const factories = {
 *   audit: {
 *     options: { type: 'object', props: { topic: { type: 'string' } }, required: ['topic'] },
 *     create: (o) => auditPolicy(o.topic as string),
 *   },
 * } satisfies Record<string, PolicyFactory>;
 * ```
 */
export interface PolicyFactory {
  /** The options' schema; problems are reported with their path, and it goes into the JSON Schema. @defaultValue any object */
  readonly options?: ObjectSchema | undefined;
  /** An option that a bare value stands for: `{ "timeout": 5000 }` means `{ "timeout": { "after": 5000 } }`. */
  readonly shorthand?: string | undefined;
  /** Further checks of the complete options; paths relative to the options object. */
  readonly validate?: ((options: Readonly<Record<string, unknown>>) => readonly ConfigIssue[] | undefined) | undefined;
  /** Builds the policy from valid options (durations in ms, defaults filled in). */
  readonly create: (options: Readonly<Record<string, any>>, env: FactoryEnv) => Policy<any>;
}

// --- schema shorthands ---------------------------------------------------------------------------

type Extra = Omit<NumberSchema, 'type'>;
const num = (description: string, o?: Extra): NumberSchema => ({ type: 'number', description, ...o });
const int = (description: string, min: number, o?: Extra): NumberSchema =>
  num(description, { integer: true, min, ...o });
const ms = (description: string, o?: Extra): NumberSchema => num(description, { duration: true, min: 0, ...o });
const fn = (description: string): FunctionSchema => ({ type: 'function', description });
const oneOf = (description: string, values: readonly string[], d?: string): StringSchema => ({
  type: 'string',
  description,
  enum: values,
  default: d,
});
const obj = (
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
const fraction = (description: string): NumberSchema => num(description, { min: 0, exclusiveMin: true, max: 1 });
const JITTER3 = ['none', 'full', 'equal'];

const backoff: TaggedSchema = {
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

function makeBackoff(o: Record<string, any>): Backoff {
  if (o.type === 'constant') return constant(o.delay, { jitter: o.jitter });
  if (o.type === 'linear') return linear({ initial: o.initial, step: o.step, max: o.max, jitter: o.jitter });
  return exponential({ initial: o.initial, factor: o.factor, max: o.max, jitter: o.jitter });
}

/** The function a config option names, or undefined when the option is not set. */
const ref = (env: FactoryEnv, name: unknown): any => (name === undefined ? undefined : env.fn(name as string));

const handle = fn('Name of a function (error, ctx) => boolean: which errors count. Default: every error.');
const handleResult = fn('Name of a function (result, ctx) => boolean: which results count as failures.');

/** The kinds every registry knows. @internal */
export const BUILT_IN: Readonly<Record<string, PolicyFactory>> = {
  timeout: {
    shorthand: 'after',
    options: obj(
      'Aborts the call when it runs longer than `after` ms.',
      {
        after: ms('The limit in ms (or "5s", "250ms").'),
        strategy: oneOf(
          'cooperative waits for fn to settle after aborting; aggressive walks away.',
          ['cooperative', 'aggressive'],
          'cooperative',
        ),
      },
      ['after'],
    ),
    create: (o, env) => timeout({ after: o.after, strategy: o.strategy, name: o.name, clock: env.clock }),
  },

  retry: {
    shorthand: 'maxRetries',
    options: obj('Retries a failing call with backoff and jitter; honours Retry-After.', {
      maxRetries: int('Retries after the first call.', 0, { default: 3 }),
      backoff: {
        type: 'either',
        description:
          'A constant delay in ms, or a schedule. Default: exponential, 200 ms doubling to 30 s, full jitter.',
        of: [ms('A constant delay in ms.'), backoff],
      },
      budget: obj('A retry budget for this target: retries ≤ ratio × calls + minPerSecond × window.', {
        ratio: num('Retries allowed per call in the window.', { min: 0, default: 0.2 }),
        minPerSecond: num('Retries per second always allowed.', { min: 0, default: 10 }),
        window: ms('Length of the sliding window.', { exclusiveMin: true, default: 10_000 }),
      }),
      handle,
      handleResult,
      retryAfter: fn('Name of a function (error) => ms | undefined reading a server hint.'),
    }),
    create: (o, env) =>
      retry({
        maxRetries: o.maxRetries,
        backoff:
          o.backoff === undefined
            ? undefined
            : typeof o.backoff === 'number'
              ? constant(o.backoff)
              : makeBackoff(o.backoff),
        budget:
          o.budget === undefined
            ? undefined
            : env.keep('budget', o.budget, () => retryBudget({ ...o.budget, clock: env.clock })),
        handle: ref(env, o.handle),
        handleResult: ref(env, o.handleResult),
        retryAfter: ref(env, o.retryAfter),
        random: env.random,
        clock: env.clock,
        name: o.name,
      }),
  },

  breaker: {
    options: obj('Stops calling a failing dependency; probes it again after a break.', {
      strategy: {
        type: 'tagged',
        tag: 'type',
        description: 'When to open. Default: 5 consecutive failures.',
        variants: {
          consecutive: obj(
            'Opens after `failures` handled failures in a row.',
            {
              failures: int('Failures in a row that open the circuit.', 1),
            },
            ['failures'],
          ),
          failureRate: obj(
            'Opens when the share of failures in a time window reaches threshold.',
            {
              threshold: fraction('Share of failed calls, in (0, 1], that opens the circuit.'),
              window: ms('Length of the sliding window.', { exclusiveMin: true }),
              minThroughput: int('Fewest calls in the window before the rate is judged.', 1, { default: 10 }),
              buckets: int('Buckets the window is split into.', 1, { max: 1000, default: 10 }),
            },
            ['threshold', 'window'],
          ),
          countWindow: obj(
            'Opens when the share of failures among the last `size` calls reaches threshold.',
            {
              size: int('Number of most recent calls judged.', 1, { max: 100_000 }),
              threshold: fraction('Share of failed calls, in (0, 1], that opens the circuit.'),
              minCalls: int('Fewest calls before the rate is judged (≤ size; default size).', 1),
            },
            ['size', 'threshold'],
            {
              check: (o) =>
                o.minCalls !== undefined && (o.minCalls as number) > (o.size as number)
                  ? [{ path: 'minCalls', message: `expected an integer ≤ size (${o.size}), got ${o.minCalls}` }]
                  : undefined,
            },
          ),
        },
      },
      breakDuration: {
        type: 'either',
        description: 'How long the circuit stays open before probing: ms, or a backoff over consecutive openings.',
        of: [ms('The break in ms.', { default: 30_000 }), backoff],
      },
      halfOpen: obj('Half-open behaviour.', {
        probes: int('Probe calls admitted after a break; all must succeed to close.', 1, { default: 1 }),
        probeTimeout: ms('A probe still running after this counts as failed.', { exclusiveMin: true }),
      }),
      slowCall: obj(
        'Calls slower than `duration` count as failures when their share reaches `rate`.',
        {
          duration: ms('Calls slower than this are slow.'),
          rate: fraction('Share of slow calls that opens the circuit.'),
        },
        ['duration'],
      ),
      handle,
      handleResult,
    }),
    create: (o, env) => {
      const s = o.strategy;
      return circuitBreaker({
        strategy:
          s === undefined
            ? undefined
            : s.type === 'consecutive'
              ? consecutive(s.failures)
              : s.type === 'failureRate'
                ? failureRate(s)
                : countWindow(s),
        breakDuration:
          o.breakDuration === undefined || typeof o.breakDuration === 'number'
            ? o.breakDuration
            : (makeBackoff(o.breakDuration) as BreakBackoff),
        halfOpen: o.halfOpen,
        slowCall: o.slowCall,
        handle: ref(env, o.handle),
        handleResult: ref(env, o.handleResult),
        clock: env.clock,
        name: o.name,
      });
    },
  },

  bulkhead: {
    shorthand: 'limit',
    options: obj(
      'Bounds concurrent calls, with a bounded FIFO queue.',
      {
        limit: int('Most calls running at once.', 1),
        queue: int('Most calls waiting for a slot.', 0, { default: 0 }),
        queueTimeout: ms('Longest wait in the queue.', { exclusiveMin: true }),
      },
      ['limit'],
    ),
    create: (o, env) =>
      bulkhead({ limit: o.limit, queue: o.queue, queueTimeout: o.queueTimeout, clock: env.clock, name: o.name }),
  },

  fallback: {
    options: obj(
      'Replaces a failure with a value: `to` (a function given in `functions`) or a JSON `value`.',
      {
        to: fn('Name of a function (reason, ctx) => value that produces the replacement.'),
        value: { type: 'any', description: 'A JSON value returned instead of the failure (a fresh copy each time).' },
        handle,
        handleResult,
      },
      [],
      {
        check: (o) =>
          (o.to === undefined) === (o.value === undefined)
            ? [{ path: 'to', message: 'expected exactly one of `to` (a function name) or `value`' }]
            : undefined,
      },
    ),
    create: (o, env) => {
      const value = o.value;
      return fallback({
        to:
          o.to !== undefined
            ? env.fn(o.to)
            : () => (typeof value === 'object' && value !== null ? structuredClone(value) : value),
        handle: ref(env, o.handle),
        handleResult: ref(env, o.handleResult),
        name: o.name,
      });
    },
  },

  streamTimeout: {
    options: obj(
      'Time limits for a streamed call (LLM streaming): execute resolves at the first chunk.',
      {
        firstChunk: ms('Longest wait for the first chunk, from the start of the call.', { exclusiveMin: true }),
        idle: ms('Longest gap between two chunks.', { exclusiveMin: true }),
        total: ms('Longest life of the whole stream.', { exclusiveMin: true }),
      },
      [],
      {
        check: (o) =>
          o.firstChunk === undefined && o.idle === undefined && o.total === undefined
            ? [{ path: 'firstChunk', message: 'expected at least one of `firstChunk`, `idle`, `total`' }]
            : undefined,
      },
    ),
    create: (o, env) =>
      streamTimeout({ firstChunk: o.firstChunk, idle: o.idle, total: o.total, clock: env.clock, name: o.name }),
  },
};

/** Every kind's options accept `name` (carried by its events; also how a target overrides one of two same-kind layers). */
export const NAME: StringSchema = {
  type: 'string',
  description: 'A name carried by the events; also how a target overrides this layer.',
};

/** The options schema of a kind, with `name` added. @internal */
export function optionsOf(f: PolicyFactory): ObjectSchema | undefined {
  const o = f.options;
  if (o === undefined) return undefined;
  return o.props.name === undefined ? { ...o, props: { ...o.props, name: NAME } } : o;
}
