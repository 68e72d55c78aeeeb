import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chaos } from '../../src/chaos/index.js';
import { fallback } from '../../src/fallback/index.js';
import { gateway } from '../../src/gateway/index.js';
import { hedge } from '../../src/hedge/index.js';
import { type Context, Policy } from '../../src/index.js';
import { rateLimit } from '../../src/rate-limit/index.js';
import { registry } from '../../src/registry/index.js';
import { constant, retry } from '../../src/retry/index.js';
import { streamTimeout } from '../../src/stream/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';

const N = 5_000;
let warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
let unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
beforeEach(() => {
  warnings = [];
  unhandled = [];
  process.on('warning', onWarning);
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  await new Promise((r) => setTimeout(r, 5));
  process.off('warning', onWarning);
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
  expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
});

/** What the openai SDK does: adds a listener to the signal it is given and never removes it. */
function leak(ctx: Context): void {
  ctx.signal.addEventListener('abort', () => {});
}
const tick = () => new Promise<void>((r) => setTimeout(r, 0));

function count(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

describe('a long-lived caller signal gets no listener left behind', () => {
  it('hedge, with hedges firing (delay 0 parallel mode)', async () => {
    const caller = new AbortController();
    const p = hedge({ delay: 0, maxHedges: 2 });
    for (let i = 0; i < N; i++) {
      await p.execute(
        async (ctx) => {
          leak(ctx);
          if (ctx.attempt === 1) await tick();
          return ctx.attempt;
        },
        { signal: caller.signal },
      );
    }
    expect(count(caller.signal)).toBe(0);
  });

  it('hedge, hedge fires on failure of primary', async () => {
    const caller = new AbortController();
    const p = hedge({ delay: 1000, maxHedges: 1 });
    for (let i = 0; i < N; i++) {
      await p.execute(
        async (ctx) => {
          leak(ctx);
          if (ctx.attempt === 1) throw new Error('x');
          return 1;
        },
        { signal: caller.signal },
      );
    }
    expect(count(caller.signal)).toBe(0);
  });

  it('rateLimit in wait mode (calls that actually wait)', async () => {
    const caller = new AbortController();
    const clock = virtualClock();
    const p = rateLimit({ limit: 1, per: 1, mode: 'wait', clock });
    let ran = 0;
    for (let i = 0; i < N / 5; i++) {
      // five at a time: four of them queue behind the first
      const batch = Array.from({ length: 5 }, () =>
        p.execute(
          (ctx) => {
            leak(ctx);
            ran++;
          },
          { signal: caller.signal },
        ),
      );
      await clock.advance(5);
      await Promise.all(batch);
    }
    expect(ran).toBe(N);
    expect(count(caller.signal)).toBe(0);
  });

  it('streamTimeout: consumer breaks early, stream fully consumed, and stalled', async () => {
    const caller = new AbortController();
    const p = streamTimeout({ firstChunk: 1000, idle: 1000 });
    const src = (ctx: Context) => {
      leak(ctx);
      return (async function* () {
        yield 1;
        yield 2;
        yield 3;
      })();
    };
    for (let i = 0; i < N / 2; i++) {
      const s = await p.execute(src, { signal: caller.signal });
      for await (const c of s) if (c === 1) break;
    }
    for (let i = 0; i < N / 2; i++) {
      const s = await p.execute(src, { signal: caller.signal });
      for await (const _ of s) {
      }
    }
    expect(count(caller.signal)).toBe(0);
    const stalled = streamTimeout({ idle: 1 });
    for (let i = 0; i < 200; i++) {
      const s = await stalled.execute(
        (ctx) => {
          leak(ctx);
          return (async function* () {
            yield 1;
            // Far past the 1 ms idle limit even on a loaded machine (the limit's due time is fixed
            // at the end of the turn that armed it).
            await new Promise((r) => setTimeout(r, 100));
            yield 2;
          })();
        },
        { signal: caller.signal },
      );
      await expect(
        (async () => {
          for await (const _ of s) {
          }
        })(),
      ).rejects.toMatchObject({ code: 'ERR_STREAM_TIMEOUT' });
    }
    expect(count(caller.signal)).toBe(0);
  });

  it('gateway.call with fallbacks', async () => {
    const caller = new AbortController();
    const gw = gateway<string>({
      targets: {
        a: {
          endpoints: [
            {
              id: 'a1',
              call: (_req, ctx) => {
                leak(ctx as Context);
                throw Object.assign(new Error('bad'), { status: 500 });
              },
            },
          ],
          fallbacks: { default: ['b'] },
        },
        b: {
          endpoints: [
            {
              id: 'b1',
              call: (_r, ctx) => {
                leak(ctx as Context);
                return 'ok';
              },
            },
          ],
        },
      },
    });
    for (let i = 0; i < N; i++) {
      const r = await gw.call('a', 'x', { signal: caller.signal });
      expect(r.value).toBe('ok');
    }
    expect(count(caller.signal)).toBe(0);
  });

  it('registry.get(target).execute with every layer kind', async () => {
    const caller = new AbortController();
    const mesh = registry({
      config: {
        targets: {
          t: [
            { timeout: '10s' },
            { fallback: { value: 1 } },
            { retry: { maxRetries: 1, backoff: 0 } },
            { breaker: {} },
            { bulkhead: 10 },
            { rateLimit: { limit: 100000, per: 1 } },
            { hedge: { delay: 0 } },
            { chaos: { latency: { rate: 0.5, ms: 0 } } },
            { timeout: '5s' },
          ],
        },
      },
    });
    for (let i = 0; i < N; i++) {
      await mesh.get('t').execute((ctx) => leak(ctx), { signal: caller.signal });
    }
    expect(count(caller.signal)).toBe(0);
  });

  it('chaos latency', async () => {
    const caller = new AbortController();
    const p = chaos({ latency: { rate: 1, ms: 0 } });
    for (let i = 0; i < N; i++) await p.execute((ctx) => leak(ctx), { signal: caller.signal });
    expect(count(caller.signal)).toBe(0);
  });

  it('Policy.wrap(fallback, hedge, streamTimeout)', async () => {
    const caller = new AbortController();
    const p = Policy.wrap(
      fallback({ to: () => null }),
      retry({ maxRetries: 1, backoff: constant(0) }),
      hedge({ delay: 0, maxHedges: 1 }),
      timeout(1000),
      streamTimeout({ firstChunk: 1000, idle: 1000 }),
    );
    for (let i = 0; i < N / 2; i++) {
      const s = await p.execute(
        (ctx) => {
          leak(ctx);
          return (async function* () {
            if (ctx.attempt === 1) await tick();
            yield ctx.attempt;
            yield 2;
          })();
        },
        { signal: caller.signal },
      );
      if (s)
        for await (const _ of s) {
        }
    }
    expect(count(caller.signal)).toBe(0);
  });
});
