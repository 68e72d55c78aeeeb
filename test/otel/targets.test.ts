// Targets other than a policy: a registry and a gateway (both being built beside this module) are
// modelled here by small fakes that implement the documented `Instrumentable` shape, and the rate
// limiter's and gateway's events are synthetic events of the documented shapes.
import { context, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { circuitBreaker, consecutive } from '../../src/breaker/index.js';
import { chaos } from '../../src/chaos/index.js';
import type { Context } from '../../src/core/context.js';
import { Emitter } from '../../src/core/events.js';
import { hedge } from '../../src/hedge/index.js';
import { Policy, type PolicyEventBase } from '../../src/index.js';
import {
  type InterceptedCall,
  type Interceptor,
  instrument,
  readUsage,
  type UsageEvent,
} from '../../src/otel/index.js';
import { constant, type RetryEvent, retry } from '../../src/retry/index.js';
import { streamTimeout } from '../../src/stream/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { childrenOf, count, only, points, sdk, sum, total } from './support.js';

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

/** Runs `fn` through the interceptors in order (the first is outermost), then through `run`. */
function through<T>(
  interceptors: readonly Interceptor[],
  base: Omit<InterceptedCall<T>, 'proceed' | 'fn'>,
  fn: (ctx: Context) => T | PromiseLike<T>,
  run: (fn: (ctx: Context) => T | PromiseLike<T>) => Promise<T>,
  k = 0,
): Promise<T> {
  const next = interceptors[k];
  if (next === undefined) return run(fn);
  return next({ ...base, fn, proceed: (f) => through(interceptors, base, f, run, k + 1) });
}

/** A registry-like target: named pipelines, calls through `get(name).execute`, one event stream. */
function fakeRegistry(pipelines: Record<string, Policy>) {
  const interceptors: Interceptor[] = [];
  return {
    on(type: string, listener: (e: PolicyEventBase) => void) {
      const offs = Object.values(pipelines).map((p) => p.on(type, listener));
      return () => {
        for (const off of offs) off();
      };
    },
    intercept(i: Interceptor) {
      interceptors.push(i);
      return () => {
        interceptors.splice(interceptors.indexOf(i), 1);
      };
    },
    get layers() {
      return Object.values(pipelines).flatMap((p) => p.layers);
    },
    get(name: string) {
      const p = pipelines[name] as Policy;
      return {
        execute: <T>(fn: (ctx: Context) => T | PromiseLike<T>): Promise<T> =>
          through(interceptors, { name, layers: p.layers }, fn, (f) => p.execute(f)),
      };
    },
  };
}

interface Reply {
  readonly model: string;
  readonly text: string;
}

/** A gateway-like target: `call(model, messages)` runs one provider request per attempt and emits `usage`. */
function fakeGateway(reply: (model: string, attempt: number) => Promise<Reply>) {
  const events = new Emitter<PolicyEventBase>();
  const policy = retry({ maxRetries: 1, backoff: constant(0) });
  const interceptors: Interceptor[] = [];
  return {
    name: 'gateway',
    on(type: string, listener: (e: PolicyEventBase) => void) {
      const a = events.on(type, listener);
      const b = policy.on(type as RetryEvent['type'], listener);
      return () => {
        a();
        b();
      };
    },
    intercept(i: Interceptor) {
      interceptors.push(i);
      return () => {
        interceptors.splice(interceptors.indexOf(i), 1);
      };
    },
    call(model: string, messages: readonly { role: string; content: string }[]): Promise<Reply> {
      const fn = async (ctx: Context): Promise<Reply> => {
        const r = await reply(model, ctx.attempt);
        const usage: UsageEvent = {
          type: 'usage',
          kind: 'gateway',
          name: undefined,
          model: r.model,
          provider: 'openai',
          inputTokens: 12,
          outputTokens: 5,
          cost: 0.0003,
        };
        events.emit(usage);
        return r;
      };
      const genAi = { operation: 'chat', model, provider: 'openai', input: messages, output: (r: unknown) => r };
      return through(interceptors, { name: model, layers: policy.layers, genAi }, fn, (f) => policy.execute(f));
    },
  };
}

describe('registry-like targets (intercept)', () => {
  it('traces each call under its target name and pipeline; gauges read the layers in force', async () => {
    const o = sdk();
    const breaker = circuitBreaker({ strategy: consecutive(3), name: 'openai-breaker' });
    const reg = fakeRegistry({
      openai: Policy.wrap(retry({ maxRetries: 1, backoff: constant(0) }), breaker),
      search: Policy.wrap(retry({ maxRetries: 0, name: 'search-retry' })),
    });
    const off = instrument(reg, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    let n = 0;
    await reg.get('openai').execute(() => (n++ === 0 ? Promise.reject(new Error('x')) : 'ok'));
    await reg.get('search').execute(() => 'found');
    const spans = o.spans();
    const openai = only(spans, 'breakwater openai');
    expect(openai.attributes).toMatchObject({
      'breakwater.target': 'openai',
      'breakwater.policy.path': ['retry', 'breaker:openai-breaker'],
      'breakwater.attempts': 2,
    });
    expect(openai.events.map((e) => e.name)).toEqual(['breakwater.retry']);
    expect(childrenOf(spans, openai)).toHaveLength(2);
    expect(only(spans, 'breakwater search').attributes['breakwater.policy.path']).toEqual(['retry:search-retry']);
    const m = await o.metrics();
    expect(total(m.get('breakwater.retries'), { 'breakwater.target': 'openai' })).toBe(1);
    expect(points(m.get('breakwater.breaker.state'), { 'breakwater.policy.name': 'openai-breaker' })).toHaveLength(4);
    off();
    await reg.get('search').execute(() => 'again');
    expect(o.spans()).toHaveLength(spans.length);
  });
});

describe('gateway-like targets: gen_ai conventions', () => {
  it('a call span named `{operation} {model}`, kind CLIENT, with gen_ai attributes and usage; no content by default', async () => {
    const o = sdk();
    const clock = virtualClock();
    const gw = fakeGateway(async (model) => {
      await clock.sleep(300);
      return { model: `${model}-2024-08-06`, text: 'Paris' };
    });
    instrument(gw, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider, clock });
    const p = gw.call('gpt-4o', [{ role: 'user', content: 'Capital of France?' }]);
    await clock.advance(300);
    await expect(p).resolves.toMatchObject({ text: 'Paris' });

    const span = only(o.spans(), 'chat gpt-4o');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.provider.name': 'openai',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'gen_ai.usage.input_tokens': 12,
      'gen_ai.usage.output_tokens': 5,
      'breakwater.gen_ai.cost': 0.0003,
      'breakwater.target': 'gpt-4o',
    });
    expect(span.attributes['gen_ai.input.messages']).toBeUndefined();
    expect(span.attributes['gen_ai.output.messages']).toBeUndefined();

    const m = await o.metrics();
    const tokens = m.get('gen_ai.client.token.usage');
    const base = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
    };
    expect(sum(tokens, { ...base, 'gen_ai.token.type': 'input' })).toBe(12);
    expect(sum(tokens, { ...base, 'gen_ai.token.type': 'output' })).toBe(5);
    expect(tokens?.descriptor.unit).toBe('{token}');
    const duration = m.get('gen_ai.client.operation.duration');
    expect(count(duration, base)).toBe(1);
    expect(sum(duration, base)).toBeCloseTo(0.3, 9);
    expect(duration?.descriptor.unit).toBe('s');
    expect(total(m.get('breakwater.gen_ai.cost'), { 'gen_ai.response.model': 'gpt-4o-2024-08-06' })).toBeCloseTo(
      0.0003,
      12,
    );
  });

  it('captureContent records the prompt and the completion', async () => {
    const o = sdk();
    const gw = fakeGateway(async (model) => ({ model, text: 'Paris' }));
    instrument(gw, { tracerProvider: o.tracerProvider, captureContent: true });
    const messages = [{ role: 'user', content: 'Capital of France?' }];
    await gw.call('gpt-4o', messages);
    const span = only(o.spans(), 'chat gpt-4o');
    expect(span.attributes['gen_ai.input.messages']).toBe(JSON.stringify(messages));
    expect(span.attributes['gen_ai.output.messages']).toBe(JSON.stringify({ model: 'gpt-4o', text: 'Paris' }));
  });

  it('a failed attempt and a failed call carry error.type; usage of every request adds up', async () => {
    const o = sdk();
    const gw = fakeGateway(async (model, attempt) => {
      if (attempt === 1) throw Object.assign(new Error('overloaded'), { status: 529 });
      return { model, text: 'ok' };
    });
    instrument(gw, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    await gw.call('claude', []);
    const spans = o.spans();
    const call = only(spans, 'chat claude');
    expect(childrenOf(spans, call).map((s) => s.attributes['error.type'])).toEqual(['529', undefined]);
    expect(call.attributes['gen_ai.usage.input_tokens']).toBe(12);

    const failing = fakeGateway(async () => {
      throw Object.assign(new Error('bad request'), { status: 400 });
    });
    instrument(failing, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    await expect(failing.call('claude', [])).rejects.toThrow('bad request');
    const failed = o.spans().filter((s) => s.name === 'chat claude')[1];
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
    const m = await o.metrics();
    expect(count(m.get('gen_ai.client.operation.duration'), { 'error.type': '400' })).toBe(1);
  });

  it('usage events outside any traced call still feed the token metrics', async () => {
    const o = sdk();
    const events = new Emitter<PolicyEventBase>();
    const target = { on: (t: string, l: (e: PolicyEventBase) => void) => events.on(t, l), intercept: () => () => {} };
    instrument(target, { meterProvider: o.meterProvider });
    const usage: UsageEvent = {
      type: 'usage',
      kind: 'gateway',
      name: undefined,
      model: 'm',
      operation: 'embeddings',
      inputTokens: 100,
    };
    events.emit(usage);
    const m = await o.metrics();
    const tokens = m.get('gen_ai.client.token.usage');
    expect(sum(tokens, { 'gen_ai.operation.name': 'embeddings', 'gen_ai.token.type': 'input' })).toBe(100);
    expect(points(tokens, { 'gen_ai.token.type': 'output' })).toHaveLength(0);
  });
});

describe('rate limiter events (by type name)', () => {
  /** A target whose execute emits the limiter's events of the documented shapes. */
  function limited(events: readonly Record<string, unknown>[], reject: boolean) {
    const emitter = new Emitter<PolicyEventBase>();
    return {
      on: (t: string, l: (e: PolicyEventBase) => void) => emitter.on(t, l),
      layers: [{ kind: 'rate-limit', name: 'api' }],
      execute<T>(fn: (ctx: Context) => T | PromiseLike<T>): Promise<T> {
        for (const e of events) emitter.emit({ kind: 'rate-limit', name: 'api', ...e } as unknown as PolicyEventBase);
        if (reject) return Promise.reject(Object.assign(new Error('limited'), { code: 'ERR_RATE_LIMITED' }));
        return Promise.resolve(fn({ attempt: 1 } as Context));
      },
    };
  }

  it('waits count and their duration is recorded; the wait is an event of the call', async () => {
    const o = sdk();
    const t = limited([{ type: 'wait', waited: 250 }], false);
    instrument(t, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    await t.execute(() => 1);
    const m = await o.metrics();
    const attrs = { 'breakwater.policy.kind': 'rate-limit', 'breakwater.policy.name': 'api' };
    expect(total(m.get('breakwater.rate_limit.waits'), attrs)).toBe(1);
    expect(sum(m.get('breakwater.rate_limit.wait.duration'), attrs)).toBe(0.25);
    expect(only(o.spans(), 'breakwater api').events.map((e) => e.name)).toEqual(['breakwater.wait']);
  });

  it('rejections (and shadow-mode rejections) count by kind', async () => {
    const o = sdk();
    const t = limited([{ type: 'rate-limited' }], true);
    const shadow = limited([{ type: 'rate-limited', shadow: true }], false);
    instrument(t, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    instrument(shadow, { meterProvider: o.meterProvider, name: 'shadow' });
    await expect(t.execute(() => 1)).rejects.toThrow('limited');
    await shadow.execute(() => 1);
    const m = await o.metrics();
    const rejections = m.get('breakwater.rejections');
    expect(total(rejections, { 'breakwater.policy.kind': 'rate-limit', 'breakwater.target': 'api' })).toBe(1);
    expect(total(rejections, { 'breakwater.target': 'shadow', 'breakwater.rate_limit.shadow': true })).toBe(1);
    const span = only(o.spans(), 'breakwater api');
    expect(span.events.map((e) => e.name)).toEqual(['breakwater.rate_limited', 'exception']);
    expect(span.attributes['error.type']).toBe('ERR_RATE_LIMITED');
  });

  it('an event mapped by name only (the gateway route event) is an event of its call', async () => {
    const o = sdk();
    const t = limited([{ type: 'route', endpoint: 'eu-1' }], false);
    instrument(t, { tracerProvider: o.tracerProvider });
    await t.execute(() => 1);
    expect(only(o.spans(), 'breakwater api').events.map((e) => [e.name, e.attributes])).toEqual([
      ['breakwater.route', { 'breakwater.policy.kind': 'rate-limit', 'breakwater.policy.name': 'api' }],
    ]);
  });
});

describe('plain policies as gen_ai calls (the genAi option)', () => {
  it('every call of an LLM pipeline becomes a chat span with the usage read from the SDK response', async () => {
    const o = sdk();
    const llm = Policy.wrap(retry({ maxRetries: 1, backoff: constant(0) }));
    instrument(llm, {
      tracerProvider: o.tracerProvider,
      meterProvider: o.meterProvider,
      genAi: { operation: 'chat', model: 'gpt-4o', provider: 'openai', usage: readUsage },
    });
    // The shape of an OpenAI chat completion.
    const completion = { model: 'gpt-4o-2024-08-06', usage: { prompt_tokens: 20, completion_tokens: 7 } };
    await llm.execute(async () => completion);
    const span = only(o.spans(), 'chat gpt-4o');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.attributes).toMatchObject({
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'gen_ai.usage.input_tokens': 20,
      'gen_ai.usage.output_tokens': 7,
    });
    const m = await o.metrics();
    expect(
      sum(m.get('gen_ai.client.token.usage'), { 'gen_ai.token.type': 'output', 'gen_ai.request.model': 'gpt-4o' }),
    ).toBe(7);
  });

  it('the description can come from each call (the model in `data`); tool calls are `execute_tool {tool}`', async () => {
    const o = sdk();
    const llm = retry({ maxRetries: 0 });
    instrument(llm, {
      tracerProvider: o.tracerProvider,
      genAi: (options) => ({ operation: 'chat', model: String(options?.data?.model), usage: readUsage }),
    });
    // The shape of an Anthropic message.
    await llm.execute(async () => ({ model: 'claude-x', usage: { input_tokens: 3, output_tokens: 4 } }), {
      data: { model: 'claude-x' },
    });
    expect(only(o.spans(), 'chat claude-x').attributes['gen_ai.usage.output_tokens']).toBe(4);

    const tools = retry({ maxRetries: 0 });
    instrument(tools, {
      tracerProvider: o.tracerProvider,
      genAi: (opts) => ({ operation: 'execute_tool', tool: opts?.key }),
    });
    await tools.execute(() => 42, { key: 'calculator' });
    const tool = only(o.spans(), 'execute_tool calculator');
    expect(tool.kind).toBe(SpanKind.INTERNAL);
    expect(tool.attributes['gen_ai.tool.name']).toBe('calculator');
  });

  it('a throwing description or usage reader changes no outcome', async () => {
    const o = sdk();
    const llm = retry({ maxRetries: 0 });
    instrument(llm, {
      tracerProvider: o.tracerProvider,
      genAi: () => {
        throw new Error('bad reader');
      },
    });
    await expect(llm.execute(() => 'fine')).resolves.toBe('fine');
    const other = retry({ maxRetries: 0 });
    const usage = () => {
      throw new Error('bad usage');
    };
    instrument(other, { tracerProvider: o.tracerProvider, genAi: { operation: 'chat', model: 'm', usage } });
    await expect(other.execute(() => 'fine')).resolves.toBe('fine');
    expect(o.spans().map((s) => s.name)).toContain('chat m');
  });

  it('readUsage reads OpenAI and Anthropic shapes, and nothing else', () => {
    expect(readUsage({ model: 'a', usage: { prompt_tokens: 1, completion_tokens: 2 } })).toEqual({
      model: 'a',
      inputTokens: 1,
      outputTokens: 2,
    });
    expect(readUsage({ usage: { input_tokens: 5, output_tokens: 6 } })).toEqual({
      model: undefined,
      inputTokens: 5,
      outputTokens: 6,
    });
    expect(readUsage({ choices: [] })).toBeUndefined();
    expect(readUsage(null)).toBeUndefined();
    expect(readUsage('text')).toBeUndefined();
  });

  it.each([
    [{ genAi: {} }, /`genAi.operation` to be a string/],
    [{ genAi: { operation: 'chat', usage: 1 } }, /`genAi.usage`/],
    [{ genAi: 'chat' }, /`genAi`/],
  ])('rejects %j', (options, message) => {
    expect(() => instrument(retry(), options as never)).toThrow(message);
  });
});

describe('stream timeouts', () => {
  async function* chunks(clock: { sleep(ms: number): Promise<void> }, first: number) {
    await clock.sleep(first);
    yield 'a';
    yield 'b';
  }

  it('time to first chunk (and, for a gen_ai call, the gen_ai metric); the life of the stream by outcome', async () => {
    const o = sdk();
    const clock = virtualClock();
    const policy = streamTimeout({ firstChunk: 1_000, clock, name: 'llm-stream' });
    instrument(policy, {
      tracerProvider: o.tracerProvider,
      meterProvider: o.meterProvider,
      genAi: { operation: 'chat', model: 'gpt-4o' },
    });
    const p = policy.execute(() => chunks(clock, 250));
    await clock.advance(250);
    const stream = await p;
    const read: string[] = [];
    for await (const c of stream) read.push(c);
    expect(read).toEqual(['a', 'b']);
    const m = await o.metrics();
    expect(sum(m.get('breakwater.stream.time_to_first_chunk'), { 'breakwater.policy.name': 'llm-stream' })).toBe(0.25);
    expect(sum(m.get('gen_ai.client.operation.time_to_first_chunk'), { 'gen_ai.request.model': 'gpt-4o' })).toBe(0.25);
    expect(count(m.get('breakwater.stream.duration'), { 'breakwater.stream.outcome': 'complete' })).toBe(1);
    expect(only(o.spans(), 'chat gpt-4o').events.map((e) => e.name)).toEqual(['breakwater.first_chunk']);
  });

  it('a stream timeout counts with its phase', async () => {
    const o = sdk();
    const clock = virtualClock();
    const policy = streamTimeout({ firstChunk: 100, clock });
    instrument(policy, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    const p = policy.execute(() => chunks(clock, 500));
    const failed = expect(p).rejects.toMatchObject({ phase: 'first-chunk' });
    await clock.advance(100);
    await failed;
    const m = await o.metrics();
    expect(total(m.get('breakwater.timeouts'), { 'breakwater.stream.phase': 'first-chunk' })).toBe(1);
  });
});

describe('hedging and fault injection (breakwater/hedge, breakwater/chaos)', () => {
  it('hedged attempts are concurrent attempt spans of their own call; the loser is cancelled', async () => {
    const o = sdk();
    const clock = virtualClock();
    const policy = hedge({ delay: 10, clock, name: 'h' });
    instrument(policy, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    const user = o.tracerProvider.getTracer('user');
    // Per call: the primary is slow, the hedge is fast; two calls overlap.
    const run = (id: string) =>
      policy.execute(async ({ attempt, signal }) => {
        if (attempt === 1) {
          await clock.sleep(100, signal);
          return `${id} primary`;
        }
        user.startSpan(`hedge work ${id}`).end();
        return `${id} hedge`;
      });
    const both = Promise.all([run('a'), run('b')]);
    await clock.advance(10);
    await expect(both).resolves.toEqual(['a hedge', 'b hedge']);
    const spans = o.spans();
    const calls = spans.filter((s) => s.name === 'breakwater h');
    expect(calls).toHaveLength(2);
    const ids = new Set<string>();
    for (const call of calls) {
      const attempts = childrenOf(spans, call);
      expect(
        attempts.map((a) => [a.attributes['breakwater.attempt'], a.attributes['breakwater.attempt.outcome']]),
      ).toEqual([
        [1, 'cancelled'],
        [2, 'success'],
      ]);
      expect(attempts[0]?.attributes['error.type']).toBe('ERR_HEDGE_CANCELLED');
      const work = childrenOf(spans, attempts[1] as (typeof attempts)[number]).map((s) => s.name);
      expect(work).toHaveLength(1);
      ids.add(String(work[0]));
      expect(call.attributes['breakwater.attempts']).toBe(2);
    }
    expect([...ids].sort()).toEqual(['hedge work a', 'hedge work b']);
    const m = await o.metrics();
    expect(total(m.get('breakwater.hedges'), { 'breakwater.hedge.trigger': 'delay' })).toBe(2);
  });

  it('an injected fault is an event of its call and a counted injection', async () => {
    const o = sdk();
    const policy = chaos({ fault: { rate: 1 }, random: () => 0, name: 'game-day' });
    instrument(policy, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    await expect(policy.execute(() => 'never')).rejects.toMatchObject({ code: 'ERR_INJECTED_FAULT' });
    const call = only(o.spans(), 'breakwater game-day');
    expect(call.events.map((e) => [e.name, e.attributes?.['breakwater.chaos.injection']])).toEqual([
      ['breakwater.chaos', 'fault'],
      ['exception', undefined],
    ]);
    const m = await o.metrics();
    expect(total(m.get('breakwater.chaos.injections'), { 'breakwater.chaos.injection': 'fault' })).toBe(1);
  });
});
