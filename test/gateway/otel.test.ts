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
