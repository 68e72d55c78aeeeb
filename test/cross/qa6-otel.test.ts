// breakwater/otel on real targets: a real gateway's calls carry no prompt or completion anywhere in
// their spans unless `captureContent: true`; nested instrumented pipelines nest their spans; a
// policy instrumented twice with one SDK.
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gateway } from '../../src/gateway/index.js';
import { Policy } from '../../src/index.js';
import { instrument } from '../../src/otel/index.js';
import { constant, retry } from '../../src/retry/index.js';
import { timeout } from '../../src/timeout/index.js';
import { count, parentId, sdk, spanId } from '../otel/support.js';

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

const SECRET_IN = 'my-social-security-number-123-45-6789';
const SECRET_OUT = 'the-answer-contains-private-data';

/** Every string recorded by a span: attributes, events' attributes, status message, links. */
const recorded = (spans: readonly ReadableSpan[]): string =>
  JSON.stringify(
    spans.map((s) => ({
      name: s.name,
      a: s.attributes,
      e: s.events.map((e) => ({ n: e.name, a: e.attributes })),
      st: s.status,
    })),
  );

const makeGateway = () => {
  const answer = async () => ({
    model: 'gpt-4o',
    choices: [{ message: { role: 'assistant', content: SECRET_OUT } }],
    usage: { prompt_tokens: 10, completion_tokens: 4 },
  });
  return gateway({
    targets: {
      'gpt-4o': {
        endpoints: [
          // The first endpoint fails: a failed attempt (and its error) is on the spans too.
          { id: 'east', call: async () => Promise.reject(Object.assign(new Error('overloaded'), { status: 503 })) },
          { id: 'west', call: answer },
        ],
      },
    },
  });
};

describe('otel on a real gateway', () => {
  it('captureContent false (default): neither the prompt nor the completion is on any span', async () => {
    const o = sdk();
    const gw = makeGateway();
    const off = instrument(gw, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    const r = await gw.call('gpt-4o', { model: 'gpt-4o', messages: [{ role: 'user', content: SECRET_IN }] });
    expect(JSON.stringify(r.value)).toContain(SECRET_OUT);
    off();
    const spans = o.spans();
    expect(spans.length).toBeGreaterThan(0);
    expect(spans.some((s) => s.name === 'chat gpt-4o')).toBe(true);
    const text = recorded(spans);
    expect(text).not.toContain(SECRET_IN);
    expect(text).not.toContain(SECRET_OUT);
  });

  it('captureContent true: the prompt and the completion are on the chat span', async () => {
    const o = sdk();
    const gw = makeGateway();
    const off = instrument(gw, { tracerProvider: o.tracerProvider, captureContent: true });
    await gw.call('gpt-4o', { model: 'gpt-4o', messages: [{ role: 'user', content: SECRET_IN }] });
    off();
    const chat = o.spans().find((s) => s.name === 'chat gpt-4o');
    expect(String(chat?.attributes['gen_ai.input.messages'])).toContain(SECRET_IN);
    expect(String(chat?.attributes['gen_ai.output.messages'])).toContain(SECRET_OUT);
  });
});

describe('otel: nested pipelines and double instrumentation', () => {
  it('an instrumented pipeline called inside another one: its call span is a child of the outer attempt span', async () => {
    const o = sdk();
    const outer = Policy.wrap(timeout(1000), retry({ maxRetries: 1, backoff: constant(0) }));
    const inner = retry({ maxRetries: 0 });
    const offs = [
      instrument(outer, { name: 'outer', tracerProvider: o.tracerProvider }),
      instrument(inner, { name: 'inner', tracerProvider: o.tracerProvider }),
    ];
    let first = true;
    await outer.execute(() =>
      inner.execute(() => {
        if (first) {
          first = false;
          throw new Error('once');
        }
        return 'ok';
      }),
    );
    for (const off of offs) off();
    const spans = o.spans();
    const outerCall = spans.find((s) => s.name === 'breakwater outer') as ReadableSpan;
    const outerAttempts = spans.filter((s) => s.name === 'breakwater attempt' && parentId(s) === spanId(outerCall));
    expect(outerAttempts).toHaveLength(2);
    const innerCalls = spans.filter((s) => s.name === 'breakwater inner');
    expect(innerCalls).toHaveLength(2);
    expect(innerCalls.map((s) => parentId(s)).sort()).toEqual(outerAttempts.map((s) => spanId(s)).sort());
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it('a policy instrumented twice with one SDK traces each call twice, nested, and counts it twice (as documented)', async () => {
    const o = sdk();
    const p = retry({ maxRetries: 0 });
    const off1 = instrument(p, { name: 'p', tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    const off2 = instrument(p, { name: 'p', tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    await p.execute(() => 1);
    const calls = o.spans().filter((s) => s.name === 'breakwater p');
    expect(calls).toHaveLength(2);
    const m = await o.metrics();
    expect(count(m.get('breakwater.call.duration'), { 'breakwater.target': 'p' })).toBe(2);
    off1();
    off2();
    expect(Object.hasOwn(p, 'execute')).toBe(false);
    await p.execute(() => 2);
    expect(o.spans().filter((s) => s.name === 'breakwater p')).toHaveLength(2);
  });
});
