// Streams and hedging through the gateway: failover and hedging before the first chunk only, errors
// after it reach the consumer, tokens read from chunks, losers cancelled and their streams closed.
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Context } from '../../src/core/context.js';
import { type GatewayEvent, gateway, type TargetOptions } from '../../src/gateway/index.js';
import { isHedgeCancelledError } from '../../src/hedge/index.js';
import { isStreamTimeoutError } from '../../src/stream/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { manualSource } from '../stream/support.js';
import { delayed, endpoint, http, ok } from './support.js';

const msg = { messages: [{ role: 'user', content: 'hi' }], stream: true };

async function drain(stream: unknown): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const c of stream as AsyncIterable<unknown>) out.push(c);
  return out;
}

describe('streams', () => {
  it('a stalled first chunk fails over to the next endpoint (streamTimeout firstChunk)', async () => {
    const clock = virtualClock();
    const stalled = manualSource<unknown>();
    const good = manualSource<unknown>();
    const gw = gateway({
      clock,
      targets: {
        chat: {
          strategy: 'round-robin',
          stream: { firstChunk: 1000, idle: 500 },
          endpoints: [endpoint('a', [stalled]), endpoint('b', [good])],
        },
      },
    });
    const events: GatewayEvent[] = [];
    gw.on('*', (e) => events.push(e));
    const p = gw.call('chat', msg);
    await clock.advance(1000);
    expect(stalled.returned).toBe(1); // the stalled source was closed
    good.push({ choices: [{ delta: { content: 'Hel' } }] });
    const r = await p;
    expect(r).toMatchObject({ endpoint: 'b', attempts: 2, usage: undefined, cost: 0, ms: 1000 });
    good.push({ choices: [{ delta: { content: 'lo' } }] });
    good.push({ choices: [], usage: { prompt_tokens: 11, completion_tokens: 2 } });
    good.end();
    expect(await drain(r.value)).toHaveLength(3);
    expect(events.filter((e) => e.type === 'attempt').map((e) => (e as { outcome: string }).outcome)).toEqual([
      'timeout',
      'success',
    ]);
    expect(events.find((e) => e.type === 'usage')).toMatchObject({ endpoint: 'b', inputTokens: 11, outputTokens: 2 });
    expect(gw.snapshot().targets.chat?.endpoints[1]?.usage).toMatchObject({
      requests: 1,
      inputTokens: 11,
      outputTokens: 2,
    });
  });

  it('after the first chunk an error reaches the consumer, is not failed over, and counts against the endpoint', async () => {
    const clock = virtualClock();
    const src = manualSource<unknown>();
    const other = endpoint('b', [ok()]);
    const gw = gateway({
      clock,
      ejection: { consecutiveFailures: 1 },
      targets: {
        chat: {
          strategy: 'round-robin',
          stream: { firstChunk: 1000, idle: 500 },
          endpoints: [endpoint('a', [src]), other],
        },
      },
    });
    const p = gw.call('chat', msg);
    src.push({ type: 'message_start', message: { usage: { input_tokens: 30, output_tokens: 1 } } });
    const r = await p;
    const it = (r.value as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    await it.next();
    const next = it.next();
    await clock.advance(500);
    const e = await next.catch((x: unknown) => x);
    expect(isStreamTimeoutError(e) && e.phase).toBe('idle');
    expect(other.seen).toHaveLength(0);
    const a = gw.snapshot().targets.chat?.endpoints[0];
    expect(a).toMatchObject({ state: 'ejected', ejection: { reason: 'timeout' } });
    expect(a?.usage).toMatchObject({ requests: 1, errors: 1, inputTokens: 30, outputTokens: 1 });
  });

  it('Anthropic stream usage: message_start input, message_delta cumulative output; break closes the source', async () => {
    const src = manualSource<unknown>();
    const gw = gateway({
      targets: { chat: { endpoints: [endpoint('a', [src], { cost: { input: 3, output: 15 } })] } },
    });
    const usage: GatewayEvent[] = [];
    gw.on('usage', (e) => usage.push(e));
    src.push({ type: 'message_start', message: { model: 'claude', usage: { input_tokens: 100, output_tokens: 1 } } });
    src.push({ type: 'message_delta', usage: { output_tokens: 20 } });
    src.push({ type: 'message_delta', usage: { output_tokens: 40 } });
    const r = await gw.call('chat', msg);
    let n = 0;
    for await (const _ of r.value as AsyncIterable<unknown>) if (++n === 3) break;
    expect(src.returned).toBe(1);
    expect(usage).toMatchObject([{ inputTokens: 100, outputTokens: 40, cost: (100 * 3 + 40 * 15) / 1e6 }]);
  });
});

describe('hedging across endpoints', () => {
  it('a slow endpoint is hedged on another; the loser is cancelled with HedgeCancelledError and not counted against', async () => {
    const clock = virtualClock();
    const slow = endpoint('slow', [delayed(clock.sleep, 1000)]);
    const fast = endpoint('fast', [delayed(clock.sleep, 50)]);
    const gw = gateway({
      clock,
      targets: { chat: { strategy: 'round-robin', hedge: { delay: 100 }, endpoints: [slow, fast] } },
    });
    const events: GatewayEvent[] = [];
    gw.on('*', (e) => events.push(e));
    const hedges: unknown[] = [];
    gw.on('hedge', (e) => hedges.push(e));
    const p = gw.call('chat', msg);
    await clock.advance(150);
    expect(await p).toMatchObject({ endpoint: 'fast', attempts: 2, ms: 150 });
    expect(hedges).toHaveLength(1);
    expect(isHedgeCancelledError(slow.signals[0]?.reason)).toBe(true);
    await clock.advance(1000);
    expect(events.filter((e) => e.type === 'attempt').map((e) => (e as { outcome: string }).outcome)).toEqual([
      'success',
      'cancelled',
    ]);
    expect(gw.snapshot().targets.chat?.endpoints[0]).toMatchObject({ consecutiveFailures: 0, inflight: 0 });
    expect(gw.layers.map((l) => l.kind)).toEqual(['hedge']);
  });

  it('TTFT hedging with streams: the first first chunk wins; the loser stream is closed', async () => {
    const clock = virtualClock();
    const a = manualSource<unknown>();
    const b = manualSource<unknown>();
    const gw = gateway({
      clock,
      targets: {
        chat: {
          strategy: 'round-robin',
          stream: { firstChunk: 5000 },
          hedge: { delay: 200 },
          endpoints: [endpoint('a', [a]), endpoint('b', [b])],
        },
      },
    });
    const p = gw.call('chat', msg);
    await clock.advance(200);
    b.push({ choices: [{ delta: { content: 'B' } }] });
    const r = await p;
    expect(r.endpoint).toBe('b');
    await clock.flush();
    expect(a.returned).toBe(1);
    b.end();
    expect(await drain(r.value)).toEqual([{ choices: [{ delta: { content: 'B' } }] }]);
  });

  it("simultaneous first chunks: the losing lane's answer is discarded and its stream closed", async () => {
    const clock = virtualClock();
    const a = manualSource<unknown>();
    const b = manualSource<unknown>();
    const gw = gateway({
      clock,
      targets: {
        chat: {
          strategy: 'round-robin',
          stream: { firstChunk: 5000 },
          hedge: { delay: 200 },
          endpoints: [endpoint('a', [a]), endpoint('b', [b])],
        },
      },
    });
    const p = gw.call('chat', msg);
    await clock.advance(200);
    a.push({ n: 'A' });
    b.push({ n: 'B' });
    const r = await p;
    await clock.flush();
    expect(r.endpoint).toBe('a');
    expect(b.returned).toBe(1);
    expect(a.returned).toBe(0);
    // A hedge closes a late answer through its async iterator (closeLate): an answer whose value is
    // a stream closes that stream.
    await (r as unknown as AsyncIterable<unknown>)[Symbol.asyncIterator]().return?.();
    expect(a.returned).toBe(1);
  });

  it('a client error in one lane ends the call (no other lane is started for it)', async () => {
    const clock = virtualClock();
    const bad = http(400, {}, { message: 'bad request' });
    const b = endpoint('b', [ok()]);
    const gw = gateway({
      clock,
      targets: { chat: { strategy: 'round-robin', hedge: { delay: 100 }, endpoints: [endpoint('a', [bad]), b] } },
    });
    await expect(gw.call('chat', msg)).rejects.toBe(bad);
    expect(b.seen).toHaveLength(0);
  });

  it('a hedged lane fails over on its own; a lane with nothing left to try does not wait', async () => {
    const clock = virtualClock();
    const a = endpoint('a', [delayed(clock.sleep, 500)]);
    const b = endpoint('b', [http(500)]);
    const c = endpoint('c', [delayed(clock.sleep, 100)]);
    const gw = gateway({
      clock,
      targets: { chat: { strategy: 'round-robin', hedge: { delay: 100 }, endpoints: [a, b, c] } },
    });
    const p = gw.call('chat', msg);
    await clock.advance(200);
    expect(await p).toMatchObject({ endpoint: 'c', attempts: 3, ms: 200 });
    const single = gateway({
      clock,
      targets: { chat: { hedge: { delay: 10 }, endpoints: [endpoint('x', [delayed(clock.sleep, 100)])] } },
    });
    const q = single.call('chat', msg);
    await clock.advance(100);
    expect(await q).toMatchObject({ endpoint: 'x', attempts: 1 });
  });

  it("the caller's abort reaches every lane with the caller's reason", async () => {
    const clock = virtualClock();
    const a = endpoint('a', [delayed(clock.sleep, 1000)]);
    const b = endpoint('b', [delayed(clock.sleep, 1000)]);
    const gw = gateway({ clock, targets: { chat: { hedge: { delay: 10 }, endpoints: [a, b] } } });
    const ac = new AbortController();
    const p = gw.call('chat', msg, { signal: ac.signal });
    await clock.advance(10);
    const reason = new Error('gone');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect([a.signals[0]?.reason, b.signals[0]?.reason]).toEqual([reason, reason]);
  });
});

describe("the caller's abort after `call` resolved to a stream (no `stream` option)", () => {
  const chunk = (content: string) => ({ model: 'm', choices: [{ delta: { content } }] });
  /** An endpoint answering with a source that ignores its signal; records the signal it was given. */
  const streaming = () => {
    const sources: ReturnType<typeof manualSource<unknown>>[] = [];
    const signals: AbortSignal[] = [];
    return {
      sources,
      signals,
      ep: {
        id: 'a',
        call: (_r: unknown, ctx: Context) => {
          signals.push(ctx.signal);
          const src = manualSource<unknown>();
          src.push(chunk('Hel'));
          sources.push(src);
          return src;
        },
      },
    };
  };
  const shapes: [string, Partial<TargetOptions>][] = [
    ['no policy', {}],
    ['a per-attempt timeout policy', { policy: timeout(60_000) }],
    ['a hedge', { hedge: { delay: 100 } }],
  ];

  it.each(shapes)(
    "%s: a pending next() rejects with the caller's reason, the attempt's signal aborts, the source closes",
    async (_name, more) => {
      const clock = virtualClock();
      const s = streaming();
      const gw = gateway({ clock, targets: { chat: { ...more, endpoints: [s.ep] } } });
      const ac = new AbortController();
      const r = await gw.call('chat', msg, { signal: ac.signal });
      const it = (r.value as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      expect(await it.next()).toEqual({ done: false, value: chunk('Hel') });
      let outcome: unknown = 'pending';
      it.next().then(
        (v) => {
          outcome = v;
        },
        (e: unknown) => {
          outcome = e;
        },
      );
      await clock.advance(10);
      expect(outcome).toBe('pending');
      const reason = new Error('tab closed');
      ac.abort(reason);
      await clock.advance(0);
      expect(outcome).toBe(reason);
      expect(s.signals[0]?.aborted).toBe(true);
      expect(s.signals[0]?.reason).toBe(reason);
      expect(s.sources[0]?.returned).toBe(1);
      await expect(it.next()).rejects.toBe(reason);
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      // The consumer's own abort says nothing about the endpoint.
      expect(gw.snapshot().targets.chat?.endpoints[0]).toMatchObject({ consecutiveFailures: 0, state: 'healthy' });
      expect(clock.pending).toBe(0);
    },
  );

  it('a source that reads its signal only when iterated (an async generator) is aborted too', async () => {
    let seen: AbortSignal | undefined;
    const gw = gateway({
      targets: {
        chat: {
          endpoints: [
            {
              id: 'gen',
              call: async function* (_r: unknown, ctx: Context) {
                seen = ctx.signal; // read after `call` resolved, when the consumer pulls
                yield chunk('Hel');
                await new Promise((_, reject) => seen?.addEventListener('abort', () => reject(seen?.reason)));
              },
            },
          ],
        },
      },
    });
    const ac = new AbortController();
    const r = await gw.call('chat', msg, { signal: ac.signal });
    const it = (r.value as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    await it.next();
    const pending = it.next();
    const reason = new Error('stop');
    ac.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(seen?.aborted).toBe(true);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('streams that end, or that the consumer breaks, leave no listener on a long-lived caller signal', async () => {
    const s = streaming();
    const gw = gateway({ targets: { chat: { endpoints: [s.ep] } } });
    const ac = new AbortController();
    for (let i = 0; i < 20; i++) {
      const r = await gw.call('chat', msg, { signal: ac.signal });
      if (i % 2 === 0) {
        for await (const _ of r.value as AsyncIterable<unknown>) break;
      } else {
        s.sources[i]?.end();
        await drain(r.value);
      }
    }
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    ac.abort(new Error('late'));
    expect(s.signals.every((x) => !x.aborted)).toBe(true); // streams that ended are not touched
  });
});
