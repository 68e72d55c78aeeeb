// The signal `fn` sees belongs to its call: real clients (the openai SDK among them) add abort
// listeners to the signal they are given and never remove them, so a signal that outlived the call
// (the caller's own, or one shared never-aborting signal) would pile up one listener per call.
import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { circuitBreaker } from '../../src/breaker/index.js';
import { bulkhead } from '../../src/bulkhead/index.js';
import type { Context } from '../../src/core/context.js';
import { Policy } from '../../src/core/policy.js';
import { memoryEventStore } from '../../src/event-store/index.js';
import { fallback } from '../../src/fallback/index.js';
import { filter, router, scatterGather } from '../../src/messaging/index.js';
import { constant, retry } from '../../src/retry/index.js';
import { defineSaga, sagaOrchestrator } from '../../src/saga/index.js';
import { timeout } from '../../src/timeout/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** What an HTTP client does with the signal it is handed: listen, and never remove the listener. */
const impolite = (ctx: Context): number => {
  ctx.signal.addEventListener('abort', () => {});
  return 1;
};

let warnings: Error[] = [];
const onWarning = (w: Error): void => {
  warnings.push(w);
};
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

const pipelines: [string, () => Policy][] = [
  ['retry()', () => retry({ maxRetries: 2, backoff: constant(0) })],
  ['Policy.wrap(timeout, retry)', () => Policy.wrap(timeout(30_000), retry({ maxRetries: 2, backoff: constant(0) }))],
];

describe.each(pipelines)('10,000 calls through %s, each fn leaving a listener behind', (_name, make) => {
  it.each([
    ['without a caller signal', false],
    ['with one long-lived caller signal', true],
  ])('%s: the caller’s signal ends with 0 listeners, no warning, bounded heap', async (_label, withCaller) => {
    const policy = make();
    const ac = new AbortController();
    const options = withCaller ? { signal: ac.signal } : undefined;
    const seen = new Set<AbortSignal>();
    for (let i = 0; i < 200; i++) await policy.execute((ctx) => seen.add(ctx.signal), options);
    expect(seen.size).toBe(200); // two calls never share a signal
    seen.clear();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 10_000; i++) await policy.execute(impolite, options);
    gc();
    const growth = process.memoryUsage().heapUsed - before;
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    expect(growth).toBeLessThan(1_000_000);
  });
});

describe('every policy hands each call a signal of its own', () => {
  const ac = new AbortController();
  const policies: [string, Policy][] = [
    ['Policy.noop', Policy.noop],
    ['retry', retry()],
    ['timeout (cooperative)', timeout(10_000)],
    ['timeout (aggressive)', timeout({ after: 10_000, strategy: 'aggressive' })],
    ['circuitBreaker', circuitBreaker()],
    ['bulkhead', bulkhead({ limit: 2, queue: 10 })],
    ['fallback', fallback({ to: () => 0 })],
    ['a 4-layer pipeline', Policy.wrap(fallback({ to: () => 0 }), timeout(10_000), retry(), circuitBreaker())],
  ];
  it.each(policies)('%s, with and without a caller signal', async (_name, policy) => {
    for (const options of [undefined, { signal: ac.signal }]) {
      const a = new Set<AbortSignal>();
      await Promise.all([0, 1, 2].map(() => policy.execute((ctx) => a.add(ctx.signal), options)));
      expect(a.size).toBe(3);
      expect(a.has(ac.signal)).toBe(false);
    }
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('a caller abort still reaches a running call through its own signal, and rejects with the reason', async () => {
    const c = new AbortController();
    const p = retry().execute(
      (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      { signal: c.signal },
    );
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(1);
    const reason = new Error('user left');
    c.abort(reason);
    await expect(p).rejects.toBe(reason);
  });

  it('messaging handlers: router, filter and scatter-gather branches', async () => {
    const seen: AbortSignal[] = [];
    const keep = (_m: unknown, ctx: Context): number => {
      seen.push(ctx.signal);
      ctx.signal.addEventListener('abort', () => {});
      return 1;
    };
    const r = router<number, number>({ routes: [{ name: 'all', when: () => true, to: keep }] });
    const f = filter<number, never>(() => true).to(keep);
    const sg = scatterGather<number, number>({ handlers: { a: keep, b: keep } });
    for (let i = 0; i < 3; i++) {
      await r.route(i, { signal: ac.signal });
      await f(i, { signal: ac.signal, attempt: 1, key: undefined, deadline: undefined, data: {} });
      await sg.execute(i, { signal: ac.signal });
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toHaveLength(12);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('saga steps and compensations, with and without a step policy', async () => {
    const seen: AbortSignal[] = [];
    const keep = (ctx: { readonly signal: AbortSignal }): void => {
      seen.push(ctx.signal);
      ctx.signal.addEventListener('abort', () => {});
    };
    const saga = defineSaga<number>({
      name: 'signals',
      steps: [
        { name: 'a', run: (_i, ctx) => keep(ctx), compensate: (_i, _r, ctx) => keep(ctx) },
        { name: 'b', run: (_i, ctx) => keep(ctx), compensate: (_i, _r, ctx) => keep(ctx), policy: retry() },
        {
          name: 'c',
          run: () => {
            throw new Error('no');
          },
        },
      ],
    });
    const o = sagaOrchestrator({ store: memoryEventStore() });
    await expect(o.run(saga, 1, { id: 's1' })).rejects.toThrow();
    await expect(o.run(saga, 2, { id: 's2' })).rejects.toThrow();
    expect(seen).toHaveLength(8);
    expect(new Set(seen).size).toBe(8);
  });
});
