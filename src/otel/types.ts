import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type { Clock } from '../core/clock.js';
import type { Context, ExecuteOptions } from '../core/context.js';
import type { PolicyEventBase, Unsubscribe } from '../core/events.js';
import type { EVENT_TYPES } from './names.js';
import type { readUsage } from './usage.js';

/**
 * What {@link instrument} reads of a layer: its kind and name (and, for gauges, its state).
 *
 * @example
 * ```ts
 * import { Policy } from 'breakwater';
 * import type { LayerInfo } from 'breakwater/otel';
 *
 * const path = (layers: readonly LayerInfo[]): string => layers.map((l) => l.name ?? l.kind).join(' > ');
 * path(Policy.wrap(timeout(10_000), retry({ maxRetries: 2, name: 'api' })).layers); // 'timeout > api'
 * ```
 */
export interface LayerInfo {
  /** The policy kind, e.g. `'retry'`, `'breaker'`. */
  readonly kind: string;
  /** The policy's `name` option, if one was given. */
  readonly name: string | undefined;
}

/**
 * What {@link instrument} attaches to: a policy or a pipeline as they are, and anything else
 * (a registry, a gateway) that offers the same two things — one stream of events, and a way to run
 * code around each call.
 *
 * - `on(type, listener)`: the events of one type from every layer, as `Policy.on` gives them.
 *   `instrument` subscribes to the types it maps ({@link EVENT_TYPES}), not to `'*'`: a layer
 *   skips building the events nobody listens to (a retry's per-call `success`).
 * - Either `execute(fn, options)`, which `instrument` replaces on the object (an own property,
 *   removed again by the uninstrument function), or `intercept(interceptor)`, which the target
 *   calls around each call it runs and which returns a function that removes the interceptor.
 *   `intercept` wins when both are present; a target whose calls do not go through `execute` (a
 *   gateway's `call`, a registry's policies) offers it.
 * - Optionally `layers` (outermost first) for the span name, the policy path and the breaker and
 *   bulkhead gauges; it is read again at every metric collection, so a getter may return the
 *   layers in force now (a registry after a reload). A layer with `kind: 'breaker'` and a string
 *   `state`, or `kind: 'bulkhead'` and numeric `active` / `queued`, feeds the gauges.
 * - Optionally `name`, the target's label when the options give none.
 *
 * @example
 * ```ts
 * import { instrument, type Instrumentable } from 'breakwater/otel';
 *
 * // A job runner of your own: one stream of events, and a way to run each job.
 * const runner: Instrumentable = {
 *   name: 'jobs',
 *   on: (type, listener) => bus.subscribe(type, listener), // returns an unsubscribe
 *   execute: (fn, options) => jobs.run(fn, options), // replaced while instrumented
 * };
 * const uninstrument = instrument(runner);
 * ```
 */
export interface Instrumentable {
  /** Listens to the events of one type; returns an unsubscribe. */
  on(type: string, listener: (event: PolicyEventBase) => void): Unsubscribe;
  /** Runs `fn` under the target (a policy or a pipeline). */
  execute?<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<T>;
  /** Runs `interceptor` around every call of the target from now on; returns a function that stops it. */
  intercept?(interceptor: Interceptor): Unsubscribe;
  /** The layers, outermost first. */
  readonly layers?: readonly LayerInfo[] | undefined;
  /** A label for the target. */
  readonly name?: string | undefined;
  /**
   * The names of the target's own targets (a registry's): with {@link Instrumentable.get}, the
   * gauges read each one's layers and report them under its name instead of the target's label.
   */
  readonly targets?: readonly string[] | undefined;
  /** The policy of one of {@link Instrumentable.targets}: its `layers` are read for the gauges. */
  get?(target: string): unknown;
}

/**
 * Runs around one call of a target that offers {@link Instrumentable.intercept}. It must call
 * `call.proceed` once (with `call.fn` or a function that calls it) and return what that returns.
 *
 * @example
 * ```ts
 * import type { Interceptor } from 'breakwater/otel';
 * import { registry } from 'breakwater/registry';
 *
 * // Counts the calls through every target of a registry (`instrument` uses the same hook).
 * const counting: Interceptor = (call) => {
 *   callCounter.add(1, { target: call.name ?? 'unknown' });
 *   return call.proceed(call.fn);
 * };
 * const stop = registry({ config }).intercept(counting);
 * ```
 */
export type Interceptor = <T>(call: InterceptedCall<T>) => Promise<T>;

/**
 * One call, as a target that offers `intercept` hands it to an {@link Interceptor}.
 *
 * @example
 * ```ts
 * import type { InterceptedCall } from 'breakwater/otel';
 * import { registry } from 'breakwater/registry';
 *
 * async function timed<T>(call: InterceptedCall<T>): Promise<T> {
 *   const start = performance.now();
 *   const result = await call.proceed(call.fn);
 *   const path = (call.layers ?? []).map((l) => l.kind).join(' > ');
 *   log.debug(`${call.name} (${path}): ${Math.round(performance.now() - start)} ms`);
 *   return result;
 * }
 * registry({ config }).intercept(timed);
 * ```
 */
export interface InterceptedCall<T> {
  /**
   * The function the call runs; every invocation is one attempt (the user's function under a
   * registry policy, one request to one endpoint under a gateway).
   */
  readonly fn: (ctx: Context) => T | PromiseLike<T>;
  /** Runs the call with `fn` in place of {@link InterceptedCall.fn}. */
  proceed(fn: (ctx: Context) => T | PromiseLike<T>): Promise<T>;
  /** A low-cardinality label: the registry target, the gateway target. */
  readonly name?: string | undefined;
  /** The layers of the pipeline that runs this call, outermost first. */
  readonly layers?: readonly LayerInfo[] | undefined;
  /** Set for a generative-AI call (a gateway's): the span follows the `gen_ai` conventions. */
  readonly genAi?: GenAiCall | undefined;
  /**
   * Describes the attempt about to run in `ctx` (a gateway: the endpoint it goes to), for its
   * attempt span. Called as each attempt starts, before `fn` runs.
   */
  readonly attempt?: ((ctx: Context) => AttemptInfo | undefined) | undefined;
}

/**
 * One attempt of an intercepted call, as its target describes it (a gateway: the endpoint's request).
 *
 * @example
 * ```ts
 * import { gateway } from 'breakwater/gateway';
 * import type { AttemptInfo, Interceptor } from 'breakwater/otel';
 *
 * const perAttempt: Interceptor = (call) =>
 *   call.proceed((ctx) => {
 *     const info: AttemptInfo | undefined = call.attempt?.(ctx); // a gateway's: the endpoint it goes to
 *     log.debug(`attempt ${info?.attempt ?? ctx.attempt} → ${info?.endpoint} (${info?.provider} ${info?.model})`);
 *     return call.fn(ctx);
 *   });
 * gateway({ targets }).intercept(perAttempt);
 * ```
 */
export interface AttemptInfo {
  /** Its number within the call (`breakwater.attempt`; 1 for the first). @defaultValue `ctx.attempt` */
  readonly attempt?: number | undefined;
  /** The endpoint it goes to (`breakwater.gateway.endpoint`). */
  readonly endpoint?: string | undefined;
  /** `gen_ai.provider.name` of that endpoint. */
  readonly provider?: string | undefined;
  /** `gen_ai.request.model`: the model asked of that endpoint. */
  readonly model?: string | undefined;
}

/**
 * What a generative-AI call is, for its `gen_ai.*` span and metric attributes.
 *
 * @example
 * ```ts
 * import { type GenAiCall, instrument, readUsage } from 'breakwater/otel';
 *
 * const genAi: GenAiCall = { operation: 'chat', model: 'gpt-4o', provider: 'openai', usage: readUsage };
 * const llm = Policy.wrap(timeout(30_000), retry({ maxRetries: 2 }));
 * const uninstrument = instrument(llm, { genAi }); // spans 'chat gpt-4o', gen_ai token metrics
 * await llm.execute(({ signal }) => client.chat.completions.create({ model: 'gpt-4o', messages }, { signal }));
 * ```
 */
export interface GenAiCall {
  /** `gen_ai.operation.name`: `'chat'`, `'embeddings'`, `'text_completion'`, `'execute_tool'`, … */
  readonly operation: string;
  /** `gen_ai.request.model`; the span is named `{operation} {model}` (kind CLIENT). */
  readonly model?: string | undefined;
  /** `gen_ai.tool.name`, for a tool call; the span is named `execute_tool {tool}` (kind INTERNAL). */
  readonly tool?: string | undefined;
  /** `gen_ai.provider.name`, e.g. `'openai'`, `'anthropic'`. */
  readonly provider?: string | undefined;
  /** The prompt (messages); recorded as `gen_ai.input.messages` only with `captureContent`. */
  readonly input?: unknown;
  /** Reads the completion from the call's result; recorded as `gen_ai.output.messages` only with `captureContent`. */
  readonly output?: ((result: unknown) => unknown) | undefined;
  /**
   * Reads token usage (and the model that answered) from the call's result, for a target that
   * emits no `usage` events (a plain policy around an SDK call). {@link readUsage} reads the
   * OpenAI and Anthropic response shapes.
   */
  readonly usage?: ((result: unknown) => Usage | undefined) | undefined;
}

/**
 * Token usage of one model request.
 *
 * @example
 * ```ts
 * import { instrument, type Usage } from 'breakwater/otel';
 *
 * // A provider with its own response shape: what one result used, for the gen_ai metrics.
 * const usage = (result: unknown): Usage | undefined => {
 *   const m = (result as { meta?: { model: string; tokensIn: number; tokensOut: number } }).meta;
 *   return m === undefined ? undefined : { model: m.model, inputTokens: m.tokensIn, outputTokens: m.tokensOut };
 * };
 * instrument(llm, { genAi: { operation: 'chat', provider: 'acme', usage } });
 * ```
 */
export interface Usage {
  /** The model that answered (`gen_ai.response.model`). */
  readonly model?: string | undefined;
  /** `gen_ai.provider.name`. */
  readonly provider?: string | undefined;
  /** `gen_ai.operation.name`, when the call does not say it. */
  readonly operation?: string | undefined;
  readonly inputTokens?: number | undefined;
  readonly outputTokens?: number | undefined;
  /** The request's cost in US dollars. */
  readonly cost?: number | undefined;
}

/**
 * The `usage` event a gateway emits after each model request, mapped to the `gen_ai` token and
 * cost metrics (and, inside a traced call, to its span's `gen_ai.usage.*` attributes).
 *
 * @example
 * ```ts
 * import { gateway } from 'breakwater/gateway';
 * import type { UsageEvent } from 'breakwater/otel';
 *
 * gateway({ targets }).on('usage', (e: UsageEvent) => {
 *   log.info(`${e.model}: ${e.inputTokens} in, ${e.outputTokens} out, $${e.cost ?? 0}`);
 * });
 * ```
 */
export interface UsageEvent extends PolicyEventBase, Usage {
  readonly type: 'usage';
}

/**
 * Options for {@link instrument}.
 *
 * @example
 * ```ts
 * import { instrument, type InstrumentOptions } from 'breakwater/otel';
 *
 * const options: InstrumentOptions = {
 *   tracerProvider, meterProvider, // your SDK's; the global ones by default
 *   name: 'llm',
 *   genAi: (o) => ({ operation: 'chat', model: o?.data?.model as string | undefined }), // per call
 * };
 * const uninstrument = instrument(llm, options);
 * ```
 */
export interface InstrumentOptions {
  /** Where spans go. @defaultValue the global provider (`trace.getTracerProvider()`): a no-op until an SDK registers one */
  readonly tracerProvider?: TracerProvider | undefined;
  /**
   * Where metrics go. @defaultValue the global provider (`metrics.getMeterProvider()`). Unlike the
   * tracer, the global meter is not a proxy: register the SDK before calling `instrument`, or pass it here.
   */
  readonly meterProvider?: MeterProvider | undefined;
  /**
   * Record prompt and completion content (`gen_ai.input.messages`, `gen_ai.output.messages`) on
   * generative-AI calls. Content may hold personal data: off unless you say so.
   * @defaultValue false
   */
  readonly captureContent?: boolean | undefined;
  /**
   * Makes the target's calls generative-AI calls (span `{operation} {model}` or `execute_tool
   * {tool}`, `gen_ai.*` attributes and metrics): one description for every call, or one per call
   * from its execute options (e.g. the model in `data`). A target that offers `intercept` describes
   * its calls itself.
   * @defaultValue none
   */
  readonly genAi?: GenAiCall | ((options: ExecuteOptions | undefined) => GenAiCall | undefined) | undefined;
  /** The target's label (`breakwater.target`, and the span name `breakwater <name>`). @defaultValue the target's `name`, else its layers' names or kinds */
  readonly name?: string | undefined;
  /**
   * The source of time for the duration metrics (spans take their times from the SDK).
   * @defaultValue `performance.now()` (sub-millisecond), else `Date.now()`
   */
  readonly clock?: Pick<Clock, 'now'> | undefined;
}

/**
 * Removes the instrumentation: the original `execute` (or no interceptor) and no listener. Idempotent.
 *
 * @example
 * ```ts
 * import { instrument, type Uninstrument } from 'breakwater/otel';
 *
 * let uninstrument: Uninstrument | undefined;
 * function setTracing(on: boolean): void {
 *   uninstrument?.(); // idempotent: back to the original execute, no listeners
 *   uninstrument = on ? instrument(policy, { name: 'search' }) : undefined;
 * }
 * ```
 */
export type Uninstrument = () => void;
