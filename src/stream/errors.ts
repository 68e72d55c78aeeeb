import { BreakwaterError, type BreakwaterErrorOptions, errorGuard } from '../core/errors.js';

/**
 * Which limit of a {@link StreamTimeoutError} passed: the first chunk came too late, the stream
 * went silent between two chunks, or the whole stream took too long.
 *
 * @example
 * ```ts
 * import { isStreamTimeoutError, type StreamTimeoutPhase } from 'breakwater/stream';
 *
 * const notice: Record<StreamTimeoutPhase, string> = {
 *   'first-chunk': 'The model did not start answering in time.',
 *   idle: 'The answer stalled.',
 *   total: 'The answer took too long.',
 * };
 * try {
 *   for await (const chunk of await chat.execute(call)) write(chunk);
 * } catch (e) {
 *   if (!isStreamTimeoutError(e)) throw e;
 *   write(notice[e.phase]);
 * }
 * ```
 */
export type StreamTimeoutPhase = 'first-chunk' | 'idle' | 'total';

/**
 * Thrown by `streamTimeout()` when one of its own limits passes (never for a caller's abort).
 * Before the first chunk it is the rejection of `execute` (outer retry / fallback handle it);
 * after it, the stream's iterator throws it.
 *
 * @example
 * ```ts
 * try {
 *   for await (const chunk of await llm.execute(call)) write(chunk);
 * } catch (e) {
 *   if (isStreamTimeoutError(e)) console.log(`${e.phase} limit of ${e.ms} ms passed`);
 * }
 * ```
 */
export class StreamTimeoutError extends BreakwaterError {
  /** Which limit passed. */
  readonly phase: StreamTimeoutPhase;
  /** The limit that passed, in milliseconds. */
  readonly ms: number;

  constructor(phase: StreamTimeoutPhase, ms: number, options?: BreakwaterErrorOptions) {
    super(
      'ERR_STREAM_TIMEOUT',
      phase === 'first-chunk'
        ? `No first chunk within ${ms} ms`
        : phase === 'idle'
          ? `Stream idle for ${ms} ms`
          : `Stream still running after ${ms} ms`,
      options,
    );
    this.phase = phase;
    this.ms = ms;
  }
}

/**
 * True for a {@link StreamTimeoutError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * const beforeFirstChunk = (e: unknown) => isStreamTimeoutError(e) && e.phase === 'first-chunk';
 * ```
 */
export const isStreamTimeoutError: (error: unknown) => error is StreamTimeoutError =
  /*#__PURE__*/ errorGuard<StreamTimeoutError>('ERR_STREAM_TIMEOUT');
