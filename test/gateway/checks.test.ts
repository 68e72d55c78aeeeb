// Behaviours found missing by the independent check of the gateway: each test reproduces what a
// user relied on and the gateway did not do.
import { describe, expect, it } from 'vitest';
import { circuitBreaker, isIsolatedCircuitError } from '../../src/breaker/index.js';
import { bulkhead } from '../../src/bulkhead/index.js';
import { type GatewayEvent, gateway, isBudgetExceededError, isGatewayAuthError } from '../../src/gateway/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { endpoint, http, ok } from './support.js';

const msg = { messages: [{ role: 'user', content: 'hello' }] };

describe('a target policy shared by every endpoint', () => {
  it("an open (isolated) breaker in the target's policy ejects no endpoint: its refusals never reached them", async () => {
    const breaker = circuitBreaker();
    const eps = ['a', 'b', 'c'].map((id) => endpoint(id, [ok()]));
    const gw = gateway({ maxWait: 0, targets: { chat: { strategy: 'round-robin', policy: breaker, endpoints: eps } } });
    const ejected: GatewayEvent[] = [];
    gw.on('eject', (e) => ejected.push(e));
    const isolation = breaker.isolate();
    for (let i = 0; i < 6; i++) {
      const e = await gw.call('chat', msg).catch((x: unknown) => x);
      expect(isIsolatedCircuitError(e), String(e)).toBe(true);
    }
    expect(eps.map((e) => e.seen.length)).toEqual([0, 0, 0]);
    expect(ejected).toEqual([]);
    for (const ep of gw.snapshot().targets.chat?.endpoints ?? []) {
      expect(ep).toMatchObject({ state: 'healthy', consecutiveFailures: 0, usage: { errors: 0 } });
    }
    isolation.release();
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) served.add((await gw.call('chat', msg)).endpoint);
    expect([...served].sort()).toEqual(['a', 'b', 'c']); // none was left ejected
  });

  it("a full bulkhead in the target's policy does not count against the endpoints' health", async () => {
    const clock = virtualClock();
    let release: (() => void) | undefined;
    const slow = () =>
      new Promise((resolve) => {
        release = () => resolve(ok());
      });
    const a = endpoint('a', [slow, ok()]);
    const b = endpoint('b', [ok()]);
    const gw = gateway({
      clock,
      maxWait: 0,
      ejection: { consecutiveFailures: 1 },
      targets: { chat: { strategy: 'round-robin', policy: bulkhead({ limit: 1, queue: 0 }), endpoints: [a, b] } },
    });
    const first = gw.call('chat', msg);
    await clock.advance(0);
    await expect(gw.call('chat', msg)).rejects.toMatchObject({ code: 'ERR_BULKHEAD_REJECTED' });
    release?.();
    await first;
    expect(gw.snapshot().targets.chat?.endpoints.map((e) => e.state)).toEqual(['healthy', 'healthy']);
    expect(b.seen).toHaveLength(0);
  });
});

describe('auth results', () => {
  it.each([
    [{ key: 'k', budget: { usd: 'x' } }, /budget.usd/],
    [{ key: 'k', budget: 5 }, /budget/],
    [{ key: 'k', budget: { usd: -1 } }, /budget.usd/],
    [{ key: 'k', budget: { usd: 1, per: 0 } }, /budget.per/],
    [{ key: 'k', budget: { usd: 1, per: '1d' } }, /budget.per/],
  ])('a budget the gateway cannot enforce is refused, naming it, never silently ignored (%j)', async (info, re) => {
    const gw = gateway({
      auth: () => info as never,
      targets: { chat: { endpoints: [endpoint('a', [ok(1_000_000, 0)], { cost: { input: 1, output: 1 } })] } },
    });
    const e = await gw.call('chat', msg).catch((x: unknown) => x);
    expect(isGatewayAuthError(e) || e instanceof TypeError || e instanceof RangeError, String(e)).toBe(true);
    expect(String((e as { cause?: unknown }).cause ?? e)).toMatch(re);
  });

  it('a valid lifetime budget (no `per`) is enforced', async () => {
    const gw = gateway({
      auth: () => ({ key: 'k', budget: { usd: 1 } }),
      targets: { chat: { endpoints: [endpoint('a', [ok(1_000_000, 0)], { cost: { input: 1, output: 1 } })] } },
    });
    await gw.call('chat', msg);
    expect(isBudgetExceededError(await gw.call('chat', msg).catch((x: unknown) => x))).toBe(true);
  });
});

describe('call options', () => {
  it.each([[Number.NaN], ['soon']])(
    'a deadline that is not a number rejects with a TypeError naming it instead of hanging (%s)',
    async (deadline) => {
      const clock = virtualClock();
      const a = endpoint('a', [http(429, { 'retry-after-ms': '5000' })]);
      const gw = gateway({ clock, targets: { chat: { endpoints: [a] } } });
      await gw.call('chat', msg, { deadline: 0 }).catch(() => {}); // cools `a` down
      const p = gw.call('chat', msg, { deadline: deadline as never });
      const r = await Promise.race([p.catch((x: unknown) => x), clock.advance(60_000).then(() => 'pending')]);
      expect(r).toBeInstanceOf(TypeError);
      expect(String(r)).toMatch(/`deadline`/);
      expect(a.seen).toHaveLength(1);
    },
  );

  it('a signal that is not an AbortSignal is refused up front and leaves no timer behind', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '5000' })]);
    const gw = gateway({ clock, targets: { chat: { endpoints: [a] } } });
    await gw.call('chat', msg, { deadline: 0 }).catch(() => {}); // cools `a` down
    const e = await gw.call('chat', msg, { signal: {} as never }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TypeError);
    expect(String(e)).toMatch(/`signal`/);
    expect(clock.pending).toBe(0);
  });
});

describe('messages and option paths', () => {
  it('a request no endpoint can fit says so (not "retry after Infinity ms")', async () => {
    const gw = gateway({ targets: { chat: { endpoints: [endpoint('small', [ok()], { contextWindow: 10 })] } } });
    const e = await gw
      .call('chat', { messages: [{ role: 'user', content: 'x'.repeat(400) }] })
      .catch((x: unknown) => x);
    expect(String(e)).not.toMatch(/Infinity/);
    expect(String(e)).toMatch(/context window/);
  });

  it.each([
    [{ stream: { firstChunk: -1 } }, /`targets\.chat\.stream\.firstChunk`/],
    [{ hedge: { delay: -5 } }, /`targets\.chat\.hedge\.delay`/],
  ])('a bad stream or hedge option names its target (%j)', (more, re) => {
    expect(() => gateway({ targets: { chat: { endpoints: [endpoint('a', [ok()])], ...more } } } as never)).toThrow(re);
  });
});

describe('unknown option keys', () => {
  const ep = (more: Record<string, unknown> = {}) => ({ id: 'a', call: () => ok(), ...more });
  it.each([
    [{ targets: { chat: { endpoints: [ep({ limits: { rps: 5 } })] } } }, 'targets.chat.endpoints[0].limits.rps', 'rpm'],
    [
      { targets: { chat: { endpoints: [ep({ contextwindow: 8000 })] } } },
      'targets.chat.endpoints[0].contextwindow',
      'contextWindow',
    ],
    [
      { targets: { chat: { endpoints: [ep({ cost: { inputs: 1, output: 1 } })] } } },
      'targets.chat.endpoints[0].cost.inputs',
      'input',
    ],
    [{ targets: { chat: { endpoints: [ep()], fallback: ['chat'] } } }, 'targets.chat.fallback', 'fallbacks'],
    [
      { targets: { chat: { endpoints: [ep()], fallbacks: { context_length: ['chat'] } } } },
      'targets.chat.fallbacks.context_length',
      'context-length',
    ],
    [{ targets: { chat: { endpoints: [ep()] } }, maxWiat: 100 }, 'maxWiat', 'maxWait'],
    [{ targets: { chat: { endpoints: [ep()] } }, ejection: { cooldownMs: 100 } }, 'ejection.cooldownMs', 'cooldown'],
  ])('%j is a TypeError naming the path and the likely key', (options, path, meant) => {
    expect(() => gateway(options as never)).toThrow(TypeError);
    expect(() => gateway(options as never)).toThrow(`Unknown option \`${path}\`; did you mean \`${meant}\`?`);
  });

  it('a key close to none lists the keys that exist', () => {
    expect(() => gateway({ targets: { chat: { endpoints: [ep({ region: 'eu' })] } } } as never)).toThrow(
      /Unknown option `targets.chat.endpoints\[0\].region` \(expected one of `id`, `call`, `weight`/,
    );
  });

  it('every documented key is accepted', () => {
    expect(() =>
      gateway({
        targets: {
          chat: {
            endpoints: [
              {
                id: 'a',
                call: () => ok(),
                weight: 1,
                limits: { rpm: 1, tpm: 1000, concurrency: 1 },
                cost: { input: 1, output: 1 },
                contextWindow: 8000,
                model: 'm',
                provider: 'p',
              },
            ],
            strategy: 'weighted',
            policy: undefined,
            stream: { firstChunk: 1000 },
            hedge: { delay: 100 },
            fallbacks: { default: ['b'], 'rate-limited': ['b'] },
            usage: () => undefined,
            chunkUsage: () => undefined,
            estimate: () => 1,
          },
          b: { endpoints: [ep()] },
        },
        classify: () => undefined,
        ejection: {
          consecutiveFailures: 3,
          base: 1000,
          max: 10_000,
          jitter: 0,
          decay: 1000,
          maxEjectedPercent: 50,
          cooldown: 1000,
        },
        auth: () => ({ key: 'k' }),
        maxFallbacks: 1,
        maxWait: 1,
        maxKeys: 1,
        clock: virtualClock(),
        random: Math.random,
        name: 'gw',
      }),
    ).not.toThrow();
  });

  it.each([
    [
      { key: 'k', budget: { usd: 1, period: 60_000 } },
      /Unknown option `auth\(\) result budget.period` \(expected one of `usd`, `per`\)/,
    ],
    [{ key: 'k', limits: { rps: 5 } }, /Unknown option `auth\(\) result limits.rps`; did you mean `rpm`\?/],
  ])('an auth() result with an unknown budget or limits key refuses the call (%j)', async (info, re) => {
    const a = endpoint('a', [ok()]);
    const gw = gateway({ auth: () => info as never, targets: { chat: { endpoints: [a] } } });
    const e = await gw.call('chat', msg).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TypeError);
    expect(String(e)).toMatch(re);
    expect(a.seen).toHaveLength(0);
  });
});
