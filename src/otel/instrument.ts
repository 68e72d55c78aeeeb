import { metrics, trace } from '@opentelemetry/api';
import type { Context, ExecuteOptions } from '../core/context.js';
import { checkFunction, checkObject, fail } from '../core/validate.js';
import { EVENT_TYPES, SCHEMA_URL, SCOPE, VERSION } from './names.js';
import { Telemetry } from './telemetry.js';
import type { Instrumentable, InstrumentOptions, InterceptedCall, Interceptor, Uninstrument } from './types.js';

type Execute = (this: unknown, fn: (ctx: Context) => unknown, options?: ExecuteOptions) => Promise<unknown>;

const defaultNow = (): number => {
  const p = (globalThis as { performance?: { now(): number } }).performance;
  return p !== undefined ? p.now() : Date.now();
};

/** The label of a target: the option, its own name, else its layers' names or kinds. */
function labelOf(target: Instrumentable, name: string | undefined): string {
  if (name !== undefined) return name;
  if (typeof target.name === 'string' && target.name !== '') return target.name;
  const layers = target.layers ?? [];
  return layers.length > 0 ? layers.map((l) => l.name ?? l.kind).join('/') : 'policy';
}

/** Every traced `execute` made here: its instrumentation and what it replaced. */
const traced = /*#__PURE__*/ new WeakMap<
  Execute,
  { readonly t: Telemetry; readonly previous: Execute; readonly own: boolean }
>();

/** Replaces `execute` on the target with a traced one; returns the function that puts it back. */
function patchExecute(target: Instrumentable, t: Telemetry): () => void {
  const own = Object.hasOwn(target, 'execute');
  const previous = target.execute as Execute;
  const execute: Execute = function (this: unknown, fn, options) {
    return t.enabled ? t.call(previous, this, fn, options) : previous.call(this, fn, options);
  };
  traced.set(execute, { t, previous, own });
  (target as { execute: Execute }).execute = execute;
  return () => {
    // Instrumented again on top of this one: stay in place as a pass-through (`enabled` is off)
    // until the outer one is removed, which then unwinds this one too.
    if (target.execute !== (execute as unknown)) return;
    let restore = previous;
    let wasOwn = own;
    for (let p = traced.get(restore); p !== undefined && !p.t.enabled; p = traced.get(restore)) {
      restore = p.previous;
      wasOwn = p.own;
    }
    if (wasOwn) (target as { execute: Execute }).execute = restore;
    else delete (target as { execute?: Execute }).execute;
  };
}

/**
 * Attaches OpenTelemetry tracing and metrics to a policy, a pipeline, or any {@link Instrumentable}
 * (a registry, a gateway), without touching the code it protects. Each `execute` gets a span
 * (current while the call runs, so spans `fn` makes are its descendants) with a child span per
 * attempt; retries, fallbacks, rejections and breaker transitions become span events; calls,
 * retries, timeouts, rejections, breaker state, bulkhead occupancy, limiter waits and gen_ai token
 * usage become metrics. Without providers it uses the global API, which records nothing until an
 * SDK is registered. The returned function removes it all; an uninstrumented policy runs its
 * original `execute` with no listener.
 *
 * Span events that belong to one call (a retry's delay, a fallback) are found through the active
 * OpenTelemetry context, so they need a context manager (every Node SDK setup registers one).
 *
 * @throws TypeError when `target` has no `on`, or neither `execute` nor `intercept`, or an option is invalid.
 * @example
 * ```ts
 * import { instrument } from 'breakwater/otel';
 *
 * const llm = Policy.wrap(timeout(60_000), retry({ maxRetries: 3 }), timeout(20_000));
 * const uninstrument = instrument(llm, { name: 'llm' });
 * await llm.execute(({ signal }) => client.chat.completions.create(req, { signal }));
 * uninstrument();
 * ```
 */
export function instrument(target: Instrumentable, options?: InstrumentOptions): Uninstrument {
  if (typeof (target as Instrumentable | null)?.on !== 'function') {
    fail('target', 'a policy, a pipeline, or an object with `on` and `execute` or `intercept`', target);
  }
  const intercept = typeof target.intercept === 'function';
  if (!intercept && typeof target.execute !== 'function') {
    fail('target.execute', 'a function (or `target.intercept` to be one)', target.execute);
  }
  checkObject('options', options);
  const o = options ?? {};
  const tp = o.tracerProvider;
  if (tp !== undefined && typeof (tp as { getTracer?: unknown } | null)?.getTracer !== 'function') {
    fail('tracerProvider', 'a TracerProvider', tp);
  }
  const mp = o.meterProvider;
  if (mp !== undefined && typeof (mp as { getMeter?: unknown } | null)?.getMeter !== 'function') {
    fail('meterProvider', 'a MeterProvider', mp);
  }
  if (o.captureContent !== undefined && typeof o.captureContent !== 'boolean') {
    fail('captureContent', 'a boolean', o.captureContent);
  }
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name === '')) fail('name', 'a non-empty string', o.name);
  const g = o.genAi;
  if (g !== undefined && typeof g !== 'function') {
    checkObject('genAi', g);
    if (typeof g?.operation !== 'string') fail('genAi.operation', 'a string', g?.operation);
    checkFunction('genAi.usage', g.usage);
    checkFunction('genAi.output', g.output);
  }
  checkObject('clock', o.clock);
  if (o.clock !== undefined) checkFunction('clock.now', o.clock.now, false);

  const scope = { schemaUrl: SCHEMA_URL };
  const tracer = (tp ?? trace.getTracerProvider()).getTracer(SCOPE, VERSION, scope);
  const meter = (mp ?? metrics.getMeterProvider()).getMeter(SCOPE, VERSION, scope);
  const clock = o.clock;
  const now = clock !== undefined ? () => clock.now() : defaultNow;
  const t = new Telemetry(target, tracer, meter, {
    label: labelOf(target, o.name),
    captureContent: o.captureContent === true,
    now,
    genAi: o.genAi,
  });

  const offs = EVENT_TYPES.map((type) => target.on(type, t.onEvent));
  let restore: () => void;
  if (intercept) {
    const interceptor: Interceptor = <T>(call: InterceptedCall<T>): Promise<T> =>
      (t.enabled
        ? t.call(call.proceed as Execute, call, call.fn, undefined, call as InterceptedCall<unknown>)
        : call.proceed(call.fn)) as Promise<T>;
    restore = (target.intercept as (i: Interceptor) => () => void)(interceptor);
  } else {
    restore = patchExecute(target, t);
  }
  const m = t.m;
  meter.addBatchObservableCallback(t.observe, [m.breakerState, m.active, m.queued]);

  return () => {
    if (!t.enabled) return;
    t.enabled = false;
    for (const off of offs) off();
    restore();
    meter.removeBatchObservableCallback(t.observe, [m.breakerState, m.active, m.queued]);
  };
}
