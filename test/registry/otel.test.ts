// The registry with the real telemetry sidecar: one `instrument(registry)` traces every target,
// across config updates, through the registry's `intercept` and event stream.
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { instrument } from '../../src/otel/index.js';
import { registry } from '../../src/registry/index.js';
import { childrenOf, only, points, sdk, total } from '../otel/support.js';

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

describe('instrument(registry)', () => {
  test('every target is traced under its name, before and after an update; gauges follow the layers in force', async () => {
    const o = sdk();
    const mesh = registry({
      config: {
        targets: {
          openai: [{ retry: { maxRetries: 1, backoff: 0 } }, { breaker: { name: 'openai-breaker' } }],
          search: { retry: { maxRetries: 0, name: 'search-retry' } },
        },
      },
    });
    const off = instrument(mesh, { tracerProvider: o.tracerProvider, meterProvider: o.meterProvider });
    let n = 0;
    await mesh.get('openai').execute(() => (n++ === 0 ? Promise.reject(new Error('x')) : 'ok'));
    await mesh.get('search').execute(() => 'found');
    const openai = only(o.spans(), 'breakwater openai');
    expect(openai.attributes).toMatchObject({
      'breakwater.target': 'openai',
      'breakwater.policy.path': ['retry', 'breaker:openai-breaker'],
      'breakwater.attempts': 2,
    });
    expect(openai.events.map((e) => e.name)).toEqual(['breakwater.retry']);
    expect(childrenOf(o.spans(), openai)).toHaveLength(2);
    expect(only(o.spans(), 'breakwater search').attributes['breakwater.policy.path']).toEqual(['retry:search-retry']);

    // A reload: openai's retry changes (its breaker is kept), a new target appears.
    mesh.update({
      targets: {
        openai: [{ retry: { maxRetries: 2, backoff: 0 } }, { breaker: { name: 'openai-breaker' } }],
        search: { retry: { maxRetries: 0, name: 'search-retry' } },
        sql: [{ bulkhead: { limit: 2, name: 'sql-pool' } }],
      },
    });
    n = 0;
    await mesh.get('openai').execute(() => (n++ < 2 ? Promise.reject(new Error('x')) : 'ok'));
    await mesh.get('sql').execute(() => 'rows');
    const spans = o.spans();
    expect(spans.filter((s) => s.name === 'breakwater openai').map((s) => s.attributes['breakwater.attempts'])).toEqual(
      [2, 3],
    );
    expect(only(spans, 'breakwater sql').attributes['breakwater.target']).toBe('sql');
    const m = await o.metrics();
    expect(total(m.get('breakwater.retries'), { 'breakwater.target': 'openai' })).toBe(3);
    expect(
      points(m.get('breakwater.breaker.state'), { 'breakwater.policy.name': 'openai-breaker' }).length,
    ).toBeGreaterThan(0);
    expect(
      points(m.get('breakwater.bulkhead.active'), { 'breakwater.policy.name': 'sql-pool' }).length,
    ).toBeGreaterThan(0);

    off();
    const before = o.spans().length;
    await mesh.get('search').execute(() => 'again');
    expect(o.spans()).toHaveLength(before);
    expect(mesh.layers.every((l) => l.events.count === 0)).toBe(true);
  });
});
