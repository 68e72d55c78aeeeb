// instrument(registry): the metrics of a target are reported under that target's name, also for
// what happens outside a traced call (the gauges, read at collection; a shared timer's timeout).
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { instrument } from '../../src/otel/index.js';
import { registry } from '../../src/registry/index.js';
import { points, sdk, total } from '../otel/support.js';

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

describe('instrument(registry): metrics per target', () => {
  test('two targets bound to one policy report their breakers’ states apart, under their own names', async () => {
    const o = sdk();
    const mesh = registry({
      config: {
        policies: { llm: [{ breaker: { name: 'llm-breaker', strategy: { type: 'consecutive', failures: 1 } } }] },
        targets: { openai: 'llm', anthropic: 'llm' },
      },
    });
    const off = instrument(mesh, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    await expect(mesh.get('openai').execute(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(mesh.describe('openai')[0]?.policy).toMatchObject({ state: 'open' });
    const m = await o.metrics();
    const state = m.get('breakwater.breaker.state');
    expect(total(state, { 'breakwater.target': 'openai', 'breakwater.breaker.state': 'open' })).toBe(1);
    expect(total(state, { 'breakwater.target': 'anthropic', 'breakwater.breaker.state': 'closed' })).toBe(1);
    expect(total(state, { 'breakwater.target': 'anthropic', 'breakwater.breaker.state': 'open' })).toBe(0);
    off();
  });

  test('bulkhead gauges of two targets are reported apart', async () => {
    const o = sdk();
    const mesh = registry({ config: { policies: { tool: { bulkhead: 2 } }, targets: { a: 'tool', b: 'tool' } } });
    const off = instrument(mesh, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const running = mesh.get('a').execute(() => gate);
    const m = await o.metrics();
    expect(total(m.get('breakwater.bulkhead.active'), { 'breakwater.target': 'a' })).toBe(1);
    expect(total(m.get('breakwater.bulkhead.active'), { 'breakwater.target': 'b' })).toBe(0);
    release();
    await running;
    off();
  });

  test('a timeout (fired by a shared timer, outside the call) is counted under its target', async () => {
    const o = sdk();
    const mesh = registry({ config: { targets: { slow: { timeout: 5 }, fast: { timeout: 1000 } } } });
    const off = instrument(mesh, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    await expect(
      mesh
        .get('slow')
        .execute(
          ({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
        ),
    ).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    const m = await o.metrics();
    expect(points(m.get('breakwater.timeouts')).map((p) => p.attributes['breakwater.target'])).toEqual(['slow']);
    off();
  });
});
