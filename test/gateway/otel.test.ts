// The gateway under breakwater/otel: `instrument(gw)` attaches through `intercept`; a call is a
// gen_ai span named after its target with one attempt span per endpoint request; the gateway's
// `usage` events land on the span and in the token and cost metrics.
import { context, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { gateway } from '../../src/gateway/index.js';
import { instrument } from '../../src/otel/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { childrenOf, only, sdk, sum } from '../otel/support.js';
import { delayed, endpoint, http, ok } from './support.js';

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

it('a call span per gateway call, an attempt span per endpoint request, usage and cost on the span and in the metrics', async () => {
  const o = sdk();
  const clock = virtualClock();
  const gw = gateway({
    clock,
    name: 'llm',
    targets: {
      'gpt-4o': {
        strategy: 'round-robin',
        endpoints: [
          endpoint('east', [http(529)], { provider: 'openai' }),
          endpoint('west', [delayed(clock.sleep, 200, ok(12, 5, 'gpt-4o-2024-08-06'))], {
            provider: 'openai',
            cost: { input: 2.5, output: 10 },
          }),
        ],
      },
    },
  });
  const off = instrument(gw, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider, clock });
  const p = gw.call('gpt-4o', { messages: [{ role: 'user', content: 'hi' }] });
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 10 && !settled; i++) await clock.advance(100);
  const r = await p;
  expect(r).toMatchObject({ endpoint: 'west', attempts: 2 });

  const spans = o.spans();
  const call = only(spans, 'chat gpt-4o');
  expect(call.kind).toBe(SpanKind.CLIENT);
  expect(call.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': 'gpt-4o',
    'gen_ai.provider.name': 'openai',
    'gen_ai.response.model': 'gpt-4o-2024-08-06',
    'gen_ai.usage.input_tokens': 12,
    'gen_ai.usage.output_tokens': 5,
    'breakwater.target': 'gpt-4o',
    'breakwater.attempts': 2,
  });
  expect(call.attributes['breakwater.gen_ai.cost']).toBeCloseTo((12 * 2.5 + 5 * 10) / 1e6, 12);
  const attempts = childrenOf(spans, call);
  expect(attempts.map((s) => s.attributes['error.type'])).toEqual(['529', undefined]);
  expect(call.events.map((e) => e.name)).toEqual(expect.arrayContaining(['breakwater.route', 'breakwater.attempt']));
  const m = await o.metrics();
  expect(sum(m.get('gen_ai.client.token.usage'), { 'gen_ai.token.type': 'input' })).toBe(12);
  off();
  const again = gw.call('gpt-4o', { messages: [] });
  await clock.runAll();
  await again;
  expect(o.spans()).toHaveLength(spans.length);
});

it('each attempt span names the endpoint it went to and its number in the call; gateway span events carry their fields', async () => {
  const o = sdk();
  const gw = gateway({
    targets: {
      'gpt-4o': {
        strategy: 'round-robin',
        endpoints: [
          endpoint('east', [http(500)], { provider: 'azure', model: 'gpt-4o-east' }),
          endpoint('west', [ok(12, 5)], { provider: 'openai', model: 'gpt-4o-west' }),
        ],
      },
    },
  });
  const off = instrument(gw, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
  await gw.call('gpt-4o', { messages: [{ role: 'user', content: 'hi' }] });
  off();
  const spans = o.spans();
  const call = only(spans, 'chat gpt-4o');
  const attempts = childrenOf(spans, call).map((s) => s.attributes);
  expect(attempts).toMatchObject([
    {
      'breakwater.attempt': 1,
      'breakwater.gateway.endpoint': 'east',
      'gen_ai.provider.name': 'azure',
      'gen_ai.request.model': 'gpt-4o-east',
      'breakwater.attempt.outcome': 'error',
    },
    {
      'breakwater.attempt': 2,
      'breakwater.gateway.endpoint': 'west',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-west',
      'breakwater.attempt.outcome': 'success',
    },
  ]);
  const ev = call.events.map((e) => [e.name, e.attributes]);
  expect(ev).toContainEqual([
    'breakwater.route',
    expect.objectContaining({ 'breakwater.gateway.endpoint': 'east', 'breakwater.gateway.candidates': 2 }),
  ]);
  expect(ev).toContainEqual([
    'breakwater.attempt',
    expect.objectContaining({ 'breakwater.gateway.endpoint': 'east', 'breakwater.gateway.outcome': 'unknown' }),
  ]);
});

it('token metrics of a stream that ends after its call span carry gen_ai.operation.name (a required attribute)', async () => {
  const o = sdk();
  async function* chunks() {
    yield { model: 'gpt-4o-2024', choices: [{ delta: { content: 'hi' } }] };
    yield { model: 'gpt-4o-2024', choices: [], usage: { prompt_tokens: 7, completion_tokens: 1 } };
  }
  const gw = gateway({ targets: { chat: { endpoints: [endpoint('e', [() => chunks()], { provider: 'openai' })] } } });
  const off = instrument(gw, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
  const r = await gw.call('chat', { messages: [] });
  for await (const _ of r.value as AsyncIterable<unknown>) {
    // drain: the usage arrives with the last chunk, after the call span ended
  }
  off();
  const m = await o.metrics();
  const usage = m.get('gen_ai.client.token.usage');
  expect(usage?.dataPoints.map((p) => p.attributes)).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.response.model': 'gpt-4o-2024',
        'gen_ai.token.type': 'input',
      }),
    ]),
  );
});
