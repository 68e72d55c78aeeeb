import { Policy } from '../../../src/index.js';
import { constant, retry } from '../../../src/retry/index.js';
import { isStreamTimeoutError, streamTimeout } from '../../../src/stream/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { deepEqual, describe, equal, rejects, test } from '../harness.js';

async function* chunks(clock: ReturnType<typeof virtualClock>, gaps: readonly number[], signal: AbortSignal) {
  for (const [i, gap] of gaps.entries()) {
    await clock.sleep(gap, signal);
    yield `c${i}`;
  }
}

describe('stream', () => {
  test('execute resolves at the first chunk; the reader gets every chunk', async () => {
    const clock = virtualClock();
    const p = streamTimeout({ firstChunk: 100, idle: 50, clock }).execute(({ signal }) =>
      chunks(clock, [10, 20, 20], signal),
    );
    await clock.advance(10);
    const stream = await p;
    const out: string[] = [];
    const reading = (async () => {
      for await (const c of stream) out.push(c);
    })();
    await clock.advance(40);
    await reading;
    deepEqual(out, ['c0', 'c1', 'c2']);
    equal(clock.pending, 0);
  });

  test('a late first chunk is an ordinary failure that an outer retry retries', async () => {
    const clock = virtualClock();
    let attempt = 0;
    const p = Policy.wrap(
      retry({ maxRetries: 1, backoff: constant(0), clock }),
      streamTimeout({ firstChunk: 100, clock }),
    ).execute(({ signal }) => chunks(clock, ++attempt === 1 ? [500] : [10], signal));
    await clock.advance(100);
    await clock.advance(10);
    const stream = await p;
    const out: string[] = [];
    for await (const c of stream) out.push(c);
    deepEqual(out, ['c0']);
    equal(attempt, 2);
  });

  test('a stall after the first chunk surfaces from the iterator with phase idle', async () => {
    const clock = virtualClock();
    const p = streamTimeout({ idle: 50, clock }).execute(({ signal }) => chunks(clock, [0, 1000], signal));
    await clock.advance(0);
    const it = (await p)[Symbol.asyncIterator]();
    equal((await it.next()).value, 'c0');
    const next = it.next();
    await clock.advance(50);
    const e = await rejects(next, isStreamTimeoutError);
    equal((e as { phase: string }).phase, 'idle');
  });
});
