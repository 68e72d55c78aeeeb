import type { JetStreamClient, PubAck, StreamExpectations } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { Policy } from '../../core/policy.js';
import { fail } from '../../core/validate.js';

/**
 * Options for {@link publish}.
 *
 * @example
 * ```ts
 * import { headers } from '@nats-io/transport-node';
 * import { publish, type PublishOptions } from 'breakwater/messaging/nats';
 * import { retry } from 'breakwater/retry';
 *
 * const h = headers();
 * h.set('Trace-Id', traceId);
 * const options: PublishOptions = {
 *   msgId: `order-${order.id}:shipped`, // from what the message is about: a retry is deduped
 *   headers: h,
 *   timeout: 2_000,
 *   expect: { streamName: 'ORDERS' },
 *   policy: retry({ maxRetries: 3 }),
 * };
 * const ack = await publish(js, 'orders.shipped', order, options);
 * ```
 */
export interface PublishOptions {
  /**
   * The message's id, sent as `Nats-Msg-Id`: the stream stores a message once per id within its
   * `duplicate_window`, so a publish retried after a timeout (or by a restarted process) is not
   * stored twice. Derive it from what the message is about (`order-42:shipped`), never at random.
   */
  readonly msgId: string;
  /** Headers to send (`headers()` from `@nats-io/transport-node`). */
  readonly headers?: MsgHdrs | undefined;
  /** Milliseconds to wait for the stream's ack (the client's default otherwise). */
  readonly timeout?: number | undefined;
  /** Conditions the stream checks before storing (expected last sequence, stream name, …). */
  readonly expect?: Partial<StreamExpectations> | undefined;
  /**
   * The policy the publish runs under (e.g. `retry()` on timeouts: safe, since retries are deduped).
   * @defaultValue `Policy.noop`
   */
  readonly policy?: Policy<any> | undefined;
  /** The caller's signal: stops retries and rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

const encoder = /*#__PURE__*/ new TextEncoder();

/**
 * Publishes to JetStream with a `Nats-Msg-Id`, so that JetStream dedupes retried publishes
 * (`ack.duplicate` is `true` for one it had already stored). `data` may be bytes, a string, or
 * anything else (sent as JSON).
 *
 * @throws TypeError when `msgId` is missing or empty.
 * @example
 * ```ts
 * const ack = await publish(js, 'tools.calls', { id: call.id, name: call.name, args: call.args }, {
 *   msgId: call.id,
 *   policy: retry({ maxRetries: 3, backoff: exponential({ initial: 200 }) }),
 * });
 * if (ack.duplicate) console.log('already queued');
 * ```
 */
export function publish(js: JetStreamClient, subject: string, data: unknown, options: PublishOptions): Promise<PubAck> {
  if (typeof options?.msgId !== 'string' || options.msgId === '') fail('msgId', 'a non-empty string', options?.msgId);
  if (typeof (js as Partial<JetStreamClient> | null)?.publish !== 'function') fail('js', 'a JetStream client', js);
  const { msgId, policy, signal, ...rest } = options;
  const payload =
    data instanceof Uint8Array
      ? data
      : typeof data === 'string'
        ? encoder.encode(data)
        : encoder.encode(JSON.stringify(data));
  const opts: Record<string, unknown> = { msgID: msgId };
  if (rest.headers !== undefined) opts.headers = rest.headers;
  if (rest.timeout !== undefined) opts.timeout = rest.timeout;
  if (rest.expect !== undefined) opts.expect = rest.expect;
  return (policy ?? Policy.noop).execute(() => js.publish(subject, payload, opts), { signal, key: msgId });
}
