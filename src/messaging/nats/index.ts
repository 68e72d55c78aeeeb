/**
 * JetStream consumers for breakwater handlers (`@nats-io/transport-node` + `@nats-io/jetstream` 3,
 * optional peer dependencies, imported only here): {@link jetstreamConsumer} runs a router, a filter,
 * a durable aggregator's `add` or any `(message, ctx) => result` over a pull consumer with ack / nak
 * with backoff / term + dead letter, deduplicated redeliveries, heartbeats and a draining close;
 * {@link publish} sets `Nats-Msg-Id` so JetStream dedupes retried publishes.
 *
 * @example
 * ```ts
 * import { connect } from '@nats-io/transport-node';
 * import { jetstream } from '@nats-io/jetstream';
 * import { jetstreamConsumer } from 'breakwater/messaging/nats';
 *
 * const js = jetstream(await connect());
 * const worker = jetstreamConsumer({
 *   consumer: await js.consumers.get('TOOLS', 'workers'),
 *   handler: async (call: { name: string }) => console.log(call.name),
 *   deadLetter: { js, subject: 'tools.dead' },
 * });
 * await worker.close();
 * ```
 *
 * @module
 */
export {
  type BackoffLike,
  type DeadLetterOptions,
  type JetStreamConsumer,
  type JetStreamConsumerEvent,
  type JetStreamConsumerOptions,
  type JetStreamIdempotencyOptions,
  jetstreamConsumer,
  type NakBackoff,
  type TermReason,
} from './consumer.js';
export {
  ConsumerClosedError,
  isConsumerClosedError,
  isMessageDecodeError,
  isTerminalMessageError,
  MessageDecodeError,
  TerminalMessageError,
} from './errors.js';
export { type PublishOptions, publish } from './publish.js';
