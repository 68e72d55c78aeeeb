// The policy kinds a config can name. A kind is one table entry: its options' schema (which gives
// the validator, the defaults and the JSON Schema) and the factory call that builds it.
import { type BreakBackoff, circuitBreaker, consecutive, countWindow, failureRate } from '../breaker/index.js';
import { bulkhead } from '../bulkhead/index.js';
import { chaos } from '../chaos/index.js';
import { fallback } from '../fallback/index.js';
import { hedge, hedgeBudget } from '../hedge/index.js';
import { rateLimit } from '../rate-limit/index.js';
import { constant, retry, retryBudget } from '../retry/index.js';
import { streamTimeout } from '../stream/index.js';
import { timeout } from '../timeout/index.js';
import type { PolicyFactory } from './factory.js';
import { backoff, fn, fraction, handle, handleResult, int, makeBackoff, ms, num, obj, oneOf, ref } from './parts.js';
import type { ObjectSchema, StringSchema } from './schema.js';

export type { FactoryEnv, PolicyFactory } from './factory.js';

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

  hedge: {
    shorthand: 'delay',
    options: obj(
      'Starts another attempt while one is still pending after `delay`; the first success wins, the others are cancelled.',
      {
        delay: {
          type: 'either',
          description: 'How long an attempt may run before the next starts: ms, or a percentile of observed latencies.',
          of: [
            ms('The delay in ms (0: every attempt at once).'),
            obj(
              'A percentile of the latencies this policy observed, clamped to [min, max].',
              {
                percentile: num('Percent, e.g. 95 for p95.', { min: 1, max: 100 }),
                window: int('Number of latest samples kept.', 1, { max: 100_000, default: 200 }),
                min: ms('Lower bound of the delay.', { exclusiveMin: true, default: 1 }),
                max: ms('Upper bound, and the delay until enough samples were seen.'),
              },
              ['percentile'],
            ),
          ],
        },
        maxHedges: int('Extra attempts per call, beyond the primary.', 0, { max: 100, default: 1 }),
        budget: obj('A hedge budget for this target: hedges ≤ ratio × calls + minPerSecond × window.', {
          ratio: num('Hedged attempts allowed per call in the window.', { min: 0, default: 0.1 }),
          minPerSecond: num('Hedged attempts per second always allowed.', { min: 0, default: 1 }),
          window: ms('Length of the sliding window.', { exclusiveMin: true, default: 10_000 }),
        }),
        handle: fn('Name of a function (error, ctx) => boolean: which failures start the next attempt at once.'),
      },
      ['delay'],
    ),
    create: (o, env) =>
      hedge({
        delay: o.delay,
        maxHedges: o.maxHedges,
        budget:
          o.budget === undefined
            ? undefined
            : env.keep('budget', o.budget, () => hedgeBudget({ ...o.budget, clock: env.clock })),
        handle: ref(env, o.handle),
        clock: env.clock,
        name: o.name,
      }),
  },

  chaos: {
    options: obj(
      'Injects faults, latency or results into a share of calls, for tests and game days.',
      {
        fault: obj(
          'Fail a share of calls without running them.',
          {
            rate: num('Share of calls, in [0, 1].', { min: 0, max: 1 }),
            error: fn('Name of a function (ctx) => error to throw. Default: an InjectedFaultError.'),
          },
          ['rate'],
        ),
        latency: obj(
          'Delay a share of calls before they run (abortable).',
          { rate: num('Share of calls, in [0, 1].', { min: 0, max: 1 }), ms: ms('The delay.') },
          ['rate', 'ms'],
        ),
        result: obj(
          'Return a value instead of running a share of calls.',
          {
            rate: num('Share of calls, in [0, 1].', { min: 0, max: 1 }),
            value: { type: 'any', description: 'The JSON value returned (a fresh copy each time).' },
          },
          ['rate'],
        ),
        enabled: {
          type: 'boolean',
          description: 'Whether to inject at all (flip it in the config on a game day).',
          default: true,
        },
      },
      [],
      {
        check: (o) =>
          o.fault === undefined && o.latency === undefined && o.result === undefined
            ? [{ path: 'fault', message: 'expected at least one of `fault`, `latency`, `result`' }]
            : undefined,
      },
    ),
    create: (o, env) => {
      const value = o.result?.value;
      return chaos({
        fault: o.fault === undefined ? undefined : { rate: o.fault.rate, error: ref(env, o.fault.error) },
        latency: o.latency,
        result:
          o.result === undefined
            ? undefined
            : {
                rate: o.result.rate,
                value: () => (typeof value === 'object' && value !== null ? structuredClone(value) : value),
              },
        enabled: o.enabled,
        random: env.random,
        clock: env.clock,
        name: o.name,
      });
    },
  },

  rateLimit: {
    options: obj(
      'Admits at most `limit` (cost units) per `per` ms; rejects the rest, or queues them in wait mode.',
      {
        limit: num('Cost admitted per `per` ms.', { min: 0, exclusiveMin: true }),
        per: ms('The period of `limit`.', { exclusiveMin: true }),
        burst: num('Token bucket: the most cost admitted at once after a quiet spell (default: limit).', {
          min: 0,
          exclusiveMin: true,
        }),
        algorithm: oneOf(
          'token-bucket (bursts up to burst) or sliding-window.',
          ['token-bucket', 'sliding-window'],
          'token-bucket',
        ),
        cost: {
          type: 'either',
          description:
            'The weight of a call: a number, or the name of a function (ctx) => number (e.g. estimated tokens).',
          of: [num('A fixed cost per call.', { min: 0 }), fn('Name of a function (ctx) => number.')],
        },
        actualCost: fn(
          'Name of a function (result, ctx) => number | undefined: the real cost, trued up after the call.',
        ),
        key: fn('Name of a function (ctx) => string: the partition (a user, an API key).'),
        maxKeys: int('Most keys kept in memory (not with a store).', 1),
        mode: oneOf(
          'reject a call that does not fit now, or let it wait in a FIFO queue.',
          ['reject', 'wait'],
          'reject',
        ),
        maxWait: ms('mode wait: the longest wait.'),
        shadow: {
          type: 'boolean',
          description: 'Count and emit rate-limited events, but admit every call.',
          default: false,
        },
        feedback: {
          type: 'either',
          description: 'Which server headers adjust the bucket: "requests", "tokens", or false for none.',
          of: [oneOf('The header family.', ['requests', 'tokens']), { type: 'boolean' }],
        },
        store: fn(
          'Name of a function () => store returning a shared store (e.g. Redis); called once and kept while this setting is unchanged.',
        ),
        onStoreError: oneOf('When a shared store fails.', ['throw', 'fail-open', 'fail-closed']),
      },
      ['limit', 'per'],
      {
        check: (o) => {
          const out: { path: string; message: string }[] = [];
          if (o.burst !== undefined && o.algorithm === 'sliding-window')
            out.push({
              path: 'burst',
              message: "expected no burst with algorithm 'sliding-window' (the window admits at most `limit`)",
            });
          if (o.maxWait !== undefined && o.mode !== 'wait')
            out.push({ path: 'maxWait', message: "expected no maxWait unless mode is 'wait'" });
          if (o.feedback === true)
            out.push({ path: 'feedback', message: 'expected "requests", "tokens" or false, got true' });
          if (o.maxKeys !== undefined && o.store !== undefined)
            out.push({ path: 'maxKeys', message: 'expected no maxKeys with a store (it bounds the in-memory store)' });
          if (o.onStoreError !== undefined && o.store === undefined)
            out.push({ path: 'onStoreError', message: 'expected a store to go with it' });
          return out;
        },
      },
    ),
    create: (o, env) =>
      rateLimit({
        limit: o.limit,
        per: o.per,
        burst: o.burst,
        algorithm: o.algorithm,
        cost: typeof o.cost === 'string' ? env.fn(o.cost) : o.cost,
        actualCost: ref(env, o.actualCost),
        key: ref(env, o.key),
        maxKeys: o.maxKeys,
        mode: o.mode,
        maxWait: o.maxWait,
        shadow: o.shadow,
        feedback: o.feedback,
        store: o.store === undefined ? undefined : env.keep<any>('store', o.store, () => env.fn(o.store)()),
        onStoreError: o.onStoreError,
        clock: env.clock,
        name: o.name,
      }),
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
