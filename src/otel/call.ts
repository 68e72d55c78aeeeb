import {
  type Attributes,
  context,
  type Exception,
  type Context as OtelContext,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { Context } from '../core/context.js';
import { isTimeoutError } from '../core/errors.js';
import type { Instruments } from './metrics.js';
import * as N from './names.js';
import type { AttemptInfo, GenAiCall, InterceptedCall, LayerInfo, Usage } from './types.js';

/** A function a policy runs. */
export type Task = (ctx: Context) => unknown;

/** What a {@link Call} needs of its instrumentation. */
export interface Owner {
  readonly tracer: Tracer;
  readonly m: Instruments;
  readonly label: string;
  readonly path: string[];
  readonly captureContent: boolean;
  readonly now: () => number;
  /** `breakwater <label>`. */
  readonly spanName: string;
}

/** The context key under which a traced call keeps its {@link Call}, so listeners find it. */
export const CALL: symbol = /*#__PURE__*/ Symbol('breakwater call');
const NOT_ABORTED: unique symbol = /*#__PURE__*/ Symbol();

/** `kind` or `kind:name`, the entries of `breakwater.policy.path`. */
export const pathOf = (layers: readonly LayerInfo[]): string[] =>
  layers.map((l) => (l.name === undefined ? l.kind : `${l.kind}:${l.name}`));

const exception = (error: unknown): Exception =>
  typeof error === 'object' && error !== null ? (error as Exception) : String(error);

const messageOf = (error: unknown): string | undefined => {
  const m = (error as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? m : undefined;
};

/** `f(value)`, or undefined when it throws: a reader's failure never changes the call's outcome. */
function read(f: (value: unknown) => unknown, value: unknown): unknown {
  try {
    return f(value);
  } catch {
    return undefined;
  }
}

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

/** Ends an attempt span: its outcome; for a failure its `error.type`, exception and ERROR status. */
function closeAttempt(span: Span, outcome: string, cause: unknown, thrown: unknown): void {
  span.setAttribute(N.ATTEMPT_OUTCOME, outcome);
  if (outcome !== 'success' && outcome !== 'abandoned') {
    span.setAttribute(N.ERROR_TYPE, N.errorType(cause));
    span.recordException(exception(thrown));
    span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(cause) as string });
  }
  span.end();
}

/** One traced call: its span, its open attempt spans, and what events told about it. */
export class Call {
  readonly t: Owner;
  readonly fn: Task;
  readonly span: Span;
  readonly ctx: OtelContext;
  readonly label: string;
  readonly gen: GenAiCall | undefined;
  readonly start: number;
  /**
   * The function handed to the target in place of `fn`: one attempt span per invocation, or `fn`
   * itself when the call's span is not recording (no SDK, or sampled out).
   */
  readonly wrapped: Task;
  readonly recording: boolean;
  /** Describes each attempt (a gateway's endpoint), from the intercepted call. */
  readonly describe: ((ctx: Context) => AttemptInfo | undefined) | undefined;
  attempts = 0;
  /** The delay of the last `retry` event, for the attempt that follows it. */
  delay: number | undefined = undefined;
  fellBack = false;
  done = false;
  /** Attempts still running, with their contexts (usually one). */
  open: { readonly span: Span; readonly ctx: Context }[] | undefined = undefined;
  responseModel: string | undefined = undefined;
  provider: string | undefined;
  inputTokens = 0;
  outputTokens = 0;
  cost = 0;

  constructor(t: Owner, fn: Task, info: InterceptedCall<unknown> | undefined, gen: GenAiCall | undefined) {
    this.t = t;
    this.fn = fn;
    this.gen = gen;
    this.label = info?.name ?? t.label;
    this.provider = this.gen?.provider;
    this.describe = typeof info?.attempt === 'function' ? info.attempt : undefined;
    const parent = context.active();
    const attributes: Attributes = { [N.TARGET]: this.label, [N.PATH]: info?.layers ? pathOf(info.layers) : t.path };
    let name = info?.name === undefined ? t.spanName : `breakwater ${this.label}`;
    let kind = SpanKind.INTERNAL;
    if (gen !== undefined) {
      attributes[N.GEN_AI_OPERATION] = gen.operation;
      if (gen.provider !== undefined) attributes[N.GEN_AI_PROVIDER] = gen.provider;
      if (gen.tool !== undefined) {
        name = `${gen.operation} ${gen.tool}`;
        attributes[N.GEN_AI_TOOL] = gen.tool;
      } else {
        name = gen.model === undefined ? gen.operation : `${gen.operation} ${gen.model}`;
        kind = SpanKind.CLIENT;
      }
      if (gen.model !== undefined) attributes[N.GEN_AI_REQUEST_MODEL] = gen.model;
    }
    const span = t.tracer.startSpan(name, { kind, attributes }, parent);
    this.span = span;
    this.recording = span.isRecording();
    if (this.recording && t.captureContent && gen?.input !== undefined) {
      const input = json(gen.input);
      if (input !== undefined) span.setAttribute(N.GEN_AI_INPUT, input);
    }
    // A span that records nothing (no SDK, or sampled out) gets no attempt spans and is not made
    // current: under the usual parent-based sampling its children would record nothing either, and
    // spans `fn` makes keep the caller's span as their parent. The context still carries the call,
    // so events find it for the metrics.
    this.ctx = this.recording ? trace.setSpan(parent, span).setValue(CALL, this) : parent.setValue(CALL, this);
    this.start = t.now();
    this.wrapped = this.recording ? (ctx) => this.attempt(ctx) : fn;
  }

  /** Runs one attempt of the user's function under its own span, current while it runs. */
  attempt(ctx: Context): unknown {
    const n = ++this.attempts;
    const attributes: Attributes = { [N.ATTEMPT]: typeof ctx?.attempt === 'number' ? ctx.attempt : n };
    if (this.describe !== undefined) {
      const d = read(this.describe as (ctx: unknown) => unknown, ctx) as AttemptInfo | undefined;
      if (typeof d === 'object' && d !== null) {
        if (typeof d.attempt === 'number') attributes[N.ATTEMPT] = d.attempt;
        if (typeof d.endpoint === 'string') attributes[N.ENDPOINT] = d.endpoint;
        if (typeof d.provider === 'string') attributes[N.GEN_AI_PROVIDER] = d.provider;
        if (typeof d.model === 'string') attributes[N.GEN_AI_REQUEST_MODEL] = d.model;
      }
    }
    if (this.delay !== undefined) {
      attributes[N.ATTEMPT_DELAY] = this.delay;
      this.delay = undefined;
    }
    const span = this.t.tracer.startSpan(N.ATTEMPT_SPAN, { kind: SpanKind.INTERNAL, attributes }, this.ctx);
    this.open ??= [];
    this.open.push({ span, ctx });
    let r: unknown;
    try {
      r = context.with(trace.setSpan(this.ctx, span), () => this.fn(ctx));
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
    const i = open === undefined ? -1 : open.findIndex((a) => a.span === span);
    if (i < 0) return; // already ended when the call settled
    (open as unknown[]).splice(i, 1);
    // An abort of the attempt's context decides its outcome: the layers around it report the
    // abort reason (a timeout's TimeoutError, the caller's reason) whatever `fn` did after.
    const reason = abortOf(ctx);
    if (reason !== NOT_ABORTED)
      closeAttempt(span, isTimeoutError(reason) ? 'timeout' : 'cancelled', reason, ok ? reason : value);
    else closeAttempt(span, ok ? 'success' : 'error', value, value);
  }

  /** The call settled: ends its span (and any attempt still running) and records its metrics. */
  end(ok: boolean, value: unknown): void {
    this.done = true;
    const span = this.span;
    const open = this.open;
    if (open !== undefined) {
      this.open = undefined;
      // Aborted (a hedge's loser, a timed-out attempt) but not settled yet, or walked away from (an
      // aggressive timeout's attempt, still running unaware).
      for (const a of open) {
        const reason = abortOf(a.ctx);
        if (reason === NOT_ABORTED) closeAttempt(a.span, 'abandoned', undefined, undefined);
        else closeAttempt(a.span, isTimeoutError(reason) ? 'timeout' : 'cancelled', reason, reason);
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
    if (gen !== undefined && ok) {
      if (this.recording && t.captureContent && gen.output !== undefined) {
        const out = json(read(gen.output, value));
        if (out !== undefined) span.setAttribute(N.GEN_AI_OUTPUT, out);
      }
      const u = gen.usage === undefined ? undefined : read(gen.usage, value);
      if (typeof u === 'object' && u !== null) recordUsage(t.m, u as Usage, this);
    }
    span.end();
    const seconds = (t.now() - this.start) / 1000;
    t.m.callDuration.record(seconds, metric);
    if (gen !== undefined) {
      const a: Attributes = { [N.GEN_AI_OPERATION]: gen.operation };
      if (gen.model !== undefined) a[N.GEN_AI_REQUEST_MODEL] = gen.model;
      if (this.provider !== undefined) a[N.GEN_AI_PROVIDER] = this.provider;
      if (this.responseModel !== undefined) a[N.GEN_AI_RESPONSE_MODEL] = this.responseModel;
      if (type !== undefined) a[N.ERROR_TYPE] = type;
      t.m.operationDuration.record(seconds, a);
    }
  }
}

/**
 * Records one model request's usage: the token and cost metrics, and, for a traced call, its span's
 * `gen_ai.usage.*` attributes (several requests in one call, a fallback to another model, add up;
 * the last model to answer is the response model).
 */
export function recordUsage(m: Instruments, u: Usage, call: Call | undefined): void {
  const gen = call?.gen;
  const a: Attributes = {};
  const operation = gen?.operation ?? u.operation;
  const provider = u.provider ?? gen?.provider;
  if (operation !== undefined) a[N.GEN_AI_OPERATION] = operation;
  if (provider !== undefined) a[N.GEN_AI_PROVIDER] = provider;
  if (gen?.model !== undefined) a[N.GEN_AI_REQUEST_MODEL] = gen.model;
  if (typeof u.model === 'string') a[N.GEN_AI_RESPONSE_MODEL] = u.model;
  const input = typeof u.inputTokens === 'number' ? u.inputTokens : undefined;
  const output = typeof u.outputTokens === 'number' ? u.outputTokens : undefined;
  if (input !== undefined) m.tokenUsage.record(input, { ...a, [N.GEN_AI_TOKEN_TYPE]: 'input' });
  if (output !== undefined) m.tokenUsage.record(output, { ...a, [N.GEN_AI_TOKEN_TYPE]: 'output' });
  if (typeof u.cost === 'number') m.cost.add(u.cost, a);
  if (call === undefined) return;
  const span = call.span;
  if (typeof u.model === 'string') {
    call.responseModel = u.model;
    span.setAttribute(N.GEN_AI_RESPONSE_MODEL, u.model);
  }
  if (provider !== undefined && call.provider === undefined) {
    call.provider = provider;
    span.setAttribute(N.GEN_AI_PROVIDER, provider);
  }
  if (input !== undefined) {
    call.inputTokens += input;
    span.setAttribute(N.GEN_AI_INPUT_TOKENS, call.inputTokens);
  }
  if (output !== undefined) {
    call.outputTokens += output;
    span.setAttribute(N.GEN_AI_OUTPUT_TOKENS, call.outputTokens);
  }
  if (typeof u.cost === 'number') {
    call.cost += u.cost;
    span.setAttribute(N.COST, call.cost);
  }
}
