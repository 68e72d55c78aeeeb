// Limits on breakwater/rate-limit's low-level API: per-endpoint rpm / tpm (checked without
// consuming while routing, taken for the attempt, trued up with the real usage, adjusted by the
// server's headers) and per-key rpm / tpm from `auth`.
import { describe, expect, it } from 'vitest';
import { type GatewayEvent, gateway, isGatewayUnavailableError } from '../../src/gateway/index.js';
import { isRateLimitedError } from '../../src/rate-limit/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { endpoint, http, ok } from './support.js';

/** A request estimated at `tokens` (a quarter of the characters, no max_tokens). */
const req = (tokens: number) => ({ messages: [{ role: 'user', content: 'x'.repeat(tokens * 4) }] });

describe('endpoint limits', () => {
  it('rpm: an endpoint over its requests per minute is skipped until its bucket refills', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [ok()], { limits: { rpm: 2 } });
    const b = endpoint('b', [ok()], { weight: 0 });
    const gw = gateway({ clock, targets: { chat: { endpoints: [a, b] } } });
    const order: string[] = [];
    for (let i = 0; i < 3; i++) order.push((await gw.call('chat', req(1))).endpoint);
    expect(order).toEqual(['a', 'a', 'b']);
    expect(gw.snapshot().targets.chat?.endpoints[0]?.remaining).toEqual({ rpm: 0, tpm: undefined });
    await clock.advance(30_000); // 2 per minute: one more after 30 s
    expect((await gw.call('chat', req(1))).endpoint).toBe('a');
  });

  it('tpm: the estimate is taken before the call and trued up with the real usage after it', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [ok(5, 5)], { limits: { tpm: 100 } }); // answers use 10 tokens
    const b = endpoint('b', [ok()], { weight: 0 });
    const gw = gateway({ clock, targets: { chat: { endpoints: [a, b] } } });
    expect((await gw.call('chat', req(60))).endpoint).toBe('a');
    // 60 taken, 50 refunded by the true-up: 90 left, so another 60 fits.
    expect(gw.snapshot().targets.chat?.endpoints[0]?.remaining.tpm).toBe(90);
    expect((await gw.call('chat', req(60))).endpoint).toBe('a');
    expect((await gw.call('chat', req(85))).endpoint).toBe('b'); // 80 left
  });

  it('a failed request gives its tokens back', async () => {
    const a = endpoint('a', [http(500), ok(1, 1)], { limits: { tpm: 100 } });
    const gw = gateway({
      clock: virtualClock(),
      maxWait: 0,
      targets: { chat: { endpoints: [a] } },
    });
    await expect(gw.call('chat', req(80))).rejects.toMatchObject({ status: 500 });
    expect(gw.snapshot().targets.chat?.endpoints[0]?.remaining.tpm).toBe(100);
  });

  it('a request larger than a minute of an endpoint is never sent there', async () => {
    const a = endpoint('a', [ok()], { limits: { tpm: 100 } });
    const gw = gateway({ clock: virtualClock(), targets: { chat: { endpoints: [a] } } });
    const e = await gw.call('chat', req(500)).catch((x: unknown) => x);
    expect(isGatewayUnavailableError(e) && e.retryAfter).toBe(Number.POSITIVE_INFINITY);
    expect(a.seen).toHaveLength(0);
  });

  it('every endpoint over its limit: the call waits for the first refill within its deadline (LiteLLM #7669, #3646)', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [ok()], { limits: { rpm: 1 } });
    const b = endpoint('b', [ok()], { limits: { rpm: 2 } });
    const gw = gateway({ clock, targets: { chat: { strategy: 'round-robin', endpoints: [a, b] } } });
    for (let i = 0; i < 3; i++) await gw.call('chat', req(1));
    const p = gw.call('chat', req(1), { deadline: 40_000 });
    let done = false;
    p.then(() => {
      done = true;
    });
    await clock.advance(29_999);
    expect(done).toBe(false);
    await clock.advance(1); // b refills one request every 30 s
    expect(await p).toMatchObject({ endpoint: 'b', ms: 30_000 });
    const late = await gw.call('chat', req(1), { deadline: clock.now() + 1000 }).catch((x: unknown) => x);
    expect(late).toMatchObject({ code: 'ERR_GATEWAY_UNAVAILABLE', retryAfter: 30_000 });
  });

  it("the server's headers adjust the bucket (x-ratelimit-remaining-requests: 0 and Retry-After)", async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '20000', 'x-ratelimit-remaining-requests': '0' }), ok()], {
      limits: { rpm: 100 },
    });
    const gw = gateway({ clock, targets: { chat: { endpoints: [a, endpoint('b', [ok()], { weight: 0 })] } } });
    await gw.call('chat', req(1));
    const snap = gw.snapshot().targets.chat?.endpoints[0];
    expect(snap?.remaining.rpm).toBeLessThanOrEqual(0);
    expect(snap?.cooldownUntil).toBe(20_000);
  });
});

describe('key limits from auth', () => {
  const auth = (_r: unknown, o: { key?: string | undefined } | undefined) => ({
    key: o?.key ?? 'anon',
    limits: o?.key === 'small' ? { rpm: 2, tpm: 1_000 } : { tpm: 100 },
  });

  it('rpm per key: over it, RateLimitedError with retryAfter; other keys unaffected', async () => {
    const clock = virtualClock();
    const gw = gateway({ clock, auth, targets: { chat: { endpoints: [endpoint('a', [ok(1, 1)])] } } });
    const events: GatewayEvent[] = [];
    gw.on('rejected', (e) => events.push(e));
    await gw.call('chat', req(1), { key: 'small' });
    await gw.call('chat', req(1), { key: 'small' });
    const e = await gw.call('chat', req(1), { key: 'small' }).catch((x: unknown) => x);
    expect(isRateLimitedError(e)).toBe(true);
    expect(e).toMatchObject({ retryAfter: 30_000, key: 'small', reason: 'limit' });
    expect(events).toMatchObject([{ reason: 'limit', key: 'small', retryAfter: 30_000 }]);
    await expect(gw.call('chat', req(1), { key: 'other' })).resolves.toMatchObject({ endpoint: 'a' });
  });

  it('tpm per key is trued up with the real usage; a failed call gives it back', async () => {
    const clock = virtualClock();
    let fail = false;
    const a = endpoint('a', [() => (fail ? Promise.reject(http(500)) : ok(2, 3))]);
    const gw = gateway({ clock, auth, maxWait: 0, targets: { chat: { endpoints: [a] } } });
    // tpm 100 per key, no time passes: 8 calls estimated at 40 that use 5 each leave 60.
    for (let i = 0; i < 8; i++) await gw.call('chat', req(40), { key: 'k' });
    fail = true;
    for (let i = 0; i < 5; i++)
      await expect(gw.call('chat', req(40), { key: 'k' })).rejects.toMatchObject({ status: 500 });
    fail = false;
    const over = await gw.call('chat', req(61), { key: 'k' }).catch((x: unknown) => x);
    expect(over).toMatchObject({ code: 'ERR_RATE_LIMITED', reason: 'limit' });
    await expect(gw.call('chat', req(60), { key: 'k' })).resolves.toBeDefined();
    const e = await gw.call('chat', req(200), { key: 'k' }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_RATE_LIMITED', reason: 'capacity', retryAfter: Number.POSITIVE_INFINITY });
  });

  it('limits that are not numbers > 0 refuse the call with a TypeError naming them', async () => {
    const gw = gateway({
      auth: () => ({ key: 'k', limits: { rpm: -1 } }),
      targets: { chat: { endpoints: [endpoint('a', [ok()])] } },
    });
    await expect(gw.call('chat', req(1))).rejects.toThrow(/limits.rpm/);
  });
});
