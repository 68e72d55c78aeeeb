import { isStreamTimeoutError, type StreamTimeoutEvent, streamTimeout } from '../../../src/stream/index.js';
import { type VirtualClock, virtualClock } from '../../../src/testing/index.js';
import { deepEqual, describe, equal, ok, rejects, test, turns } from '../harness.js';

/**
 * A WHATWG `ReadableStream` (a global in every target runtime) whose n-th chunk arrives `gaps[n]` ms
 * after it is asked for, on the virtual clock; `log.cancelled` records a cancellation.
 */
function webStream(clock: VirtualClock, gaps: readonly number[], log: { cancelled: boolean; pulls: number }) {
  const stop = new AbortController();
  let i = 0;
  return new ReadableStream<string>(
    {
      async pull(controller) {
        log.pulls++;
        const gap = gaps[i];
        if (gap === undefined) {
          controller.close();
          return;
        }
        try {
          await clock.sleep(gap, stop.signal);
        } catch {
          return; // cancelled while waiting
        }
        controller.enqueue(`c${i++}`);
      },
      cancel() {
        log.cancelled = true;
        stop.abort();
      },
    },
    { highWaterMark: 0 },
  );
}

const events = (policy: { on(type: '*', l: (e: StreamTimeoutEvent) => void): unknown }) => {
  const seen: string[] = [];
  policy.on('*', (e) => seen.push(e.type === 'stream-end' ? `end:${e.outcome}:${e.chunks}` : e.type));
  return seen;
};

describe('stream (web ReadableStream)', () => {
  test('execute resolves at the first chunk of a ReadableStream and yields every chunk', async () => {
    const clock = virtualClock();
    const log = { cancelled: false, pulls: 0 };
    const policy = streamTimeout({ firstChunk: 100, idle: 50, clock });
    const seen = events(policy);
    let resolved = false;
    const p = policy.execute(() => webStream(clock, [30, 20, 20], log));
    p.then(() => {
      resolved = true;
    });
    await clock.advance(29);
    equal(resolved, false, 'not before the first chunk');
    await clock.advance(1);
    const stream = await p;
    const out: string[] = [];
    const reading = (async () => {
      for await (const c of stream) out.push(c);
    })();
    await clock.advance(40);
    await reading;
    deepEqual(out, ['c0', 'c1', 'c2']);
    deepEqual(seen, ['first-chunk', 'end:complete:3']);
    equal(log.cancelled, false, 'a stream read to its end is not cancelled');
    equal(clock.pending, 0);
  });

  test('a first chunk later than firstChunk rejects execute and cancels the ReadableStream', async () => {
    const clock = virtualClock();
    const log = { cancelled: false, pulls: 0 };
    let signal: AbortSignal | undefined;
    const p = streamTimeout({ firstChunk: 100, clock }).execute((ctx) => {
      signal = ctx.signal;
      return webStream(clock, [500], log);
    });
    const failed = rejects(p, isStreamTimeoutError);
    await clock.advance(100);
    const e = await failed;
    equal((e as { phase: string }).phase, 'first-chunk');
    equal((e as { ms: number }).ms, 100);
    await turns();
    ok(log.cancelled, 'the source was cancelled');
    ok(signal?.aborted, "the call's signal was aborted");
    ok(isStreamTimeoutError(signal.reason));
    equal(clock.pending, 0);
  });

  test('a ReadableStream that stalls after its first chunk fails the iterator with phase idle', async () => {
    const clock = virtualClock();
    const log = { cancelled: false, pulls: 0 };
    const p = streamTimeout({ firstChunk: 100, idle: 50, clock }).execute(() => webStream(clock, [10, 1000], log));
    await clock.advance(10);
    const it = (await p)[Symbol.asyncIterator]();
    equal((await it.next()).value, 'c0');
    const next = it.next();
    const failed = rejects(next, isStreamTimeoutError);
    await clock.advance(49);
    equal(log.cancelled, false);
    await clock.advance(1);
    equal(((await failed) as { phase: string }).phase, 'idle');
    await turns();
    ok(log.cancelled, 'the stalled source was cancelled');
    deepEqual(await it.next(), { done: true, value: undefined }, 'the stream is over');
  });

  test('breaking out early (return()) cancels the ReadableStream and aborts the signal', async () => {
    const clock = virtualClock();
    const log = { cancelled: false, pulls: 0 };
    let signal: AbortSignal | undefined;
    const policy = streamTimeout({ idle: 1000, clock });
    const seen = events(policy);
    const p = policy.execute((ctx) => {
      signal = ctx.signal;
      return webStream(clock, [0, 5, 5, 5, 5], log);
    });
    await clock.advance(0);
    const stream = await p;
    const out: string[] = [];
    const reading = (async () => {
      for await (const c of stream) {
        out.push(c);
        if (out.length === 2) break;
      }
    })();
    await clock.advance(5);
    await reading;
    deepEqual(out, ['c0', 'c1']);
    await turns();
    ok(log.cancelled, 'the source was cancelled');
    ok(signal?.aborted, "the call's signal was aborted");
    equal((signal.reason as { name?: string }).name, 'AbortError');
    deepEqual(seen, ['first-chunk', 'end:return:2']);
    equal(clock.pending, 0, 'no timer left behind');
  });

  test('the total limit ends a stream that keeps trickling', async () => {
    const clock = virtualClock();
    const log = { cancelled: false, pulls: 0 };
    const p = streamTimeout({ idle: 50, total: 100, clock }).execute(() => webStream(clock, [40, 40, 40, 40], log));
    await clock.advance(40);
    const it = (await p)[Symbol.asyncIterator]();
    equal((await it.next()).value, 'c0');
    const second = it.next();
    await clock.advance(40);
    equal((await second).value, 'c1');
    const third = rejects(it.next(), isStreamTimeoutError);
    await clock.advance(20);
    equal(((await third) as { phase: string }).phase, 'total');
    await turns();
    ok(log.cancelled);
  });

  test("the caller's abort after the first chunk rejects the pending next() with its reason", async () => {
    const clock = virtualClock();
    const log = { cancelled: false, pulls: 0 };
    const c = new AbortController();
    const p = streamTimeout({ idle: 1000, clock }).execute(() => webStream(clock, [0, 500], log), { signal: c.signal });
    await clock.advance(0);
    const it = (await p)[Symbol.asyncIterator]();
    await it.next();
    const pending = it.next();
    const reason = new Error('client went away');
    c.abort(reason);
    equal(await rejects(pending), reason);
    await turns();
    ok(log.cancelled);
  });
});
