import type { Clock } from '../core/clock.js';
import type { Context, ExecuteOptions } from '../core/context.js';
import type { Listener, PolicyEventBase, Unsubscribe } from '../core/events.js';
import type { Policy } from '../core/policy.js';
import type { HedgeOptions } from '../hedge/hedge.js';
import type { StreamTimeoutOptions } from '../stream/stream-timeout.js';
import type { ErrorClass } from './classify.js';
import type { EjectionOptions, HealthState } from './health.js';
import type { Strategy } from './strategy.js';
import type { TokenCost, TokenUsage, UsageTotals } from './usage.js';

/**
 * Limits of one endpoint.
 *
 * @example
 * ```ts
 * import { type EndpointLimits, gateway } from 'breakwater/gateway';
 *
 * const limits: EndpointLimits = { rpm: 500, tpm: 200_000, concurrency: 20 }; // the deployment's quota
 * const gw = gateway({
 *   targets: {
 *     chat: { endpoints: [{ id: 'azure-east', call: (req, { signal }) => azure.chat(req, { signal }), limits }] },
 *   },
 * });
 * ```
 */
export interface EndpointLimits {
  /** Requests per minute. @defaultValue no limit */
  readonly rpm?: number | undefined;
  /** Tokens per minute (estimated before the call, trued up with the real usage after it). @defaultValue no limit */
  readonly tpm?: number | undefined;
  /** Calls in flight at once; a streamed answer counts until the stream ends or is closed. @defaultValue no limit */
  readonly concurrency?: number | undefined;
}

/**
 * One deployment of a target: a provider, a region, an API key.
 *
 * @example
 * ```ts
 * import { type EndpointOptions, gateway } from 'breakwater/gateway';
 *
 * const east: EndpointOptions<ChatRequest> = {
 *   id: 'openai-east',
 *   call: (req, { signal }) => client.chat.completions.create(req, { signal }), // client: maxRetries 0
 *   cost: { input: 2.5, output: 10 }, contextWindow: 128_000,
 *   model: 'gpt-4o', provider: 'openai',
 * };
 * const gw = gateway<ChatRequest>({ targets: { chat: { endpoints: [east, west] } } });
 * ```
 */
export interface EndpointOptions<Q = unknown> {
  /** Unique within the target; names the endpoint in events, results and snapshots. */
  readonly id: string;
  /**
   * Makes one request. `ctx.signal` belongs to this attempt: pass it to the client (`{ signal:
   * ctx.signal }`). Turn the client's own retries off (`maxRetries: 0` on the `openai` and
   * `@anthropic-ai/sdk` clients): the gateway fails over itself and counts every attempt.
   */
  readonly call: (request: Q, ctx: Context) => unknown;
  /** Share of traffic under the `'weighted'` strategy. @defaultValue 1 */
  readonly weight?: number | undefined;
  /** Requests per minute, tokens per minute and calls in flight this endpoint takes. */
  readonly limits?: EndpointLimits | undefined;
  /** Price in USD per million tokens; without it the cost is 0. */
  readonly cost?: TokenCost | undefined;
  /** The largest request (estimated tokens, prompt plus `max_tokens`) the endpoint takes. @defaultValue no limit */
  readonly contextWindow?: number | undefined;
  /** The model it serves, for usage events and tables. @defaultValue the response's `model`, else the id */
  readonly model?: string | undefined;
  /** The provider (`'openai'`, `'anthropic'`), for usage events and telemetry. */
  readonly provider?: string | undefined;
}

/**
 * Where a target's failed calls go next, by the class of the last error: `'context-length'` to a
 * target with a larger context window, `'content-policy'` to another provider, `default` for
 * rate limits, overloads, timeouts, server and auth errors (and for those classes when they have no
 * list of their own). An array is the `default` list. Client errors never fall back.
 *
 * A target that cannot take the call now (every endpoint ejected, cooling down, at capacity or over
 * its limits) goes to its fallbacks at once, before any wait for its recovery: `'rate-limited'`
 * when every endpoint left is held back by a rate limit (a 429's cool-down, an rpm or tpm bucket),
 * else `default`.
 *
 * @example
 * ```ts
 * import { type Fallbacks, gateway } from 'breakwater/gateway';
 *
 * const fallbacks: Fallbacks = { 'context-length': ['chat-long'], default: ['chat-mini'] };
 * const gw = gateway({
 *   targets: {
 *     chat: { endpoints: chatEndpoints, fallbacks },
 *     'chat-long': { endpoints: longContextEndpoints },
 *     'chat-mini': { endpoints: miniEndpoints },
 *   },
 * });
 * ```
 */
export type Fallbacks =
  | readonly string[]
  | ({ readonly default?: readonly string[] | undefined } & {
      readonly [C in ErrorClass]?: readonly string[] | undefined;
    });

/**
 * A named target (a model, a service) and its endpoints.
 *
 * @example
 * ```ts
 * import { gateway, type TargetOptions } from 'breakwater/gateway';
 * import { timeout } from 'breakwater/timeout';
 *
 * const chat: TargetOptions = {
 *   endpoints: [east, west],
 *   strategy: 'latency',
 *   policy: timeout(20_000), // each attempt
 *   hedge: { delay: 3000 }, // a second endpoint if the first has not answered in 3 s
 *   fallbacks: ['chat-mini'],
 * };
 * const gw = gateway({ targets: { chat, 'chat-mini': { endpoints: [mini] } } });
 * ```
 */
export interface TargetOptions<Q = unknown> {
  /** The deployments that serve it (at least one). */
  readonly endpoints: readonly EndpointOptions<Q>[];
  /** How an endpoint is picked. @defaultValue 'weighted' */
  readonly strategy?: Strategy | undefined;
  /**
   * A breakwater policy around each attempt (a per-attempt `timeout`). It is one instance shared
   * by every endpoint of the target: a `circuitBreaker` here opens for the whole target (outlier
   * ejection is the per-endpoint breaker), and its refusals (an open breaker, a full bulkhead, a
   * rate limiter) count against no endpoint's health. A `retry` here retries the same endpoint and
   * multiplies attempts: prefer the gateway's failover.
   * @defaultValue none
   */
  readonly policy?: Policy<any> | undefined;
  /**
   * Stream limits (`breakwater/stream`) applied to each attempt, innermost: the attempt succeeds
   * at the first chunk, so failover (and hedging) happen before it only; after it, errors reach
   * the consumer. With or without it, the caller's abort reaches a stream until it ends (its
   * pending `next()` rejects with the caller's reason and the request is aborted).
   * @defaultValue none (a stream counts as answered when its object arrives)
   */
  readonly stream?: StreamTimeoutOptions | undefined;
  /**
   * Hedged requests across the target's endpoints (`breakwater/hedge`): when the attempt in flight
   * is still pending after `delay`, another endpoint (one this call has not tried) is called too;
   * the first answer wins and the others are cancelled. With `stream`, the race is to the first
   * chunk. Each hedged lane fails over on its own; only the first waits for a recovery. A `handle`
   * given here narrows which failures start the next lane (a client or content-policy error never does).
   * @defaultValue none
   */
  readonly hedge?: Omit<HedgeOptions, 'clock'> | undefined;
  /** Targets to try when this one fails. @defaultValue none */
  readonly fallbacks?: Fallbacks | undefined;
  /** Reads the tokens a result used. @defaultValue {@link readTokenUsage} (OpenAI and Anthropic shapes) */
  readonly usage?: ((result: unknown) => TokenUsage | undefined) | undefined;
  /** Reads the tokens a stream chunk reports. @defaultValue {@link readChunkUsage} */
  readonly chunkUsage?: ((chunk: unknown) => TokenUsage | undefined) | undefined;
  /**
   * Estimates a request's tokens (prompt plus the most it may generate), for context-window
   * filtering, tpm limits, a budget's reservation and the prompt tokens of a stream that reports
   * no usage (the estimate less the request's `max_tokens`). @defaultValue {@link estimateTokens}
   */
  readonly estimate?: ((request: Q) => number) | undefined;
}

/**
 * What `auth` says about a caller. Other keys of this object are yours (it may be your key record);
 * an unknown key in `limits` or `budget` refuses the call with a `TypeError` naming it.
 *
 * @example
 * ```ts
 * import { gateway, type KeyInfo } from 'breakwater/gateway';
 *
 * const gw = gateway({
 *   targets,
 *   // Throw to refuse the caller: the call rejects with GatewayAuthError.
 *   auth: async (req, options): Promise<KeyInfo> => {
 *     const team = await teams.byApiKey(options?.key);
 *     return { key: team.id, limits: { rpm: 60, tpm: 100_000 }, budget: { usd: 50, per: 86_400_000 } };
 *   },
 * });
 * ```
 */
export interface KeyInfo {
  /** The caller's key: usage, limits and budget are counted under it. */
  readonly key: string;
  /** The key's own limits, across every target. @defaultValue none */
  readonly limits?: { readonly rpm?: number | undefined; readonly tpm?: number | undefined } | undefined;
  /**
   * A spending cap in USD per period (`per` ms, a fixed window from the key's first spend;
   * `Infinity` for a lifetime cap). Each call reserves its estimated cost when it is admitted (the
   * request's estimated tokens at the target's highest endpoint prices: prompt tokens at the input
   * price, `max_tokens` at the output price), trued up to the real cost when it answers (a stream:
   * when it ends) and given back when it fails. A call is refused once the period's spend plus the
   * reservations of the key's calls in flight reaches `usd`, so concurrent calls cannot all pass a
   * nearly spent budget; the call that crosses it completes (its real cost is known only after it).
   * @defaultValue none
   */
  readonly budget?: { readonly usd: number; readonly per?: number | undefined } | undefined;
}

/**
 * Options of one gateway call.
 *
 * @example
 * ```ts
 * import { gateway, type GatewayCallOptions } from 'breakwater/gateway';
 *
 * const gw = gateway({ targets });
 * const options: GatewayCallOptions = { key: apiKey, signal: req.signal, deadline: Date.now() + 15_000 };
 * const { value } = await gw.call('chat', { messages }, options);
 * ```
 */
export interface GatewayCallOptions extends ExecuteOptions {
  /**
   * Clock time by which the call must be done: a wait for an endpoint to recover never ends past
   * it (pass `ctx.deadline` from an enclosing policy). @defaultValue now + `maxWait`
   */
  readonly deadline?: number | undefined;
}

/**
 * Options for {@link gateway}.
 *
 * @example
 * ```ts
 * import { gateway, type GatewayOptions } from 'breakwater/gateway';
 *
 * const options: GatewayOptions<ChatRequest> = {
 *   targets: { chat: { endpoints: [east, west], fallbacks: ['chat-mini'] }, 'chat-mini': { endpoints: [mini] } },
 *   ejection: { consecutiveFailures: 3, base: 10_000 },
 *   maxFallbacks: 1, maxWait: 10_000,
 *   name: 'llm',
 * };
 * const gw = gateway(options);
 * ```
 */
export interface GatewayOptions<Q = unknown> {
  /** The targets, by name. */
  readonly targets: Readonly<Record<string, TargetOptions<Q>>>;
  /**
   * Classifies an endpoint error; return `undefined` to use the built-in {@link classifyError}.
   * @defaultValue classifyError
   */
  readonly classify?: ((error: unknown) => ErrorClass | undefined) | undefined;
  /** Outlier ejection and 429 cool-down settings. */
  readonly ejection?: EjectionOptions | undefined;
  /**
   * Maps a caller to its key, limits and budget, or throws (the call rejects with
   * `GatewayAuthError`). Without it, `options.key` is the key (no limits, no budget).
   */
  readonly auth?: ((request: Q, options: GatewayCallOptions | undefined) => KeyInfo | PromiseLike<KeyInfo>) | undefined;
  /** Most fallback targets tried by one call. @defaultValue 3 */
  readonly maxFallbacks?: number | undefined;
  /**
   * Longest wait for an endpoint to recover when a call has no `deadline`, in ms. A call waits only
   * when no target of its chain (the target called and its fallbacks) can take it now.
   * @defaultValue 30000
   */
  readonly maxWait?: number | undefined;
  /** Most keys whose usage, limits and budget are kept (least recently used forgotten). @defaultValue 10000 */
  readonly maxKeys?: number | undefined;
  /** @defaultValue systemClock */
  readonly clock?: Clock | undefined;
  /** Randomness for the weighted strategy, ties and ejection jitter. @defaultValue Math.random */
  readonly random?: (() => number) | undefined;
  /** A name carried by every event. */
  readonly name?: string | undefined;
}

/**
 * What a gateway call resolves to.
 *
 * @example
 * ```ts
 * import { gateway, type GatewayResult } from 'breakwater/gateway';
 *
 * const gw = gateway({ targets });
 * const result: GatewayResult<ChatCompletion> = await gw.call('chat', { messages });
 * const { value, target, endpoint, attempts, fallbacks, usage, cost, ms } = result;
 * log.info({ target, endpoint, attempts, fallbacks, outputTokens: usage?.outputTokens, cost, ms });
 * ```
 */
export interface GatewayResult<T = unknown> {
  /**
   * The endpoint's result (for a stream, an async iterable of its chunks, metered as they pass, and
   * linked to the caller's abort until it ends: iterate it to the end or close it with `break`).
   */
  readonly value: T;
  /** The target that answered (the one called, or a fallback). */
  readonly target: string;
  /** The endpoint that answered. */
  readonly endpoint: string;
  /** Requests made, across endpoints and fallback targets (every invocation of an endpoint's `call`). */
  readonly attempts: number;
  /** Fallback targets tried. */
  readonly fallbacks: number;
  /**
   * Tokens used (`undefined` for a stream: its `usage` event comes when it ends, with an estimate
   * when the stream ends without reporting them).
   */
  readonly usage: TokenUsage | undefined;
  /** USD of the answering request (0 for a stream until it ends). */
  readonly cost: number;
  /** Ms from the call to the answer (the first chunk, for a stream). */
  readonly ms: number;
}

type Base = PolicyEventBase & { readonly kind: 'gateway' };

/**
 * Events a gateway emits.
 *
 * @example
 * ```ts
 * import { gateway, type GatewayEvent } from 'breakwater/gateway';
 *
 * gateway({ targets }).on('*', (e: GatewayEvent) => {
 *   switch (e.type) {
 *     case 'eject': log.warn(`${e.target}/${e.endpoint} out for ${e.duration} ms (${e.reason})`); break;
 *     case 'fallback': log.info(`${e.from} → ${e.to} (${e.reason})`); break;
 *     case 'usage': costCounter.add(e.cost, { model: e.model, key: e.key ?? 'anonymous' }); break;
 *   }
 * });
 * ```
 */
export type GatewayEvent =
  /** An endpoint was picked for an attempt; `candidates` were available; `probe` when it ends an ejection. */
  | (Base & {
      readonly type: 'route';
      readonly target: string;
      readonly endpoint: string;
      readonly strategy: Strategy;
      readonly candidates: number;
      readonly probe: boolean;
    })
  /** An attempt on an endpoint ended: `'success'`, the error's class, or `'cancelled'` (caller, hedge). */
  | (Base & {
      readonly type: 'attempt';
      readonly target: string;
      readonly endpoint: string;
      readonly attempt: number;
      readonly outcome: 'success' | 'cancelled' | ErrorClass;
      readonly error: unknown;
      readonly ms: number;
    })
  /**
   * An endpoint was taken out of rotation until `until` (clock time): ejected after failures
   * (`ejections` is its multiplier), or cooling down after a 429 (`cooldown: true`).
   */
  | (Base & {
      readonly type: 'eject';
      readonly target: string;
      readonly endpoint: string;
      readonly reason: ErrorClass;
      readonly until: number;
      readonly duration: number;
      readonly ejections: number;
      readonly cooldown: boolean;
    })
  /** An ejected endpoint's probe succeeded: it is back in rotation. */
  | (Base & { readonly type: 'recover'; readonly target: string; readonly endpoint: string })
  /** A call moved on to a fallback target because of `reason`; `depth` counts fallbacks so far. */
  | (Base & {
      readonly type: 'fallback';
      readonly from: string;
      readonly to: string;
      readonly reason: ErrorClass | 'unavailable';
      readonly depth: number;
    })
  /**
   * A model request finished and used tokens (for a stream: when it ended). Cost in USD.
   * `estimated`: the tokens are the gateway's estimate, because a stream ended without reporting
   * its usage (closed before its last chunk, or OpenAI without `stream_options.include_usage`).
   */
  | (Base & {
      readonly type: 'usage';
      /** The gen_ai operation (`'chat'`), as the gateway describes its calls to interceptors. */
      readonly operation: string;
      readonly target: string;
      readonly endpoint: string;
      readonly key: string | undefined;
      readonly model: string;
      readonly provider: string | undefined;
      readonly inputTokens: number;
      readonly outputTokens: number;
      readonly cost: number;
      readonly estimated: boolean;
    })
  /** A call was refused before or instead of reaching an endpoint. */
  | (Base & {
      readonly type: 'rejected';
      readonly target: string;
      readonly key: string | undefined;
      readonly reason: 'auth' | 'budget' | 'limit' | 'unavailable';
      readonly retryAfter: number | undefined;
      readonly error: unknown;
    });

/**
 * An endpoint's state in {@link GatewaySnapshot}.
 *
 * @example
 * ```ts
 * import { type EndpointSnapshot, gateway } from 'breakwater/gateway';
 *
 * const endpoints: readonly EndpointSnapshot[] = gateway({ targets }).snapshot().targets.chat?.endpoints ?? [];
 * for (const { id, state, inflight, latency, usage } of endpoints) {
 *   console.log(id, state, `${inflight} in flight`, `${latency ?? '-'} ms`, `${usage.errors} errors`);
 * }
 * ```
 */
export interface EndpointSnapshot {
  readonly id: string;
  /** `'cooling'`: healthy but rate limited (a 429) until `cooldownUntil`. */
  readonly state: HealthState | 'cooling';
  /** The current (or last, while probing) ejection. */
  readonly ejection:
    | { readonly reason: ErrorClass | undefined; readonly until: number; readonly count: number }
    | undefined;
  /** When a 429's cool-down ends (clock time), if one is running. */
  readonly cooldownUntil: number | undefined;
  readonly consecutiveFailures: number;
  /** Requests in flight, open streams included. */
  readonly inflight: number;
  /** Moving average of latency in ms (`undefined` before the first success). */
  readonly latency: number | undefined;
  readonly limits: EndpointLimits | undefined;
  /** What the rpm and tpm buckets hold now (negative while a true-up charge is paid off). */
  readonly remaining: { readonly rpm: number | undefined; readonly tpm: number | undefined };
  readonly usage: UsageTotals;
}

/**
 * A key's state in {@link GatewaySnapshot}.
 *
 * @example
 * ```ts
 * import { gateway, type KeySnapshot } from 'breakwater/gateway';
 *
 * const team: KeySnapshot | undefined = gateway({ targets }).snapshot().keys['team-a'];
 * if (team?.budget !== undefined) {
 *   const { usd, spent, reserved } = team.budget;
 *   console.log(`$${(usd - spent - reserved).toFixed(2)} left of $${usd}; ${team.usage.requests} requests`);
 * }
 * ```
 */
export interface KeySnapshot {
  readonly usage: UsageTotals;
  /** `reserved`: the estimated cost of the key's calls in flight, counted against the budget until they end. */
  readonly budget:
    | { readonly usd: number; readonly spent: number; readonly reserved: number; readonly resetsAt: number }
    | undefined;
  readonly limits: KeyInfo['limits'];
}

/**
 * Everything a gateway knows now: endpoint health, ejections, limits and usage.
 *
 * @example
 * ```ts
 * import { gateway, type GatewaySnapshot } from 'breakwater/gateway';
 *
 * const snap: GatewaySnapshot = gateway({ targets }).snapshot();
 * for (const [name, t] of Object.entries(snap.targets)) console.log(name, t.usage.requests, t.usage.cost);
 * for (const [key, k] of Object.entries(snap.keys)) console.log(key, k.usage.cost, k.budget?.spent);
 * ```
 */
export interface GatewaySnapshot {
  readonly targets: Readonly<
    Record<string, { readonly usage: UsageTotals; readonly endpoints: readonly EndpointSnapshot[] }>
  >;
  readonly keys: Readonly<Record<string, KeySnapshot>>;
}

/**
 * A gateway: one entry point for every call to its targets.
 *
 * @example
 * ```ts
 * import { type Gateway, gateway } from 'breakwater/gateway';
 *
 * const llm: Gateway<ChatRequest> = gateway<ChatRequest>({ targets });
 * llm.on('fallback', (e) => log.info(`${e.from} → ${e.to} (${e.reason})`));
 * const { value } = await llm.call<ChatCompletion>('chat', { model: 'gpt-4o', messages });
 * console.log(llm.snapshot().targets.chat?.usage.cost);
 * ```
 */
export interface Gateway<Q = unknown> {
  /**
   * Calls `target`: picks an endpoint, fails over to the others and then to the fallback targets.
   * When no target of that chain can take the call now, waits for the earliest recovery among them
   * within the deadline. Rejects with the last error, a `GatewayUnavailableError`, a
   * `GatewayAuthError`, a `BudgetExceededError`, a rate limiter's `RateLimitedError` (the key's
   * limits), or the caller's abort reason.
   */
  call<T = unknown>(target: string, request: Q, options?: GatewayCallOptions): Promise<GatewayResult<T>>;
  /** Listens to the gateway's events (and those of the target policies); returns an unsubscribe. */
  on<K extends GatewayEvent['type'] | '*'>(
    type: K,
    listener: Listener<K extends '*' ? GatewayEvent : Extract<GatewayEvent, { type: K }>>,
  ): Unsubscribe;
  /** Listens to events of another type: those of the target policies (`retry`, `timeout`, `hedge`, …). */
  on(type: string, listener: Listener<PolicyEventBase>): Unsubscribe;
  /** Endpoint health, ejections, limits and usage, now. */
  snapshot(): GatewaySnapshot;
  /**
   * Runs `interceptor` around every call from now on (how `breakwater/otel` traces a gateway);
   * each invocation of the intercepted `fn` is one endpoint request.
   */
  intercept(interceptor: GatewayInterceptor): Unsubscribe;
  /** The layers of the target policies (for telemetry gauges). */
  readonly layers: readonly { readonly kind: string; readonly name: string | undefined }[];
  /** The `name` option. */
  readonly name: string | undefined;
}

/**
 * A call as an interceptor sees it (the shape `breakwater/otel` expects).
 *
 * @example
 * ```ts
 * import { gateway, type InterceptedGatewayCall } from 'breakwater/gateway';
 *
 * gateway({ targets }).intercept((call: InterceptedGatewayCall) => {
 *   log.info(`${call.genAi.operation} ${call.name}`);
 *   return call.proceed((ctx) => {
 *     const a = call.attempt(ctx); // as the attempt starts: its number and endpoint
 *     log.debug(`attempt ${a?.attempt} on ${a?.endpoint} (${a?.provider})`);
 *     return call.fn(ctx);
 *   });
 * });
 * ```
 */
export interface InterceptedGatewayCall {
  /** The function of one endpoint request. */
  readonly fn: (ctx: Context) => unknown;
  /** Runs the call with `fn` in place of {@link InterceptedGatewayCall.fn}; call it once. */
  proceed(fn: (ctx: Context) => unknown): Promise<unknown>;
  /** The target called. */
  readonly name: string;
  /** The target's policy layers. */
  readonly layers: readonly { readonly kind: string; readonly name: string | undefined }[];
  /** A description of the call as a generative-AI operation. */
  readonly genAi: {
    /** `'chat'`. */
    readonly operation: string;
    /** The target called. */
    readonly model: string;
    /** The request's `messages` (or the request). */
    readonly input: unknown;
    /** Reads the completion from the call's result (its `value`). */
    readonly output: (r: unknown) => unknown;
  };
  /**
   * Describes the endpoint request about to run in `ctx` (call it as the attempt starts, before
   * `fn`): its number in the call and the endpoint's id, provider and model.
   */
  readonly attempt: (ctx: Context) =>
    | {
        readonly attempt: number;
        readonly endpoint: string;
        readonly provider: string | undefined;
        readonly model: string | undefined;
      }
    | undefined;
}

/**
 * Runs around one gateway call; must call `call.proceed` once and return what it returns.
 *
 * @example
 * ```ts
 * import { gateway, type GatewayInterceptor } from 'breakwater/gateway';
 *
 * const timing: GatewayInterceptor = async (call) => {
 *   const start = performance.now();
 *   const result = await call.proceed(call.fn);
 *   log.debug(`${call.name} answered in ${Math.round(performance.now() - start)} ms`);
 *   return result;
 * };
 * const stop = gateway({ targets }).intercept(timing);
 * ```
 */
export type GatewayInterceptor = (call: InterceptedGatewayCall) => Promise<unknown>;
