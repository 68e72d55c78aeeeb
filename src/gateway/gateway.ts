import { type Clock, systemClock } from '../core/clock.js';
import type { Context } from '../core/context.js';
import { Emitter, type Listener, type PolicyEventBase, type Unsubscribe } from '../core/events.js';
import { Policy } from '../core/policy.js';
import { checkFunction, checkKeys, checkNumber, checkObject, checkOneOf, fail } from '../core/validate.js';
import { hedge } from '../hedge/hedge.js';
import { type RateLimit, type RateLimitSnapshot, rateLimit } from '../rate-limit/rate-limit.js';
import { streamTimeout } from '../stream/stream-timeout.js';
import { Call, type Lane } from './call.js';
import { classifyError, ERROR_CLASSES, type ErrorClass } from './classify.js';
import { type Ejection, ejectionOf, Health } from './health.js';
import type { Strategy } from './strategy.js';
import type {
  EndpointOptions,
  EndpointSnapshot,
  Fallbacks,
  Gateway,
  GatewayCallOptions,
  GatewayEvent,
  GatewayInterceptor,
  GatewayOptions,
  GatewayResult,
  GatewaySnapshot,
  InterceptedGatewayCall,
  KeyInfo,
  KeySnapshot,
  TargetOptions,
} from './types.js';
import { estimateTokens, readChunkUsage, readTokenUsage, type TokenCost, type TokenUsage, Totals } from './usage.js';

const STRATEGIES: readonly Strategy[] = ['weighted', 'round-robin', 'least-busy', 'latency'];
// The keys each options object takes: any other is a typo that would be silently ignored.
const GATEWAY_KEYS = [
  'targets',
  'classify',
  'ejection',
  'auth',
  'maxFallbacks',
  'maxWait',
  'maxKeys',
  'clock',
  'random',
  'name',
];
const TARGET_KEYS = [
  'endpoints',
  'strategy',
  'policy',
  'stream',
  'hedge',
  'fallbacks',
  'usage',
  'chunkUsage',
  'estimate',
];
const ENDPOINT_KEYS = ['id', 'call', 'weight', 'limits', 'cost', 'contextWindow', 'model', 'provider'];
const LIMIT_KEYS = ['rpm', 'tpm', 'concurrency'];
const COST_KEYS = ['input', 'output'];
const INF = Number.POSITIVE_INFINITY;

/**
 * A per-minute token bucket (`breakwater/rate-limit`, in memory, synchronous): a full minute's
 * worth may go at once, then it refills at `limit` per minute; server headers (`x-ratelimit-*`,
 * Retry-After) adjust it through `observe`.
 * @internal
 */
export function perMinute(
  name: string,
  limit: number | undefined,
  feedback: 'requests' | 'tokens',
  clock: Clock,
  maxKeys?: number,
): RateLimit | undefined {
  if (limit === undefined) return undefined;
  checkNumber(name, limit, 0, { exclusiveMin: true });
  if (!Number.isFinite(limit)) return undefined;
  return rateLimit({ limit, per: 60_000, feedback, clock, ...(maxKeys === undefined ? {} : { maxKeys }) });
}

/** One endpoint of a target, with its load figures and totals. @internal */
export class EndpointState {
  readonly id: string;
  readonly call: (request: unknown, ctx: Context) => unknown;
  readonly weight: number;
  readonly concurrency: number;
  readonly window: number;
  readonly price: TokenCost | undefined;
  readonly model: string | undefined;
  readonly provider: string | undefined;
  readonly opts: EndpointOptions<unknown>;
  /** Requests per minute and tokens per minute (token buckets on the gateway's clock), when limited. */
  readonly rpm: RateLimit | undefined;
  readonly tpm: RateLimit | undefined;
  inflight: number = 0;
  latency: number = Number.NaN;
  readonly totals: Totals = new Totals();

  constructor(o: EndpointOptions<unknown>, at: string, clock: Clock) {
    checkObject(at, o);
    checkKeys(at, o, ENDPOINT_KEYS);
    if (typeof o?.id !== 'string' || o.id === '') fail(`${at}.id`, 'a non-empty string', o?.id);
    checkFunction(`${at}.call`, o.call, false);
    this.opts = o;
    this.id = o.id;
    this.call = o.call;
    this.weight = checkNumber(`${at}.weight`, o.weight ?? 1, 0);
    checkObject(`${at}.limits`, o.limits);
    checkKeys(`${at}.limits`, o.limits, LIMIT_KEYS);
    this.concurrency = checkNumber(`${at}.limits.concurrency`, o.limits?.concurrency ?? INF, 1, { integer: true });
    this.rpm = perMinute(`${at}.limits.rpm`, o.limits?.rpm, 'requests', clock);
    this.tpm = perMinute(`${at}.limits.tpm`, o.limits?.tpm, 'tokens', clock);
    this.window = checkNumber(`${at}.contextWindow`, o.contextWindow ?? INF, 1);
    checkObject(`${at}.cost`, o.cost);
    checkKeys(`${at}.cost`, o.cost, COST_KEYS);
    if (o.cost !== undefined) {
      checkNumber(`${at}.cost.input`, o.cost.input, 0);
      checkNumber(`${at}.cost.output`, o.cost.output, 0);
    }
    this.price = o.cost;
    if (o.model !== undefined && typeof o.model !== 'string') fail(`${at}.model`, 'a string', o.model);
    if (o.provider !== undefined && typeof o.provider !== 'string') fail(`${at}.provider`, 'a string', o.provider);
    this.model = o.model;
    this.provider = o.provider;
  }
}

/** One target: its endpoints, their health, routing state and fallbacks. @internal */
export class TargetState {
  readonly name: string;
  readonly eps: EndpointState[];
  readonly health: Health;
  readonly strategy: Strategy;
  readonly policy: Policy<any>;
  readonly usage: (result: unknown) => TokenUsage | undefined;
  readonly chunkUsage: (chunk: unknown) => TokenUsage | undefined;
  readonly estimate: (request: unknown) => number;
  /** Fallback lists by error class (`default` under 'unavailable'). */
  readonly fallbacks: Partial<Record<ErrorClass | 'default', readonly string[]>>;
  /** Whether any error class has a fallback list. */
  readonly hasFallbacks: boolean;
  /** The highest input and output prices (USD per token) among the endpoints: a call's budget reservation. */
  readonly priceIn: number;
  readonly priceOut: number;
  /** The `stream` option is set: its streamTimeout owns each stream's signal until the stream ends. */
  readonly streamed: boolean;
  /** Hedging across endpoints, if asked for: each hedged attempt is a lane of the routing pass. */
  readonly hedge: Policy<any> | undefined;
  /** The round-robin position: the index after the last pick. */
  rr = 0;
  /** Candidate indices, refilled by every routing decision (synchronous, so one array serves all calls). */
  readonly scratch: number[] = [];
  readonly totals: Totals = new Totals();
  /** Calls waiting for an endpoint to come back: woken when an attempt ends. */
  readonly waiters: Set<() => void> = new Set();

  constructor(
    name: string,
    o: TargetOptions<unknown>,
    ejection: Ejection,
    random: () => number,
    clock: Clock,
    gw: { classify(error: unknown): ErrorClass },
  ) {
    const at = `targets.${name}`;
    checkObject(at, o);
    checkKeys(at, o, TARGET_KEYS);
    if (!Array.isArray(o?.endpoints) || o.endpoints.length === 0)
      fail(`${at}.endpoints`, 'a non-empty array', o?.endpoints);
    this.name = name;
    this.eps = o.endpoints.map((e, i) => new EndpointState(e, `${at}.endpoints[${i}]`, clock));
    this.priceIn = Math.max(0, ...this.eps.map((e) => (e.price?.input ?? 0) / 1e6));
    this.priceOut = Math.max(0, ...this.eps.map((e) => (e.price?.output ?? 0) / 1e6));
    const ids = new Set(this.eps.map((e) => e.id));
    if (ids.size !== this.eps.length) fail(`${at}.endpoints`, 'endpoints with unique ids', o.endpoints);
    this.health = new Health(this.eps.length, ejection, random);
    this.strategy = checkOneOf(`${at}.strategy`, o.strategy ?? 'weighted', STRATEGIES);
    if (o.policy !== undefined && !Array.isArray((o.policy as Policy | null)?.layers))
      fail(`${at}.policy`, 'a policy', o.policy);
    checkObject(`${at}.stream`, o.stream);
    const stream =
      o.stream === undefined
        ? undefined
        : named(`${at}.stream`, () => streamTimeout({ ...o.stream, clock: o.stream?.clock ?? clock }));
    this.streamed = stream !== undefined;
    this.policy =
      stream === undefined
        ? (o.policy ?? Policy.noop)
        : o.policy === undefined
          ? stream
          : Policy.wrap(o.policy, stream);
    checkFunction(`${at}.usage`, o.usage);
    checkFunction(`${at}.chunkUsage`, o.chunkUsage);
    checkFunction(`${at}.estimate`, o.estimate);
    this.usage = o.usage ?? readTokenUsage;
    this.chunkUsage = o.chunkUsage ?? readChunkUsage;
    this.estimate = (o.estimate as ((request: unknown) => number) | undefined) ?? estimateTokens;
    this.fallbacks = fallbacksOf(o.fallbacks, `${at}.fallbacks`);
    this.hasFallbacks = Object.values(this.fallbacks).some((l) => l !== undefined && l.length > 0);
    checkObject(`${at}.hedge`, o.hedge);
    const h = o.hedge;
    if (h !== undefined) {
      checkFunction(`${at}.hedge.handle`, h.handle);
      const user = h.handle;
      // A failure another endpoint cannot fix (the request's fault, a refusal) starts no other lane.
      this.hedge = named(`${at}.hedge`, () =>
        hedge({
          ...h,
          // A lane needs an endpoint this call has not tried: more lanes than the other endpoints
          // would each start (a `hedge` event, a share of the budget) only to find none.
          // (Only a valid count is lowered: `hedge` names a bad one.)
          ...((h.maxHedges === undefined || (Number.isInteger(h.maxHedges) && h.maxHedges <= 100)) &&
          (h.maxHedges ?? 1) > this.eps.length - 1
            ? { maxHedges: this.eps.length - 1 }
            : {}),
          clock,
          handle: (error, ctx) => {
            const cls = gw.classify(error);
            return cls !== 'client' && cls !== 'content-policy' && (user === undefined || user(error, ctx));
          },
        }),
      );
    } else this.hedge = undefined;
  }

  /** The fallback targets for a failure of class `cls` (`undefined`: unavailable). */
  fallbacksFor(cls: ErrorClass | undefined): readonly string[] {
    const f = this.fallbacks;
    if (cls === 'client') return [];
    const own = cls === undefined ? undefined : f[cls];
    if (own !== undefined) return own;
    return cls === 'context-length' || cls === 'content-policy' ? [] : (f.default ?? []);
  }

  /** Wakes the calls waiting for an endpoint of this target. */
  wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** `make()`, with the option path `at` put in front of the option its validation error names. */
function named<T>(at: string, make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) {
      error.message = error.message.replace(/^Expected `/, `Expected \`${at}.`);
    }
    throw error;
  }
}

function fallbacksOf(f: Fallbacks | undefined, at: string): Partial<Record<ErrorClass | 'default', readonly string[]>> {
  if (f === undefined) return {};
  const list = (v: unknown, name: string): readonly string[] => {
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) fail(name, 'an array of target names', v);
    return v as string[];
  };
  if (Array.isArray(f)) return { default: list(f, at) };
  checkObject(at, f);
  checkKeys(at, f, ['default', ...ERROR_CLASSES]);
  const out: Partial<Record<ErrorClass | 'default', readonly string[]>> = {};
  for (const [k, v] of Object.entries(f)) {
    if (v !== undefined) out[k as ErrorClass] = list(v, `${at}.${k}`);
  }
  return out;
}

/** A caller's usage, budget and limits. @internal */
export class KeyState {
  info: KeyInfo | undefined = undefined;
  readonly totals: Totals = new Totals();
  /** USD spent in the current budget period. */
  spent = 0;
  /** Start of the current budget period (NaN: none yet; it starts at the first spend). */
  periodStart: number = Number.NaN;
  /** USD reserved by the key's calls in flight (their estimated cost), and how many hold a reservation. */
  reserved = 0;
  holds = 0;

  reserve(usd: number): void {
    this.reserved += usd;
    this.holds++;
  }

  /** Gives a reservation back (once the call's real cost is known, or it failed). */
  release(usd: number): void {
    // The last one out resets the sum: no floating-point residue keeps a budget "reserved".
    this.reserved = --this.holds <= 0 ? 0 : Math.max(0, this.reserved - usd);
    if (this.holds < 0) this.holds = 0;
  }

  /** Spend in the current period (a period that has ended is reset first). */
  spentAt(now: number): number {
    const per = this.info?.budget?.per ?? INF;
    if (now >= this.periodStart + per) {
      this.spent = 0;
      this.periodStart = Number.NaN;
    }
    return this.spent;
  }

  spend(usd: number, now: number): void {
    this.spentAt(now);
    if (Number.isNaN(this.periodStart)) this.periodStart = now;
    this.spent += usd;
  }
}

/** The gateway behind {@link gateway}. @internal */
export class GatewayImpl<Q> implements Gateway<Q> {
  readonly name: string | undefined;
  readonly targets: Map<string, TargetState> = new Map();
  readonly clock: Clock;
  readonly random: () => number;
  readonly ejection: Ejection;
  readonly auth: GatewayOptions<Q>['auth'];
  readonly maxFallbacks: number;
  readonly maxWait: number;
  readonly maxKeys: number;
  readonly keys: Map<string, KeyState> = new Map();
  readonly events: Emitter<PolicyEventBase> = new Emitter();
  readonly interceptors: GatewayInterceptor[] = [];
  /** Under interceptors, the lane an attempt's context belongs to (see {@link Lane}). */
  readonly lanes: WeakMap<object, Lane> = new WeakMap();
  /** Some endpoint has a context window or a tpm limit: requests need a token estimate. */
  readonly sizes: boolean;
  /** Per-key limiters, one per kind and limit (keys with equal limits share one, partitioned by key). */
  readonly #keyLimits: Map<string, RateLimit> = new Map();
  /** The unwrapped per-attempt function handed to interceptors. */
  readonly base: (ctx: Context) => unknown;
  /** Describes the attempt running in a context, for interceptors (its lane is set before `fn` runs). */
  readonly describe: InterceptedGatewayCall['attempt'];
  readonly #classify: ((error: unknown) => ErrorClass | undefined) | undefined;

  constructor(o: GatewayOptions<Q>) {
    checkObject('options', o);
    checkKeys('', o, GATEWAY_KEYS);
    checkObject('targets', o?.targets);
    if (o?.targets === undefined || Object.keys(o.targets).length === 0)
      fail('targets', 'an object with at least one target', o?.targets);
    checkFunction('classify', o.classify);
    checkFunction('auth', o.auth);
    checkFunction('random', o.random);
    checkObject('clock', o.clock);
    this.name = o.name;
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? Math.random;
    this.ejection = ejectionOf(o.ejection);
    this.#classify = o.classify;
    this.auth = o.auth;
    this.maxFallbacks = checkNumber('maxFallbacks', o.maxFallbacks ?? 3, 0, { integer: true });
    this.maxWait = checkNumber('maxWait', o.maxWait ?? 30_000, 0);
    this.maxKeys = checkNumber('maxKeys', o.maxKeys ?? 10_000, 1, { integer: true });
    for (const [name, t] of Object.entries(o.targets)) {
      this.targets.set(
        name,
        new TargetState(name, t as TargetOptions<unknown>, this.ejection, this.random, this.clock, this),
      );
    }
    for (const t of this.targets.values()) {
      for (const [cls, list] of Object.entries(t.fallbacks)) {
        for (const name of list as string[]) {
          if (!this.targets.has(name)) fail(`targets.${t.name}.fallbacks.${cls}`, 'names of targets', name);
        }
      }
    }
    this.sizes = [...this.targets.values()].some((t) => t.eps.some((e) => e.window < INF || e.tpm !== undefined));
    const lanes = this.lanes;
    this.base = (ctx) => (lanes.get(ctx) as Lane).direct(ctx);
    this.describe = (ctx) => {
      const lane = lanes.get(ctx);
      if (lane === undefined) return undefined;
      const ep = lane.ep;
      // The request counts itself when it runs, after the interceptors' attempt wrappers begin.
      return { attempt: lane.pass.call.attempts + 1, endpoint: ep.id, provider: ep.provider, model: ep.model };
    };
  }

  call<T = unknown>(target: string, request: Q, options?: GatewayCallOptions): Promise<GatewayResult<T>> {
    const t = this.targets.get(target);
    if (t === undefined) {
      return Promise.reject(
        new TypeError(
          `Expected \`target\` to be one of '${[...this.targets.keys()].join("', '")}', got ${JSON.stringify(target)}`,
        ),
      );
    }
    const signal = options?.signal;
    if (signal !== undefined && typeof (signal as AbortSignal | null)?.addEventListener !== 'function')
      return Promise.reject(new TypeError(`Expected \`signal\` to be an AbortSignal, got ${typeof signal}`));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const deadline = options?.deadline;
    if (deadline != null && (typeof deadline !== 'number' || Number.isNaN(deadline)))
      return Promise.reject(new TypeError(`Expected \`deadline\` to be a number, got ${JSON.stringify(deadline)}`));
    const c = new Call(this as GatewayImpl<unknown>, t, request, options);
    return (this.interceptors.length === 0 ? c.start() : this.#through(0, c)) as Promise<GatewayResult<T>>;
  }

  /** Runs `c` through the interceptors from the `k`-th on (the first is outermost). */
  #through(k: number, c: Call): Promise<unknown> {
    const next = this.interceptors[k];
    if (next === undefined) return c.start();
    const r = c.request as { messages?: unknown } | null;
    return next({
      fn: c.wrapped ?? this.base,
      proceed: (fn) => {
        c.wrapped = fn === this.base ? undefined : fn;
        return this.#through(k + 1, c);
      },
      name: c.t.name,
      layers: c.t.policy.layers,
      genAi: {
        operation: 'chat',
        model: c.t.name,
        input: Array.isArray(r?.messages) ? r.messages : c.request,
        output: (result) => (result as GatewayResult | undefined)?.value,
      },
      attempt: this.describe,
    });
  }

  /** The class of an endpoint error: the user's `classify`, else the built-in one. */
  classify(error: unknown): ErrorClass {
    const f = this.#classify;
    if (f !== undefined) {
      const c = f(error);
      if (c !== undefined) return checkOneOf('classify() result', c, ERROR_CLASSES);
    }
    return classifyError(error);
  }

  /** The limiter for keys limited to `limit` requests (or tokens) per minute. */
  keyLimiter(kind: 'rpm' | 'tpm', limit: number): RateLimit | undefined {
    const id = `${kind}${limit}`;
    let l = this.#keyLimits.get(id);
    if (l === undefined) {
      l = perMinute(
        `auth() result limits.${kind}`,
        limit,
        kind === 'rpm' ? 'requests' : 'tokens',
        this.clock,
        this.maxKeys,
      );
      if (l === undefined) return undefined;
      this.#keyLimits.set(id, l);
    }
    return l;
  }

  /** The state of `key`, most recently used last (the least recently used is forgotten past `maxKeys`). */
  keyState(key: string): KeyState {
    const keys = this.keys;
    let k = keys.get(key);
    if (k !== undefined) keys.delete(key);
    else {
      k = new KeyState();
      if (keys.size >= this.maxKeys) keys.delete(keys.keys().next().value as string);
    }
    keys.set(key, k);
    return k;
  }

  listening(type: GatewayEvent['type']): boolean {
    return this.events.count > 0 && this.events.has(type);
  }

  emit(event: GatewayEvent): void {
    this.events.emit(event);
  }

  on(type: string, listener: Listener<any>): Unsubscribe {
    const offs = [this.events.on(type, listener)];
    const policies = new Set<Policy<any>>();
    for (const t of this.targets.values()) {
      policies.add(t.policy);
      if (t.hedge !== undefined) policies.add(t.hedge);
    }
    for (const p of policies) offs.push(p.on(type, listener));
    return () => {
      for (const off of offs) off();
    };
  }

  intercept(interceptor: GatewayInterceptor): Unsubscribe {
    checkFunction('interceptor', interceptor, false);
    this.interceptors.push(interceptor);
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      this.interceptors.splice(this.interceptors.indexOf(interceptor), 1);
    };
  }

  get layers(): readonly { readonly kind: string; readonly name: string | undefined }[] {
    return [...new Set([...this.targets.values()].flatMap((t) => [...(t.hedge?.layers ?? []), ...t.policy.layers]))];
  }

  snapshot(): GatewaySnapshot {
    const now = this.clock.now();
    const targets: Record<string, GatewaySnapshot['targets'][string]> = {};
    for (const t of this.targets.values()) {
      const endpoints: EndpointSnapshot[] = t.eps.map((ep, i) => {
        const h = t.health.eps[i] as (typeof t.health.eps)[number];
        t.health.refresh(h, now);
        const cooling = h.cooling > now;
        return {
          id: ep.id,
          state: h.state === 'healthy' && cooling ? 'cooling' : h.state,
          ejection: h.state === 'healthy' ? undefined : { reason: h.reason, until: h.until, count: h.n },
          cooldownUntil: cooling ? h.cooling : undefined,
          consecutiveFailures: h.failures,
          inflight: ep.inflight,
          latency: Number.isNaN(ep.latency) ? undefined : ep.latency,
          limits: ep.opts.limits,
          remaining: {
            rpm: (ep.rpm?.snapshot() as RateLimitSnapshot | undefined)?.remaining,
            tpm: (ep.tpm?.snapshot() as RateLimitSnapshot | undefined)?.remaining,
          },
          usage: ep.totals.copy(),
        };
      });
      targets[t.name] = { usage: t.totals.copy(), endpoints };
    }
    const keys: Record<string, KeySnapshot> = {};
    for (const [key, k] of this.keys) {
      const b = k.info?.budget;
      const spent = k.spentAt(now);
      keys[key] = {
        usage: k.totals.copy(),
        budget:
          b === undefined
            ? undefined
            : {
                usd: b.usd,
                spent,
                reserved: k.reserved,
                resetsAt: Number.isNaN(k.periodStart) ? INF : k.periodStart + (b.per ?? INF),
              },
        limits: k.info?.limits,
      };
    }
    return { targets, keys };
  }
}

/**
 * Creates a gateway: one in-process entry point for calls to named targets (models, services),
 * each served by several endpoints, with routing, outlier ejection, failover, fallbacks by error
 * class, limits, budgets, usage and cost accounting, and one event stream.
 *
 * @throws TypeError / RangeError when an option is invalid (naming it), e.g. a target without
 *   endpoints, a duplicate endpoint id, a fallback to an unknown target, or an unknown key in the
 *   options, a target or an endpoint (a typo such as `limits: { rps }`: the message names its path
 *   and the key it most likely meant).
 * @example
 * ```ts
 * import OpenAI from 'openai';
 * import { gateway } from 'breakwater/gateway';
 *
 * const east = new OpenAI({ baseURL: EAST, maxRetries: 0 }); // the gateway fails over itself
 * const west = new OpenAI({ baseURL: WEST, maxRetries: 0 });
 * const gw = gateway({
 *   targets: {
 *     'gpt-4o': {
 *       endpoints: [
 *         { id: 'east', call: (req, { signal }) => east.chat.completions.create(req, { signal }), cost: { input: 2.5, output: 10 } },
 *         { id: 'west', call: (req, { signal }) => west.chat.completions.create(req, { signal }), cost: { input: 2.5, output: 10 } },
 *       ],
 *       fallbacks: ['gpt-4o-mini'],
 *     },
 *     'gpt-4o-mini': { endpoints: [{ id: 'mini', call: (req, { signal }) => east.chat.completions.create({ ...req, model: 'gpt-4o-mini' }, { signal }) }] },
 *   },
 * });
 * const { value, endpoint, cost } = await gw.call('gpt-4o', { model: 'gpt-4o', messages });
 * ```
 */
export function gateway<Q = any>(options: GatewayOptions<Q>): Gateway<Q> {
  return new GatewayImpl(options);
}
