import { BreakwaterError, type BreakwaterErrorOptions, errorGuard } from '../../core/errors.js';

/**
 * Throw it from a JetStream handler to say the message can never succeed (invalid, unauthorised,
 * unknown type): the consumer terminates it at once (`term`) and publishes it to the dead-letter
 * subject instead of redelivering it. The error that made the decision goes in `cause`.
 *
 * @example
 * ```ts
 * handler: async (order) => {
 *   if (!order.items?.length) throw new TerminalMessageError('an order without items', { cause: validation });
 *   await ship(order);
 * }
 * ```
 */
export class TerminalMessageError extends BreakwaterError {
  constructor(message = 'The message cannot be processed', options?: BreakwaterErrorOptions) {
    super('ERR_TERMINAL_MESSAGE', message, options);
  }
}

/**
 * True for a {@link TerminalMessageError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * const worker = jetstreamConsumer({
 *   consumer,
 *   handler: placeOrder,
 *   terminal: (e) => isTerminalMessageError(e) || e instanceof ValidationError,
 * });
 * ```
 */
export const isTerminalMessageError: (error: unknown) => error is TerminalMessageError =
  /*#__PURE__*/ errorGuard<TerminalMessageError>('ERR_TERMINAL_MESSAGE');

/**
 * The payload of a JetStream message could not be decoded (the `decode` option threw): terminal,
 * since a redelivery carries the same bytes. The decoder's error is the `cause`.
 *
 * @example
 * ```ts
 * worker.on('dead-letter', (e) => { if (isMessageDecodeError(e.error)) metrics.poison++; });
 * ```
 */
export class MessageDecodeError extends BreakwaterError {
  constructor(options?: BreakwaterErrorOptions) {
    super('ERR_MESSAGE_DECODE', 'The message payload could not be decoded', options);
  }
}

/**
 * True for a {@link MessageDecodeError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isMessageDecodeError(error)) console.log('poison message');
 * ```
 */
export const isMessageDecodeError: (error: unknown) => error is MessageDecodeError =
  /*#__PURE__*/ errorGuard<MessageDecodeError>('ERR_MESSAGE_DECODE');

/**
 * The reason a handler's `ctx.signal` aborts with when `close({ timeout })` gives up waiting: the
 * consumer is shutting down and the message goes back to the stream (`nak`) for another worker.
 *
 * @example
 * ```ts
 * handler: async (job, { signal }) => {
 *   try { await longTask(job, { signal }); }
 *   catch (e) { if (isConsumerClosedError(signal.reason)) log('handed back'); throw e; }
 * }
 * ```
 */
export class ConsumerClosedError extends BreakwaterError {
  constructor(options?: BreakwaterErrorOptions) {
    super('ERR_CONSUMER_CLOSED', 'The consumer closed before the handler finished', options);
  }
}

/**
 * True for a {@link ConsumerClosedError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * const worker = jetstreamConsumer({
 *   consumer,
 *   handler: async (job: Job, { signal }) => {
 *     try {
 *       await step(job, { signal });
 *     } catch (e) {
 *       // close({ timeout }) ran out: the message is already back on the stream for another worker
 *       if (isConsumerClosedError(signal.reason)) log.info('handed back on close', job.id);
 *       throw e;
 *     }
 *   },
 * });
 * ```
 */
export const isConsumerClosedError: (error: unknown) => error is ConsumerClosedError =
  /*#__PURE__*/ errorGuard<ConsumerClosedError>('ERR_CONSUMER_CLOSED');
