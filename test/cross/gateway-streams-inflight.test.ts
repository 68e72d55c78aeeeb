// An open stream is a generation in progress: it holds its endpoint's concurrency slot (and counts
// for 'least-busy') until it ends, fails or is closed, not only until its first chunk.
import { describe, expect, it } from 'vitest';
import { gateway } from '../../src/gateway/index.js';
import { virtualClock } from '../../src/testing/index.js';

describe('gateway: open streams and concurrency', () => {
  it('an open stream holds its endpoint’s concurrency slot until it ends', async () => {
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

describe('gateway: a stream frees its slot when it ends', () => {
  const chunks = (clock: ReturnType<typeof virtualClock>, gap: number) => () =>
    (async function* () {
      yield { choices: [{ delta: { content: 'x' } }] };
      await clock.sleep(gap);
      yield { choices: [{ delta: { content: 'y' } }] };
    })();

  it('closed early or read to the end, the slot is free again and wakes a waiting call; least-busy avoids a streaming endpoint', async () => {
    const clock = virtualClock();
    const gw = gateway({
      clock,
      targets: {
        a: {
          strategy: 'least-busy',
          endpoints: [
            { id: 'a1', call: chunks(clock, 1000), limits: { concurrency: 1 } },
            { id: 'a2', call: chunks(clock, 1000), limits: { concurrency: 1 } },
          ],
        },
      },
    });
    const first = await gw.call('a', { messages: [] });
    const second = await gw.call('a', { messages: [] });
    expect(new Set([first.endpoint, second.endpoint])).toEqual(new Set(['a1', 'a2']));
    // Both slots are held by open streams: a third call waits for one (a freed slot wakes it).
    let third: Awaited<ReturnType<typeof gw.call>> | undefined;
    const waiting = gw.call('a', { messages: [] }).then((r) => {
      third = r;
    });
    await clock.advance(0);
    expect(third).toBeUndefined();
    // One stream is closed early: its slot wakes the waiting call at once.
    await (second.value as AsyncIterator<unknown>).return?.();
    await waiting;
    expect(third?.endpoint).toBe(second.endpoint);
    // The other is read to its end: its slot is free too.
    const read = (async () => {
      for await (const _ of first.value as AsyncIterable<unknown>) {
        // drain
      }
    })();
    await clock.advance(1000);
    await read;
    await ((third as { value: unknown }).value as AsyncIterator<unknown>).return?.();
    expect(gw.snapshot().targets.a?.endpoints.map((e) => e.inflight)).toEqual([0, 0]);
  });

  it("a stream nobody reads is closed by the target's `stream: { idle }`, and that frees its slot", async () => {
    const clock = virtualClock();
    const gw = gateway({
      clock,
      targets: {
        a: {
          stream: { idle: 5000 },
          endpoints: [{ id: 'a1', call: chunks(clock, 60_000), limits: { concurrency: 1 } }],
        },
      },
    });
    await gw.call('a', { messages: [] }); // abandoned
    expect(gw.snapshot().targets.a?.endpoints[0]?.inflight).toBe(1);
    await clock.advance(5000);
    expect(gw.snapshot().targets.a?.endpoints[0]?.inflight).toBe(0);
    const next = await gw.call('a', { messages: [] });
    expect(next.endpoint).toBe('a1');
    await (next.value as AsyncIterator<unknown>).return?.();
  });
});
