/**
 * Stream timeouts: a time-to-first-chunk limit, an idle limit between chunks and a total limit for
 * streaming calls (LLM token streams, server-sent events), with retry and fallback before the first
 * chunk only.
 *
 * @example
 * ```ts
 * import { streamTimeout } from 'breakwater/stream';
 *
 * const stream = await streamTimeout({ firstChunk: 10_000, idle: 5_000 }).execute(({ signal }) =>
 *   client.chat.completions.create({ model, messages, stream: true }, { signal }),
 * );
 * for await (const chunk of stream) write(chunk);
 * ```
 *
 * @module
 */

export type {
  ReadableStreamLike,
  StreamingPolicy,
  StreamReader,
  StreamSource,
  TimedStream,
} from '../core/streaming.js';
export { isStreamTimeoutError, StreamTimeoutError, type StreamTimeoutPhase } from './errors.js';
export {
  type StreamEndOutcome,
  type StreamPolicy,
  type StreamTimeoutEvent,
  type StreamTimeoutOptions,
  streamTimeout,
} from './stream-timeout.js';
