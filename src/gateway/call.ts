// One gateway call: auth, budget, the routing pass over a target's endpoints, failover, waiting for
// a recovery, fallbacks across targets, and the accounting of what the answer used.
import type { Clock } from '../core/clock.js';
import type { AbortScope, CallContext, Context } from '../core/context.js';
import { checkKeys, checkNumber, checkObject } from '../core/validate.js';
import { RateLimitedError } from '../rate-limit/errors.js';
import type { RateLimitDecision, RateLimitLease } from '../rate-limit/rate-limit.js';
import { retryAfterHint } from '../retry/retry-after.js';
import { type ErrorClass, isRefusal } from './classify.js';
import {
  BudgetExceededError,
  GatewayAuthError,
  GatewayUnavailableError,
  isGatewayAuthError,
  isGatewayUnavailableError,
} from './errors.js';
import type { EndpointState, GatewayImpl, KeyState, TargetState } from './gateway.js';
import type { Transition } from './health.js';
import { MeteredStream } from './metered.js';
import { ewma, pick } from './strategy.js';
import type { GatewayCallOptions, GatewayEvent, GatewayResult, KeyInfo } from './types.js';
import { maxOutputTokens, priceOf, type TokenUsage } from './usage.js';

const INF = Number.POSITIVE_INFINITY;
/** `Pass.route`: no endpoint can take the call now, but one may later. */
const LATER = -1;
/** `Pass.route`: every endpoint that could take the call was tried (or none fits it). */
const NONE = -2;
/** `Pass.tried`: answered 429 and cooling down; it may be tried again once that ends. */
const RETRY = 2;
const BUDGET_KEYS = ['usd', 'per'];
const KEY_LIMIT_KEYS = ['rpm', 'tpm'];
/** The cost of one request, for the rpm limiters. */
const ONE = { cost: 1 } as const;

/** Settles a lease's true-up or refund (synchronous with the in-memory store; never a rejection). */
function settleLease(lease: RateLimitLease | undefined, actual: number | undefined): void {
  if (lease === undefined) return;
  try {
    const p = actual === undefined ? lease.refund() : lease.trueUp(actual);
    if (p instanceof Promise) p.then(undefined, () => {});
  } catch {
    // A true-up is bookkeeping: it never fails a call.
  }
}

/**
 * One lane of a routing pass: the attempts it makes one after another, each on an endpoint not
 * tried yet by the pass. Its `fn` is what the target's policy runs for an attempt.
 * @internal
 */
export class Lane {
  declare readonly pass: Pass;
  declare ep: EndpointState;
  declare readonly fn: (ctx: Context) => unknown;
  /** The current attempt's leases on its endpoint's rpm and tpm buckets. */
  declare rpm: RateLimitLease | undefined;
  declare tpm: RateLimitLease | undefined;
  /** The current attempt reached its endpoint (the target's policy let it through). */
  declare sent: boolean;
  /**
   * The context the current attempt's endpoint was called with, and its scope then: whose signal
   * the endpoint saw. A stream it answers with keeps it linked to the caller's abort (see `MeteredStream`).
   */
  declare ctx: CallContext | undefined;
  declare scope: AbortScope | undefined;

  constructor(pass: Pass) {
    this.pass = pass;
    this.ep = undefined as unknown as EndpointState;
    this.rpm = this.tpm = this.ctx = this.scope = undefined;
    this.sent = false;
    this.fn = (ctx) => this.run(ctx);
  }

  run(ctx: Context): unknown {
    const call = this.pass.call;
    const wrapped = call.wrapped;
    if (wrapped === undefined) return this.direct(ctx);
    call.gw.lanes.set(ctx, this);
    return wrapped(ctx);
  }

  /** One request to the lane's endpoint: an attempt. */
  direct(ctx: Context): unknown {
    const call = this.pass.call;
    call.attempts++;
    this.sent = true;
    this.ctx = ctx as CallContext;
    this.scope = (ctx as CallContext).scope;
    return this.ep.call(call.request, ctx);
  }
}

/** A target's routing pass within one call: every endpoint is tried at most once. @internal */
export class Pass {
  declare readonly call: Call;
  declare readonly t: TargetState;
  /** Endpoints this pass has picked: 1, or {@link RETRY} for one that may be picked again after its cool-down. */
  declare readonly tried: Uint8Array;
  /** After a context-length error: only endpoints with a larger window than this remain. */
  declare minWindow: number;
  /** Endpoints whose window is too small for the request's estimate. */
  declare tooSmall: number;
  /** Earliest time an endpoint not tried yet may take the call (set by `route` when it finds none). */
  declare next: number;
  /** Endpoints whose tpm bucket can never hold the request. */
  declare tooBig: number;
  /** Endpoints not tried yet that may take the call later (set by `route` when none can now). */
  declare later: number;
  /** Every one of those is held back by a rate limit (set by `route` when none can now). */
  declare limited: boolean;
  /** The pass is in its call's list of passes to resume after a recovery. */
  declare parked: boolean;

  constructor(call: Call, t: TargetState) {
    this.call = call;
    this.t = t;
    this.tried = new Uint8Array(t.eps.length);
    this.minWindow = -1;
    this.tooSmall = this.tooBig = this.later = 0;
    this.next = INF;
    this.limited = this.parked = false;
  }

  /**
   * Runs one lane: attempts on endpoints not tried yet until one answers; rejects with the last
   * error or `GatewayUnavailableError`. `ctx` is the hedge attempt's context when the target
   * hedges: a hedged lane (attempt > 1) never waits for a recovery. When no endpoint can take the
   * call now but one may later, the pass waits for it only when the call has nowhere else to go
   * (the target called, without fallbacks); otherwise it is parked ({@link Call.park}) and the
   * call tries its fallbacks first, waiting only when none of them can take it now either.
   */
  async run(ctx: Context | undefined): Promise<GatewayResult> {
    const lane = new Lane(this);
    const call = this.call;
    const signal = ctx === undefined ? call.signal : ctx.signal;
    for (;;) {
      const i = this.route();
      if (i >= 0) {
        const r = await this.attempt(lane, i, signal);
        if (r !== undefined) return r;
      } else if (i === NONE || (ctx !== undefined && ctx.attempt > 1)) {
        const e = this.exhausted();
        // A hedged lane that finds nothing free ends itself, not the call (the hedge goes on with
        // its other lanes, and a call that fails ends with the primary's error): no `rejected`.
        throw isUnavailable(e) && (ctx === undefined || ctx.attempt === 1)
          ? call.unavailable(e as GatewayUnavailableError)
          : e;
      } else if (this.t === call.t && !this.t.hasFallbacks) await call.recover([this], signal);
      else {
        call.park(this);
        throw this.unavailableNow();
      }
    }
  }

  /**
   * Picks an endpoint not tried yet that can take the call now, or says when one may: sets `next`
   * (the earliest time one of the others may), `later` (how many may) and `limited` (all of those
   * are held back by a rate limit: a 429's cool-down, an rpm or tpm bucket).
   */
  route(): number {
    const t = this.t;
    const call = this.call;
    const gw = call.gw;
    const now = gw.clock.now();
    const eps = t.eps;
    const h = t.health;
    const cand = t.scratch;
    const tokens = call.tokens;
    let count = 0;
    let later = 0;
    let slow = 0;
    let next = INF;
    this.tooSmall = this.tooBig = 0;
    for (let i = 0; i < eps.length; i++) {
      if (this.tried[i] === 1) continue;
      const ep = eps[i] as EndpointState;
      if (ep.window < tokens || ep.window <= this.minWindow) {
        this.tooSmall++;
        continue;
      }
      let at = h.availableAt(i, now);
      // Held back by a rate limit (a 429's cool-down on a healthy endpoint, a bucket), not by its health or load.
      let rated = at > now && h.eps[i]?.state === 'healthy';
      if (at <= now && ep.inflight >= ep.concurrency) at = INF; // a slot frees when an attempt ends
      if (at <= now && ep.rpm !== undefined) {
        const d = ep.rpm.check(ONE) as RateLimitDecision;
        if (!d.allowed) {
          at = now + d.retryAfter;
          rated = true;
        }
      }
      if (at <= now && ep.tpm !== undefined) {
        const d = ep.tpm.check(call.cost) as RateLimitDecision;
        if (d.retryAfter === INF) {
          this.tooBig++; // more tokens than a minute of this endpoint holds
          continue;
        }
        if (!d.allowed) {
          at = now + d.retryAfter;
          rated = true;
        }
      }
      if (at <= now) cand[count++] = i;
      else {
        later++;
        if (!rated) slow++;
        if (at < next) next = at;
      }
    }
    this.next = next;
    if (count === 0) {
      this.later = later;
      this.limited = later > 0 && slow === 0;
      return later === 0 ? NONE : LATER;
    }
    const i = pick(t.strategy, cand, count, eps, t.rr, gw.random);
    this.tried[i] = 1;
    t.rr = i + 1 < eps.length ? i + 1 : 0;
    if (gw.listening('route')) {
      gw.emit({
        type: 'route',
        kind: 'gateway',
        name: gw.name,
        target: t.name,
        endpoint: (eps[i] as EndpointState).id,
        strategy: t.strategy,
        candidates: count,
        probe: h.eps[i]?.state === 'probing',
      });
    }
    return i;
  }

  /** One attempt on endpoint `i`: the result, `undefined` to go on with another endpoint, or a throw. */
  async attempt(lane: Lane, i: number, signal: AbortSignal | undefined): Promise<GatewayResult | undefined> {
    const call = this.call;
    const gw = call.gw;
    const t = this.t;
    const ep = t.eps[i] as EndpointState;
    const start = gw.clock.now();
    const epoch = t.health.begin(i, start);
    ep.inflight++;
    lane.ep = ep;
    lane.sent = false;
    // `route` checked the buckets in this same turn: these succeed (in-memory, synchronous).
    lane.rpm = ep.rpm === undefined ? undefined : (ep.rpm.tryAcquire(ONE) as RateLimitLease | undefined);
    lane.tpm = ep.tpm === undefined ? undefined : (ep.tpm.tryAcquire(call.cost) as RateLimitLease | undefined);
    let value: unknown;
    try {
      value = await t.policy.execute(lane.fn, call.execOptions(signal));
    } catch (error) {
      ep.inflight--;
      if (t.waiters.size > 0) t.wake();
      return this.failed(lane, i, epoch, error, signal, start);
    }
    let answer: GatewayResult;
    try {
      answer = this.answered(lane, i, epoch, value, start);
    } catch (error) {
      // Reading the answer failed before a MeteredStream took the slot over: free it here.
      ep.inflight--;
      if (t.waiters.size > 0) t.wake();
      throw error;
    }
    // A stream holds its endpoint's slot until it ends (the generation goes on): MeteredStream frees it.
    if (!(answer.value instanceof MeteredStream)) {
      ep.inflight--;
      if (t.waiters.size > 0) t.wake();
    }
    return answer;
  }

  answered(lane: Lane, i: number, epoch: number, value: unknown, start: number): GatewayResult {
    const call = this.call;
    const gw = call.gw;
    const t = this.t;
    const ep = t.eps[i] as EndpointState;
    const now = gw.clock.now();
    const ms = now - start;
    ep.latency = ewma(ep.latency, ms);
    this.transition(i, t.health.end(i, epoch, undefined, now));
    if (gw.listening('attempt')) this.attempted(ep, 'success', undefined, ms);
    let usage: TokenUsage | undefined;
    let cost = 0;
    if (ep.rpm !== undefined) ep.rpm.observe(value);
    if (isStream(value)) {
      call.account(t, ep, undefined, 0, true, undefined);
      // Without the target's `stream` option (whose streamTimeout owns the stream's signal), the
      // caller's abort is linked to the attempt's signal here, for as long as the stream lives.
      value = new MeteredStream(
        value as AsyncIterable<unknown>,
        this,
        ep,
        i,
        lane.tpm,
        t.streamed || call.signal === undefined ? undefined : lane,
        // With `stream`, its streamTimeout may end the stream while nobody reads it (an abandoned
        // stream closed by `idle` or `total`, a caller's abort): the stream's signal says so.
        t.streamed ? lane.scope?.signal : undefined,
      );
    } else {
      try {
        usage = t.usage(value);
      } catch {
        usage = undefined; // a reader's failure never fails the call
      }
      cost = priceOf(usage, ep.price);
      call.release(); // the budget reservation gives way to the real cost
      if (ep.tpm !== undefined) {
        ep.tpm.observe(value);
        if (usage !== undefined) settleLease(lane.tpm, usage.inputTokens + usage.outputTokens);
      }
      call.account(t, ep, usage, cost, true, value);
    }
    return new Answer(value, t.name, ep.id, call.attempts, call.fallbacks, usage, cost, now - call.t0);
  }

  failed(
    lane: Lane,
    i: number,
    epoch: number,
    error: unknown,
    signal: AbortSignal | undefined,
    start: number,
  ): undefined {
    const call = this.call;
    const gw = call.gw;
    const t = this.t;
    const ep = t.eps[i] as EndpointState;
    const now = gw.clock.now();
    // A failed request's tokens are given back; the request itself still counted.
    settleLease(lane.tpm, undefined);
    if (signal?.aborted) {
      // Cancelled from outside (the caller, a hedge that took another answer): nothing about the endpoint.
      t.health.abandon(i, epoch);
      if (gw.listening('attempt')) this.attempted(ep, 'cancelled', signal.reason, now - start);
      throw signal.reason;
    }
    const cls = gw.classify(error);
    if (!lane.sent && isRefusal(error)) {
      // The target's policy, shared by every endpoint (an open breaker, a full bulkhead, a rate
      // limiter), refused the attempt before it reached the endpoint: nothing about the endpoint,
      // and not a request. The next endpoint is tried (the same policy decides again).
      t.health.abandon(i, epoch);
      settleLease(lane.rpm, undefined);
      if (gw.listening('attempt')) this.attempted(ep, cls, error, now - start);
      call.error = error;
      call.cls = cls;
      call.errorTarget = t;
      return undefined;
    }
    ep.totals.errors++;
    t.totals.errors++;
    if (call.ks !== undefined) call.ks.totals.errors++;
    const hint = cls === 'rate-limited' ? retryAfterHint(error, gw.clock.now()) : undefined;
    if (cls === 'rate-limited') settleLease(lane.rpm, undefined); // the server refused it: not a request
    // The server's own view of its limits (x-ratelimit-remaining-*, Retry-After) adjusts the buckets.
    ep.rpm?.observe(error);
    ep.tpm?.observe(error);
    this.transition(i, t.health.end(i, epoch, cls, now, hint), cls);
    // A 429 that cooled the endpoint down: this pass may try it once more when the cool-down ends
    // (once per recovery), like an endpoint that was cooling when the call began.
    if (cls === 'rate-limited' && (t.health.eps[i]?.cooling ?? 0) > now) this.tried[i] = RETRY;
    if (gw.listening('attempt')) this.attempted(ep, cls, error, now - start);
    call.error = error;
    call.cls = cls;
    call.errorTarget = t;
    if (cls === 'client' || cls === 'content-policy') throw error;
    // Never the same request on an endpoint whose window it overflowed: only larger ones remain.
    if (cls === 'context-length') this.minWindow = Math.max(this.minWindow, ep.window);
    return undefined;
  }

  /** The error when no endpoint is left: the last one, or unavailability (none fits the request). */
  exhausted(): unknown {
    const call = this.call;
    if (call.error !== undefined && call.errorTarget === this.t) return call.error;
    if (this.tooBig > 0 && this.next === INF) {
      call.cls = undefined;
      return new GatewayUnavailableError(this.t.name, INF);
    }
    if (this.tooSmall > 0 && this.next === INF) {
      call.cls = 'context-length';
      return new GatewayUnavailableError(this.t.name, INF);
    }
    call.cls = undefined;
    return new GatewayUnavailableError(this.t.name, this.retryAfter(this.call.gw.clock.now()));
  }

  /** Ms until the earliest known recovery (the cool-down default when it is not known). */
  retryAfter(now: number): number {
    return this.next < INF ? Math.max(0, this.next - now) : this.call.gw.ejection.cooldown;
  }

  /**
   * The pass found no endpoint free now but one may be later: the error its pass ends with for
   * now, with `cls` set to the class whose fallbacks the call tries meanwhile ({@link parkedClass}).
   */
  unavailableNow(): GatewayUnavailableError {
    const call = this.call;
    const last = call.errorTarget === this.t ? call.error : undefined;
    call.cls = this.parkedClass();
    return new GatewayUnavailableError(
      this.t.name,
      this.retryAfter(call.gw.clock.now()),
      last === undefined ? undefined : { cause: last },
    );
  }

  /**
   * The fallback class of a pass that can take the call only later: `'context-length'` when one
   * of its endpoints overflowed (only larger ones were left), `'rate-limited'` when every endpoint
   * left is held back by a rate limit (cooling after a 429, over its rpm or tpm), else `undefined`
   * (unavailable: ejected, probing, at capacity), which takes the `default` list.
   */
  parkedClass(): ErrorClass | undefined {
    return this.minWindow >= 0 ? 'context-length' : this.limited ? 'rate-limited' : undefined;
  }

  transition(i: number, tr: Transition, reason?: ErrorClass): void {
    if (tr === undefined) return;
    const gw = this.call.gw;
    const t = this.t;
    if (tr.type === 'recover') {
      if (gw.listening('recover'))
        gw.emit({ type: 'recover', kind: 'gateway', name: gw.name, target: t.name, endpoint: t.eps[i]?.id as string });
      return;
    }
    if (!gw.listening('eject')) return;
    const now = gw.clock.now();
    gw.emit({
      type: 'eject',
      kind: 'gateway',
      name: gw.name,
      target: t.name,
      endpoint: t.eps[i]?.id as string,
      reason: reason ?? 'unknown',
      until: tr.until,
      duration: tr.type === 'eject' ? tr.duration : tr.until - now,
      ejections: tr.type === 'eject' ? tr.n : (t.health.eps[i]?.n ?? 0),
      cooldown: tr.type === 'cool',
    });
  }

  attempted(ep: EndpointState, outcome: 'success' | 'cancelled' | ErrorClass, error: unknown, ms: number): void {
    const gw = this.call.gw;
    gw.emit({
      type: 'attempt',
      kind: 'gateway',
      name: gw.name,
      target: this.t.name,
      endpoint: ep.id,
      attempt: this.call.attempts,
      outcome,
      error,
      ms,
    });
  }
}

/**
 * What a call resolves to. Iterating it iterates its value when that is a stream: a hedge that
 * discards a losing lane's answer then closes the stream inside (see `closeLate` in `breakwater/hedge`).
 */
class Answer implements GatewayResult {
  declare readonly value: unknown;
  declare readonly target: string;
  declare readonly endpoint: string;
  declare readonly attempts: number;
  declare readonly fallbacks: number;
  declare readonly usage: TokenUsage | undefined;
  declare readonly cost: number;
  declare readonly ms: number;

  constructor(
    value: unknown,
    target: string,
    endpoint: string,
    attempts: number,
    fallbacks: number,
    usage: TokenUsage | undefined,
    cost: number,
    ms: number,
  ) {
    this.value = value;
    this.target = target;
    this.endpoint = endpoint;
    this.attempts = attempts;
    this.fallbacks = fallbacks;
    this.usage = usage;
    this.cost = cost;
    this.ms = ms;
  }
}
Object.defineProperty(Answer.prototype, Symbol.asyncIterator, {
  value(this: Answer): AsyncIterator<unknown> {
    return (this.value as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  },
});

const isStream = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';

/** One call of a gateway. @internal */
export class Call {
  declare readonly gw: GatewayImpl<unknown>;
  declare readonly t: TargetState;
  declare readonly request: unknown;
  declare readonly options: GatewayCallOptions | undefined;
  declare readonly signal: AbortSignal | undefined;
  declare readonly t0: number;
  declare deadline: number;
  declare tokens: number;
  /** `{ cost: tokens }`, for the tpm buckets. */
  declare cost: { readonly cost: number };
  /** The key's tpm lease, trued up with the tokens the answer used. */
  declare keyTpm: RateLimitLease | undefined;
  /** `tokens` holds the request's estimate (something needed it at admission). */
  declare sized: boolean;
  /** USD reserved on the key's budget until the call's real cost is known. */
  declare reserved: number;
  declare key: string | undefined;
  declare ks: KeyState | undefined;
  declare attempts: number;
  declare fallbacks: number;
  /** The last endpoint error, its class (`undefined`: the target was unavailable) and its target. */
  declare error: unknown;
  declare cls: ErrorClass | undefined;
  declare errorTarget: TargetState | undefined;
  /** The interceptors' per-attempt function, when one wraps it. */
  declare wrapped: ((ctx: Context) => unknown) | undefined;
  declare visited: TargetState[] | undefined;
  /** Passes that found no endpoint free yet but may later, in the order they ran (see {@link Call.park}). */
  declare parked: Pass[] | undefined;
  /** The call is resuming its parked passes after a wait (their fallbacks do not wait again). */
  declare resuming: boolean;
  /** The options handed to the target policy (made once per call, unless a hedge gives lanes their own signals). */
  declare exec: { signal: AbortSignal | undefined; key: string | undefined; data: Record<string, unknown> | undefined };

  constructor(gw: GatewayImpl<unknown>, t: TargetState, request: unknown, options: GatewayCallOptions | undefined) {
    this.gw = gw;
    this.t = t;
    this.request = request;
    this.options = options;
    this.signal = options?.signal;
    const now = gw.clock.now();
    this.t0 = now;
    this.deadline = options?.deadline ?? now + gw.maxWait;
    this.tokens = 0;
    this.cost = ONE;
    this.keyTpm = undefined;
    this.sized = false;
    this.reserved = 0;
    this.key = options?.key;
    this.ks = undefined;
    this.attempts = this.fallbacks = 0;
    this.error = this.cls = this.errorTarget = this.wrapped = this.visited = this.parked = undefined;
    this.resuming = false;
    this.exec = { signal: this.signal, key: this.key, data: options?.data };
  }

  execOptions(signal: AbortSignal | undefined): Call['exec'] {
    const e = this.exec;
    return signal === e.signal ? e : { signal, key: e.key, data: e.data };
  }

  /** Auth, budget and limits, then the target. */
  start(): Promise<GatewayResult> {
    const auth = this.gw.auth;
    if (auth === undefined) return this.admit(undefined);
    let info: KeyInfo | PromiseLike<KeyInfo>;
    try {
      info = auth(this.request, this.options);
    } catch (error) {
      return Promise.reject(this.refused(error));
    }
    return Promise.resolve(info).then(
      (i) => this.admit(i),
      (error: unknown) => {
        throw this.refused(error);
      },
    );
  }

  refused(error: unknown): unknown {
    const e = isGatewayAuthError(error) ? error : new GatewayAuthError(undefined, { cause: error });
    this.rejected('auth', undefined, e);
    return e;
  }

  rejected(reason: 'auth' | 'budget' | 'limit' | 'unavailable', retryAfter: number | undefined, error: unknown): void {
    const gw = this.gw;
    if (gw.listening('rejected'))
      gw.emit({
        type: 'rejected',
        kind: 'gateway',
        name: gw.name,
        target: this.t.name,
        key: this.key,
        reason,
        retryAfter,
        error,
      });
  }

  admit(info: KeyInfo | undefined): Promise<GatewayResult> {
    const gw = this.gw;
    if (info !== undefined) {
      if (typeof info !== 'object' || info === null || typeof info.key !== 'string')
        return Promise.reject(this.refused(new TypeError('Expected `auth` to return { key: string, … }')));
      this.key = info.key;
      this.exec.key = info.key;
      const b = info.budget;
      if (b !== undefined) {
        // A budget the gateway cannot read would silently never refuse: the caller hears of it.
        try {
          checkObject('auth() result budget', b);
          checkKeys('auth() result budget', b, BUDGET_KEYS);
          checkNumber('auth() result budget.usd', b.usd, 0);
          if (b.per !== undefined) checkNumber('auth() result budget.per', b.per, 0, { exclusiveMin: true });
        } catch (error) {
          return Promise.reject(error);
        }
      }
    }
    const t = this.t;
    // The estimate is made only where something reads it: a context window, a tpm limit, a budget.
    if (gw.sizes || info?.limits?.tpm !== undefined || info?.budget !== undefined) {
      try {
        const tokens = t.estimate(this.request);
        if (typeof tokens !== 'number' || !(tokens >= 0))
          throw new TypeError(`Expected \`estimate\` to return a number ≥ 0, got ${String(tokens)}`);
        this.tokens = tokens;
        this.cost = { cost: tokens };
        this.sized = true;
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.key !== undefined) {
      const ks = gw.keyState(this.key);
      if (info !== undefined) ks.info = info;
      this.ks = ks;
      const budget = ks.info?.budget;
      if (budget !== undefined) {
        const now = gw.clock.now();
        // The calls in flight count with their estimated cost: N concurrent calls cannot all pass.
        const spent = ks.spentAt(now) + ks.reserved;
        if (spent >= budget.usd) {
          const retryAfter = Number.isNaN(ks.periodStart) ? INF : ks.periodStart + (budget.per ?? INF) - now;
          const e = new BudgetExceededError(this.key, budget.usd, spent, retryAfter);
          this.rejected('budget', retryAfter, e);
          return Promise.reject(e);
        }
      }
    }
    const ks = this.ks;
    const limits = ks?.info?.limits;
    if (limits !== undefined) {
      const refused = this.limit(limits);
      if (refused !== undefined) return Promise.reject(refused);
    }
    if (ks?.info?.budget !== undefined && this.sized) {
      const out = Math.min(maxOutputTokens(this.request), this.tokens);
      const usd = (this.tokens - out) * t.priceIn + out * t.priceOut;
      if (usd > 0) {
        this.reserved = usd;
        ks.reserve(usd);
      }
    }
    if (this.keyTpm !== undefined || this.reserved > 0) {
      return this.target(t).then(undefined, (error: unknown) => {
        settleLease(this.keyTpm, undefined); // nothing answered: the tokens go back
        this.release();
        throw error;
      });
    }
    return this.target(t);
  }

  /** Gives the call's budget reservation back (its real cost is known, or it failed). */
  release(): void {
    const usd = this.reserved;
    if (usd > 0) {
      this.reserved = 0;
      this.ks?.release(usd);
    }
  }

  /**
   * The request's estimated prompt tokens (its `estimate` less its `max_tokens`), for a stream that
   * ended without reporting its usage.
   */
  inputEstimate(t: TargetState): number {
    let tokens = this.tokens;
    if (!this.sized) {
      try {
        const n = t.estimate(this.request);
        tokens = typeof n === 'number' && n >= 0 ? n : 0;
      } catch {
        tokens = 0; // an estimate that fails never fails the stream
      }
    }
    return Math.max(0, tokens - maxOutputTokens(this.request));
  }

  /** Takes the call from the key's rpm and tpm buckets; the `RateLimitedError` when they refuse it. */
  limit(limits: NonNullable<KeyInfo['limits']>): unknown {
    const gw = this.gw;
    const key = this.key as string;
    let rpm: RateLimitLease | undefined;
    try {
      checkKeys('auth() result limits', limits, KEY_LIMIT_KEYS);
      const r = limits.rpm === undefined ? undefined : gw.keyLimiter('rpm', limits.rpm);
      if (r !== undefined) {
        rpm = r.tryAcquire({ key, cost: 1 }) as RateLimitLease | undefined;
        if (rpm === undefined) return this.limited((r.check({ key, cost: 1 }) as RateLimitDecision).retryAfter, 1);
      }
      const tk = limits.tpm === undefined ? undefined : gw.keyLimiter('tpm', limits.tpm);
      if (tk !== undefined) {
        const cost = this.tokens;
        this.keyTpm = tk.tryAcquire({ key, cost }) as RateLimitLease | undefined;
        if (this.keyTpm === undefined) {
          settleLease(rpm, undefined);
          return this.limited((tk.check({ key, cost }) as RateLimitDecision).retryAfter, cost);
        }
      }
    } catch (error) {
      return error; // limits from `auth` that are not numbers > 0
    }
    return undefined;
  }

  limited(retryAfter: number, cost: number): RateLimitedError {
    const e = new RateLimitedError(retryAfter === INF ? 'capacity' : 'limit', retryAfter, { key: this.key, cost });
    this.rejected('limit', retryAfter, e);
    return e;
  }

  /** Runs target `t`'s routing pass (`p`, when one is resumed), then its fallbacks (depth-first, each target at most once). */
  target(t: TargetState, p?: Pass): Promise<GatewayResult> {
    const r = this.pass(t, p);
    return t.hasFallbacks ? r.then(undefined, (error: unknown) => this.fallback(t, error)) : r;
  }

  /**
   * `t`'s pass failed with `error`: its fallbacks for the error's class, in order. At the end of
   * the target called, when some pass of the chain found no endpoint free yet, the call waits for
   * the earliest recovery and resumes those passes ({@link Call.resume}).
   */
  async fallback(t: TargetState, error: unknown): Promise<GatewayResult> {
    const signal = this.signal;
    if (signal?.aborted) throw signal.reason;
    let last = error;
    // The pass set `cls` to the class of the error it ended with (`undefined`: unavailable).
    let cls = this.cls;
    if (cls === undefined && !isUnavailable(error)) throw error; // not an endpoint's failure
    for (const name of t.fallbacksFor(cls)) {
      if (this.fallbacks >= this.gw.maxFallbacks) break;
      const next = this.gw.targets.get(name) as TargetState;
      this.visited ??= [this.t];
      if (this.visited.includes(next)) continue;
      this.visited.push(next);
      this.fallbacks++;
      const gw = this.gw;
      if (gw.listening('fallback')) {
        gw.emit({
          type: 'fallback',
          kind: 'gateway',
          name: gw.name,
          from: t.name,
          to: name,
          reason: cls ?? 'unavailable',
          depth: this.fallbacks,
        });
      }
      try {
        return await this.target(next);
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        last = e;
        cls = this.cls;
        if (cls === 'client') throw e; // the request's fault: nothing else is tried, nothing waited for
      }
    }
    if (t === this.t && this.parked !== undefined && !this.resuming) return this.resume(last);
    throw last;
  }

  /** Parks pass `p`: it found no endpoint free now, but one may be later. */
  park(p: Pass): void {
    if (p.parked) return;
    p.parked = true;
    if (this.parked === undefined) this.parked = [p];
    else this.parked.push(p);
  }

  /**
   * Every target of the chain was tried and none could take the call now: waits for the earliest
   * recovery among the parked passes (within the deadline), then resumes them in chain order
   * (the target called first), each with its fallbacks not tried yet; until one answers, every
   * pass left ends with a final error, or the deadline is past (`GatewayUnavailableError`).
   */
  async resume(error: unknown): Promise<GatewayResult> {
    const signal = this.signal;
    let last = error;
    this.resuming = true;
    for (;;) {
      const passes = this.parked as Pass[];
      await this.recover(passes, signal);
      this.parked = undefined;
      for (const p of passes) {
        p.parked = false;
        try {
          return await this.target(p.t, p);
        } catch (e) {
          if (signal?.aborted) throw signal.reason;
          last = e;
          if (this.cls === 'client') throw e;
        }
      }
      if (this.parked === undefined) throw last;
    }
  }

  /**
   * Waits until the earliest recovery among `passes` (an ejection or a cool-down ending, a bucket
   * refilling), an attempt on one of their targets ends (a concurrency slot or a probe), or
   * `signal` aborts; throws `GatewayUnavailableError` at once when the earliest known recovery is
   * past the call's deadline.
   */
  async recover(passes: readonly Pass[], signal: AbortSignal | undefined): Promise<void> {
    const gw = this.gw;
    const now = gw.clock.now();
    let next = INF;
    for (const p of passes) if (p.next < next) next = p.next;
    const limit = this.deadline;
    // A known recovery past the deadline fails now; an unknown one (a probe or a concurrency slot
    // pending) is waited for until the deadline.
    if ((next < INF && next > limit) || now >= limit) {
      const last = this.error;
      throw this.unavailable(
        new GatewayUnavailableError(
          this.t.name,
          next < INF ? Math.max(0, next - now) : gw.ejection.cooldown,
          last === undefined ? undefined : { cause: last },
        ),
      );
    }
    if (next <= now) return; // recovered while the other targets were tried
    await waitAny(passes, gw.clock, Math.min(next, limit) - now, signal);
  }

  /** One routing pass over `t`'s endpoints (lanes of it under a hedge). */
  pass(t: TargetState, p: Pass = new Pass(this, t)): Promise<GatewayResult> {
    this.cls = undefined;
    const h = t.hedge;
    if (h === undefined) return p.run(undefined);
    return h
      .execute((ctx) => p.run(ctx), this.exec)
      .then(undefined, (error: unknown) => {
        // Lanes ran concurrently: the class goes with the error the hedge ended on.
        this.cls = p.parked && isUnavailable(error) ? p.parkedClass() : this.classOf(error);
        throw error;
      });
  }

  /** `error`, after telling listeners that the target could not take the call. */
  unavailable(error: GatewayUnavailableError): GatewayUnavailableError {
    this.rejected('unavailable', error.retryAfter, error);
    return error;
  }

  /** The fallback class of a pass's error (`undefined`: unavailable). */
  classOf(error: unknown): ErrorClass | undefined {
    if (!isUnavailable(error)) return this.gw.classify(error);
    const e = error as GatewayUnavailableError;
    if (e.cause !== undefined) return this.gw.classify(e.cause);
    return e.retryAfter === INF ? 'context-length' : undefined;
  }

  /** Adds a request's usage to its endpoint, target and key; emits `usage`. */
  account(
    t: TargetState,
    ep: EndpointState,
    usage: TokenUsage | undefined,
    cost: number,
    request: boolean,
    value: unknown,
    estimated = false,
  ): void {
    if (usage !== undefined) settleLease(this.keyTpm, usage.inputTokens + usage.outputTokens);
    if (request) {
      ep.totals.add(usage, cost);
      t.totals.add(usage, cost);
      this.ks?.totals.add(usage, cost);
    } else {
      ep.totals.tokens(usage, cost);
      t.totals.tokens(usage, cost);
      this.ks?.totals.tokens(usage, cost);
    }
    const gw = this.gw;
    if (cost > 0 && this.ks !== undefined) this.ks.spend(cost, gw.clock.now());
    if (usage === undefined || !gw.listening('usage')) return;
    const m = (value as { model?: unknown } | null | undefined)?.model;
    gw.emit({
      type: 'usage',
      kind: 'gateway',
      name: gw.name,
      target: t.name,
      endpoint: ep.id,
      key: this.key,
      operation: 'chat',
      model: ep.model ?? (typeof m === 'string' ? m : ep.id),
      provider: ep.provider,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      cost,
      estimated,
    } satisfies GatewayEvent);
  }
}

const isUnavailable = isGatewayUnavailableError;

/**
 * Waits until `ms` pass, an attempt on a target of `passes` ends (waking every call waiting on it),
 * or `signal` aborts (rejecting with its reason). The slow path: a call only gets here when no
 * endpoint of its chain can take it now.
 */
function waitAny(passes: readonly Pass[], clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    let timer: unknown;
    const done = (): void => {
      cleanup();
      resolve();
    };
    const abort = (): void => {
      cleanup();
      reject((signal as AbortSignal).reason);
    };
    const cleanup = (): void => {
      if (timer !== undefined) clock.clearTimeout(timer);
      for (const p of passes) p.t.waiters.delete(done);
      signal?.removeEventListener('abort', abort);
    };
    signal?.addEventListener('abort', abort, { once: true });
    if (ms < INF) timer = clock.setTimeout(done, Math.max(0, ms));
    for (const p of passes) p.t.waiters.add(done);
  });
}
