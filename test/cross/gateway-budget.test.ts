import { describe, expect, it } from 'vitest';
import { gateway } from '../../src/gateway/index.js';
import { isStreamTimeoutError } from '../../src/stream/index.js';
import { virtualClock } from '../../src/testing/index.js';

describe('gateway budget reservations of streams', () => {
  // Before the fix, the reservation of a stream that was closed for want of a reader was never given
  // back: every abandoned stream shrank the key's budget for good (and its usage was never counted).
  it('a stream handed out and abandoned is closed by `stream.idle`, and its reservation is given back', async () => {
    const clock = virtualClock();
    let closed = 0;
    const gw = gateway({
      clock,
      auth: () => ({ key: 'k', budget: { usd: 1, per: 60_000 } }),
      targets: {
        a: {
          stream: { idle: 200 },
          endpoints: [
            {
              id: 'a1',
              cost: { input: 1, output: 1 },
              call: () =>
                (async function* () {
                  try {
                    yield { choices: [{ delta: { content: 'x' } }] };
                    await clock.sleep(10_000);
                    yield { choices: [{ delta: { content: 'y' } }] };
                  } finally {
                    closed++;
                  }
                })(),
            },
          ],
        },
      },
    });
    let usage = 0;
    gw.on('usage', () => usage++);
    const r = await gw.call('a', { messages: [{ role: 'user', content: 'hello' }], max_tokens: 10 });
    expect(gw.snapshot().keys.k?.budget?.reserved).toBeGreaterThan(0);
    void r; // handed out, never read
    await clock.advance(1_000);
    expect(closed).toBe(1); // the idle limit closed the source
    expect(gw.snapshot().keys.k?.budget?.reserved).toBe(0);
    expect(gw.snapshot().targets.a?.endpoints[0]?.inflight).toBe(0);
    expect(usage).toBe(1); // accounted once, as an estimate
    // A reader that comes late still gets the held first chunk, then the idle error; nothing is counted twice.
    const it = (r.value as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    await expect(it.next()).resolves.toMatchObject({ done: false });
    await expect(it.next()).rejects.toSatisfy(isStreamTimeoutError);
    expect(usage).toBe(1);
    expect(gw.snapshot().keys.k?.budget?.reserved).toBe(0);
    await clock.advance(20_000);
  });
});
