import {
  type Attributes,
  type BatchObservableResult,
  type Counter,
  context,
  type Exception,
  type Histogram,
  type Meter,
  type ObservableGauge,
  type ObservableUpDownCounter,
  type Context as OtelContext,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { Context, ExecuteOptions } from '../core/context.js';
import { isTimeoutError } from '../core/errors.js';
import type { PolicyEventBase } from '../core/events.js';
import * as N from './names.js';
import type { GenAiCall, InterceptedCall, LayerInfo, UsageEvent } from './types.js';

type Task = (ctx: Context) => unknown;
/** `execute` or `proceed`: runs a call with the (wrapped) function. */
type Runner = (this: unknown, fn: Task, options?: ExecuteOptions) => Promise<unknown>;

/** The context key under which a traced call keeps its {@link Call}, so listeners find it. */
const CALL: symbol = /*#__PURE__*/ Symbol('breakwater call');
const NOT_ABORTED: unique symbol = /*#__PURE__*/ Symbol();

// Bucket advice from the gen_ai semantic conventions.
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

/** The metric instruments of one instrumentation. */
interface Instruments {
  readonly callDuration: Histogram;
  readonly retries: Counter;
  readonly timeouts: Counter;
  readonly rejections: Counter;
  readonly transitions: Counter;
  readonly waits: Counter;
  readonly waitDuration: Histogram;
  readonly tokenUsage: Histogram;
  readonly operationDuration: Histogram;
  readonly cost: Counter;
  readonly breakerState: ObservableGauge;
  readonly active: ObservableUpDownCounter;
  readonly queued: ObservableUpDownCounter;
}

function instruments(m: Meter): Instruments {
  return {
    callDuration: m.createHistogram('breakwater.call.duration', {
      unit: 's',
      description: 'Duration of calls through a breakwater policy, by outcome.',
    }),
    retries: m.createCounter('breakwater.retries', { unit: '{retry}', description: 'Retries scheduled.' }),
    timeouts: m.createCounter('breakwater.timeouts', { unit: '{timeout}', description: 'Timeouts that fired.' }),
    rejections: m.createCounter('breakwater.rejections', {
      unit: '{call}',
      description: 'Calls rejected without running: open breaker, full bulkhead, rate limit.',
    }),
    transitions: m.createCounter('breakwater.breaker.transitions', {
      unit: '{transition}',
      description: 'Circuit breaker state changes, by the state entered.',
    }),
    waits: m.createCounter('breakwater.rate_limit.waits', {
      unit: '{call}',
      description: 'Calls that waited for the rate limiter.',
    }),
    waitDuration: m.createHistogram('breakwater.rate_limit.wait.duration', {
      unit: 's',
      description: 'Time calls waited for the rate limiter.',
    }),
    tokenUsage: m.createHistogram('gen_ai.client.token.usage', {
      unit: '{token}',
      description: 'Number of input and output tokens used.',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    }),
    operationDuration: m.createHistogram('gen_ai.client.operation.duration', {
      unit: 's',
      description: 'GenAI operation duration.',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    cost: m.createCounter(N.COST, { unit: '{USD}', description: 'Cost of generative-AI requests.' }),
    breakerState: m.createObservableGauge('breakwater.breaker.state', {
      unit: '1',
      description: 'Circuit breaker state: 1 for the current state, 0 for the others.',
    }),
    active: m.createObservableUpDownCounter('breakwater.bulkhead.active', {
      unit: '{call}',
      description: 'Calls running inside a bulkhead.',
    }),
    queued: m.createObservableUpDownCounter('breakwater.bulkhead.queued', {
      unit: '{call}',
      description: 'Calls waiting for a bulkhead slot.',
    }),
  };
}

/** `kind` or `kind:name`, the entries of `breakwater.policy.path`. */
const pathOf = (layers: readonly LayerInfo[]): string[] =>
  layers.map((l) => (l.name === undefined ? l.kind : `${l.kind}:${l.name}`));

const exception = (error: unknown): Exception =>
  typeof error === 'object' && error !== null ? (error as Exception) : String(error);

const messageOf = (error: unknown): string | undefined => {
  const m = (error as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? m : undefined;
};

function json(value: unknown): string | undefined {
  try {
    return typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/**
 * Why an attempt ended other than by its own outcome: the abort reason of its context (an enclosing
 * timeout, the caller, a hedge that picked another attempt), read from the call context's scope
 * without making a signal. {@link NOT_ABORTED} when nothing aborted it or the context is not ours.
 */
function abortOf(ctx: unknown): unknown {
  const c = ctx as { scope?: { aborted: boolean; reason: unknown }; callerSignal?: AbortSignal } | null;
  const s = c?.scope;
  if (s != null) return s.aborted ? s.reason : NOT_ABORTED;
  const caller = c?.callerSignal;
  return caller?.aborted ? caller.reason : NOT_ABORTED;
}

/** One traced call: its span, its open attempt spans, and what events told about it. */
class Call {
  readonly t: Telemetry;
  readonly fn: Task;
  readonly span: Span;
  readonly ctx: OtelContext;
  readonly label: string;
  readonly gen: GenAiCall | undefined;
  readonly start: number;
  /** The function handed to the target in place of `fn`: one attempt span per invocation. */
  readonly wrapped: Task;
  attempts = 0;
  /** The delay of the last `retry` event, for the attempt that follows it. */
  delay: number | undefined = undefined;
  fellBack = false;
  done = false;
  open: Span[] | undefined = undefined;
  responseModel: string | undefined = undefined;
  provider: string | undefined;
  inputTokens = 0;
  outputTokens = 0;
  cost = 0;

  constructor(t: Telemetry, fn: Task, info: InterceptedCall<unknown> | undefined) {
    this.t = t;
    this.fn = fn;
    this.gen = info?.genAi;
    this.label = info?.name ?? t.label;
    this.provider = this.gen?.provider;
    const parent = context.active();
    const attributes: Attributes = { [N.TARGET]: this.label, [N.PATH]: info?.layers ? pathOf(info.layers) : t.path };
    let name = `breakwater ${this.label}`;
    let kind = SpanKind.INTERNAL;
    const gen = this.gen;
    if (gen !== undefined) {
      name = `${gen.operation} ${gen.model}`;
      kind = SpanKind.CLIENT;
      attributes[N.GEN_AI_OPERATION] = gen.operation;
      attributes[N.GEN_AI_REQUEST_MODEL] = gen.model;
      if (gen.provider !== undefined) attributes[N.GEN_AI_PROVIDER] = gen.provider;
      if (t.captureContent && gen.input !== undefined) {
        const input = json(gen.input);
        if (input !== undefined) attributes[N.GEN_AI_INPUT] = input;
      }
    }
    this.span = t.tracer.startSpan(name, { kind, attributes }, parent);
    this.ctx = trace.setSpan(parent, this.span).setValue(CALL, this);
    this.start = t.now();
    this.wrapped = (ctx) => this.attempt(ctx);
  }

  /** Runs one attempt of the user's function under its own span, current while it runs. */
  attempt(ctx: Context): unknown {
    const n = ++this.attempts;
    const attributes: Attributes = { [N.ATTEMPT]: typeof ctx?.attempt === 'number' ? ctx.attempt : n };
    if (this.delay !== undefined) {
      attributes[N.ATTEMPT_DELAY] = this.delay;
      this.delay = undefined;
    }
    const span = this.t.tracer.startSpan(N.ATTEMPT_SPAN, { kind: SpanKind.INTERNAL, attributes }, this.ctx);
    this.open ??= [];
    this.open.push(span);
    let r: unknown;
    try {
      r = context.with(trace.setSpan(this.ctx, span), this.fn, undefined, ctx);
    } catch (error) {
      this.endAttempt(span, ctx, false, error);
      throw error;
    }
    if (typeof (r as PromiseLike<unknown> | null)?.then !== 'function') {
      this.endAttempt(span, ctx, true, r);
      return r;
    }
    return Promise.resolve(r).then(
      (value) => {
        this.endAttempt(span, ctx, true, value);
        return value;
      },
      (error: unknown) => {
        this.endAttempt(span, ctx, false, error);
        throw error;
      },
    );
  }

  endAttempt(span: Span, ctx: Context, ok: boolean, value: unknown): void {
    const open = this.open;
    const i = open === undefined ? -1 : open.indexOf(span);
    if (i < 0) return; // already ended as abandoned when the call settled
    (open as Span[]).splice(i, 1);
    // An abort of the attempt's context decides its outcome: the layers around it report the
    // abort reason (a timeout's TimeoutError, the caller's reason) whatever `fn` did after.
    const reason = abortOf(ctx);
    let outcome = ok ? 'success' : 'error';
    let cause = value;
    if (reason !== NOT_ABORTED) {
      outcome = isTimeoutError(reason) ? 'timeout' : 'cancelled';
      cause = reason;
      if (ok) value = reason;
    }
    span.setAttribute(N.ATTEMPT_OUTCOME, outcome);
    if (outcome !== 'success') {
      span.setAttribute(N.ERROR_TYPE, N.errorType(cause));
      span.recordException(exception(value));
      span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(cause) as string });
    }
    span.end();
  }

  /** The call settled: ends its span (and any attempt it walked away from) and records its metrics. */
  end(ok: boolean, value: unknown): void {
    this.done = true;
    const span = this.span;
    const open = this.open;
    if (open !== undefined) {
      this.open = undefined;
      for (const s of open) {
        s.setAttribute(N.ATTEMPT_OUTCOME, 'abandoned');
        s.end();
      }
    }
    const outcome = ok ? (this.fellBack ? 'fallback' : 'success') : 'error';
    span.setAttribute(N.ATTEMPTS, this.attempts);
    span.setAttribute(N.OUTCOME, outcome);
    const metric: Attributes = { [N.TARGET]: this.label, [N.OUTCOME]: outcome };
    let type: string | undefined;
    if (!ok) {
      type = N.errorType(value);
      metric[N.ERROR_TYPE] = type;
      span.setAttribute(N.ERROR_TYPE, type);
      if (isTimeoutError(value)) span.addEvent('breakwater.timeout', { [N.TIMEOUT_MS]: value.timeoutMs });
      span.recordException(exception(value));
      span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(value) as string });
    }
    const gen = this.gen;
    const t = this.t;
    if (gen !== undefined && ok && t.captureContent && gen.output !== undefined) {
      let out: string | undefined;
      try {
        out = json(gen.output(value));
      } catch {
        // A throwing reader records no output; the call's outcome is unchanged.
      }
      if (out !== undefined) span.setAttribute(N.GEN_AI_OUTPUT, out);
    }
    span.end();
    const seconds = (t.now() - this.start) / 1000;
    t.m.callDuration.record(seconds, metric);
    if (gen !== undefined) {
      const a: Attributes = { [N.GEN_AI_OPERATION]: gen.operation, [N.GEN_AI_REQUEST_MODEL]: gen.model };
      if (this.provider !== undefined) a[N.GEN_AI_PROVIDER] = this.provider;
      if (this.responseModel !== undefined) a[N.GEN_AI_RESPONSE_MODEL] = this.responseModel;
      if (type !== undefined) a[N.ERROR_TYPE] = type;
      t.m.operationDuration.record(seconds, a);
    }
  }
}

/**
 * One instrumentation of one target: the tracer, the instruments, and the event listener that
 * turns the target's events into span events and metrics.
 * @internal
 */
export class Telemetry {
  readonly target: { readonly layers?: readonly LayerInfo[] | undefined };
  readonly tracer: Tracer;
  readonly meter: Meter;
  readonly m: Instruments;
  readonly label: string;
  readonly path: string[];
  readonly captureContent: boolean;
  readonly now: () => number;
  enabled = true;

  constructor(
    target: { readonly layers?: readonly LayerInfo[] | undefined },
    tracer: Tracer,
    meter: Meter,
    label: string,
    captureContent: boolean,
    now: () => number,
  ) {
    this.target = target;
    this.tracer = tracer;
    this.meter = meter;
    this.m = instruments(meter);
    this.label = label;
    this.path = pathOf(target.layers ?? []);
    this.captureContent = captureContent;
    this.now = now;
  }

  /** Runs one call traced: its span is current while `run` starts it, and `fn` is wrapped per attempt. */
  call(
    run: Runner,
    self: unknown,
    fn: Task,
    options: ExecuteOptions | undefined,
    info?: InterceptedCall<unknown>,
  ): Promise<unknown> {
    const c = new Call(this, fn, info);
    let p: Promise<unknown>;
    try {
      p = context.with(c.ctx, run, self, c.wrapped, options);
    } catch (error) {
      p = Promise.reject(error);
    }
    return p.then(
      (value) => {
        c.end(true, value);
        return value;
      },
      (error: unknown) => {
        c.end(false, error);
        throw error;
      },
    );
  }

  /** The traced call of this instrumentation the current context belongs to, if any. */
  #current(): Call | undefined {
    const c = context.active().getValue(CALL) as Call | undefined;
    return c !== undefined && c.t === this && !c.done ? c : undefined;
  }

  /**
   * Maps one event. Per-call events find their call through the active context (they are emitted
   * inside the call's own async flow); `timeout` and the bulkhead's `dequeue` are not (a shared
   * timer, another call's release), so timeouts are read from outcomes instead.
   */
  readonly onEvent = (e: PolicyEventBase): void => {
    const call = this.#current();
    const m = this.m;
    const attrs: Attributes = { [N.KIND]: e.kind };
    if (e.name !== undefined) attrs[N.NAME] = e.name;
    const metric: Attributes = { ...attrs, [N.TARGET]: call?.label ?? this.label };
    const ev = e as PolicyEventBase & Record<string, unknown>;
    if ('error' in ev && ev.error !== undefined) attrs[N.ERROR_TYPE] = metric[N.ERROR_TYPE] = N.errorType(ev.error);
    switch (e.type) {
      case 'retry':
        m.retries.add(1, metric);
        if (call !== undefined) {
          call.delay = ev.delay as number;
          attrs[N.ATTEMPT] = ev.attempt as number;
          attrs[N.RETRY_DELAY] = ev.delay as number;
          call.span.addEvent('breakwater.retry', attrs);
        }
        return;
      case 'give-up':
        attrs[N.ATTEMPT] = ev.attempt as number;
        attrs[N.GIVE_UP_REASON] = ev.reason as string;
        call?.span.addEvent('breakwater.give_up', attrs);
        return;
      case 'timeout':
        m.timeouts.add(1, metric);
        return;
      case 'fallback':
        if (call !== undefined) {
          call.fellBack = true;
          call.span.addEvent('breakwater.fallback', attrs);
        }
        return;
      case 'reject':
      case 'rate-limited':
        if (ev.shadow === true) attrs[N.SHADOW] = metric[N.SHADOW] = true;
        m.rejections.add(1, metric);
        call?.span.addEvent(`breakwater.${e.type === 'reject' ? 'reject' : 'rate_limited'}`, attrs);
        return;
      case 'wait': {
        m.waits.add(1, metric);
        const ms = [ev.waited, ev.delay, ev.ms].find((x) => typeof x === 'number') as number | undefined;
        if (ms !== undefined) m.waitDuration.record(ms / 1000, metric);
        call?.span.addEvent('breakwater.wait', attrs);
        return;
      }
      case 'open':
      case 'half-open':
      case 'close':
      case 'isolate': {
        metric[N.BREAKER_STATE] = attrs[N.BREAKER_STATE] = e.type === 'isolate' ? 'isolated' : e.type;
        m.transitions.add(1, metric);
        // On the call that caused it, else on whatever span is current (a state read inside it).
        const span = call?.span ?? trace.getSpan(context.active());
        span?.addEvent(`breakwater.breaker.${e.type.replace('-', '_')}`, attrs);
        return;
      }
      case 'usage':
        this.#usage(ev as unknown as UsageEvent, call);
        return;
      case 'success':
      case 'failure':
      case 'dequeue':
        return; // the attempt spans carry outcomes; a dequeue runs in another call's flow
      default:
        call?.span.addEvent(`breakwater.${e.type}`, attrs);
    }
  };

  #usage(u: UsageEvent, call: Call | undefined): void {
    const gen = call?.gen;
    const a: Attributes = {};
    const operation = gen?.operation ?? u.operation;
    const provider = u.provider ?? gen?.provider;
    if (operation !== undefined) a[N.GEN_AI_OPERATION] = operation;
    if (provider !== undefined) a[N.GEN_AI_PROVIDER] = provider;
    if (gen !== undefined) a[N.GEN_AI_REQUEST_MODEL] = gen.model;
    if (typeof u.model === 'string') a[N.GEN_AI_RESPONSE_MODEL] = u.model;
    const m = this.m;
    const input = typeof u.inputTokens === 'number' ? u.inputTokens : undefined;
    const output = typeof u.outputTokens === 'number' ? u.outputTokens : undefined;
    if (input !== undefined) m.tokenUsage.record(input, { ...a, [N.GEN_AI_TOKEN_TYPE]: 'input' });
    if (output !== undefined) m.tokenUsage.record(output, { ...a, [N.GEN_AI_TOKEN_TYPE]: 'output' });
    if (typeof u.cost === 'number') m.cost.add(u.cost, a);
    if (call === undefined) return;
    // Several requests in one call (a fallback to another model) add up; the last model answered.
    const span = call.span;
    if (typeof u.model === 'string') {
      call.responseModel = u.model;
      span.setAttribute(N.GEN_AI_RESPONSE_MODEL, u.model);
    }
    if (provider !== undefined && call.provider === undefined) {
      call.provider = provider;
      span.setAttribute(N.GEN_AI_PROVIDER, provider);
    }
    if (input !== undefined) span.setAttribute(N.GEN_AI_INPUT_TOKENS, (call.inputTokens += input));
    if (output !== undefined) span.setAttribute(N.GEN_AI_OUTPUT_TOKENS, (call.outputTokens += output));
    if (typeof u.cost === 'number') span.setAttribute(N.COST, (call.cost += u.cost));
  }

  /** The gauges: every breaker's state, every bulkhead's active and queued calls, read at collection. */
  readonly observe = (o: BatchObservableResult): void => {
    const m = this.m;
    for (const layer of new Set(this.target.layers ?? [])) {
      const l = layer as LayerInfo & { state?: unknown; active?: unknown; queued?: unknown };
      const a: Attributes = { [N.TARGET]: this.label };
      if (l.name !== undefined) a[N.NAME] = l.name;
      if (l.kind === 'breaker' && typeof l.state === 'string') {
        const state = l.state;
        for (const s of N.BREAKER_STATES)
          o.observe(m.breakerState, s === state ? 1 : 0, { ...a, [N.BREAKER_STATE]: s });
      } else if (l.kind === 'bulkhead' && typeof l.active === 'number' && typeof l.queued === 'number') {
        o.observe(m.active, l.active, a);
        o.observe(m.queued, l.queued, a);
      }
    }
  };
}
