import { getEventListeners } from 'node:events';
import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import { AbortScope, type CallContext, type Context } from '../../src/core/context.js';
import type { PolicyEventBase } from '../../src/core/events.js';
import { BaseLayer, type Chain, invoke, Pipeline, Policy } from '../../src/core/policy.js';
import { fallback } from '../../src/fallback/index.js';
import { constant, retry } from '../../src/retry/index.js';
import {
  isStreamTimeoutError,
  type StreamingPolicy,
  StreamTimeoutError,
  type StreamTimeoutEvent,
  streamTimeout,
  type TimedStream,
} from '../../src/stream/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { isTimeoutError, timeout } from '../../src/timeout/index.js';
import { manualSource, track } from './support.js';

const listeners = (s: AbortSignal): number => getEventListeners(s, 'abort').length;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('streamTimeout options', () => {
  it.each([
    [undefined, TypeError, /firstChunk/],
    [null, TypeError, /`options` to be an object, got null/],
    [5, TypeError, /options/],
    [{}, TypeError, /at least one of `firstChunk`, `idle`, `total`/],
    [{ firstChunk: 0 }, RangeError, /`firstChunk` to be a number > 0, got 0/],
    [{ idle: -1 }, RangeError, /`idle` to be a number > 0, got -1/],
    [{ total: '5' }, TypeError, /`total` to be a number, got "5"/],
    [{ total: Number.NaN }, TypeError, /`total` to be a number, got NaN/],
    [{ idle: 10, clock: 3 }, TypeError, /`clock` to be an object/],
  ])('%j is rejected', (options, type, message) => {
    expect(() => streamTimeout(options as never)).toThrow(type);
    expect(() => streamTimeout(options as never)).toThrow(message);
  });

  it('Infinity is accepted and means no limit', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const p = track(streamTimeout({ firstChunk: Number.POSITIVE_INFINITY, clock }).execute(() => src));
    await clock.advance(1e9);
    expect(p.state).toBe('pending');
    expect(clock.scheduled).toBe(0);
    src.push(1);
    src.end();
    await clock.flush();
    expect(await collect(p.value as AsyncIterable<number>)).toEqual([1]);
  });
});

describe('execute resolves at the first chunk', () => {
  it('stays pending until the first chunk, then yields it and the rest', async () => {
    const clock = virtualClock();
    const src = manualSource<string>();
    const p = track(streamTimeout({ firstChunk: 1000, clock }).execute(() => src));
    await clock.advance(500);
    expect(p.state).toBe('pending');
    expect(src.pulls).toBe(1); // the policy pulls the first chunk itself
    src.push('a');
    await clock.flush();
    expect(p.state).toBe('ok');
    expect(clock.scheduled).toBe(0); // only a first-chunk limit: no timer once it arrived
    src.push('b');
    src.push('c');
    src.end();
    expect(await collect(p.value as AsyncIterable<string>)).toEqual(['a', 'b', 'c']);
  });

  it('the first-chunk limit counts from the start of the call, the time to open the stream included', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const policy = streamTimeout({ firstChunk: 100, clock });
    const p = policy.execute(() => clock.sleep(80).then(() => src));
    const r = track(p);
    await clock.advance(99);
    expect(r.state).toBe('pending');
    await clock.advance(1);
    expect(r.state).toBe('error');
    expect(r.error).toBeInstanceOf(StreamTimeoutError);
    expect(r.error).toMatchObject({ code: 'ERR_STREAM_TIMEOUT', phase: 'first-chunk', ms: 100 });
    expect(src.returned).toBe(1);
  });

  it('a late first chunk rejects execute, aborts the signal fn saw with the error and closes the source', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    let signal: AbortSignal | undefined;
    const p = track(
      streamTimeout({ firstChunk: 50, clock }).execute(({ signal: s }) => {
        signal = s;
        return src;
      }),
    );
    await clock.advance(50);
    expect(p.state).toBe('error');
    expect(isStreamTimeoutError(p.error)).toBe(true);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(p.error);
    expect(src.returned).toBe(1);
    expect(clock.scheduled).toBe(0);
    src.push(1); // too late: ignored
    await clock.flush();
  });

  it('a source that ignores its signal cannot hold execute past the limit', async () => {
    const clock = virtualClock();
    const stalled = {
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<number>>(() => {}) }),
    };
    const p = track(streamTimeout({ firstChunk: 10, clock }).execute(() => stalled));
    await clock.advance(10);
    expect(p.error).toMatchObject({ phase: 'first-chunk' });
  });

  it('the total limit applies before the first chunk too (phase total)', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const p = track(streamTimeout({ firstChunk: 500, total: 200, clock }).execute(() => src));
    await clock.advance(200);
    expect(p.error).toMatchObject({ phase: 'total', ms: 200 });
  });

  it('an error from fn or from the source before the first chunk rejects execute with that error', async () => {
    const clock = virtualClock();
    const policy = streamTimeout({ firstChunk: 100, clock });
    const boom = new Error('boom');
    await expect(
      policy.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    await expect(policy.execute(() => Promise.reject(boom))).rejects.toBe(boom);
    const src = manualSource<number>();
    const p = policy.execute(() => src);
    src.fail(boom);
    await expect(p).rejects.toBe(boom);
    expect(src.returned).toBe(0); // a source that threw is done; it is not closed again
    expect(clock.scheduled).toBe(0);
  });

  it('an empty stream resolves to a stream that yields nothing', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const policy = streamTimeout({ firstChunk: 100, idle: 10, clock });
    const events: StreamTimeoutEvent[] = [];
    policy.on('*', (e) => events.push(e));
    const p = policy.execute(() => src);
    src.end();
    const s = await p;
    expect(await collect(s)).toEqual([]);
    expect(await s.next()).toEqual({ done: true, value: undefined });
    expect(clock.scheduled).toBe(0);
    expect(events).toEqual([
      { type: 'stream-end', kind: 'stream-timeout', name: undefined, outcome: 'complete', chunks: 0, ms: 0 },
    ]);
  });

  it('a value that is not a stream is passed through when it arrives', async () => {
    const clock = virtualClock();
    const policy = streamTimeout({ firstChunk: 100, clock });
    expect(await policy.execute(() => 'plain')).toBe('plain');
    const late = track(policy.execute(() => clock.sleep(150).then(() => ({ text: 'late' }))));
    await clock.advance(150);
    expect(late.error).toMatchObject({ phase: 'first-chunk' });
    expect(clock.scheduled).toBe(0);
  });

  it('a source whose next() throws or resolves to a non-object fails like a source error', async () => {
    const policy = streamTimeout({ idle: 100, clock: virtualClock() });
    const boom = new Error('sync');
    await expect(
      policy.execute(() => ({
        [Symbol.asyncIterator]: () => ({
          next: () => {
            throw boom;
          },
        }),
      })),
    ).rejects.toBe(boom);
    await expect(
      policy.execute(() => ({
        [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve(42 as never) }),
      })),
    ).rejects.toThrow(TypeError);
    await expect(
      policy.execute(() => ({
        [Symbol.asyncIterator]: () => {
          throw boom;
        },
      })),
    ).rejects.toBe(boom);
  });
});

describe('after the first chunk', () => {
  it('idle: a gap longer than the limit makes next() reject, aborts the signal and closes the source', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    let signal: AbortSignal | undefined;
    const s = await (async () => {
      const p = streamTimeout({ idle: 100, clock }).execute((ctx) => {
        signal = ctx.signal;
        return src;
      });
      src.push(1);
      return p;
    })();
    expect(await s.next()).toEqual({ done: false, value: 1 });
    const n = track(s.next());
    await clock.advance(99);
    expect(n.state).toBe('pending');
    await clock.advance(1);
    expect(n.error).toMatchObject({ code: 'ERR_STREAM_TIMEOUT', phase: 'idle', ms: 100 });
    expect(signal?.reason).toBe(n.error);
    expect(src.returned).toBe(1);
    expect(clock.scheduled).toBe(0);
    expect(await s.next()).toEqual({ done: true, value: undefined });
  });

  it('idle restarts at every chunk, with one timer for the whole stream', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const setTimeout = vi.spyOn(clock, 'setTimeout');
    const p = streamTimeout({ idle: 100, clock }).execute(() => src);
    src.push(0);
    const s = await p;
    const got = track(collect(s));
    for (let i = 1; i <= 100; i++) {
      await clock.advance(i % 10 === 0 ? 95 : 5);
      src.push(i);
    }
    // 100 chunks over 1.4 s (gaps up to 95 ms) with a 100 ms idle limit: the one timer is re-armed
    // when it fires early (at most twice per 100 ms of stream), never set per chunk.
    expect(setTimeout.mock.calls.length).toBeLessThanOrEqual(28);
    expect(clock.scheduled).toBe(1);
    await clock.advance(99);
    expect(got.state).toBe('pending');
    await clock.advance(1);
    expect(got.error).toMatchObject({ phase: 'idle' });
    expect(clock.scheduled).toBe(0);
  });

  it('idle counts while the consumer holds a chunk too, so an abandoned stream is reclaimed', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const caller = new AbortController();
    const policy = streamTimeout({ idle: 100, clock });
    const events: StreamTimeoutEvent[] = [];
    policy.on('*', (e) => events.push(e));
    const p = policy.execute(() => src, { signal: caller.signal });
    src.push(1);
    const s = await p; // never iterated
    await clock.advance(100);
    expect(src.returned).toBe(1);
    expect(clock.scheduled).toBe(0);
    expect(listeners(caller.signal)).toBe(0);
    expect(events.map((e) => e.type)).toEqual(['first-chunk', 'timeout', 'stream-end']);
    // A later reader still gets the chunk that had arrived, then the error.
    expect(await s.next()).toEqual({ done: false, value: 1 });
    await expect(s.next()).rejects.toMatchObject({ phase: 'idle' });
    expect(await s.next()).toEqual({ done: true, value: undefined });
  });

  it('total counts from the start of the call and ends a stream that keeps flowing', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const p = streamTimeout({ idle: 50, total: 300, clock }).execute(() => src);
    await clock.advance(40);
    src.push(0);
    const s = await p;
    const seen: number[] = [];
    const done = (async () => {
      for await (const x of s) seen.push(x);
    })();
    const r = track(done);
    for (let i = 1; i < 20 && r.state === 'pending'; i++) {
      await clock.advance(30);
      src.push(i);
    }
    await clock.flush();
    expect(r.error).toMatchObject({ phase: 'total', ms: 300 });
    expect(clock.now()).toBe(310); // the chunks came at 40, 70, …, 280; the limit passed at 300
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(src.returned).toBe(1);
  });

  it('sets ctx.deadline to the start plus total (the nearer of it and an enclosing deadline)', async () => {
    const clock = virtualClock({ start: 1000 });
    let deadline: number | undefined;
    const fn = (ctx: Context) => {
      deadline = ctx.deadline;
      return 'x';
    };
    await streamTimeout({ total: 500, clock }).execute(fn);
    expect(deadline).toBe(1500);
    await Policy.wrap(timeout({ after: 200, clock }), streamTimeout({ total: 500, clock })).execute(fn);
    expect(deadline).toBe(1200);
    await Policy.wrap(timeout({ after: 900, clock }), streamTimeout({ total: 500, clock })).execute(fn);
    expect(deadline).toBe(1500);
    await streamTimeout({ idle: 500, clock }).execute(fn);
    expect(deadline).toBeUndefined();
  });

  it('an error from the source after the first chunk surfaces from the iterator, once, and is not retried', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    let calls = 0;
    const policy = Policy.wrap(
      retry({ maxRetries: 3, backoff: constant(0), clock }),
      streamTimeout({ firstChunk: 100, idle: 100, clock }),
    );
    const p = policy.execute(() => {
      calls++;
      return src;
    });
    src.push(1);
    src.push(2);
    const boom = new Error('mid-stream');
    src.fail(boom);
    const s = (await p) as AsyncIterable<number>;
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const x of s) got.push(x);
      })(),
    ).rejects.toBe(boom);
    expect(got).toEqual([1, 2]);
    expect(calls).toBe(1);
    expect(clock.scheduled).toBe(0);
  });

  it('concurrent next() calls are served in order', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const p = streamTimeout({ idle: 100, clock }).execute(() => src);
    src.push(1);
    const s = await p;
    const a = s.next();
    const b = s.next();
    const c = s.next();
    src.push(2);
    await clock.flush();
    src.push(3);
    expect(await a).toEqual({ done: false, value: 1 });
    expect(await b).toEqual({ done: false, value: 2 });
    expect(await c).toEqual({ done: false, value: 3 });
    await s.return();
  });
});

describe('the caller’s abort', () => {
  it('before the first chunk: execute rejects with the caller’s own reason; no listener is left', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const caller = new AbortController();
    let signal: AbortSignal | undefined;
    const policy = streamTimeout({ firstChunk: 1000, clock });
    const events: StreamTimeoutEvent[] = [];
    policy.on('*', (e) => events.push(e));
    const p = track(
      policy.execute(
        (ctx) => {
          signal = ctx.signal;
          return src;
        },
        { signal: caller.signal },
      ),
    );
    await clock.advance(10);
    const reason = new Error('user left');
    caller.abort(reason);
    await clock.flush();
    expect(p.error).toBe(reason);
    expect(signal?.reason).toBe(reason);
    expect(src.returned).toBe(1);
    expect(listeners(caller.signal)).toBe(0);
    expect(clock.scheduled).toBe(0);
    expect(events).toEqual([]); // no timeout, and no stream was handed out
  });

  it('already aborted: fn is not called', async () => {
    const caller = new AbortController();
    const reason = new Error('gone');
    caller.abort(reason);
    const fn = vi.fn(() => manualSource<number>());
    await expect(
      streamTimeout({ idle: 10, clock: virtualClock() }).execute(fn, { signal: caller.signal }),
    ).rejects.toBe(reason);
    expect(fn).not.toHaveBeenCalled();
  });

  it('after the first chunk: the pending next() rejects with the caller’s reason', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const caller = new AbortController();
    let signal: AbortSignal | undefined;
    const policy = Policy.wrap(
      timeout({ after: 5000, clock }),
      retry({ maxRetries: 1, clock }),
      streamTimeout({ firstChunk: 1000, idle: 1000, clock }),
    );
    const p = policy.execute(
      (ctx) => {
        signal = ctx.signal;
        return src;
      },
      { signal: caller.signal },
    );
    src.push(1);
    const s = (await p) as unknown as TimedStream<number>;
    // The outer layers have settled and released their links; the stream still follows the caller.
    expect(listeners(caller.signal)).toBe(1);
    expect(await s.next()).toEqual({ done: false, value: 1 });
    const n = track(s.next());
    await clock.advance(10);
    const reason = new Error('stop');
    caller.abort(reason);
    await clock.flush();
    expect(n.error).toBe(reason);
    expect(signal?.reason).toBe(reason);
    expect(src.returned).toBe(1);
    expect(listeners(caller.signal)).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('after the first chunk, while nobody reads: the next next() rejects with the caller’s reason', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const caller = new AbortController();
    const p = streamTimeout({ total: 1000, clock }).execute(() => src, { signal: caller.signal });
    src.push(1);
    const s = await p;
    const reason = 'a string reason';
    caller.abort(reason);
    expect(src.returned).toBe(1);
    expect(listeners(caller.signal)).toBe(0);
    expect(clock.scheduled).toBe(0);
    expect(await s.next()).toEqual({ done: false, value: 1 });
    await expect(s.next()).rejects.toBe(reason);
  });

  it('a caller abort wins over a limit that has not passed yet, and is never relabelled', async () => {
    const clock = virtualClock();
    const caller = new AbortController();
    const p = track(
      streamTimeout({ firstChunk: 10, clock }).execute(() => manualSource<number>(), { signal: caller.signal }),
    );
    caller.abort();
    await clock.advance(10);
    expect(p.error).toBe(caller.signal.reason);
    expect(isStreamTimeoutError(p.error)).toBe(false);
  });
});

describe('a consumer that stops early', () => {
  it('break aborts the call’s signal, closes the source and leaves no timer or listener', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const caller = new AbortController();
    let signal: AbortSignal | undefined;
    const policy = streamTimeout({ firstChunk: 100, idle: 100, total: 10_000, clock });
    const events: StreamTimeoutEvent[] = [];
    policy.on('stream-end', (e) => events.push(e));
    const p = policy.execute(
      (ctx) => {
        signal = ctx.signal;
        return src;
      },
      { signal: caller.signal },
    );
    src.push(1);
    src.push(2);
    src.push(3);
    for await (const x of await p) if (x === 2) break;
    expect(signal?.aborted).toBe(true);
    expect((signal as AbortSignal).reason).toMatchObject({ name: 'AbortError' });
    expect(src.returned).toBe(1);
    expect(clock.scheduled).toBe(0);
    expect(listeners(caller.signal)).toBe(0);
    expect(events).toMatchObject([{ outcome: 'return', chunks: 2 }]);
  });

  it('return() while a next() is pending resolves both as done', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const p = streamTimeout({ idle: 100, clock }).execute(() => src);
    src.push(1);
    const s = await p;
    await s.next();
    const n = s.next();
    expect(await s.return()).toEqual({ done: true, value: undefined });
    expect(await n).toEqual({ done: true, value: undefined });
    expect(await s.return()).toEqual({ done: true, value: undefined });
    expect(src.returned).toBe(1);
  });

  it('return() before reading the buffered first chunk drops it', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const p = streamTimeout({ idle: 100, clock }).execute(() => src);
    src.push(1);
    const s = await p;
    await s.return();
    expect(await s.next()).toEqual({ done: true, value: undefined });
  });
});

describe('composition', () => {
  it('retry around streamTimeout retries a first-chunk timeout, and nothing after the first chunk', async () => {
    const clock = virtualClock();
    const sources = [manualSource<string>(), manualSource<string>()];
    const seen: AbortSignal[] = [];
    const policy = Policy.wrap(
      retry({ maxRetries: 3, backoff: constant(0), clock }),
      streamTimeout({ firstChunk: 100, idle: 50, clock }),
    );
    const p = track(
      policy.execute((ctx) => {
        seen.push(ctx.signal);
        return sources[ctx.attempt - 1] as AsyncIterable<string>;
      }),
    );
    await clock.advance(100); // attempt 1 stalls before its first chunk
    expect(seen).toHaveLength(2);
    expect(seen[0]?.reason).toMatchObject({ phase: 'first-chunk' });
    expect(seen[1]?.aborted).toBe(false);
    sources[1]?.push('hello');
    await clock.flush();
    expect(p.state).toBe('ok');
    const s = p.value as AsyncIterable<string>;
    const r = track(collect(s));
    await clock.advance(50); // attempt 2 stalls after its first chunk: the consumer sees it
    expect(r.error).toMatchObject({ phase: 'idle' });
    expect(seen).toHaveLength(2); // never retried
    expect(sources[0]?.returned).toBe(1);
    expect(sources[1]?.returned).toBe(1);
  });

  it('fallback around streamTimeout replaces a stream that never started', async () => {
    const clock = virtualClock();
    async function* backup() {
      yield 'from';
      yield 'backup';
    }
    const policy = Policy.wrap(
      fallback({ to: ({ error }) => (isStreamTimeoutError(error) ? backup() : Promise.reject(error)) }),
      streamTimeout({ firstChunk: 100, clock }),
    );
    const p = track(policy.execute(() => manualSource<string>()));
    await clock.advance(100);
    expect(await collect(p.value as AsyncIterable<string>)).toEqual(['from', 'backup']);
  });

  it('an outer timeout covers the call up to the first chunk only', async () => {
    const clock = virtualClock();
    const policy = Policy.wrap(timeout({ after: 100, clock }), streamTimeout({ idle: 1000, clock }));
    // Before the first chunk, the outer timeout aborts the stream's signal with its own error.
    const stalled = manualSource<number>();
    let signal: AbortSignal | undefined;
    const p = track(
      policy.execute((ctx) => {
        signal = ctx.signal;
        return stalled;
      }),
    );
    await clock.advance(100);
    expect(isTimeoutError(p.error)).toBe(true);
    expect(signal?.reason).toBe(p.error);
    expect(stalled.returned).toBe(1);
    // After it, the stream runs past the outer limit.
    const src = manualSource<number>();
    const q = policy.execute(() => src);
    src.push(0);
    const s = await q;
    for (let i = 1; i <= 5; i++) {
      await clock.advance(90);
      src.push(i);
    }
    src.end();
    expect(await collect(s)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('fn may be an async generator function: the body reads the stream’s own signal', async () => {
    const clock = virtualClock();
    const signals: AbortSignal[] = [];
    const policy = streamTimeout({ idle: 100, clock });
    const p = policy.execute(async function* (ctx) {
      signals.push(ctx.signal);
      yield 1;
      await clock.sleep(50);
      signals.push(ctx.signal);
      yield 2;
      await clock.sleep(500, ctx.signal); // stalls: the idle limit aborts this sleep
      yield 3;
    });
    const s = track(collect(await p));
    await clock.advance(50);
    await clock.advance(100);
    expect(s.error).toMatchObject({ phase: 'idle' });
    expect(signals[0]).toBe(signals[1]);
    expect(signals[0]?.reason).toBe(s.error);
    expect(clock.scheduled).toBe(0);
  });

  it('an enclosing scope aborted after the first chunk (a hedge cancelling a losing attempt) ends the stream', async () => {
    const clock = virtualClock();
    const caller = new AbortController();
    // A minimal hedge-like layer: runs the rest of the chain under its own scope, and keeps it.
    let attemptScope: AbortScope | undefined;
    class ScopeLayer extends BaseLayer<PolicyEventBase> {
      run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
        const scope = new AbortScope(ctx.scope, ctx.callerSignal);
        attemptScope = scope;
        const saved = ctx.scope;
        ctx.scope = scope;
        try {
          return Promise.resolve(invoke(ctx, inner)).finally(() => scope.dispose());
        } finally {
          ctx.scope = saved;
        }
      }
    }
    const policy = Policy.wrap(
      new Pipeline([new ScopeLayer('scope', undefined)]),
      streamTimeout({ idle: 1000, clock }),
    );
    const src = manualSource<number>();
    const p = policy.execute(() => src, { signal: caller.signal });
    src.push(1);
    const s = (await p) as unknown as TimedStream<number>;
    await s.next();
    const n = track(s.next());
    const lost = new Error('lost the race');
    attemptScope?.abort(lost);
    await clock.flush();
    expect(n.error).toBe(lost);
    expect(src.returned).toBe(1);
    expect(listeners(caller.signal)).toBe(0);
    expect(clock.scheduled).toBe(0);
  });

  it('nested streamTimeouts: each keeps its own limits', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const policy = Policy.wrap(streamTimeout({ total: 1000, clock }), streamTimeout({ idle: 100, clock }));
    const p = policy.execute(() => src);
    src.push(1);
    const s = (await p) as AsyncIterable<number>;
    const r = track(collect(s));
    await clock.advance(100);
    expect(r.error).toMatchObject({ phase: 'idle' });
    expect(src.returned).toBe(1);
    expect(clock.scheduled).toBe(0);
  });
});

describe('sources', () => {
  it('an async generator is closed (its finally runs) on break', async () => {
    let finalized = false;
    async function* gen() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        finalized = true;
      }
    }
    const s = await streamTimeout({ idle: 1000, clock: virtualClock() }).execute(() => gen());
    const got: number[] = [];
    for await (const x of s) {
      got.push(x);
      if (got.length === 3) break;
    }
    await Promise.resolve();
    expect(got).toEqual([0, 1, 2]);
    expect(finalized).toBe(true);
  });

  it('a web ReadableStream (async-iterable on Node, read through its reader) streams and is cancelled on break', async () => {
    let cancelled: unknown = 'no';
    let n = 0;
    const rs = new ReadableStream<number>({
      pull(c) {
        c.enqueue(n++);
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const s = await streamTimeout({ idle: 1000, clock: virtualClock() }).execute(() => rs);
    const got: number[] = [];
    for await (const x of s) {
      got.push(x);
      if (got.length === 4) break;
    }
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([0, 1, 2, 3]);
    expect(cancelled).not.toBe('no');
  });

  it('a ReadableStream that is not async-iterable (as in some browsers) is read through getReader()', async () => {
    const make = (cancel: (r: unknown) => void) => {
      let n = 0;
      const rs = new ReadableStream<number>({
        pull(c) {
          if (n === 5) c.close();
          else c.enqueue(n++);
        },
        cancel,
      });
      return { rs, only: { getReader: () => rs.getReader() } };
    };
    const policy = streamTimeout({ idle: 1000, clock: virtualClock() });
    const a = make(() => {});
    expect(await collect(await policy.execute(() => a.only))).toEqual([0, 1, 2, 3, 4]);
    expect(a.rs.locked).toBe(false); // the lock is released at the end

    let cancelled: unknown = 'no';
    const b = make((r) => {
      cancelled = r;
    });
    for await (const x of await policy.execute(() => b.only)) if (x === 1) break;
    await new Promise((r) => setImmediate(r));
    expect((cancelled as Error).name).toBe('AbortError');
    expect(b.rs.locked).toBe(false);
  });

  it('a reader-only stream that stalls is cancelled by the idle limit', async () => {
    const clock = virtualClock();
    let cancelled: unknown = 'no';
    let sent = false;
    const rs = new ReadableStream<string>({
      pull(c) {
        if (!sent) c.enqueue('first');
        sent = true;
      },
      cancel(r) {
        cancelled = r;
      },
    });
    const s = await streamTimeout({ idle: 100, clock }).execute(() => ({ getReader: () => rs.getReader() }));
    const r = track(collect(s));
    await clock.advance(100);
    await new Promise((res) => setImmediate(res));
    expect(r.error).toMatchObject({ phase: 'idle' });
    expect(cancelled).toBe(r.error);
  });

  it('an async-iterable ReadableStream that stalls is cancelled by the idle limit at once', async () => {
    // Through its async iterator, the cancel would wait for the pending read (WebIDL queues
    // `return()` behind `next()`): it is read through its reader instead.
    const clock = virtualClock();
    let cancelled: unknown = 'no';
    let sent = false;
    const rs = new ReadableStream<string>(
      {
        pull(c) {
          if (!sent) c.enqueue('first');
          sent = true;
        },
        cancel(r) {
          cancelled = r;
        },
      },
      { highWaterMark: 0 },
    );
    expect(typeof (rs as unknown as AsyncIterable<string>)[Symbol.asyncIterator]).toBe('function');
    const s = await streamTimeout({ idle: 100, clock }).execute(() => rs);
    const r = track(collect(s));
    await clock.advance(100);
    await new Promise((res) => setImmediate(res));
    expect(r.error).toMatchObject({ phase: 'idle' });
    expect(cancelled).toBe(r.error);
    expect(rs.locked).toBe(false);
  });

  it('a source that arrives after the limit passed is closed', async () => {
    const clock = virtualClock();
    let cancelled = false;
    const rs = new ReadableStream<number>({
      cancel() {
        cancelled = true;
      },
    });
    const src = manualSource<number>();
    const policy = streamTimeout({ firstChunk: 10, clock });
    const p1 = track(policy.execute(() => clock.sleep(20).then(() => rs)));
    const p2 = track(policy.execute(() => clock.sleep(20).then(() => src)));
    await clock.advance(20);
    expect(p1.error).toMatchObject({ phase: 'first-chunk' });
    expect(p2.error).toMatchObject({ phase: 'first-chunk' });
    expect(cancelled).toBe(true);
    expect(src.returned).toBe(1);
  });
});

describe('events', () => {
  it('first-chunk carries the time to first chunk; timeout its phase; stream-end how it ended', async () => {
    const clock = virtualClock();
    const src = manualSource<number>();
    const policy = streamTimeout({ firstChunk: 500, idle: 100, clock, name: 'llm' });
    const events: StreamTimeoutEvent[] = [];
    policy.on('*', (e) => events.push(e));
    const p = policy.execute(() => src);
    await clock.advance(230);
    src.push(1);
    const s = await p;
    await s.next();
    src.push(2);
    await s.next();
    const n = track(s.next());
    await clock.advance(100);
    expect(n.state).toBe('error');
    expect(events).toEqual([
      { type: 'first-chunk', kind: 'stream-timeout', name: 'llm', ms: 230 },
      { type: 'timeout', kind: 'stream-timeout', name: 'llm', phase: 'idle', ms: 100 },
      { type: 'stream-end', kind: 'stream-timeout', name: 'llm', outcome: 'timeout', chunks: 2, ms: 330 },
    ]);
  });

  it('a throwing listener does not break the stream', async () => {
    const src = manualSource<number>();
    const policy = streamTimeout({ idle: 100, clock: virtualClock() });
    policy.on('*', () => {
      throw new Error('listener');
    });
    const p = policy.execute(() => src);
    src.push(1);
    src.end();
    expect(await collect(await p)).toEqual([1]);
  });

  it('a stream that completes reports its chunks', async () => {
    const clock = virtualClock();
    const policy = streamTimeout({ total: 1000, clock });
    const ends: StreamTimeoutEvent[] = [];
    policy.on('stream-end', (e) => ends.push(e));
    async function* three() {
      yield 1;
      yield 2;
      yield 3;
    }
    expect(await collect(await policy.execute(() => three()))).toEqual([1, 2, 3]);
    expect(ends).toMatchObject([{ outcome: 'complete', chunks: 3 }]);
  });
});

describe('the default clock (platform timers)', () => {
  it('works under vi.useFakeTimers: every phase fires, and no timer is left', async () => {
    vi.useFakeTimers();
    try {
      const policy = streamTimeout({ firstChunk: 1000, idle: 300, total: 5000 });
      const stalled = manualSource<number>();
      const a = track(policy.execute(() => stalled));
      await vi.advanceTimersByTimeAsync(1000);
      expect(a.error).toMatchObject({ phase: 'first-chunk' });
      expect(vi.getTimerCount()).toBe(0);

      const src = manualSource<number>();
      const b = policy.execute(() => src);
      src.push(1);
      const r = track(collect(await b));
      for (let i = 0; i < 10; i++) {
        await vi.advanceTimersByTimeAsync(250);
        src.push(i);
      }
      expect(r.state).toBe('pending');
      await vi.advanceTimersByTimeAsync(300);
      expect(r.error).toMatchObject({ phase: 'idle' });
      expect(vi.getTimerCount()).toBe(0);

      const flowing = manualSource<number>();
      const c = policy.execute(() => flowing);
      flowing.push(0);
      const t = track(collect(await c));
      for (let i = 0; i < 40 && t.state === 'pending'; i++) {
        await vi.advanceTimersByTimeAsync(200);
        flowing.push(i);
      }
      expect(t.error).toMatchObject({ phase: 'total', ms: 5000 });
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('no leaks', () => {
  it('1,000 streams on one caller signal (completed, broken, timed out, failed) leave 0 listeners and 0 timers', async () => {
    const clock = virtualClock();
    const caller = new AbortController();
    const policy = Policy.wrap(
      timeout({ after: 60_000, clock }),
      retry({ maxRetries: 1, backoff: constant(0), clock }),
      streamTimeout({ firstChunk: 100, idle: 100, total: 10_000, clock }),
    );
    const options = { signal: caller.signal };
    let added = 0;
    for (let i = 0; i < 1000; i++) {
      const kind = i % 4;
      const src = manualSource<number>();
      const stalled = manualSource<number>();
      const p = track(
        policy.execute((ctx) => {
          // As HTTP clients do: a listener that is never removed.
          ctx.signal.addEventListener('abort', () => {});
          added++;
          return kind === 3 && ctx.attempt === 1 ? stalled : src;
        }, options),
      );
      if (kind === 3) {
        await clock.advance(100); // first attempt times out, the retry gets the chunk
      }
      src.push(1);
      src.push(2);
      await clock.flush();
      const s = p.value as unknown as AsyncIterableIterator<number>;
      if (kind === 0) {
        src.end();
        await collect(s);
      } else if (kind === 1) {
        await s.next();
        await s.return?.();
      } else if (kind === 2) {
        await s.next();
        await s.next();
        const n = s.next();
        src.fail(new Error('x'));
        await expect(n).rejects.toThrow('x');
      } else {
        const r = track(collect(s));
        await clock.advance(100);
        expect(r.state).toBe('error');
      }
      expect(listeners(caller.signal)).toBe(0);
    }
    expect(added).toBeGreaterThan(1000);
    expect(clock.pending).toBe(0);
  });
});

describe('types through Policy.wrap', () => {
  it('a pipeline that holds a stream timeout hands out a TimedStream; one without it returns what fn returns', async () => {
    const gen = async function* () {
      yield 1;
    };
    const streaming = Policy.wrap(retry({ maxRetries: 0 }), streamTimeout({ firstChunk: 1000 }));
    expectTypeOf(streaming).toMatchTypeOf<StreamingPolicy<any>>();
    const s = await streaming.execute(() => gen());
    expectTypeOf(s).toEqualTypeOf<TimedStream<number>>();
    expect(await s.next()).toEqual({ done: false, value: 1 });
    await s.return();
    // A non-stream result passes through, typed as itself.
    expectTypeOf(await streaming.execute(() => 42)).toEqualTypeOf<number>();
    const plain = Policy.wrap(retry({ maxRetries: 0 }));
    expectTypeOf(await plain.execute(() => gen())).toEqualTypeOf<ReturnType<typeof gen>>();
    // An argument typed `any` says nothing about streams: a plain policy.
    const unknownPolicy: any = retry();
    expectTypeOf(await Policy.wrap(unknownPolicy).execute(() => gen())).toEqualTypeOf<ReturnType<typeof gen>>();
  });
});
