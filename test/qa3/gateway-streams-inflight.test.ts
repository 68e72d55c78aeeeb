// Open question for the lead (not fixed here: it changes what `concurrency` and 'least-busy' mean):
// an endpoint's `inflight` drops when a stream's first chunk (or the stream object) arrives, not when
// the stream ends. For an LLM endpoint the generation — the connection, the provider's concurrent
// request — lasts until the stream ends, so `limits: { concurrency }` does not bound open streams
// and 'least-busy' sees every streaming endpoint as idle.
import { describe, expect, it } from 'vitest';
import { gateway } from '../../src/gateway/index.js';
import { virtualClock } from '../../src/testing/index.js';

describe('gateway: open streams and concurrency', () => {
  it.fails('an open stream holds its endpoint’s concurrency slot until it ends', async () => {
    const clock = virtualClock();
    const gen = () =>
      (async function* () {
        yield { choices: [{ delta: { content: 'x' } }] };
        await clock.sleep(10_000);
        yield { choices: [{ delta: { content: 'y' } }] };
      })();
    const gw = gateway({
      clock,
      targets: { a: { stream: { idle: 60_000 }, endpoints: [{ id: 'a1', call: gen, limits: { concurrency: 1 } }] } },
    });
    const r = await gw.call('a', { messages: [] });
    expect(r.endpoint).toBe('a1');
    // The first stream is being generated: the endpoint is busy.
    expect(gw.snapshot().targets.a?.endpoints[0]?.inflight).toBe(1);
    await (r.value as AsyncIterator<unknown>).return?.();
  });
});
