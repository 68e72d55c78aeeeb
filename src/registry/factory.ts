import type { Clock } from '../core/clock.js';
import type { Policy } from '../core/policy.js';
import type { ConfigIssue, ObjectSchema } from './schema.js';

/**
 * What a {@link PolicyFactory} gets besides its options.
 *
 * @example
 * ```ts
 * import type { FactoryEnv, PolicyFactory } from 'breakwater/registry';
 * import { retry, retryBudget } from 'breakwater/retry';
 *
 * const factories = {
 *   budgetedRetry: {
 *     // The budget (and what it has counted) is kept across config updates while `ratio` stays the same.
 *     create: (o, env: FactoryEnv) => {
 *       const budget = env.keep('budget', o.ratio, () => retryBudget({ ratio: o.ratio, clock: env.clock }));
 *       return retry({ budget, clock: env.clock, random: env.random });
 *     },
 *   },
 * } satisfies Record<string, PolicyFactory>;
 * ```
 */
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
