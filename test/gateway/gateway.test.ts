import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import type { PolicyEventBase } from '../../src/core/events.js';
import { Policy } from '../../src/core/policy.js';
import {
  GatewayAuthError,
  type GatewayEvent,
  gateway,
  isBudgetExceededError,
  isGatewayAuthError,
  isGatewayUnavailableError,
} from '../../src/gateway/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { delayed, endpoint, http, ok } from './support.js';

/** A seeded random (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function record(gw: { on(type: '*', l: (e: GatewayEvent) => void): () => void }) {
  const events: GatewayEvent[] = [];
  gw.on('*', (e) => events.push(e));
  return events;
}

const msg = { messages: [{ role: 'user', content: 'hello' }] };

describe('routing strategies', () => {
  it('weighted: traffic in proportion to weight (seeded random)', async () => {
    const a = endpoint('a', [ok()], { weight: 3 });
    const b = endpoint('b', [ok()], { weight: 1 });
    const gw = gateway({ random: seeded(1), targets: { chat: { endpoints: [a, b] } } });
    for (let i = 0; i < 400; i++) await gw.call('chat', msg);
    expect(a.seen.length + b.seen.length).toBe(400);
    expect(a.seen.length / 400).toBeGreaterThan(0.68);
    expect(a.seen.length / 400).toBeLessThan(0.82);
  });

  it('weighted: a zero weight takes traffic only when nothing else can', async () => {
    const a = endpoint('a', [http(500)]);
    const spare = endpoint('spare', [ok()], { weight: 0 });
    const gw = gateway({ ejection: { consecutiveFailures: 100 }, targets: { chat: { endpoints: [a, spare] } } });
    for (let i = 0; i < 5; i++) expect((await gw.call('chat', msg)).endpoint).toBe('spare');
    expect(a.seen).toHaveLength(5); // always tried first
  });

  it('round-robin: in turn, skipping unavailable endpoints', async () => {
    const eps = ['a', 'b', 'c'].map((id) => endpoint(id, [ok()]));
    const gw = gateway({ targets: { chat: { strategy: 'round-robin', endpoints: eps } } });
    const order: string[] = [];
    for (let i = 0; i < 6; i++) order.push((await gw.call('chat', msg)).endpoint);
    expect(order).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('least-busy: the endpoint with the fewest calls in flight', async () => {
    const clock = virtualClock();
    const eps = ['a', 'b', 'c'].map((id) => endpoint(id, [delayed(clock.sleep, 100)]));
    const gw = gateway({ clock, targets: { chat: { strategy: 'least-busy', endpoints: eps } } });
    const calls = [gw.call('chat', msg), gw.call('chat', msg), gw.call('chat', msg)];
    expect(eps.map((e) => e.seen.length)).toEqual([1, 1, 1]);
    await clock.advance(100);
    await Promise.all(calls);
  });

  it('latency: the lowest moving average; an endpoint without samples is explored first', async () => {
    const clock = virtualClock();
    const slow = endpoint('slow', [delayed(clock.sleep, 300)]);
    const fast = endpoint('fast', [delayed(clock.sleep, 50)]);
    const gw = gateway({ clock, targets: { chat: { strategy: 'latency', endpoints: [slow, fast] } } });
    const seq: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = gw.call('chat', msg);
      await clock.advance(300);
      seq.push((await p).endpoint);
    }
    expect(seq).toEqual(['slow', 'fast', 'fast', 'fast', 'fast']);
    expect(gw.snapshot().targets.chat?.endpoints.map((e) => e.latency)).toEqual([300, 50]);
  });
});

describe('failover and error classes', () => {
  it('5xx, overloaded and timeouts try the next endpoint; every attempt is counted', async () => {
    const a = endpoint('a', [http(500)]);
    const b = endpoint('b', [http(529)]);
    const c = endpoint('c', [ok(7, 3)], { cost: { input: 1, output: 2 } });
    const gw = gateway({ targets: { chat: { strategy: 'round-robin', endpoints: [a, b, c] } } });
    const events = record(gw);
    const r = await gw.call('chat', msg);
    expect(r).toMatchObject({ target: 'chat', endpoint: 'c', attempts: 3, fallbacks: 0, cost: 13 / 1e6 });
    expect(r.usage).toEqual({ inputTokens: 7, outputTokens: 3 });
    expect(events.filter((e) => e.type === 'attempt').map((e) => (e as { outcome: string }).outcome)).toEqual([
      'unknown',
      'overloaded',
      'success',
    ]);
  });

  it('each endpoint is tried at most once per target (no retry multiplication); the last error rejects', async () => {
    const eps = ['a', 'b'].map((id) => endpoint(id, [http(500)]));
    const gw = gateway({ ejection: { consecutiveFailures: 99 }, targets: { chat: { endpoints: eps } } });
    const e = await gw.call('chat', msg).catch((x: unknown) => x);
    expect((e as { status: number }).status).toBe(500);
    expect(eps.map((x) => x.seen.length)).toEqual([1, 1]);
  });

  it('client errors fail at once: no other endpoint, no fallback', async () => {
    const a = endpoint('a', [http(400, {}, { message: 'bad temperature' })]);
    const b = endpoint('b', [ok()]);
    const gw = gateway({
      targets: {
        chat: { strategy: 'round-robin', endpoints: [a, b], fallbacks: ['other'] },
        other: { endpoints: [b] },
      },
    });
    await expect(gw.call('chat', msg)).rejects.toMatchObject({ status: 400 });
    expect(b.seen).toHaveLength(0);
  });

  it('a user classify falls back to the built-in one on undefined', async () => {
    const quota = Object.assign(new Error('my quota'), { myQuota: true });
    const a = endpoint('a', [quota]);
    const b = endpoint('b', [http(400)]);
    const c = endpoint('c', [ok()]);
    const gw = gateway({
      classify: (e) => ((e as { myQuota?: boolean }).myQuota ? 'rate-limited' : undefined),
      targets: { chat: { strategy: 'round-robin', endpoints: [a, b, c] } },
    });
    await expect(gw.call('chat', msg)).rejects.toMatchObject({ status: 400 }); // built-in: client
    expect(gw.snapshot().targets.chat?.endpoints[0]?.state).toBe('cooling');
  });

  it('a classify that returns something else is a TypeError', async () => {
    const gw = gateway({
      classify: () => 'nope' as never,
      targets: { chat: { endpoints: [endpoint('a', [http(500)])] } },
    });
    await expect(gw.call('chat', msg)).rejects.toThrow(/classify\(\) result/);
  });

  it('rate-limited: the endpoint cools for retry-after-ms and another is tried; it comes back after', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '2500' }), ok()]);
    const b = endpoint('b', [ok()]);
    const gw = gateway({ clock, targets: { chat: { strategy: 'round-robin', endpoints: [a, b] } } });
    const events = record(gw);
    expect((await gw.call('chat', msg)).endpoint).toBe('b');
    const eject = events.find((e) => e.type === 'eject');
    expect(eject).toMatchObject({ endpoint: 'a', reason: 'rate-limited', cooldown: true, until: 2500, duration: 2500 });
    expect(gw.snapshot().targets.chat?.endpoints[0]).toMatchObject({ state: 'cooling', cooldownUntil: 2500 });
    for (let i = 0; i < 3; i++) expect((await gw.call('chat', msg)).endpoint).toBe('b');
    await clock.advance(2500);
    expect(gw.snapshot().targets.chat?.endpoints[0]?.state).toBe('healthy');
    const seen = new Set<string>();
    for (let i = 0; i < 2; i++) seen.add((await gw.call('chat', msg)).endpoint);
    expect(seen).toContain('a');
  });

  it('a 429 without a hint cools for `ejection.cooldown`', async () => {
    const gw = gateway({
      clock: virtualClock(),
      ejection: { cooldown: 700 },
      targets: { chat: { endpoints: [endpoint('a', [http(429)]), endpoint('b', [ok()], { weight: 0 })] } },
    });
    await gw.call('chat', msg);
    expect(gw.snapshot().targets.chat?.endpoints[0]?.cooldownUntil).toBe(700);
  });

  it('context-length: larger endpoints of the target, then fallbacks["context-length"]; never the same endpoint again', async () => {
    const ctx = http(400, {}, { code: 'context_length_exceeded', message: 'maximum context length' });
    const small = endpoint('small', [ctx], { contextWindow: 8_000 });
    const medium = endpoint('medium', [ctx], { contextWindow: 16_000 });
    const smaller = endpoint('smaller', [ok()], { contextWindow: 4_000 });
    const big = endpoint('big', [ok()], { contextWindow: 200_000 });
    const gw = gateway({
      targets: {
        chat: {
          strategy: 'round-robin',
          endpoints: [small, smaller, medium],
          fallbacks: { default: ['other'], 'context-length': ['long'] },
        },
        other: { endpoints: [endpoint('o', [ok()])] },
        long: { endpoints: [big] },
      },
    });
    const events = record(gw);
    const r = await gw.call('chat', msg);
    expect(r).toMatchObject({ target: 'long', endpoint: 'big', attempts: 3, fallbacks: 1 });
    expect([small.seen.length, smaller.seen.length, medium.seen.length]).toEqual([1, 0, 1]);
    expect(events.find((e) => e.type === 'fallback')).toMatchObject({
      from: 'chat',
      to: 'long',
      reason: 'context-length',
      depth: 1,
    });
  });

  it('pre-call filtering: endpoints whose contextWindow is below the estimate are skipped; none fits → context-length fallback', async () => {
    const small = endpoint('small', [ok()], { contextWindow: 100 });
    const big = endpoint('big', [ok()], { contextWindow: 100_000 });
    const gw = gateway({
      targets: {
        chat: { endpoints: [small], fallbacks: { 'context-length': ['long'] } },
        long: { endpoints: [big] },
      },
    });
    const long = { messages: [{ role: 'user', content: 'x'.repeat(2_000) }], max_tokens: 100 };
    const r = await gw.call('chat', long);
    expect(r).toMatchObject({ target: 'long', attempts: 1, fallbacks: 1 });
    expect(small.seen).toHaveLength(0);
    // Without a fallback the call is unavailable for good (retryAfter Infinity).
    const alone = gateway({ targets: { chat: { endpoints: [endpoint('s', [ok()], { contextWindow: 100 })] } } });
    const e = await alone.call('chat', long).catch((x: unknown) => x);
    expect(isGatewayUnavailableError(e) && e.retryAfter).toBe(Number.POSITIVE_INFINITY);
  });

  it('content-policy goes to fallbacks["content-policy"] only (not the default list)', async () => {
    const refusal = http(400, {}, { code: 'content_policy_violation', message: 'rejected by our safety system' });
    const a = endpoint('a', [refusal]);
    const b = endpoint('b', [ok()]);
    const other = endpoint('other', [ok()]);
    const lenient = endpoint('lenient', [ok()]);
    const gw = gateway({
      targets: {
        chat: {
          strategy: 'round-robin',
          endpoints: [a, b],
          fallbacks: { default: ['other'], 'content-policy': ['lenient'] },
        },
        other: { endpoints: [other] },
        lenient: { endpoints: [lenient] },
      },
    });
    expect(await gw.call('chat', msg)).toMatchObject({ target: 'lenient', attempts: 2 });
    expect(b.seen).toHaveLength(0); // the same model elsewhere would refuse too
    const none = gateway({
      targets: { chat: { endpoints: [endpoint('a', [refusal])], fallbacks: ['x'] }, x: { endpoints: [other] } },
    });
    await expect(none.call('chat', msg)).rejects.toBe(refusal);
  });

  it('auth ejects the endpoint at once (another is tried); a single endpoint is never ejected', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(401)]);
    const b = endpoint('b', [ok()]);
    const gw = gateway({ clock, targets: { chat: { strategy: 'round-robin', endpoints: [a, b] } } });
    const events = record(gw);
    expect((await gw.call('chat', msg)).endpoint).toBe('b');
    expect(events.find((e) => e.type === 'eject')).toMatchObject({ endpoint: 'a', reason: 'auth', cooldown: false });
    for (let i = 0; i < 3; i++) await gw.call('chat', msg);
    expect(a.seen).toHaveLength(1);
    const alone = gateway({ clock, maxWait: 0, targets: { chat: { endpoints: [endpoint('a', [http(401)])] } } });
    for (let i = 0; i < 5; i++) await expect(alone.call('chat', msg)).rejects.toMatchObject({ status: 401 });
    expect(alone.snapshot().targets.chat?.endpoints[0]?.state).toBe('healthy');
  });
});

describe('ejection', () => {
  it('consecutive failures eject for base × n with jitter; a probe restores or re-ejects with n + 1', async () => {
    const clock = virtualClock();
    let failing = true;
    const a = endpoint('a', [() => (failing ? Promise.reject(http(503)) : ok())]);
    const b = endpoint('b', [ok()], { weight: 0 }); // takes calls only when a cannot
    const gw = gateway({
      clock,
      random: () => 0.5,
      ejection: { consecutiveFailures: 2, base: 1000, max: 2500, jitter: 100, decay: 10_000 },
      targets: { chat: { endpoints: [a, b] } },
    });
    const events = record(gw);
    await gw.call('chat', msg);
    await gw.call('chat', msg);
    let ejects = events.filter((e) => e.type === 'eject');
    expect(ejects).toHaveLength(1);
    expect(ejects[0]).toMatchObject({ endpoint: 'a', reason: 'overloaded', duration: 1050, ejections: 1, until: 1050 });
    expect(gw.snapshot().targets.chat?.endpoints[0]).toMatchObject({
      state: 'ejected',
      ejection: { until: 1050, count: 1 },
    });
    await gw.call('chat', msg);
    expect(a.seen).toHaveLength(2); // ejected: not called
    await clock.advance(1050);
    expect(gw.snapshot().targets.chat?.endpoints[0]?.state).toBe('probing');
    await gw.call('chat', msg); // the probe fails: re-ejected at once with n = 2
    expect(a.seen).toHaveLength(3);
    ejects = events.filter((e) => e.type === 'eject');
    expect(ejects[1]).toMatchObject({ duration: 2050, ejections: 2 });
    await clock.advance(2050);
    await gw.call('chat', msg); // probe fails again: n = 3, capped at max 2500 (+ jitter)
    expect(events.filter((e) => e.type === 'eject')[2]).toMatchObject({ duration: 2550, ejections: 3 });
    await clock.advance(2550);
    failing = false;
    expect((await gw.call('chat', msg)).endpoint).toBe('a'); // the probe succeeds
    expect(events.filter((e) => e.type === 'recover')).toHaveLength(1);
    expect(gw.snapshot().targets.chat?.endpoints[0]).toMatchObject({ state: 'healthy', ejection: undefined });
  });

  it('n decays by one per `decay` ms of health', async () => {
    const clock = virtualClock();
    let failing = true;
    const a = endpoint('a', [() => (failing ? Promise.reject(http(500)) : ok())]);
    const gw = gateway({
      clock,
      random: () => 0,
      ejection: { consecutiveFailures: 1, base: 1000, max: 100_000, jitter: 0, decay: 5000 },
      targets: { chat: { endpoints: [a, endpoint('b', [ok()], { weight: 0 })] } },
    });
    const events = record(gw);
    const durations = () => events.filter((e) => e.type === 'eject').map((e) => (e as { duration: number }).duration);
    await gw.call('chat', msg); // eject n=1
    await clock.advance(1000);
    await gw.call('chat', msg); // probe fails: n=2
    await clock.advance(2000);
    failing = false;
    await gw.call('chat', msg); // probe ok; healthy from here with n=2
    await clock.advance(5000); // n: 2 → 1
    failing = true;
    await gw.call('chat', msg); // eject with n=2 (not 3)
    expect(durations()).toEqual([1000, 2000, 2000]);
  });

  it('never more than maxEjectedPercent, never the last healthy endpoint (Envoy #3263, LiteLLM #5673)', async () => {
    const clock = virtualClock();
    const eps = ['a', 'b', 'c', 'd'].map((id) => endpoint(id, [http(500)]));
    const gw = gateway({
      clock,
      maxWait: 0,
      ejection: { consecutiveFailures: 1, maxEjectedPercent: 50 },
      targets: { chat: { endpoints: eps } },
    });
    for (let i = 0; i < 20; i++) await gw.call('chat', msg).catch(() => {});
    const states = gw.snapshot().targets.chat?.endpoints.map((e) => e.state);
    expect(states?.filter((s) => s === 'ejected')).toHaveLength(2);
    const all = gateway({
      clock,
      maxWait: 0,
      ejection: { consecutiveFailures: 1, maxEjectedPercent: 100 },
      targets: { chat: { endpoints: ['a', 'b'].map((id) => endpoint(id, [http(500)])) } },
    });
    for (let i = 0; i < 10; i++) await all.call('chat', msg).catch(() => {});
    expect(all.snapshot().targets.chat?.endpoints.filter((e) => e.state === 'ejected')).toHaveLength(1);
  });

  it('an outcome of a call that began before an ejection does not eject again', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [delayed(clock.sleep, 10, http(500))]);
    const gw = gateway({
      clock,
      random: () => 0,
      ejection: { consecutiveFailures: 1, jitter: 0, base: 1000 },
      targets: { chat: { strategy: 'least-busy', endpoints: [a, endpoint('b', [delayed(clock.sleep, 10)])] } },
    });
    const events = record(gw);
    // Two calls in flight on `a` (concurrency), both fail: one ejection only.
    const p = [gw.call('chat', msg), gw.call('chat', msg), gw.call('chat', msg)];
    await clock.advance(50);
    await Promise.all(p);
    expect(events.filter((e) => e.type === 'eject')).toHaveLength(1);
  });
});

describe('all endpoints unavailable', () => {
  it('waits for the earliest recovery within the deadline instead of failing at once (LiteLLM #3646)', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '3000' }), ok()]);
    const b = endpoint('b', [http(429, { 'retry-after-ms': '1000' }), ok()]);
    const gw = gateway({ clock, targets: { chat: { strategy: 'round-robin', endpoints: [a, b] } } });
    // Both tried once, both cooling: past this deadline, GatewayUnavailableError with the last 429.
    const e = await gw.call('chat', msg, { deadline: 0 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_GATEWAY_UNAVAILABLE', retryAfter: 1000, cause: { status: 429 } });
    const p = gw.call('chat', msg, { deadline: 5000 });
    let done = false;
    p.then(() => {
      done = true;
    });
    await clock.advance(999);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(await p).toMatchObject({ endpoint: 'b', ms: 1000 });
  });

  it('rejects with GatewayUnavailableError and retryAfter when the recovery is past the deadline', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '3000' })]);
    const gw = gateway({ clock, maxWait: 2000, targets: { chat: { endpoints: [a] } } });
    await gw.call('chat', msg).catch(() => {});
    const events = record(gw);
    const e = await gw.call('chat', msg).catch((x: unknown) => x);
    expect(isGatewayUnavailableError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'ERR_GATEWAY_UNAVAILABLE', retryAfter: 3000, target: 'chat' });
    const e2 = await gw.call('chat', msg, { deadline: 1000 }).catch((x: unknown) => x);
    expect(e2).toMatchObject({ retryAfter: 3000 });
    expect(events.filter((x) => x.type === 'rejected').map((x) => (x as { reason: string }).reason)).toEqual([
      'unavailable',
      'unavailable',
    ]);
    expect(clock.pending).toBe(0);
  });

  it('a waiting call is woken when a concurrency slot frees', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [delayed(clock.sleep, 100)], { limits: { concurrency: 1 } });
    const gw = gateway({ clock, targets: { chat: { endpoints: [a] } } });
    const p1 = gw.call('chat', msg);
    const p2 = gw.call('chat', msg);
    await clock.advance(100);
    expect((await p1).ms).toBe(100);
    await clock.advance(100);
    expect((await p2).ms).toBe(200);
  });

  it("the caller's abort ends a wait with the caller's reason and leaves no timer or listener", async () => {
    const clock = virtualClock();
    const gw = gateway({
      clock,
      targets: { chat: { endpoints: [endpoint('a', [http(429, { 'retry-after-ms': '3000' })])] } },
    });
    await gw.call('chat', msg, { deadline: 0 }).catch(() => {});
    const ac = new AbortController();
    const p = gw.call('chat', msg, { signal: ac.signal });
    const reason = new Error('user left');
    await clock.advance(10);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(clock.pending).toBe(0);
  });

  it('an unavailable target goes to its default fallbacks', async () => {
    const clock = virtualClock();
    const gw = gateway({
      clock,
      maxWait: 0,
      targets: {
        chat: { endpoints: [endpoint('a', [http(429, { 'retry-after-ms': '3000' })])], fallbacks: ['spare'] },
        spare: { endpoints: [endpoint('s', [ok()])] },
      },
    });
    expect(await gw.call('chat', msg)).toMatchObject({ target: 'spare', fallbacks: 1, attempts: 2 });
    const events = record(gw);
    expect(await gw.call('chat', msg)).toMatchObject({ target: 'spare', fallbacks: 1, attempts: 1 });
    // Every endpoint cooling after a 429: the class is 'rate-limited' (its own list, else the default one).
    expect(events.find((e) => e.type === 'fallback')).toMatchObject({ reason: 'rate-limited' });
  });
});

describe('every endpoint answers 429 within the call', () => {
  it('one endpoint, retry-after-ms 200: the call waits for the cool-down and tries it again (every attempt counted)', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '200' }), ok()]);
    const gw = gateway({ clock, targets: { chat: { endpoints: [a] } } });
    const events = record(gw);
    const p = gw.call('chat', msg);
    let done = false;
    p.then(() => {
      done = true;
    });
    await clock.advance(199);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(await p).toMatchObject({ endpoint: 'a', attempts: 2, ms: 200 });
    expect(events.filter((e) => e.type === 'attempt').map((e) => (e as { outcome: string }).outcome)).toEqual([
      'rate-limited',
      'success',
    ]);
  });

  it('several endpoints: the earliest to cool down is tried again; each endpoint once per recovery', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '3000' }), ok()]);
    const b = endpoint('b', [http(429, { 'retry-after-ms': '1000' }), ok()]);
    const gw = gateway({ clock, targets: { chat: { strategy: 'round-robin', endpoints: [a, b] } } });
    const p = gw.call('chat', msg);
    await clock.advance(1000);
    expect(await p).toMatchObject({ endpoint: 'b', attempts: 3, ms: 1000 });
    expect([a.seen.length, b.seen.length]).toEqual([1, 2]);
    // An endpoint that keeps answering 429 is tried once per cool-down until the deadline.
    const c = endpoint('c', [http(429, { 'retry-after-ms': '100' })]);
    const gw2 = gateway({ clock, targets: { chat: { endpoints: [c] } } });
    const q = gw2.call('chat', msg, { deadline: clock.now() + 350 }).catch((x: unknown) => x);
    await clock.advance(400);
    const e = await q;
    expect(isGatewayUnavailableError(e)).toBe(true);
    expect(e).toMatchObject({ retryAfter: 100, cause: { status: 429 } }); // rejected at 300 ms: the next is past 350
    expect(c.seen).toHaveLength(4); // at 0, 100, 200 and 300 ms
    expect(clock.pending).toBe(0);
  });

  it('a cool-down past the deadline (or maxWait) rejects at once with GatewayUnavailableError, the 429 as cause', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '5000' })]);
    const gw = gateway({ clock, maxWait: 2000, targets: { chat: { endpoints: [a] } } });
    const e = await gw.call('chat', msg).catch((x: unknown) => x);
    expect(isGatewayUnavailableError(e)).toBe(true);
    expect(e).toMatchObject({ target: 'chat', retryAfter: 5000, cause: { status: 429 } });
    expect(clock.now()).toBe(0);
    expect(clock.pending).toBe(0);
    expect(a.seen).toHaveLength(1);
  });

  it('a 429 that sets no cool-down (retry-after-ms: 0) is not retried within the call: no request loop', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '0' })]);
    const gw = gateway({ clock, targets: { chat: { endpoints: [a] } } });
    await expect(gw.call('chat', msg)).rejects.toMatchObject({ status: 429 });
    expect(a.seen).toHaveLength(1);
  });
});

describe('a target that cannot take the call now, with fallbacks that can', () => {
  /** Makes `target`'s endpoints answer their scripted 429 / 500 once, without waiting. */
  const prime = (gw: { call(t: string, r: unknown, o?: { deadline?: number }): Promise<unknown> }, target: string) =>
    gw.call(target, msg, { deadline: 0 }).catch(() => {});

  it('goes to the fallback at once instead of waiting for its own recovery (one ejected, one cooling)', async () => {
    const clock = virtualClock();
    const a1 = endpoint('a1', [http(500)]);
    const a2 = endpoint('a2', [http(429, { 'retry-after-ms': '8000' }), ok()]);
    const b1 = endpoint('b1', [ok()]);
    const gw = gateway({
      clock,
      maxWait: 30_000,
      ejection: { consecutiveFailures: 1, base: 10_000, jitter: 0 },
      targets: {
        a: { strategy: 'round-robin', endpoints: [a1, a2], fallbacks: ['b'] },
        b: { endpoints: [b1] },
      },
    });
    await prime(gw, 'a'); // a1 ejected for 10 s, a2 cooling for 8 s
    expect(gw.snapshot().targets.a?.endpoints.map((e) => e.state)).toEqual(['ejected', 'cooling']);
    const events = record(gw);
    const r = await gw.call('a', msg);
    expect(r).toMatchObject({ target: 'b', endpoint: 'b1', ms: 0, attempts: 1, fallbacks: 1 });
    expect(events.find((e) => e.type === 'fallback')).toMatchObject({ from: 'a', to: 'b', reason: 'unavailable' });
    expect(a2.seen).toHaveLength(1); // not called again
    expect(clock.pending).toBe(0);
  });

  it("the fallback list follows the reason: every endpoint rate limited (429, rpm) → fallbacks['rate-limited'], else the default list", async () => {
    const clock = virtualClock();
    const gw = gateway({
      clock,
      ejection: { consecutiveFailures: 1, jitter: 0 },
      targets: {
        cooling: {
          endpoints: [endpoint('c', [http(429, { 'retry-after-ms': '5000' })])],
          fallbacks: { default: ['other'], 'rate-limited': ['cheap'] },
        },
        limited: {
          endpoints: [endpoint('l', [ok()], { limits: { rpm: 1 } })],
          fallbacks: { default: ['other'], 'rate-limited': ['cheap'] },
        },
        ejected: {
          strategy: 'round-robin',
          endpoints: [endpoint('e1', [http(500)]), endpoint('e2', [http(429, { 'retry-after-ms': '5000' })])],
          fallbacks: { default: ['other'], 'rate-limited': ['cheap'] },
        },
        cheap: { endpoints: [endpoint('cheap', [ok()])] },
        other: { endpoints: [endpoint('other', [ok()])] },
      },
    });
    await prime(gw, 'cooling');
    await gw.call('limited', msg);
    await prime(gw, 'ejected');
    const events = record(gw);
    expect((await gw.call('cooling', msg)).target).toBe('cheap');
    expect((await gw.call('limited', msg)).target).toBe('cheap');
    expect((await gw.call('ejected', msg)).target).toBe('other'); // one ejected, one cooling: unavailable
    expect(events.filter((e) => e.type === 'fallback').map((e) => (e as { reason: string }).reason)).toEqual([
      'rate-limited',
      'rate-limited',
      'unavailable',
    ]);
  });

  it('when no target of the chain can take the call now, it waits for the earliest recovery among all of them', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '3000' }), ok()]);
    const b = endpoint('b', [http(429, { 'retry-after-ms': '1000' }), ok()]);
    const gw = gateway({
      clock,
      targets: { primary: { endpoints: [a], fallbacks: ['spare'] }, spare: { endpoints: [b] } },
    });
    await prime(gw, 'spare');
    await prime(gw, 'primary');
    const p = gw.call('primary', msg);
    let done = false;
    p.then(() => {
      done = true;
    });
    await clock.advance(999);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(await p).toMatchObject({ target: 'spare', endpoint: 'b', ms: 1000, fallbacks: 1, attempts: 1 });
    // The target called comes first when it recovers first.
    await clock.advance(2000); // a is back at 3000
    const q = gw.call('primary', msg);
    expect(await q).toMatchObject({ target: 'primary', endpoint: 'a', ms: 0 });
  });

  it('the primary recovers first: it answers after the wait, not the fallback', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '1000' }), ok()]);
    const b = endpoint('b', [http(429, { 'retry-after-ms': '3000' }), ok()]);
    const gw = gateway({
      clock,
      targets: { primary: { endpoints: [a], fallbacks: ['spare'] }, spare: { endpoints: [b] } },
    });
    await prime(gw, 'spare');
    await prime(gw, 'primary');
    const p = gw.call('primary', msg);
    await clock.advance(1000);
    expect(await p).toMatchObject({ target: 'primary', endpoint: 'a', ms: 1000, fallbacks: 1 });
  });

  it('a fallback that fails hard while the primary cools: the call waits for the primary', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [http(429, { 'retry-after-ms': '2000' }), ok(), http(429, { 'retry-after-ms': '2000' })]);
    const b = endpoint('b', [http(500)]);
    const gw = gateway({
      clock,
      targets: { primary: { endpoints: [a], fallbacks: ['spare'] }, spare: { endpoints: [b] } },
    });
    await prime(gw, 'primary');
    const p = gw.call('primary', msg);
    await clock.advance(2000);
    expect(await p).toMatchObject({ target: 'primary', ms: 2000, attempts: 2 });
    // Past the deadline: GatewayUnavailableError for the target called, the last endpoint error as cause.
    await prime(gw, 'primary');
    const events = record(gw);
    const e = await gw.call('primary', msg, { deadline: clock.now() + 500 }).catch((x: unknown) => x);
    expect(isGatewayUnavailableError(e)).toBe(true);
    expect(e).toMatchObject({ target: 'primary', retryAfter: 2000 });
    expect((e as Error).cause).toMatchObject({ status: 500 });
    expect(events.filter((x) => x.type === 'rejected')).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it('a hedged target whose every endpoint is cooling goes to its fallback at once too', async () => {
    const clock = virtualClock();
    const gw = gateway({
      clock,
      targets: {
        primary: {
          hedge: { delay: 100 },
          endpoints: [
            endpoint('a1', [http(429, { 'retry-after-ms': '5000' })]),
            endpoint('a2', [http(429, { 'retry-after-ms': '5000' })]),
          ],
          fallbacks: ['spare'],
        },
        spare: { endpoints: [endpoint('b', [ok()])] },
      },
    });
    await prime(gw, 'primary');
    expect(await gw.call('primary', msg)).toMatchObject({ target: 'spare', ms: 0, attempts: 1 });
  });

  it("the caller's abort ends a wait across targets with its reason and leaves nothing behind", async () => {
    const clock = virtualClock();
    const gw = gateway({
      clock,
      targets: {
        primary: { endpoints: [endpoint('a', [http(429, { 'retry-after-ms': '3000' })])], fallbacks: ['spare'] },
        spare: { endpoints: [endpoint('b', [http(429, { 'retry-after-ms': '3000' })])] },
      },
    });
    await prime(gw, 'spare');
    await prime(gw, 'primary');
    const ac = new AbortController();
    const p = gw.call('primary', msg, { signal: ac.signal });
    await clock.advance(10);
    const reason = new Error('user left');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(clock.pending).toBe(0);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });
});

describe('fallbacks', () => {
  it('ordered, each target at most once, up to maxFallbacks; each fallback runs its own routing once', async () => {
    const fail = (id: string) => endpoint(id, [http(500)]);
    const eps = { a: [fail('a1'), fail('a2')], b: [fail('b1')], c: [fail('c1')], d: [endpoint('d1', [ok()])] };
    const gw = gateway({
      maxFallbacks: 2,
      ejection: { consecutiveFailures: 99 },
      targets: {
        a: { endpoints: eps.a, fallbacks: ['b', 'a', 'c', 'd'] },
        b: { endpoints: eps.b, fallbacks: ['a'] },
        c: { endpoints: eps.c },
        d: { endpoints: eps.d },
      },
    });
    const e = await gw.call('a', msg).catch((x: unknown) => x);
    expect(e).toMatchObject({ status: 500 });
    expect([...eps.a, ...eps.b, ...eps.c, ...eps.d].map((x) => x.seen.length)).toEqual([1, 1, 1, 1, 0]);
    const deep = gateway({
      maxFallbacks: 3,
      ejection: { consecutiveFailures: 99 },
      targets: {
        a: { endpoints: [fail('a')], fallbacks: ['b', 'c', 'd'] },
        b: { endpoints: [fail('b')], fallbacks: ['c'] },
        c: { endpoints: [fail('c')] },
        d: { endpoints: [endpoint('d', [ok()])] },
      },
    });
    expect(await deep.call('a', msg)).toMatchObject({ target: 'd', attempts: 4, fallbacks: 3 });
  });

  it('validates fallbacks: unknown targets and error classes', () => {
    const e = [endpoint('a', [ok()])];
    expect(() => gateway({ targets: { a: { endpoints: e, fallbacks: ['nope'] } } })).toThrow(/names of targets/);
    expect(() => gateway({ targets: { a: { endpoints: e, fallbacks: { nope: ['a'] } as never } } })).toThrow(/one of/);
  });
});

describe('abort and signals', () => {
  it("the caller's abort rejects with its reason and aborts the in-flight attempt", async () => {
    const clock = virtualClock();
    const a = endpoint('a', [delayed(clock.sleep, 1000)]);
    const gw = gateway({ clock, targets: { chat: { endpoints: [a] } } });
    const events = record(gw);
    const ac = new AbortController();
    const p = gw.call('chat', msg, { signal: ac.signal });
    const reason = new Error('stop');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(a.signals[0]?.aborted).toBe(true);
    expect(a.signals[0]?.reason).toBe(reason);
    expect(events.find((e) => e.type === 'attempt')).toMatchObject({ outcome: 'cancelled' });
    // A cancelled attempt counts nothing against the endpoint.
    expect(gw.snapshot().targets.chat?.endpoints[0]).toMatchObject({ consecutiveFailures: 0, inflight: 0 });
    await expect(gw.call('chat', msg, { signal: ac.signal })).rejects.toBe(reason);
  });

  it("every attempt gets its own signal, never the caller's; listeners left on it die with the attempt", async () => {
    const a = endpoint('a', [http(500)]);
    const b = endpoint('b', [ok()]);
    const gw = gateway({ targets: { chat: { strategy: 'round-robin', endpoints: [a, b] } } });
    const ac = new AbortController();
    const add = vi.spyOn(ac.signal, 'addEventListener');
    for (let i = 0; i < 50; i++) {
      await gw.call('chat', msg, { signal: ac.signal });
    }
    const signals = [...a.signals, ...b.signals];
    expect(new Set(signals).size).toBe(signals.length);
    expect(signals).not.toContain(ac.signal);
    // Each attempt's signal followed the caller's through one listener, removed when it settled.
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(add).toHaveBeenCalled();
  });
});

describe('auth, budgets, usage', () => {
  const keys: Record<string, { key: string; budget?: { usd: number; per?: number } }> = {
    'sk-1': { key: 'team-a', budget: { usd: 0.0001, per: 60_000 } },
    'sk-2': { key: 'team-b' },
  };
  const auth = (_req: unknown, o: { key?: string | undefined } | undefined) => {
    const k = keys[o?.key ?? ''];
    if (k === undefined) throw new Error('unknown key');
    return k;
  };

  it('auth maps callers to keys; a refused caller gets GatewayAuthError (with the cause)', async () => {
    const gw = gateway({ auth, targets: { chat: { endpoints: [endpoint('a', [ok()])] } } });
    const events = record(gw);
    const e = await gw.call('chat', msg, { key: 'sk-x' }).catch((x: unknown) => x);
    expect(isGatewayAuthError(e)).toBe(true);
    expect((e as Error).cause).toMatchObject({ message: 'unknown key' });
    expect(events).toMatchObject([{ type: 'rejected', reason: 'auth' }]);
    const own = new GatewayAuthError('revoked');
    const g2 = gateway({
      auth: async () => Promise.reject(own),
      targets: { chat: { endpoints: [endpoint('a', [ok()])] } },
    });
    await expect(g2.call('chat', msg)).rejects.toBe(own);
    const g3 = gateway({ auth: () => ({}) as never, targets: { chat: { endpoints: [endpoint('a', [ok()])] } } });
    await expect(g3.call('chat', msg)).rejects.toMatchObject({ code: 'ERR_GATEWAY_AUTH' });
  });

  it('usage and cost per key, target and endpoint; a budget spent is BudgetExceededError until the period ends', async () => {
    const clock = virtualClock();
    const gw = gateway({
      auth,
      clock,
      targets: {
        chat: {
          endpoints: [endpoint('a', [ok(40, 10)], { cost: { input: 1, output: 2 }, model: 'm-a', provider: 'p' })],
        },
      },
    });
    const events = record(gw);
    const r = await gw.call('chat', msg, { key: 'sk-1' }); // 40 + 20 = 60 µ$
    expect(r.cost).toBeCloseTo(0.00006, 12);
    expect(events.find((e) => e.type === 'usage')).toEqual({
      type: 'usage',
      kind: 'gateway',
      name: undefined,
      target: 'chat',
      endpoint: 'a',
      key: 'team-a',
      operation: 'chat',
      model: 'm-a',
      provider: 'p',
      inputTokens: 40,
      outputTokens: 10,
      cost: r.cost,
      estimated: false,
    });
    await clock.advance(1000);
    await gw.call('chat', msg, { key: 'sk-1' }); // 120 µ$ ≥ 100 µ$
    const e = await gw.call('chat', msg, { key: 'sk-1' }).catch((x: unknown) => x);
    expect(isBudgetExceededError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'ERR_BUDGET_EXCEEDED', key: 'team-a', budget: 0.0001, retryAfter: 59_000 });
    await gw.call('chat', msg, { key: 'sk-2' }); // another key is not affected
    const snap = gw.snapshot();
    expect(snap.keys['team-a']).toMatchObject({
      usage: { requests: 2, inputTokens: 80, outputTokens: 20 },
      budget: { usd: 0.0001, resetsAt: 60_000 },
    });
    expect(snap.keys['team-b']?.usage.requests).toBe(1);
    expect(snap.targets.chat?.usage).toMatchObject({ requests: 3, inputTokens: 120 });
    expect(snap.targets.chat?.endpoints[0]?.usage.cost).toBeCloseTo(0.00018, 12);
    await clock.advance(59_000);
    expect((await gw.call('chat', msg, { key: 'sk-1' })).endpoint).toBe('a');
  });

  it('Anthropic usage and a custom usage reader', async () => {
    const anth = { model: 'claude', usage: { input_tokens: 12, output_tokens: 34 } };
    const gw = gateway({
      targets: {
        a: { endpoints: [endpoint('a', [anth])] },
        b: {
          endpoints: [endpoint('b', [{ tokens: [3, 4] }])],
          usage: (r) => ({ inputTokens: (r as { tokens: number[] }).tokens[0] ?? 0, outputTokens: 4 }),
        },
      },
    });
    expect((await gw.call('a', msg)).usage).toEqual({ inputTokens: 12, outputTokens: 34 });
    expect((await gw.call('b', msg)).usage).toEqual({ inputTokens: 3, outputTokens: 4 });
  });

  it('the key map is bounded (least recently used forgotten)', async () => {
    const gw = gateway({ maxKeys: 2, targets: { chat: { endpoints: [endpoint('a', [ok()])] } } });
    for (const key of ['x', 'y', 'x', 'z']) await gw.call('chat', msg, { key });
    expect(Object.keys(gw.snapshot().keys).sort()).toEqual(['x', 'z']);
  });
});

describe('budgets: reservations at admission, estimates for streams without usage', () => {
  /** A request whose estimate is `tokens` (a custom estimate), with an optional max_tokens. */
  const sized = (tokens: number, max_tokens?: number) => ({
    tokens,
    ...(max_tokens === undefined ? {} : { max_tokens }),
  });
  const estimate = (r: unknown) => (r as { tokens: number }).tokens;
  const oneDollar = () => ({ key: 'k', budget: { usd: 1 } });

  it('concurrent calls against a nearly spent budget: only as many are admitted as their estimated cost fits', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [ok(990_000, 0), delayed(clock.sleep, 100, ok(100_000, 0))], {
      cost: { input: 1, output: 1 },
    });
    const gw = gateway({ clock, auth: oneDollar, targets: { chat: { estimate, endpoints: [a] } } });
    await gw.call('chat', sized(10)); // $0.99 spent
    const calls = Array.from({ length: 5 }, () =>
      gw.call('chat', sized(500_000)).then(
        () => 'ok',
        (e: unknown) => (isBudgetExceededError(e) ? 'refused' : e),
      ),
    );
    await clock.advance(0);
    expect(gw.snapshot().keys.k?.budget).toMatchObject({ spent: 0.99, reserved: 0.5 });
    await clock.advance(100);
    expect(await Promise.all(calls)).toEqual(['ok', 'refused', 'refused', 'refused', 'refused']);
    expect(a.seen).toHaveLength(2);
    // Trued up: the reservation gave way to the real cost ($0.10, not the $0.50 estimate).
    const b = gw.snapshot().keys.k?.budget;
    expect(b?.spent).toBeCloseTo(1.09, 9);
    expect(b?.reserved).toBe(0);
  });

  it('the reservation prices prompt tokens at the input price and max_tokens at the output price; a failed call gives it back', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [delayed(clock.sleep, 100, http(500)), ok(1, 1)], { cost: { input: 1, output: 10 } });
    const b = endpoint('b', [ok()], { cost: { input: 2, output: 5 }, weight: 0 });
    const gw = gateway({
      clock,
      auth: oneDollar,
      ejection: { consecutiveFailures: 99 },
      targets: {
        chat: { estimate, endpoints: [a] },
        pricey: {
          estimate,
          endpoints: [endpoint('c', [delayed(clock.sleep, 100)], { cost: { input: 1, output: 10 } }), b],
        },
      },
    });
    const p = gw.call('chat', sized(100_000, 10_000)).catch((e: unknown) => e);
    await clock.advance(0);
    // 90 000 prompt tokens × $1/M + 10 000 × $10/M
    expect(gw.snapshot().keys.k?.budget?.reserved).toBeCloseTo(0.19, 9);
    await clock.advance(100);
    expect(await p).toMatchObject({ status: 500 });
    expect(gw.snapshot().keys.k?.budget).toMatchObject({ spent: 0, reserved: 0 });
    // The target's highest prices, whichever endpoint answers: 90 000 × $2/M + 10 000 × $10/M.
    const q = gw.call('pricey', sized(100_000, 10_000));
    await clock.advance(0);
    expect(gw.snapshot().keys.k?.budget?.reserved).toBeCloseTo(0.28, 9);
    await clock.advance(100);
    await q;
    expect(gw.snapshot().keys.k?.budget?.reserved).toBe(0);
  });

  const chunk = (content: string) => ({ model: 'm', choices: [{ delta: { content } }] });
  async function* openaiStream(usage: boolean) {
    yield chunk('a');
    yield chunk('b');
    yield chunk('c');
    if (usage) yield { model: 'm', choices: [], usage: { prompt_tokens: 1000, completion_tokens: 3 } };
  }
  const ask = { messages: [{ role: 'user', content: 'x'.repeat(400) }], max_tokens: 50 }; // ~100 prompt tokens

  it('an OpenAI stream broken before its usage chunk is charged the estimate, not $0', async () => {
    const gw = gateway({
      auth: oneDollar,
      targets: { chat: { endpoints: [{ id: 'e', cost: { input: 1, output: 2 }, call: () => openaiStream(true) }] } },
    });
    const events = record(gw);
    for (let i = 0; i < 3; i++) {
      const r = await gw.call('chat', ask);
      for await (const _ of r.value as AsyncIterable<unknown>) break;
    }
    // 100 prompt tokens (estimate less max_tokens) × $1/M + 1 chunk seen × $2/M, three times.
    expect(gw.snapshot().keys.k?.budget?.spent).toBeCloseTo((3 * (100 + 2)) / 1e6, 12);
    expect(gw.snapshot().keys.k?.usage).toMatchObject({ requests: 3, inputTokens: 300, outputTokens: 3 });
    expect(events.find((e) => e.type === 'usage')).toMatchObject({
      inputTokens: 100,
      outputTokens: 1,
      estimated: true,
    });
  });

  it('a stream read to its end: its own usage when it reports one, else the estimate (input) and the chunks (output)', async () => {
    const gw = gateway({
      targets: {
        usage: { endpoints: [{ id: 'u', call: () => openaiStream(true) }] },
        none: { endpoints: [{ id: 'n', call: () => openaiStream(false) }] },
      },
    });
    const events = record(gw);
    for (const t of ['usage', 'none']) {
      const r = await gw.call(t, ask);
      for await (const _ of r.value as AsyncIterable<unknown>) {
        // drain
      }
    }
    expect(
      events
        .filter((e) => e.type === 'usage')
        .map((e) => {
          const u = e as { inputTokens: number; outputTokens: number; estimated: boolean };
          return [u.inputTokens, u.outputTokens, u.estimated];
        }),
    ).toEqual([
      [1000, 3, false],
      [100, 3, true],
    ]);
  });

  it('an Anthropic stream closed after message_start keeps its exact input and counts the chunks as output', async () => {
    async function* anthropic() {
      yield { type: 'message_start', message: { model: 'claude', usage: { input_tokens: 14, output_tokens: 1 } } };
      yield { type: 'content_block_start', index: 0 };
      yield { type: 'content_block_delta', delta: { type: 'text_delta', text: 'Par' } };
      yield { type: 'content_block_delta', delta: { type: 'text_delta', text: 'is' } };
    }
    const gw = gateway({ targets: { chat: { endpoints: [{ id: 'a', call: () => anthropic() }] } } });
    const events = record(gw);
    const r = await gw.call('chat', ask);
    let n = 0;
    for await (const _ of r.value as AsyncIterable<unknown>) if (++n === 3) break;
    expect(events.find((e) => e.type === 'usage')).toMatchObject({ inputTokens: 14, outputTokens: 3, estimated: true });
  });
});

describe('events and policies', () => {
  it('a throwing listener never breaks a call; events are not built without listeners', async () => {
    const gw = gateway({ targets: { chat: { endpoints: [endpoint('a', [ok()])] } } });
    const off = gw.on('route', () => {
      throw new Error('listener');
    });
    await expect(gw.call('chat', msg)).resolves.toMatchObject({ endpoint: 'a' });
    off();
    off();
  });

  it("the target policy runs around each attempt, and its events reach the gateway's listeners", async () => {
    const clock = virtualClock();
    const slow = endpoint('slow', [delayed(clock.sleep, 5000)]);
    const fast = endpoint('fast', [ok()]);
    const gw = gateway({
      clock,
      targets: { chat: { strategy: 'round-robin', policy: timeout({ after: 1000, clock }), endpoints: [slow, fast] } },
    });
    const seen: PolicyEventBase[] = [];
    gw.on('timeout', (e) => seen.push(e));
    const p = gw.call('chat', msg);
    await clock.advance(1000);
    expect(await p).toMatchObject({ endpoint: 'fast', attempts: 2 });
    expect(seen).toHaveLength(1);
    expect(slow.signals[0]?.aborted).toBe(true);
    expect(gw.layers.map((l) => l.kind)).toEqual(['timeout']);
  });

  it('rejects an unknown target with a TypeError', async () => {
    const gw = gateway({ targets: { chat: { endpoints: [endpoint('a', [ok()])] } } });
    await expect(gw.call('nope', msg)).rejects.toThrow(/Expected `target` to be one of 'chat', got "nope"/);
  });

  it('interceptors run around every call; each invocation of fn is one endpoint request', async () => {
    const gw = gateway({
      targets: { chat: { strategy: 'round-robin', endpoints: [endpoint('a', [http(500)]), endpoint('b', [ok()])] } },
    });
    const log: string[] = [];
    const off = gw.intercept(async (c) => {
      log.push(`call ${c.name} ${c.genAi.model}`);
      const r = await c.proceed(async (ctx) => {
        log.push('attempt');
        try {
          return await c.fn(ctx);
        } catch (e) {
          log.push('attempt failed');
          throw e;
        }
      });
      log.push('done');
      return r;
    });
    expect(await gw.call('chat', msg)).toMatchObject({ endpoint: 'b', attempts: 2 });
    expect(log).toEqual(['call chat chat', 'attempt', 'attempt failed', 'attempt', 'done']);
    off();
    await gw.call('chat', msg);
    expect(log).toHaveLength(5);
  });
});

describe('bad options', () => {
  const e = () => [endpoint('a', [ok()])];
  it.each([
    [{}, /`targets`/],
    [{ targets: {} }, /`targets`/],
    [{ targets: { a: { endpoints: [] } } }, /`targets.a.endpoints` to be a non-empty array/],
    [{ targets: { a: { endpoints: [{ id: '', call: () => 1 }] } } }, /`targets.a.endpoints\[0\].id`/],
    [{ targets: { a: { endpoints: [{ id: 'x' }] } } }, /`targets.a.endpoints\[0\].call` to be a function/],
    [
      {
        targets: {
          a: {
            endpoints: [
              { id: 'x', call: () => 1 },
              { id: 'x', call: () => 1 },
            ],
          },
        },
      },
      /unique ids/,
    ],
    [{ targets: { a: { endpoints: [{ id: 'x', call: () => 1, weight: -1 }] } } }, /`targets.a.endpoints\[0\].weight`/],
    [{ targets: { a: { endpoints: [{ id: 'x', call: () => 1, limits: { concurrency: 0 } }] } } }, /concurrency/],
    [{ targets: { a: { endpoints: [{ id: 'x', call: () => 1, cost: { input: -1, output: 1 } }] } } }, /cost.input/],
    [{ targets: { a: { endpoints: [{ id: 'x', call: () => 1, contextWindow: 0 }] } } }, /contextWindow/],
    [{ targets: { a: { endpoints: e(), strategy: 'fastest' } } }, /strategy/],
    [{ targets: { a: { endpoints: e(), policy: {} } } }, /`targets.a.policy` to be a policy/],
    [{ targets: { a: { endpoints: e() } }, ejection: { base: 0 } }, /ejection.base/],
    [{ targets: { a: { endpoints: e() } }, ejection: { maxEjectedPercent: 101 } }, /maxEjectedPercent/],
    [{ targets: { a: { endpoints: e() } }, maxFallbacks: -1 }, /maxFallbacks/],
    [{ targets: { a: { endpoints: e() } }, random: 1 }, /random/],
  ])('%#: %j', (o, re) => {
    expect(() => gateway(o as never)).toThrow(re);
  });

  it('Policy.noop is a valid policy', () => {
    expect(() => gateway({ targets: { a: { endpoints: e(), policy: Policy.noop } } })).not.toThrow();
  });
});
