import type { BreakerEvent } from '../breaker/index.js';
import type { BulkheadEvent } from '../bulkhead/index.js';
import type { ChaosEvent } from '../chaos/index.js';
import type { Clock } from '../core/clock.js';
import type { Context } from '../core/context.js';
import type { Listener, PolicyEventBase, Unsubscribe } from '../core/events.js';
import type { EventOf, Layer, Policy } from '../core/policy.js';
import type { FallbackEvent } from '../fallback/index.js';
import type { HedgeEvent } from '../hedge/index.js';
import type { RateLimitEvent } from '../rate-limit/index.js';
import type { RetryEvent } from '../retry/index.js';
import type { StreamTimeoutEvent } from '../stream/index.js';
import type { TimeoutEvent } from '../timeout/index.js';
import type { RegistryConfig, ResolvedLayer } from './config.js';
import type { PolicyFactory } from './kinds.js';
import type { ConfigIssue } from './schema.js';

/**
 * Options for `registry()`.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { registry, type RegistryOptions } from 'breakwater/registry';
 *
 * const options: RegistryOptions = {
 *   config: JSON.parse(readFileSync('resilience.json', 'utf8')),
 *   functions: { isRetryable: (e: unknown) => (e as { status?: number }).status !== 400 }, // "handle": "isRetryable"
 *   factories: { audit: auditFactory },
 *   name: 'mesh',
 * };
 * const mesh = registry(options);
 * ```
 */
export interface RegistryOptions {
  /** The initial config (plain JSON); see {@link RegistryConfig}. */
  readonly config: RegistryConfig;
  /** Custom policy kinds, by the key that names them in config. A built-in kind cannot be replaced. */
  readonly factories?: Readonly<Record<string, PolicyFactory>> | undefined;
  /**
   * Functions that config refers to by name (JSON cannot hold one): fallback `to`, `handle`,
   * `handleResult`, `retryAfter`, and custom kinds' function options.
   */
  readonly functions?: Readonly<Record<string, (...args: any[]) => unknown>> | undefined;
  /** Source of time for every policy built. @defaultValue systemClock */
  readonly clock?: Clock | undefined;
  /** Source of randomness for jitter. @defaultValue Math.random */
  readonly random?: (() => number) | undefined;
  /** A label for the registry (telemetry uses it for events outside any call). @defaultValue 'registry' */
  readonly name?: string | undefined;
}

/**
 * One call through a registry target, as an interceptor sees it (the shape `breakwater/otel`'s
 * `instrument(registry)` uses).
 *
 * @example
 * ```ts
 * import { registry, type RegistryCall } from 'breakwater/registry';
 *
 * async function logged<T>(call: RegistryCall<T>): Promise<T> {
 *   log.debug(`${call.name}: ${call.layers.map((l) => l.name ?? l.kind).join(' > ')}`);
 *   return call.proceed(call.fn);
 * }
 * registry({ config }).intercept(logged);
 * ```
 */
export interface RegistryCall<T> {
  /** The function the call runs; each invocation is one attempt. */
  readonly fn: (ctx: Context) => T | PromiseLike<T>;
  /** The target's name. */
  readonly name: string;
  /** The layers of the pipeline that runs this call (the one in force when it started), outermost first. */
  readonly layers: readonly Layer[];
  /** Runs the call (the next interceptor, then the pipeline) with `fn` in place of {@link RegistryCall.fn}. */
  proceed(fn: (ctx: Context) => T | PromiseLike<T>): Promise<T>;
}

/**
 * Runs around every call through a registry's targets; must call `call.proceed` once and return what it returns.
 *
 * @example
 * ```ts
 * import { registry, type RegistryInterceptor } from 'breakwater/registry';
 *
 * const perAttempt: RegistryInterceptor = (call) =>
 *   call.proceed((ctx) => {
 *     log.debug(`${call.name}: attempt ${ctx.attempt}`); // each invocation of fn is one attempt
 *     return call.fn(ctx);
 *   });
 * const stop = registry({ config }).intercept(perAttempt);
 * ```
 */
export type RegistryInterceptor = <T>(call: RegistryCall<T>) => Promise<T>;

/**
 * One option that differs between the old and the new settings of a rebuilt layer.
 *
 * @example
 * ```ts
 * import { type OptionChange, registry } from 'breakwater/registry';
 *
 * // 'search maxRetries: 2 → 4'
 * const line = (target: string, o: OptionChange): string => `${target} ${o.path}: ${o.before} → ${o.after}`;
 * registry({ config }).on('config-applied', (e) => {
 *   for (const c of e.changes) for (const o of c.options ?? []) log.info(line(c.target, o));
 * });
 * ```
 */
export interface OptionChange {
  /** Path within the layer's options, e.g. `backoff.initial`. */
  readonly path: string;
  /** The old value (undefined: not set). */
  readonly before: unknown;
  /** The new value (undefined: not set). */
  readonly after: unknown;
}

/**
 * What an applied config changed in one layer of one target.
 *
 * @example
 * ```ts
 * import { type LayerChange, registry } from 'breakwater/registry';
 *
 * const line = (c: LayerChange): string => `${c.target}: ${c.change} ${c.kind} ${c.name ?? ''}`;
 * const r = registry({ config }).update(next);
 * if (r.ok) for (const c of r.changes) log.info(line(c)); // search: rebuilt retry
 * ```
 */
export interface LayerChange {
  readonly target: string;
  readonly kind: string;
  readonly name: string | undefined;
  /**
   * `added` and `removed`; `rebuilt`: its settings changed, so it starts with fresh state (a closed
   * breaker, a full bucket). Layers whose settings did not change are kept, state and all, and are
   * not listed.
   */
  readonly change: 'added' | 'removed' | 'rebuilt';
  /** For `rebuilt`: the options that differ. */
  readonly options?: readonly OptionChange[] | undefined;
}

type RegistryBase = PolicyEventBase & { readonly kind: 'registry'; readonly name: undefined };

/**
 * Emitted when `update()` (or a watched file) puts a new config in force.
 *
 * @example
 * ```ts
 * import { type ConfigAppliedEvent, registry } from 'breakwater/registry';
 *
 * registry({ config }).on('config-applied', (e: ConfigAppliedEvent) => {
 *   const { version, source, added, removed, changed } = e;
 *   log.info(`config v${version} from ${source ?? 'update()'}`, { added, removed, changed });
 * });
 * ```
 */
export type ConfigAppliedEvent = RegistryBase & {
  readonly type: 'config-applied';
  /** The version now in force (1 is the initial config). */
  readonly version: number;
  /** Targets that are new, gone, or whose pipeline changed. */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  /** Every layer added, removed or rebuilt. */
  readonly changes: readonly LayerChange[];
  /** Where the config came from, when not from `update()` (e.g. the watched file's path). */
  readonly source?: string | undefined;
};

/**
 * Emitted when a config is rejected; the version in force stays.
 *
 * @example
 * ```ts
 * import { type ConfigRejectedEvent, registry } from 'breakwater/registry';
 *
 * registry({ config }).on('config-rejected', (e: ConfigRejectedEvent) => {
 *   log.error(`config from ${e.source ?? 'update()'} rejected; version ${e.version} stays`, e.errors);
 * });
 * ```
 */
export type ConfigRejectedEvent = RegistryBase & {
  readonly type: 'config-rejected';
  /** The version still in force. */
  readonly version: number;
  /** Every problem found, each with its path. */
  readonly errors: readonly ConfigIssue[];
  /** Where the config came from, when not from `update()` (e.g. the watched file's path). */
  readonly source?: string | undefined;
};

/**
 * An event of a target's pipeline, tagged with the target's name.
 *
 * @example
 * ```ts
 * import { registry, type TargetEvent } from 'breakwater/registry';
 * import type { RetryEvent } from 'breakwater/retry';
 *
 * const onRetry = (e: TargetEvent<RetryEvent>) => retryCounter.add(1, { target: e.target, attempt: e.attempt });
 * registry({ config }).on('retry', onRetry);
 * ```
 */
export type TargetEvent<E extends PolicyEventBase = PolicyEventBase> = E & {
  /** The registry target whose pipeline emitted it. */
  readonly target: string;
};

/**
 * Events of the built-in policy kinds, as a registry delivers them.
 *
 * @example
 * ```ts
 * import { type PipelineEvent, registry } from 'breakwater/registry';
 *
 * registry({ config }).get('openai').on('*', (e: PipelineEvent) => {
 *   switch (e.type) {
 *     case 'retry': log.info(`${e.target}: attempt ${e.attempt} failed, next in ${e.delay} ms`); break;
 *     case 'open': log.warn(`${e.target}: breaker open for ${e.breakDuration} ms`); break;
 *     case 'rate-limited': log.warn(`${e.target}: rate limited (${e.reason})`); break;
 *   }
 * });
 * ```
 */
export type PipelineEvent = TargetEvent<
  | RetryEvent
  | BreakerEvent
  | TimeoutEvent
  | BulkheadEvent
  | FallbackEvent
  | StreamTimeoutEvent
  | HedgeEvent
  | ChaosEvent
  | RateLimitEvent
>;

/**
 * Every event a registry emits.
 *
 * @example
 * ```ts
 * import { registry, type RegistryEvent } from 'breakwater/registry';
 *
 * registry({ config }).on('*', (e: RegistryEvent) => {
 *   switch (e.type) {
 *     case 'config-applied': log.info(`config v${e.version} applied`); break;
 *     case 'config-rejected': log.error(`config rejected, v${e.version} stays`, e.errors); break;
 *     case 'give-up': log.warn(`${e.target}: gave up after ${e.attempt} attempts (${e.reason})`); break;
 *   }
 * });
 * ```
 */
export type RegistryEvent = ConfigAppliedEvent | ConfigRejectedEvent | PipelineEvent;

/**
 * The result of {@link Registry.update}.
 *
 * @example
 * ```ts
 * import { registry, type UpdateResult } from 'breakwater/registry';
 *
 * const r: UpdateResult = registry({ config }).update(next);
 * if (r.ok) log.info(`version ${r.version}: ${r.changes.length} layers added, removed or rebuilt`);
 * else log.error(`rejected, version ${r.version} stays`, r.errors);
 * ```
 */
export type UpdateResult =
  | { readonly ok: true; readonly version: number; readonly changes: readonly LayerChange[] }
  | { readonly ok: false; readonly version: number; readonly errors: readonly ConfigIssue[] };

/**
 * A layer of a target's pipeline as built: see {@link Registry.describe}.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from 'breakwater/breaker';
 * import { type BuiltLayer, registry } from 'breakwater/registry';
 *
 * const breakers: BuiltLayer[] = registry({ config }).describe('openai').filter((l) => l.kind === 'breaker');
 * for (const l of breakers) console.log(l.path, (l.policy as CircuitBreaker).state); // policies.llm[2].breaker closed
 * ```
 */
export interface BuiltLayer extends ResolvedLayer {
  /** The policy built for it (a `CircuitBreaker` for a breaker: read its `state`, `isolate()` it). */
  readonly policy: Policy<any>;
}

/**
 * The policy of one target: the same object across config updates. A call runs on the pipeline
 * in force when it starts and finishes on it; listeners keep working across updates.
 *
 * @example
 * ```ts
 * import { registry, type RegistryPolicy } from 'breakwater/registry';
 *
 * const openai: RegistryPolicy = registry({ config }).get('openai'); // the same object across config updates
 * openai.on('retry', (e) => log.warn(`${e.target}: retry ${e.attempt} in ${e.delay} ms`));
 * const reply = await openai.execute(({ signal }) => client.chat.completions.create(req, { signal }));
 * ```
 */
export interface RegistryPolicy extends Policy<PipelineEvent> {
  /** The target's name. */
  readonly target: string;
  /** Listens to this target's events of `type` (`'*'`: all), from every pipeline it runs. */
  on<K extends PipelineEvent['type'] | '*'>(type: K, listener: Listener<EventOf<PipelineEvent, K>>): Unsubscribe;
  /** Listens to a custom kind's events (or any event type). */
  on(type: string, listener: Listener<TargetEvent>): Unsubscribe;
}

/**
 * Named pipelines built from one JSON config, updated while the process runs.
 *
 * @example
 * ```ts
 * import { type Registry, registry } from 'breakwater/registry';
 *
 * const mesh: Registry = registry({ config });
 * if (mesh.has('search')) await mesh.get('search').execute(({ signal }) => fetch(url, { signal }));
 * console.log(`config v${mesh.version}: ${mesh.targets.join(', ')}`);
 * ```
 */
export interface Registry {
  /**
   * The policy of `target`: the same object for the registry's life.
   * @throws UnknownTargetError when the config in force has no such target.
   */
  get(target: string): RegistryPolicy;
  /** True when the config in force has `target`. */
  has(target: string): boolean;
  /** The targets of the config in force. */
  readonly targets: readonly string[];
  /** The version in force: 1 for the initial config, +1 for each applied update. */
  readonly version: number;
  /** A copy of the config in force. */
  readonly config: RegistryConfig;
  /**
   * Validates and applies a new config. A config with any problem is rejected whole and the one in
   * force stays. Layers whose settings did not change keep their instances (and state).
   */
  update(config: RegistryConfig): UpdateResult;
  /**
   * The layers of `target`'s pipeline in force, outermost first, with their complete options.
   * @throws UnknownTargetError when the config in force has no such target.
   */
  describe(target: string): readonly BuiltLayer[];
  /** The registry's label (`name` option). */
  readonly name: string;
  /** The layers of every target's pipeline in force, each once (for gauges that follow updates). */
  readonly layers: readonly Layer[];
  /**
   * Runs `interceptor` around every call through any target from now on (the first registered is
   * outermost); returns a function that removes it. This is how `instrument(registry)` from
   * `breakwater/otel` traces every target.
   */
  intercept(interceptor: RegistryInterceptor): Unsubscribe;
  /** Listens to config events and to the events of every target's pipeline (`'*'`: all of them). */
  on<K extends RegistryEvent['type'] | '*'>(type: K, listener: Listener<EventOf<RegistryEvent, K>>): Unsubscribe;
  /** Listens to a custom kind's events (or any event type). */
  on(type: string, listener: Listener<TargetEvent>): Unsubscribe;
}
