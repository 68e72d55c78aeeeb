// Registry updates with the newer policy kinds (rateLimit, hedge, chaos, streamTimeout): state carries
// over when a layer's settings did not change, calls in flight finish on the pipeline they began on.
import { describe, expect, it } from 'vitest';
import { isInjectedFaultError } from '../../src/chaos/index.js';
import { isRateLimitedError, type RateLimitStore } from '../../src/rate-limit/index.js';
import { registry } from '../../src/registry/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { failOnUnhandledRejections } from '../support/unhandled.js';

failOnUnhandledRejections(5);

describe('registry with rateLimit, hedge, chaos, streamTimeout', () => {
  it('a rate limiter keeps its spent tokens across an edit of another layer; a changed one starts full', async () => {
    const clock = virtualClock();
    const cfg = (after: string, limit = 2) => ({
      targets: { t: [{ timeout: after }, { rateLimit: { limit, per: '1m' } }] },
    });
    const mesh = registry({ clock, config: cfg('5s') });
    await mesh.get('t').execute(() => 1);
    await mesh.get('t').execute(() => 1);
    await expect(mesh.get('t').execute(() => 1)).rejects.toSatisfy(isRateLimitedError);
    expect(mesh.update(cfg('6s')).ok).toBe(true);
    await expect(mesh.get('t').execute(() => 1)).rejects.toSatisfy(isRateLimitedError);
    expect(mesh.update(cfg('6s', 3)).ok).toBe(true);
    await expect(mesh.get('t').execute(() => 1)).resolves.toBe(1);
  });

  it('a rate limit store function is called once, and kept when only the limit changes', async () => {
    const clock = virtualClock();
    let made = 0;
    const functions = {
      store: () => {
        made++;
        // a thin store that delegates to nothing: admits everything
        const s: RateLimitStore = {
          acquire: () => ({ ok: true, wait: 0, remaining: 1, at: clock.now(), blockedFor: 0 }),
          adjust: () => undefined,
          block: () => undefined,
          cap: () => undefined,
        } as unknown as RateLimitStore;
        return s;
      },
    };
    const cfg = (limit: number) => ({ targets: { t: [{ rateLimit: { limit, per: 1000, store: 'store' } }] } });
    const mesh = registry({ clock, functions, config: cfg(1) });
    await mesh.get('t').execute(() => 1);
    const u = mesh.update(cfg(5));
    expect(u).toMatchObject({ ok: true });
    await mesh.get('t').execute(() => 1);
    expect(made).toBe(1);
  });

  it('a rate-limit waiter queued before an update that rebuilds the limiter is still admitted by the old one', async () => {
    const clock = virtualClock();
    const cfg = (limit: number) => ({ targets: { t: [{ rateLimit: { limit, per: 1000, mode: 'wait' } }] } });
    const mesh = registry({ clock, config: cfg(1) });
    await mesh.get('t').execute(() => 1);
    const queued = mesh.get('t').execute(() => 'queued');
    await clock.advance(10);
    expect(mesh.update(cfg(10)).ok).toBe(true);
    await expect(mesh.get('t').execute(() => 'new')).resolves.toBe('new');
    await clock.advance(1_000);
    await expect(queued).resolves.toBe('queued');
    expect(clock.pending).toBe(0);
  });

  it('a hedge budget is kept when only the delay changes', async () => {
    const clock = virtualClock();
    const cfg = (delay: number) => ({
      targets: { t: [{ hedge: { delay, budget: { ratio: 0, minPerSecond: 1, window: '10s' } } }] },
    });
    const mesh = registry({ clock, config: cfg(10) });
    let attempts = 0;
    const slow = () => {
      attempts++;
      return clock.sleep(100).then(() => 'v');
    };
    // window 10s, 1/s floor → 10 hedges allowed in the window
    for (let i = 0; i < 10; i++) {
      const p = mesh.get('t').execute(slow);
      await clock.advance(100);
      await p;
    }
    const before = attempts;
    expect(before).toBe(20);
    expect(mesh.update(cfg(20)).ok).toBe(true);
    const p = mesh.get('t').execute(slow);
    await clock.advance(100);
    await p;
    expect(attempts - before).toBe(1); // the kept budget is spent: no hedge
  });

  it('flipping chaos `enabled` leaves the other layers’ state alone', async () => {
    const clock = virtualClock();
    const cfg = (enabled: boolean) => ({
      targets: {
        t: [
          { breaker: { strategy: { type: 'consecutive', failures: 2 } } },
          { chaos: { fault: { rate: 1 }, enabled } },
        ],
      },
    });
    const mesh = registry({ clock, config: cfg(true) });
    const breakerState = () => (mesh.describe('t')[0]?.policy as unknown as { state: string } | undefined)?.state;
    await expect(mesh.get('t').execute(() => 1)).rejects.toSatisfy(isInjectedFaultError);
    const u = mesh.update(cfg(false));
    expect(u).toMatchObject({ ok: true });
    await expect(mesh.get('t').execute(() => 1)).resolves.toBe(1);
    expect(mesh.update(cfg(true)).ok).toBe(true);
    await expect(mesh.get('t').execute(() => 1)).rejects.toSatisfy(isInjectedFaultError);
    // the breaker counted 1 then saw a success (reset), then 1: still closed
    expect(breakerState()).toBe('closed');
    await expect(mesh.get('t').execute(() => 1)).rejects.toSatisfy(isInjectedFaultError);
    expect(breakerState()).toBe('open');
  });

  it('streamTimeout through the registry: a stream survives an update made while it is read', async () => {
    const clock = virtualClock();
    const cfg = (idle: number) => ({ targets: { t: [{ retry: 1 }, { streamTimeout: { idle } }] } });
    const mesh = registry({ clock, config: cfg(100) });
    const s = (await mesh.get('t').execute(async function* () {
      yield 1;
      await clock.sleep(50);
      yield 2;
    })) as AsyncIterable<number>;
    expect(mesh.update(cfg(10)).ok).toBe(true);
    const out: number[] = [];
    const read = (async () => {
      for await (const c of s) out.push(c);
    })();
    await clock.advance(60);
    await read;
    expect(out).toEqual([1, 2]); // the old limit (100 ms idle) applies to the stream that began under it
  });
});
