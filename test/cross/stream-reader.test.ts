// streamTimeout over a ReadableStream that is not async-iterable (read through getReader(), as in
// some browsers): the lock is released and the stream cancelled however the stream ends.
import { describe, expect, it } from 'vitest';
import { streamTimeout } from '../../src/stream/index.js';
import { virtualClock } from '../../src/testing/index.js';

function readerOnly(clock: ReturnType<typeof virtualClock>, chunks: number[], stallAfter = Infinity) {
  const log: string[] = [];
  let i = 0;
  let locked = false;
  const src = {
    log,
    get locked() {
      return locked;
    },
    getReader() {
      if (locked) throw new TypeError('locked');
      locked = true;
      return {
        read: () => {
          if (i >= stallAfter) return new Promise(() => {});
          if (i < chunks.length) return clock.sleep(1).then(() => ({ value: chunks[i++], done: false }));
          return Promise.resolve({ value: undefined, done: true });
        },
        cancel: (r: unknown) => {
          log.push(`cancel:${(r as Error)?.name}`);
          return Promise.resolve();
        },
        releaseLock: () => {
          locked = false;
          log.push('release');
        },
      };
    },
  };
  return src;
}

describe('streamTimeout over getReader()', () => {
  it('read to the end: lock released, not cancelled', async () => {
    const clock = virtualClock();
    const src = readerOnly(clock, [1, 2, 3]);
    const p = streamTimeout({ idle: 100, clock }).execute(() => src as never);
    await clock.advance(1);
    const s = (await p) as AsyncIterable<number>;
    const out: number[] = [];
    const read = (async () => {
      for await (const c of s) out.push(c);
    })();
    await clock.advance(5);
    await read;
    expect(out).toEqual([1, 2, 3]);
    expect(src.locked).toBe(false);
    expect(src.log).toEqual(['release']);
    expect(clock.pending).toBe(0);
  });

  it('break: cancelled and released', async () => {
    const clock = virtualClock();
    const src = readerOnly(clock, [1, 2, 3]);
    const p = streamTimeout({ idle: 100, clock }).execute(() => src as never);
    await clock.advance(1);
    for await (const _ of (await p) as AsyncIterable<number>) break;
    expect(src.locked).toBe(false);
    expect(src.log).toEqual(['cancel:AbortError', 'release']);
    expect(clock.pending).toBe(0);
  });

  it('idle stall and caller abort: cancelled and released, the read rejects at once', async () => {
    const clock = virtualClock();
    const src = readerOnly(clock, [1, 2, 3], 1);
    const p = streamTimeout({ idle: 100, clock }).execute(() => src as never);
    await clock.advance(1);
    const it = ((await p) as AsyncIterable<number>)[Symbol.asyncIterator]();
    await it.next();
    const pending = it.next();
    const rejected = expect(pending).rejects.toMatchObject({ code: 'ERR_STREAM_TIMEOUT' });
    await clock.advance(100);
    await rejected;
    expect(src.locked).toBe(false);
    expect(src.log).toEqual(['cancel:StreamTimeoutError', 'release']);

    const src2 = readerOnly(clock, [1, 2, 3], 1);
    const c = new AbortController();
    const p2 = streamTimeout({ idle: 100, clock }).execute(() => src2 as never, { signal: c.signal });
    await clock.advance(1);
    const it2 = ((await p2) as AsyncIterable<number>)[Symbol.asyncIterator]();
    await it2.next();
    const pending2 = it2.next();
    const why = new Error('stop');
    c.abort(why);
    await expect(pending2).rejects.toBe(why);
    expect(src2.locked).toBe(false);
    expect(src2.log).toEqual(['cancel:Error', 'release']);
    expect(clock.pending).toBe(0);
  });
});
