import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { circuitBreaker, consecutive } from '../../src/breaker/index.js';
import { bulkhead } from '../../src/bulkhead/index.js';
import { AbortScope, type CallContext, fork } from '../../src/core/context.js';
import { BaseLayer, type Chain, invoke, Pipeline } from '../../src/core/policy.js';
import { fallback } from '../../src/fallback/index.js';
import { Policy, type PolicyEventBase, TimeoutError } from '../../src/index.js';
import { instrument } from '../../src/otel/index.js';
import { constant, retry } from '../../src/retry/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { childrenOf, count, only, parentId, points, sdk, spanId, total } from './support.js';

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

class Flaky extends Error {
  readonly code = 'E_FLAKY';
}

/** Waits until `signal` aborts, then rejects with its reason (a well-behaved `fn`). */
const untilAborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

describe('spans', () => {
  it('retry: one call span, one child per attempt with its number, delay and outcome; fn spans below their attempt', async () => {
    const o = sdk();
    const clock = virtualClock();
    const policy = retry({ maxRetries: 3, backoff: constant(100), clock });
    instrument(policy, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    const user = o.tracerProvider.getTracer('user');
    let n = 0;
    const p = policy.execute(async () => {
      n++;
      await Promise.resolve(); // the attempt's context survives an async boundary
      user.startSpan(`query ${n}`).end();
      if (n < 3) throw new Flaky(`flaky ${n}`);
      return 'ok';
    });
    await clock.runAll();
    await expect(p).resolves.toBe('ok');

    const spans = o.spans();
    const call = only(spans, 'breakwater retry');
    expect(call.kind).toBe(SpanKind.INTERNAL);
    expect(parentId(call)).toBeUndefined();
    expect(call.status.code).toBe(SpanStatusCode.UNSET);
    expect(call.attributes).toMatchObject({
      'breakwater.target': 'retry',
      'breakwater.policy.path': ['retry'],
      'breakwater.outcome': 'success',
      'breakwater.attempts': 3,
    });
    expect(call.events.map((e) => [e.name, e.attributes?.['breakwater.retry.delay_ms']])).toEqual([
      ['breakwater.retry', 100],
      ['breakwater.retry', 100],
    ]);
    const attempts = childrenOf(spans, call);
    expect(attempts.map((s) => s.name)).toEqual(['breakwater attempt', 'breakwater attempt', 'breakwater attempt']);
    expect(attempts.map((s) => s.attributes['breakwater.attempt'])).toEqual([1, 2, 3]);
    expect(attempts.map((s) => s.attributes['breakwater.attempt.delay_ms'])).toEqual([undefined, 100, 100]);
    expect(attempts.map((s) => s.attributes['breakwater.attempt.outcome'])).toEqual(['error', 'error', 'success']);
    expect(attempts.map((s) => s.attributes['error.type'])).toEqual(['E_FLAKY', 'E_FLAKY', undefined]);
    expect(attempts.map((s) => s.status.code)).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.ERROR,
      SpanStatusCode.UNSET,
    ]);
    expect(attempts[0]?.events.map((e) => e.name)).toEqual(['exception']);
    attempts.forEach((attempt, i) => {
      expect(childrenOf(spans, attempt).map((s) => s.name)).toEqual([`query ${i + 1}`]);
    });
  });

  it('is a child of the span current where execute is called', async () => {
    const o = sdk();
    const policy = retry({ maxRetries: 0 });
    instrument(policy, { tracerProvider: o.tracerProvider });
    const user = o.tracerProvider.getTracer('user');
    await user.startActiveSpan('request', async (request) => {
      await policy.execute(() => 1);
      request.end();
    });
    const spans = o.spans();
    expect(parentId(only(spans, 'breakwater retry'))).toBe(spanId(only(spans, 'request')));
  });

  it('timeout: the call span fails with ERR_TIMEOUT and a timeout event; the attempt ends as timed out', async () => {
    const o = sdk();
    const clock = virtualClock();
    const policy = Policy.wrap(timeout({ after: 50, clock, name: 'total' }));
    instrument(policy, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    const p = policy.execute(({ signal }) => untilAborted(signal));
    const settled = expect(p).rejects.toBeInstanceOf(TimeoutError);
    await clock.advance(50);
    await settled;
    const spans = o.spans();
    const call = only(spans, 'breakwater total');
    expect(call.status.code).toBe(SpanStatusCode.ERROR);
    expect(call.attributes).toMatchObject({ 'error.type': 'ERR_TIMEOUT', 'breakwater.outcome': 'error' });
    expect(call.events.map((e) => e.name)).toEqual(['breakwater.timeout', 'exception']);
    expect(call.events[0]?.attributes).toEqual({ 'breakwater.timeout.ms': 50 });
    const [attempt] = childrenOf(spans, call);
    expect(attempt?.attributes).toMatchObject({ 'breakwater.attempt.outcome': 'timeout', 'error.type': 'ERR_TIMEOUT' });
    const m = await o.metrics();
    expect(total(m.get('breakwater.timeouts'), { 'breakwater.policy.name': 'total' })).toBe(1);
    expect(count(m.get('breakwater.call.duration'), { 'error.type': 'ERR_TIMEOUT' })).toBe(1);
  });

  it('timeout: an attempt that resolves after its timeout fired is a timeout, not a success', async () => {
    const o = sdk();
    const clock = virtualClock();
    const policy = timeout({ after: 10, clock });
    instrument(policy, { tracerProvider: o.tracerProvider });
    const p = policy.execute(() => clock.sleep(20).then(() => 'late'));
    const settled = expect(p).rejects.toBeInstanceOf(TimeoutError);
    await clock.advance(20);
    await settled;
    const attempt = only(o.spans(), 'breakwater attempt');
    expect(attempt.attributes['breakwater.attempt.outcome']).toBe('timeout');
    expect(attempt.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('aggressive timeout: an attempt still running when the call walks away ends as timed out', async () => {
    const o = sdk();
    const clock = virtualClock();
    const policy = timeout({ after: 10, clock, strategy: 'aggressive' });
    instrument(policy, { tracerProvider: o.tracerProvider });
    const p = policy.execute(() => new Promise(() => {})); // never settles
    const settled = expect(p).rejects.toBeInstanceOf(TimeoutError);
    await clock.advance(10);
    await settled;
    expect(only(o.spans(), 'breakwater attempt').attributes).toMatchObject({
      'breakwater.attempt.outcome': 'timeout',
      'error.type': 'ERR_TIMEOUT',
    });
  });

  it('breaker: open, half-open and close are events on the span of the call that caused them; rejections fail fast', async () => {
    const o = sdk();
    const clock = virtualClock();
    const breaker = circuitBreaker({ strategy: consecutive(2), breakDuration: 1000, clock, name: 'db' });
    instrument(breaker, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    const fail = (): Promise<never> => Promise.reject(new Flaky('down'));
    await expect(breaker.execute(fail)).rejects.toThrow('down');
    await expect(breaker.execute(fail)).rejects.toThrow('down');
    await expect(breaker.execute(() => 'x')).rejects.toMatchObject({ code: 'ERR_BROKEN_CIRCUIT' });
    let m = await o.metrics();
    const state = (s: string) => total(m.get('breakwater.breaker.state'), { 'breakwater.breaker.state': s });
    expect([state('closed'), state('open'), state('half-open')]).toEqual([0, 1, 0]);
    expect(points(m.get('breakwater.breaker.state'), { 'breakwater.policy.name': 'db' })).toHaveLength(4);
    await clock.advance(1000);
    await expect(breaker.execute(() => 'y')).resolves.toBe('y');

    const calls = o.spans().filter((s) => s.name === 'breakwater db');
    const names = calls.map((s) => s.events.map((e) => e.name).filter((n) => n !== 'exception'));
    expect(names).toEqual([
      [],
      ['breakwater.breaker.open'],
      ['breakwater.reject'],
      ['breakwater.breaker.half_open', 'breakwater.breaker.close'],
    ]);
    expect(calls[1]?.events[0]?.attributes).toMatchObject({
      'breakwater.policy.kind': 'breaker',
      'breakwater.policy.name': 'db',
      'breakwater.breaker.state': 'open',
    });
    // The rejected call ran no attempt and surfaces the rejection.
    expect(calls[2]?.attributes).toMatchObject({ 'error.type': 'ERR_BROKEN_CIRCUIT', 'breakwater.attempts': 0 });
    expect(calls[2]?.status.code).toBe(SpanStatusCode.ERROR);
    m = await o.metrics();
    expect([state('closed'), state('open'), state('half-open')]).toEqual([1, 0, 0]);
    const transitions = m.get('breakwater.breaker.transitions');
    for (const s of ['open', 'half-open', 'close'])
      expect(total(transitions, { 'breakwater.breaker.state': s })).toBe(1);
    expect(total(m.get('breakwater.rejections'), { 'breakwater.policy.kind': 'breaker' })).toBe(1);
  });

  it('a breaker transition outside any traced call goes to the current span', async () => {
    const o = sdk();
    const breaker = circuitBreaker({ strategy: consecutive(1) });
    instrument(breaker, { tracerProvider: o.tracerProvider });
    const user = o.tracerProvider.getTracer('user');
    user.startActiveSpan('admin', (span) => {
      breaker.isolate();
      span.end();
    });
    expect(only(o.spans(), 'admin').events.map((e) => e.name)).toEqual(['breakwater.breaker.isolate']);
  });

  it('fallback: a recovered call is not an error; the fallback is an event and the outcome', async () => {
    const o = sdk();
    const policy = Policy.wrap(fallback({ to: () => 'cached' }), retry({ maxRetries: 1, backoff: constant(0) }));
    instrument(policy, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider, name: 'answer' });
    await expect(policy.execute(() => Promise.reject(new Flaky('no')))).resolves.toBe('cached');
    const spans = o.spans();
    const call = only(spans, 'breakwater answer');
    expect(call.status.code).toBe(SpanStatusCode.UNSET);
    expect(call.attributes).toMatchObject({
      'breakwater.outcome': 'fallback',
      'breakwater.policy.path': ['fallback', 'retry'],
    });
    expect(call.attributes['error.type']).toBeUndefined();
    expect(call.events.map((e) => e.name)).toEqual(['breakwater.retry', 'breakwater.give_up', 'breakwater.fallback']);
    expect(call.events[2]?.attributes?.['error.type']).toBe('E_FLAKY');
    expect(childrenOf(spans, call)).toHaveLength(2);
    const m = await o.metrics();
    expect(count(m.get('breakwater.call.duration'), { 'breakwater.outcome': 'fallback' })).toBe(1);
    expect(total(m.get('breakwater.retries'), { 'breakwater.target': 'answer' })).toBe(1);
  });

  it('concurrent calls never mix their attempts or their retry delays', async () => {
    const o = sdk();
    const clock = virtualClock();
    // The delay comes from the error's retryAfter, so each call has its own.
    const policy = retry({ maxRetries: 2, backoff: constant(0), clock });
    instrument(policy, { tracerProvider: o.tracerProvider });
    const user = o.tracerProvider.getTracer('user');
    const run = (id: string, retryAfter: number) => {
      let n = 0;
      return policy.execute(async () => {
        n++;
        await clock.sleep(1);
        user.startSpan(`work ${id}`).end();
        if (n < 3) throw Object.assign(new Flaky(id), { retryAfter });
        return id;
      });
    };
    const both = Promise.all([run('a', 10), run('b', 25)]);
    await clock.runAll();
    await expect(both).resolves.toEqual(['a', 'b']);
    const spans = o.spans();
    const calls = spans.filter((s) => s.name === 'breakwater retry');
    expect(calls).toHaveLength(2);
    for (const call of calls) {
      const attempts = childrenOf(spans, call);
      expect(attempts).toHaveLength(3);
      const works = attempts.map((a) => childrenOf(spans, a).map((s) => s.name));
      const id = String(works[0]?.[0]).slice(5);
      expect(works).toEqual([[`work ${id}`], [`work ${id}`], [`work ${id}`]]);
      const delay = id === 'a' ? 10 : 25;
      expect(attempts.map((s) => s.attributes['breakwater.attempt.delay_ms'])).toEqual([undefined, delay, delay]);
    }
  });

  it('bulkhead: a queued call carries an enqueue event; active and queued are gauges', async () => {
    const o = sdk();
    const b = bulkhead({ limit: 1, queue: 2, name: 'io' });
    instrument(b, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    let release: () => void = () => {};
    const first = b.execute(() => new Promise<void>((r) => (release = r)));
    const second = b.execute(() => 'second');
    const m = await o.metrics();
    expect(total(m.get('breakwater.bulkhead.active'), { 'breakwater.policy.name': 'io' })).toBe(1);
    expect(total(m.get('breakwater.bulkhead.queued'), { 'breakwater.policy.name': 'io' })).toBe(1);
    release();
    await Promise.all([first, second]);
    const calls = o.spans().filter((s) => s.name === 'breakwater io');
    expect(calls.map((s) => s.events.map((e) => e.name))).toEqual([[], ['breakwater.enqueue']]);
    const after = await o.metrics();
    expect(total(after.get('breakwater.bulkhead.queued'))).toBe(0);
  });

  it('a target that never ran a traced call still reports gauges; untraced events still count', async () => {
    const o = sdk();
    const shared = retry({ maxRetries: 1, backoff: constant(0) });
    instrument(shared, { meterProvider: o.meterProvider, name: 'shared' });
    // The same layer inside another pipeline: its events reach the listener, with no call to attach to.
    const other = Policy.wrap(shared);
    let n = 0;
    await other.execute(() => (n++ === 0 ? Promise.reject(new Flaky('x')) : 'ok'));
    const m = await o.metrics();
    expect(total(m.get('breakwater.retries'), { 'breakwater.target': 'shared', 'error.type': 'E_FLAKY' })).toBe(1);
    expect(count(m.get('breakwater.call.duration'))).toBe(0);
  });
});

/** A hedge-like layer: runs the rest of the chain twice at once (attempts 1 and 2); the first success wins, the other is aborted. */
class TwinLayer extends BaseLayer<PolicyEventBase> {
  constructor() {
    super('hedge', 'twin');
  }
  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    const runs = [1, 2].map((attempt) => {
      const f = fork(ctx);
      f.attempt = attempt;
      f.scope = new AbortScope(ctx.scope, ctx.callerSignal);
      return f;
    });
    return Promise.any(runs.map((f) => Promise.resolve(invoke(f, inner)))).finally(() => {
      for (const f of runs) f.scope?.abort(Object.assign(new Error('lost the race'), { code: 'ERR_HEDGE_CANCELLED' }));
    });
  }
}

describe('concurrent attempts of one call', () => {
  it('each gets its own span; the loser ends as cancelled', async () => {
    const o = sdk();
    const policy = new Pipeline([new TwinLayer()]);
    instrument(policy, { tracerProvider: o.tracerProvider });
    const user = o.tracerProvider.getTracer('user');
    const value = await policy.execute(async ({ attempt, signal }) => {
      if (attempt === 2) return untilAborted(signal);
      await Promise.resolve();
      user.startSpan('winner work').end();
      return 'first';
    });
    expect(value).toBe('first');
    const spans = o.spans();
    const call = only(spans, 'breakwater twin');
    const attempts = childrenOf(spans, call);
    expect(
      attempts.map((a) => [a.attributes['breakwater.attempt'], a.attributes['breakwater.attempt.outcome']]),
    ).toEqual([
      [1, 'success'],
      [2, 'cancelled'],
    ]);
    expect(attempts[1]?.attributes['error.type']).toBe('ERR_HEDGE_CANCELLED');
    expect(childrenOf(spans, attempts[0] as (typeof attempts)[number]).map((s) => s.name)).toEqual(['winner work']);
  });
});

describe('synchronous functions', () => {
  it('a value or a throw ends the attempt at once', async () => {
    const o = sdk();
    const policy = retry({ maxRetries: 1, backoff: constant(0) });
    instrument(policy, { tracerProvider: o.tracerProvider });
    let n = 0;
    const value = await policy.execute(() => {
      if (n++ === 0) throw new Flaky('sync');
      return 'sync ok';
    });
    expect(value).toBe('sync ok');
    const attempts = o.spans().filter((s) => s.name === 'breakwater attempt');
    expect(attempts.map((a) => a.attributes['breakwater.attempt.outcome'])).toEqual(['error', 'success']);
  });
});

describe('sampled out', () => {
  it('a call whose span records nothing gets no attempt spans; its metrics still see the fallback', async () => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({
      sampler: new AlwaysOffSampler(),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const o = sdk();
    const policy = Policy.wrap(fallback({ to: () => 'cached' }), retry({ maxRetries: 1, backoff: constant(0) }));
    instrument(policy, { tracerProvider, meterProvider: o.meterProvider });
    const attempts: number[] = [];
    const fn = ({ attempt }: { attempt: number }) => {
      attempts.push(attempt);
      return Promise.reject(new Flaky('no'));
    };
    await expect(policy.execute(fn)).resolves.toBe('cached');
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(attempts).toEqual([1, 2]);
    const m = await o.metrics();
    expect(count(m.get('breakwater.call.duration'), { 'breakwater.outcome': 'fallback' })).toBe(1);
  });
});

describe('uninstrument', () => {
  it('restores the original execute and removes every listener', async () => {
    const o = sdk();
    const policy = Policy.wrap(timeout(1000), retry({ maxRetries: 1 }));
    const layers = policy.layers;
    const off = instrument(policy, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    expect(Object.hasOwn(policy, 'execute')).toBe(true);
    expect(layers.every((l) => l.events.count > 0)).toBe(true);
    await policy.execute(() => 1);
    off();
    off(); // idempotent
    expect(Object.hasOwn(policy, 'execute')).toBe(false);
    expect(policy.execute).toBe(Pipeline.prototype.execute);
    expect(layers.every((l) => l.events.count === 0)).toBe(true);
    await policy.execute(() => 2);
    await policy.executeOutcome(() => 3);
    expect(o.spans().filter((s) => s.name.startsWith('breakwater ') && s.name !== 'breakwater attempt')).toHaveLength(
      1,
    );
    const m = await o.metrics();
    expect(points(m.get('breakwater.breaker.state'))).toHaveLength(0);
  });

  it('restores an own execute, and unwinds instrumentations removed out of order', async () => {
    const a = sdk();
    const b = sdk();
    const policy = retry({ maxRetries: 0 });
    const offA = instrument(policy, { tracerProvider: a.tracerProvider });
    const offB = instrument(policy, { tracerProvider: b.tracerProvider });
    await policy.execute(() => 1);
    offA(); // not the outermost: A goes quiet, B keeps tracing
    await policy.execute(() => 2);
    expect(a.spans().filter((s) => s.name === 'breakwater retry')).toHaveLength(1);
    expect(b.spans().filter((s) => s.name === 'breakwater retry')).toHaveLength(2);
    offB();
    expect(Object.hasOwn(policy, 'execute')).toBe(false);
    expect(policy.layers[0]?.events.count).toBe(0);

    const own = { on: policy.on.bind(policy), execute: policy.execute.bind(policy) };
    const original = own.execute;
    instrument(own, { tracerProvider: a.tracerProvider })();
    expect(own.execute).toBe(original);
  });

  it('bind and executeOutcome go through the traced execute', async () => {
    const o = sdk();
    const policy = retry({ maxRetries: 0 });
    instrument(policy, { tracerProvider: o.tracerProvider });
    await policy.bind((x: number) => x + 1)(1);
    await policy.executeOutcome(() => Promise.reject(new Flaky('x')));
    const calls = o.spans().filter((s) => s.name === 'breakwater retry');
    expect(calls.map((s) => s.attributes['breakwater.outcome'])).toEqual(['success', 'error']);
  });
});

describe('without an SDK', () => {
  it('the global no-op API records nothing and changes no result', async () => {
    const clock = virtualClock();
    const policy = Policy.wrap(retry({ maxRetries: 2, backoff: constant(5), clock }), timeout({ after: 100, clock }));
    const off = instrument(policy);
    let n = 0;
    const p = policy.execute(({ attempt }) => (++n < 2 ? Promise.reject(new Flaky('x')) : `attempt ${attempt}`));
    await clock.runAll();
    await expect(p).resolves.toBe('attempt 2');
    const q = policy.execute(() => Promise.reject(new Flaky('y')));
    const failed = expect(q).rejects.toThrow('y');
    await clock.runAll();
    await failed;
    expect(trace.getActiveSpan()).toBeUndefined();
    off();
  });
});

describe('options', () => {
  const policy = retry();
  it.each([
    [null, /`target`/],
    [{}, /`target`/],
    [{ on: () => () => {} }, /`target.execute`/],
  ])('rejects the target %j', (target, message) => {
    expect(() => instrument(target as never)).toThrow(message);
  });
  it.each([
    [{ tracerProvider: {} }, /`tracerProvider`/],
    [{ meterProvider: 1 }, /`meterProvider`/],
    [{ captureContent: 'yes' }, /`captureContent` to be a boolean, got "yes"/],
    [{ name: '' }, /`name`/],
    [{ clock: {} }, /`clock.now`/],
    ['x', /`options`/],
  ])('rejects %j', (options, message) => {
    expect(() => instrument(policy, options as never)).toThrow(message);
    expect(Object.hasOwn(policy, 'execute')).toBe(false);
  });
});
