// The real openai 6.x and @anthropic-ai/sdk clients (maxRetries: 0: the gateway fails over itself)
// talking to local fake providers (node:http): 429 + retry-after-ms, 500, 529 overloaded, a context
// length error, a content-policy refusal, stalled streams and slow first chunks. The gateway's
// timers run on a virtual clock; the sockets are real, and the servers report when a client left.
import { getEventListeners } from 'node:events';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Context } from '../../src/core/context.js';
import { type EndpointOptions, type GatewayEvent, gateway } from '../../src/gateway/index.js';
import { isHedgeCancelledError } from '../../src/hedge/index.js';
import { isStreamTimeoutError } from '../../src/stream/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { type FakeProvider, fakeProvider } from './fake-provider.js';

interface Req {
  readonly messages: { role: 'user' | 'assistant'; content: string }[];
  readonly max_tokens?: number;
  readonly stream?: boolean;
}

let oa: FakeProvider;
let an: FakeProvider;
let oa2: FakeProvider;
let openai: OpenAI;
let openai2: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  [oa, an, oa2] = await Promise.all([fakeProvider('openai'), fakeProvider('anthropic'), fakeProvider('openai')]);
  openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${oa.url}/v1`, maxRetries: 0 });
  openai2 = new OpenAI({ apiKey: 'sk-test', baseURL: `${oa2.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: an.url, maxRetries: 0 });
});

afterEach(async () => {
  // Every response a test left open is one the gateway failed to close.
  for (const p of [oa, an, oa2]) {
    for (let i = 0; i < 50 && p.open > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(p.open, `${p.wire} responses left open`).toBe(0);
    p.reset();
  }
});

afterAll(async () => {
  await Promise.all([oa.close(), an.close(), oa2.close()]);
});

const ask: Req = { messages: [{ role: 'user', content: 'Capital of France?' }], max_tokens: 50 };

function viaOpenAI(
  id: string,
  client: () => OpenAI,
  model = 'gpt-4o',
  more: Partial<EndpointOptions<Req>> = {},
): EndpointOptions<Req> {
  return {
    id,
    provider: 'openai',
    cost: { input: 2.5, output: 10 },
    ...more,
    call: (req: Req, { signal }: Context) =>
      req.stream
        ? client().chat.completions.create(
            {
              model,
              messages: req.messages,
              max_tokens: req.max_tokens ?? null,
              stream: true,
              stream_options: { include_usage: true },
            },
            { signal },
          )
        : client().chat.completions.create(
            { model, messages: req.messages, max_tokens: req.max_tokens ?? null },
            { signal },
          ),
  };
}

function viaAnthropic(
  id: string,
  model = 'claude-sonnet',
  more: Partial<EndpointOptions<Req>> = {},
): EndpointOptions<Req> {
  return {
    id,
    provider: 'anthropic',
    cost: { input: 3, output: 15 },
    ...more,
    call: (req: Req, { signal }: Context) =>
      anthropic.messages.create(
        {
          model,
          max_tokens: req.max_tokens ?? 1024,
          messages: req.messages,
          ...(req.stream ? { stream: true as const } : {}),
        },
        { signal },
      ),
  };
}

function events(gw: { on(t: '*', l: (e: GatewayEvent) => void): unknown }) {
  const out: GatewayEvent[] = [];
  gw.on('*', (e) => out.push(e));
  return out;
}

const outcomes = (ev: GatewayEvent[]) =>
  ev
    .filter((e) => e.type === 'attempt')
    .map((e) => `${(e as { endpoint: string }).endpoint}:${(e as { outcome: string }).outcome}`);

describe('error classes from the real SDKs', () => {
  it('OpenAI 429 + retry-after-ms cools the endpoint for that long and fails over to Anthropic', async () => {
    const clock = virtualClock({ start: 1_000_000 });
    const gw = gateway<Req>({
      clock,
      targets: {
        chat: { strategy: 'round-robin', endpoints: [viaOpenAI('openai', () => openai), viaAnthropic('anthropic')] },
      },
    });
    const ev = events(gw);
    oa.script('429');
    const r = await gw.call('chat', ask, { key: 'team-a' });
    expect(r).toMatchObject({ endpoint: 'anthropic', attempts: 2, usage: { inputTokens: 14, outputTokens: 4 } });
    expect(r.cost).toBeCloseTo((14 * 3 + 4 * 15) / 1e6, 12);
    expect(outcomes(ev)).toEqual(['openai:rate-limited', 'anthropic:success']);
    expect(gw.snapshot().targets.chat?.endpoints[0]).toMatchObject({ state: 'cooling', cooldownUntil: 1_001_500 });
    expect(ev.find((e) => e.type === 'usage')).toMatchObject({
      provider: 'anthropic',
      model: 'claude-sonnet',
      key: 'team-a',
    });
  });

  it('every endpoint 429 (OpenAI, retry-after-ms 1500): the call waits for the cool-down and tries again instead of rejecting', async () => {
    const clock = virtualClock({ start: 0 });
    const gw = gateway<Req>({ clock, targets: { chat: { endpoints: [viaOpenAI('openai', () => openai)] } } });
    const ev = events(gw);
    oa.script('429', 'ok');
    let settled = false;
    const p = gw.call('chat', ask).finally(() => {
      settled = true;
    });
    while (clock.pending === 0 && !settled) await new Promise((r) => setTimeout(r, 5)); // the 429 arrived: waiting
    expect(oa.requests).toHaveLength(1);
    await clock.advance(1500);
    expect(await p).toMatchObject({ endpoint: 'openai', attempts: 2, ms: 1500 });
    expect(outcomes(ev)).toEqual(['openai:rate-limited', 'openai:success']);
  });

  it('Anthropic 529 overloaded and OpenAI 500 try elsewhere; an Anthropic 429 cools for its Retry-After', async () => {
    const clock = virtualClock({ start: 0 });
    const gw = gateway<Req>({
      clock,
      targets: {
        chat: {
          strategy: 'round-robin',
          endpoints: [
            viaAnthropic('anthropic'),
            viaOpenAI('openai', () => openai),
            viaOpenAI('openai-2', () => openai2),
          ],
        },
      },
    });
    const ev = events(gw);
    an.script('529');
    oa.script('500');
    expect(await gw.call('chat', ask)).toMatchObject({
      endpoint: 'openai-2',
      attempts: 3,
      usage: { inputTokens: 12, outputTokens: 3 },
    });
    expect(outcomes(ev)).toEqual(['anthropic:overloaded', 'openai:unknown', 'openai-2:success']);
    an.script('429');
    await gw.call('chat', ask); // round-robin: anthropic first again
    expect(gw.snapshot().targets.chat?.endpoints[0]?.cooldownUntil).toBe(2000);
  });

  it('a context-length error goes to the larger-window fallback; never retried on the same endpoint', async () => {
    const gw = gateway<Req>({
      targets: {
        small: {
          endpoints: [viaOpenAI('gpt-8k', () => openai, 'gpt-8k', { contextWindow: 8192 })],
          fallbacks: { 'context-length': ['large'] },
        },
        large: { endpoints: [viaAnthropic('claude-200k', 'claude', { contextWindow: 200_000 })] },
      },
    });
    const ev = events(gw);
    oa.script('context');
    expect(await gw.call('small', ask)).toMatchObject({
      target: 'large',
      endpoint: 'claude-200k',
      attempts: 2,
      fallbacks: 1,
    });
    expect(oa.requests).toHaveLength(1);
    expect(outcomes(ev)).toEqual(['gpt-8k:context-length', 'claude-200k:success']);
    // Anthropic's "prompt is too long" is a context-length error too.
    const back = gateway<Req>({
      targets: {
        a: { endpoints: [viaAnthropic('claude')], fallbacks: { 'context-length': ['b'] } },
        b: { endpoints: [viaOpenAI('gpt', () => openai)] },
      },
    });
    an.script('context');
    expect(await back.call('a', ask)).toMatchObject({ target: 'b', fallbacks: 1 });
  });

  it('a content-policy refusal goes to fallbacks["content-policy"]', async () => {
    const gw = gateway<Req>({
      targets: {
        strict: {
          endpoints: [viaOpenAI('gpt', () => openai), viaOpenAI('gpt-2', () => openai2)],
          fallbacks: { 'content-policy': ['other'] },
        },
        other: { endpoints: [viaAnthropic('claude')] },
      },
    });
    oa.script('policy');
    oa2.script('policy');
    const r = await gw.call('strict', ask);
    expect(r).toMatchObject({ target: 'other', attempts: 2, fallbacks: 1 });
    expect(oa.requests.length + oa2.requests.length).toBe(1); // the other deployment of the same model is not asked
  });

  it('401 ejects the endpoint; a one-endpoint target keeps its endpoint and surfaces the error', async () => {
    const gw = gateway<Req>({
      targets: {
        chat: { strategy: 'round-robin', endpoints: [viaOpenAI('bad-key', () => openai), viaAnthropic('anthropic')] },
      },
    });
    oa.script('401');
    await gw.call('chat', ask);
    expect(gw.snapshot().targets.chat?.endpoints[0]).toMatchObject({ state: 'ejected', ejection: { reason: 'auth' } });
    const alone = gateway<Req>({ maxWait: 0, targets: { chat: { endpoints: [viaOpenAI('bad-key', () => openai)] } } });
    oa.script('401', '401');
    await expect(alone.call('chat', ask)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(alone.call('chat', ask)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});

describe('streams with the real SDKs', () => {
  it('a stream that stalls before its first chunk fails over; the stalled connection is closed', async () => {
    const clock = virtualClock();
    const gw = gateway<Req>({
      clock,
      targets: {
        chat: {
          strategy: 'round-robin',
          stream: { firstChunk: 5_000, idle: 2_000 },
          endpoints: [viaOpenAI('openai', () => openai), viaAnthropic('anthropic')],
        },
      },
    });
    const ev = events(gw);
    oa.script('stall-first');
    const p = gw.call('chat', { ...ask, stream: true });
    const stalled = await oa.next();
    await clock.advance(5_000);
    const r = await p;
    expect(r).toMatchObject({ endpoint: 'anthropic', attempts: 2 });
    expect(await stalled.closed).toBe(true);
    let text = '';
    for await (const e of r.value as AsyncIterable<{ type: string; delta?: { text?: string } }>) {
      if (e.type === 'content_block_delta') text += e.delta?.text ?? '';
    }
    expect(text).toBe('Paris.');
    expect(outcomes(ev)).toEqual(['openai:timeout', 'anthropic:success']);
    expect(ev.find((e) => e.type === 'usage')).toMatchObject({
      endpoint: 'anthropic',
      inputTokens: 14,
      outputTokens: 5,
    });
  });

  it('OpenAI stream usage (include_usage) is accounted when the stream ends', async () => {
    const gw = gateway<Req>({
      targets: { chat: { stream: { firstChunk: 5_000 }, endpoints: [viaOpenAI('openai', () => openai)] } },
    });
    const r = await gw.call('chat', { ...ask, stream: true }, { key: 'k' });
    const parts: string[] = [];
    for await (const c of r.value as AsyncIterable<{ choices: { delta: { content?: string } }[] }>) {
      parts.push(c.choices[0]?.delta.content ?? '');
    }
    expect(parts.join('')).toBe('Paris.');
    expect(gw.snapshot().keys.k?.usage).toMatchObject({ requests: 1, inputTokens: 12, outputTokens: 2 });
  });

  it('after the first chunk a stall reaches the consumer as StreamTimeoutError (no failover) and the connection closes', async () => {
    const clock = virtualClock();
    const gw = gateway<Req>({
      clock,
      targets: {
        chat: {
          strategy: 'round-robin',
          stream: { firstChunk: 5_000, idle: 2_000 },
          endpoints: [viaOpenAI('openai', () => openai), viaAnthropic('anthropic')],
        },
      },
    });
    oa.script('stall-mid');
    const r = await gw.call('chat', { ...ask, stream: true });
    const seen = await oa.next();
    const it = (r.value as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    const third = it.next();
    await clock.advance(2_000);
    const e = await third.catch((x: unknown) => x);
    expect(isStreamTimeoutError(e) && e.phase).toBe('idle');
    expect(await seen.closed).toBe(true);
    expect(an.requests).toHaveLength(0);
  });

  it('a slow first chunk is hedged on another provider; the first first chunk wins, the loser is cancelled', async () => {
    const clock = virtualClock();
    const gw = gateway<Req>({
      clock,
      targets: {
        chat: {
          strategy: 'round-robin',
          stream: { firstChunk: 10_000 },
          hedge: { delay: 800 },
          endpoints: [viaOpenAI('openai', () => openai), viaAnthropic('anthropic')],
        },
      },
    });
    oa.script('hold-first');
    const p = gw.call('chat', { ...ask, stream: true });
    const slow = await oa.next();
    await clock.advance(800);
    const r = await p;
    expect(r).toMatchObject({ endpoint: 'anthropic', attempts: 2 });
    expect(await slow.closed).toBe(true);
    for await (const _ of r.value as AsyncIterable<unknown>) {
      // drain
    }
  });
});

describe('stream usage with the real SDKs', () => {
  it("a stream's usage event names the model that answered (read from its chunks), not the endpoint id", async () => {
    const gw = gateway<Req>({
      targets: {
        o: { stream: { firstChunk: 5_000 }, endpoints: [viaOpenAI('oa-endpoint', () => openai, 'gpt-4o-2024-08-06')] },
        a: { stream: { firstChunk: 5_000 }, endpoints: [viaAnthropic('an-endpoint', 'claude-sonnet-4-5')] },
      },
    });
    const ev = events(gw);
    for (const t of ['o', 'a']) {
      const r = await gw.call(t, { ...ask, stream: true });
      for await (const _ of r.value as AsyncIterable<unknown>) {
        // drain
      }
    }
    expect(ev.filter((e) => e.type === 'usage').map((e) => (e as { model: string }).model)).toEqual([
      'gpt-4o-2024-08-06',
      'claude-sonnet-4-5',
    ]);
  });
});

describe('budgets with the real SDKs', () => {
  it('an OpenAI stream the consumer breaks before its usage chunk is charged the estimate; one read to the end, its usage', async () => {
    const gw = gateway<Req>({
      auth: () => ({ key: 'k', budget: { usd: 1 } }),
      targets: { chat: { endpoints: [viaOpenAI('o', () => openai)] } },
    });
    const ev = events(gw);
    oa.script('stream', 'stream');
    const broken = await gw.call('chat', { ...ask, stream: true });
    for await (const _ of broken.value as AsyncIterable<unknown>) break;
    // 'Capital of France?' is ~5 prompt tokens (estimate 55 less max_tokens 50), 1 chunk seen.
    expect(ev.filter((e) => e.type === 'usage').at(-1)).toMatchObject({
      inputTokens: 5,
      outputTokens: 1,
      estimated: true,
    });
    expect(gw.snapshot().keys.k?.budget?.spent).toBeCloseTo((5 * 2.5 + 1 * 10) / 1e6, 12);
    const whole = await gw.call('chat', { ...ask, stream: true });
    for await (const _ of whole.value as AsyncIterable<unknown>) {
      // drain
    }
    expect(ev.filter((e) => e.type === 'usage').at(-1)).toMatchObject({
      inputTokens: 12,
      outputTokens: 2,
      estimated: false,
    });
    expect(gw.snapshot().keys.k?.budget).toMatchObject({ reserved: 0 });
  });
});

describe('abort and listeners with the real SDKs', () => {
  it("the caller's abort rejects with its reason and closes the request in flight", async () => {
    const gw = gateway<Req>({
      targets: { chat: { stream: { firstChunk: 60_000 }, endpoints: [viaOpenAI('openai', () => openai)] } },
    });
    oa.script('stall-first');
    const ac = new AbortController();
    const p = gw.call('chat', { ...ask, stream: true }, { signal: ac.signal });
    const seen = await oa.next();
    const reason = new Error('user closed the tab');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(await seen.closed).toBe(true);
  });

  it.each(['openai', 'anthropic'] as const)(
    "without the `stream` option, the caller's abort mid-stream reaches the %s stream: the consumer gets its reason, the request closes",
    async (wire) => {
      const gw = gateway<Req>({
        targets: { chat: { endpoints: [wire === 'openai' ? viaOpenAI('o', () => openai) : viaAnthropic('a')] } },
      });
      const server = wire === 'openai' ? oa : an;
      server.script('stall-mid');
      const ac = new AbortController();
      const r = await gw.call('chat', { ...ask, stream: true }, { signal: ac.signal });
      const seen = await server.next();
      const it = (r.value as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      await it.next();
      const pending = it.next().then(() => it.next());
      const reason = new Error('tab closed');
      ac.abort(reason);
      await expect(pending).rejects.toBe(reason);
      expect(await seen.closed).toBe(true);
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    },
  );

  it('a long-lived caller signal keeps no listener after 30 calls through the openai client (each attempt has its own signal)', async () => {
    const gw = gateway<Req>({
      targets: {
        chat: { strategy: 'round-robin', endpoints: [viaOpenAI('a', () => openai), viaOpenAI('b', () => openai2)] },
      },
    });
    const ac = new AbortController();
    oa.script('500', '500', '500');
    for (let i = 0; i < 30; i++) await gw.call('chat', ask, { signal: ac.signal });
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('hedge cancellation reaches the SDK as an abort of the losing request', async () => {
    const clock = virtualClock();
    const gw = gateway<Req>({
      clock,
      targets: {
        chat: {
          strategy: 'round-robin',
          stream: { firstChunk: 10_000 },
          hedge: { delay: 100 },
          endpoints: [viaOpenAI('slow', () => openai), viaOpenAI('fast', () => openai2)],
        },
      },
    });
    oa.script('hold-first');
    const losing: unknown[] = [];
    gw.on('attempt', (e) => {
      if (e.outcome === 'cancelled') losing.push(e.error);
    });
    const p = gw.call('chat', { ...ask, stream: true });
    const slow = await oa.next();
    await clock.advance(100);
    const r = await p;
    expect(r.endpoint).toBe('fast');
    expect(await slow.closed).toBe(true);
    for await (const _ of r.value as AsyncIterable<unknown>) {
      // drain
    }
    await new Promise((res) => setTimeout(res, 20));
    expect(losing.some(isHedgeCancelledError)).toBe(true);
  });
});
