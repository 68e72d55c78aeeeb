import {
  type Attributes,
  type BatchObservableResult,
  context,
  type Meter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { ExecuteOptions } from '../core/context.js';
import type { PolicyEventBase } from '../core/events.js';
import { CALL, Call, pathOf, recordUsage, type Task } from './call.js';
import { type Instruments, instruments } from './metrics.js';
import * as N from './names.js';
import type { GenAiCall, Instrumentable, InterceptedCall, LayerInfo, UsageEvent } from './types.js';

/** `execute` or `proceed`: runs a call with the (wrapped) function. */
type Runner = (this: unknown, fn: Task, options?: ExecuteOptions) => Promise<unknown>;

/** The scalar fields of a gateway event as `breakwater.gateway.<field>` (snake case) span event attributes. */
function gatewayFields(ev: Record<string, unknown>, attrs: Attributes): void {
  for (const k of Object.keys(ev)) {
    if (k === 'type' || k === 'kind' || k === 'name' || k === 'error') continue;
    const v = ev[k];
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)))
      attrs[N.GATEWAY + k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = v;
  }
}

/**
 * One instrumentation of one target: the tracer, the instruments, and the event listener that
 * turns the target's events into span events and metrics.
 * @internal
 */
export class Telemetry {
  readonly target: Pick<Instrumentable, 'layers' | 'targets' | 'get'>;
  readonly tracer: Tracer;
  readonly meter: Meter;
  readonly m: Instruments;
  readonly label: string;
  readonly path: string[];
  readonly captureContent: boolean;
  readonly now: () => number;
  readonly spanName: string;
  readonly genAi: GenAiCall | ((options: ExecuteOptions | undefined) => GenAiCall | undefined) | undefined;
  enabled = true;

  constructor(
    target: Pick<Instrumentable, 'layers' | 'targets' | 'get'>,
    tracer: Tracer,
    meter: Meter,
    o: {
      readonly label: string;
      readonly captureContent: boolean;
      readonly now: () => number;
      readonly genAi: Telemetry['genAi'];
    },
  ) {
    this.target = target;
    this.tracer = tracer;
    this.meter = meter;
    this.m = instruments(meter);
    this.label = o.label;
    this.spanName = `breakwater ${o.label}`;
    this.path = pathOf(target.layers ?? []);
    this.captureContent = o.captureContent;
    this.now = o.now;
    this.genAi = o.genAi;
  }

  /** The `genAi` option for one call (undefined when its function throws). */
  genAiFor(options: ExecuteOptions | undefined): GenAiCall | undefined {
    const g = this.genAi;
    if (typeof g !== 'function') return g;
    try {
      return g(options);
    } catch {
      return undefined;
    }
  }

  /** Runs one call traced: its span is current while `run` starts it, and `fn` is wrapped per attempt. */
  call(
    run: Runner,
    self: unknown,
    fn: Task,
    options: ExecuteOptions | undefined,
    info?: InterceptedCall<unknown>,
  ): Promise<unknown> {
    const c = new Call(this, fn, info, info !== undefined ? info.genAi : this.genAiFor(options));
    let p: Promise<unknown>;
    try {
      p = context.with(c.ctx, () => run.call(self, c.wrapped, options));
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
   * Maps one event. Per-call events find their call through the active context: they are emitted
   * inside the call's own async flow. A `timeout` is not (one shared timer fires for many calls),
   * so the spans read timeouts from outcomes and the event only counts. A bulkhead's `dequeue` runs
   * in the flow of the call that freed the slot: it is not subscribed to.
   */
  readonly onEvent = (e: PolicyEventBase): void => {
    const call = this.#current();
    const m = this.m;
    const attrs: Attributes = { [N.KIND]: e.kind };
    if (e.name !== undefined) attrs[N.NAME] = e.name;
    const ev = e as PolicyEventBase & Record<string, unknown>;
    // A registry's events name their target: outside a call (a shared timer) that is the label.
    const label = call?.label ?? (typeof ev.target === 'string' ? ev.target : this.label);
    const metric: Attributes = { ...attrs, [N.TARGET]: label };
    if ('error' in ev && ev.error !== undefined) attrs[N.ERROR_TYPE] = metric[N.ERROR_TYPE] = N.errorType(ev.error);
    // A gateway's events say which endpoint and why: their fields go on the span event (never on a metric).
    if (e.kind === 'gateway' && call !== undefined) gatewayFields(ev, attrs);
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
        if (typeof ev.phase === 'string') metric[N.STREAM_PHASE] = ev.phase;
        m.timeouts.add(1, metric);
        return;
      case 'first-chunk': {
        const seconds = (ev.ms as number) / 1000;
        m.firstChunk.record(seconds, metric);
        const gen = call?.gen;
        if (gen !== undefined) {
          const a: Attributes = { [N.GEN_AI_OPERATION]: gen.operation };
          if (gen.model !== undefined) a[N.GEN_AI_REQUEST_MODEL] = gen.model;
          if (gen.provider !== undefined) a[N.GEN_AI_PROVIDER] = gen.provider;
          m.genAiFirstChunk.record(seconds, a);
        }
        call?.span.addEvent('breakwater.first_chunk', attrs);
        return;
      }
      case 'hedge':
      case 'hedge-denied':
      case 'hedge-win':
        // A hedge starts its attempts from a timer shared by many calls: these events are not in
        // the call's flow, so they count only (the attempt spans show the hedged attempts).
        if (e.type === 'hedge') {
          metric[N.HEDGE_TRIGGER] = ev.trigger as string;
          m.hedges.add(1, metric);
        } else if (e.type === 'hedge-denied') m.hedgeDenials.add(1, metric);
        return;
      case 'chaos':
        attrs[N.CHAOS_INJECTION] = metric[N.CHAOS_INJECTION] = ev.injection as string;
        m.injections.add(1, metric);
        call?.span.addEvent('breakwater.chaos', attrs);
        return;
      case 'stream-end':
        // After the call settled (the stream outlives it): a metric only.
        metric[N.STREAM_OUTCOME] = ev.outcome as string;
        m.streamDuration.record((ev.ms as number) / 1000, metric);
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
        recordUsage(m, ev as unknown as UsageEvent, call);
        return;
      default:
        call?.span.addEvent(`breakwater.${e.type}`, attrs);
    }
  };

  /** The gauges: every breaker's state, every bulkhead's active and queued calls, read at collection. */
  readonly observe = (o: BatchObservableResult): void => {
    const t = this.target;
    // A registry's targets each have their own instances, often of one template with the same
    // names: each is reported under its own target, else their series would collide.
    if (Array.isArray(t.targets) && typeof t.get === 'function') {
      for (const name of t.targets as readonly string[]) {
        let layers: unknown;
        try {
          layers = (t.get(name) as { readonly layers?: unknown } | null)?.layers;
        } catch {
          continue;
        }
        if (Array.isArray(layers)) this.#observe(o, layers as readonly LayerInfo[], name);
      }
    } else this.#observe(o, t.layers ?? [], this.label);
  };

  #observe(o: BatchObservableResult, layers: readonly LayerInfo[], label: string): void {
    const m = this.m;
    for (const layer of new Set(layers)) {
      const l = layer as LayerInfo & { state?: unknown; active?: unknown; queued?: unknown };
      const a: Attributes = { [N.TARGET]: label };
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
  }
}
