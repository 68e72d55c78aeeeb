/**
 * The types of a streaming call that `Policy.wrap` needs to know (they are defined here, not in
 * `breakwater/stream`, so that the core can type a pipeline that holds a stream timeout without
 * importing it). `breakwater/stream` exports them; nothing here exists at run time.
 */
import type { Context, ExecuteOptions } from './context.js';
import type { PolicyEventBase } from './events.js';
import type { Outcome, Policy } from './policy.js';

/**
 * What a reader of a web `ReadableStream` offers (the subset `streamTimeout` uses).
 *
 * @example
 * ```ts
 * import { type StreamReader, streamTimeout } from 'breakwater/stream';
 *
 * // A test source that sends one chunk, then stalls: the idle limit ends the stream.
 * const chunks = ['hello'];
 * const stalling: StreamReader<string> = {
 *   read: () => {
 *     const value = chunks.shift();
 *     return value === undefined ? new Promise<never>(() => {}) : Promise.resolve({ done: false, value });
 *   },
 *   cancel: async () => {},
 *   releaseLock: () => {},
 * };
 * const stream = await streamTimeout({ idle: 1_000 }).execute(() => ({ getReader: () => stalling }));
 * for await (const chunk of stream) console.log(chunk); // 'hello', then a StreamTimeoutError (idle)
 * ```
 */
export interface StreamReader<C> {
  /** Reads the next chunk. */
  read(): PromiseLike<{ readonly done: boolean; readonly value?: C | undefined }>;
  /** Cancels the stream. */
  cancel(reason?: unknown): PromiseLike<unknown>;
  /** Releases the reader's lock on the stream. */
  releaseLock(): void;
}

/**
 * A web `ReadableStream`, or anything with the same `getReader()`: always read through its reader (also
 * where it is async-iterable), so that a limit or `return()` cancels it at once.
 *
 * @example
 * ```ts
 * import { type ReadableStreamLike, streamTimeout } from 'breakwater/stream';
 *
 * // A fetch body: read through `getReader()`, cancelled at once when a limit passes.
 * async function open(signal: AbortSignal): Promise<ReadableStreamLike<Uint8Array>> {
 *   const res = await fetch(url, { signal });
 *   if (res.body === null) throw new Error(`no body (HTTP ${res.status})`);
 *   return res.body;
 * }
 * const body = await streamTimeout({ firstChunk: 10_000, idle: 5_000 }).execute(({ signal }) => open(signal));
 * ```
 */
export interface ReadableStreamLike<C> {
  /** Locks the stream to a new reader. */
  getReader(): StreamReader<C>;
}

/**
 * What `fn` may return under `streamTimeout`: an `AsyncIterable` (an SDK stream, an async
 * generator) or a web `ReadableStream` (read through its `getReader()`).
 *
 * @example
 * ```ts
 * import type { Context } from 'breakwater';
 * import { type StreamSource, streamTimeout } from 'breakwater/stream';
 *
 * // An async generator is a source: each page is a chunk, and `idle` bounds the wait for the next one.
 * async function* pages(signal: AbortSignal) {
 *   for (let cursor: string | null = ''; cursor !== null; ) {
 *     const page = await api.list({ cursor, signal });
 *     cursor = page.next;
 *     yield page;
 *   }
 * }
 * const source = (ctx: Context): StreamSource<Page> => pages(ctx.signal);
 * const stream = await streamTimeout({ firstChunk: 5_000, idle: 5_000 }).execute(source);
 * ```
 */
export type StreamSource<C> = AsyncIterable<C> | ReadableStream<C> | ReadableStreamLike<C>;

/**
 * The stream `execute` resolves to once the first chunk has arrived: it yields that chunk, then the
 * rest of the source's. Iterate it once (it is its own iterator, like a generator). After the first
 * chunk, a failure or a stall makes `next()` reject; it is never retried.
 *
 * @example
 * ```ts
 * import { streamTimeout, type TimedStream } from 'breakwater/stream';
 *
 * const policy = streamTimeout({ firstChunk: 10_000, idle: 5_000 });
 * const stream: TimedStream<string> = await policy.execute(({ signal }) => llm.streamText(prompt, { signal }));
 * for await (const text of stream) {
 *   res.write(text);
 *   if (res.destroyed) break; // calls return(): the call's signal aborts and the source is closed
 * }
 * ```
 */
export interface TimedStream<C> extends AsyncIterable<C> {
  /** Returns this stream (it is its own iterator). */
  [Symbol.asyncIterator](): TimedStream<C>;
  /** The next chunk; rejects with the source's error, a `StreamTimeoutError` or the caller's abort reason. */
  next(): Promise<IteratorResult<C, undefined>>;
  /**
   * Stops the stream early (what `break` in `for await` calls): aborts the call's signal, closes the
   * source (`return()`, or `cancel()` for a reader) without waiting for it, and clears the timer.
   */
  return(): Promise<IteratorResult<C, undefined>>;
}

/** The type-level mark of a {@link StreamingPolicy}; no object carries it at run time. */
declare const streaming: unique symbol;

/**
 * A policy whose `execute` hands out a {@link TimedStream} for a streaming `fn`: a `streamTimeout`,
 * and every `Policy.wrap` pipeline that holds one (its type says so, whatever the other layers).
 *
 * @example
 * ```ts
 * import { Policy, type StreamingPolicy } from 'breakwater';
 * import { retry } from 'breakwater/retry';
 * import { streamTimeout } from 'breakwater/stream';
 *
 * const llm: StreamingPolicy<any> = Policy.wrap(retry({ maxRetries: 2 }), streamTimeout({ firstChunk: 10_000 }));
 * const tokens = await llm.execute(({ signal }) => client.chat.completions.create(request, { signal }));
 * for await (const chunk of tokens) write(chunk); // a TimedStream, not the SDK's own stream object
 * ```
 */
export interface StreamingPolicy<E extends PolicyEventBase = PolicyEventBase> extends Policy<E> {
  /** A mark for the type checker only (it tells a streaming pipeline from a plain one); absent at run time. @internal */
  readonly [streaming]: true;
  /** Runs `fn`, pulls the source's first chunk, and resolves to the stream once it has arrived. */
  execute<C>(
    fn: (ctx: Context) => StreamSource<C> | PromiseLike<StreamSource<C>>,
    options?: ExecuteOptions,
  ): Promise<TimedStream<C>>;
  /** Runs `fn`; a result that is not a stream is returned as is once it arrives. */
  execute<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<T>;
  /** Like `execute`, but resolves to `{ ok, value | error }` and never rejects. */
  executeOutcome<C>(
    fn: (ctx: Context) => StreamSource<C> | PromiseLike<StreamSource<C>>,
    options?: ExecuteOptions,
  ): Promise<Outcome<TimedStream<C>>>;
  /** Like `execute`, but resolves to `{ ok, value | error }` and never rejects. */
  executeOutcome<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<Outcome<T>>;
}
