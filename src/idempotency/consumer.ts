import type { Context } from '../core/context.js';
import { checkFunction, checkObject } from '../core/validate.js';
import { type IdempotentOptions, idempotent } from './idempotent.js';

/**
 * Options for {@link idempotentConsumer}: those of `idempotent()` plus how to read a message.
 *
 * @example
 * ```ts
 * import { idempotentConsumer, type IdempotentConsumerOptions } from 'breakwater/idempotency';
 * import { postgresIdempotencyStore } from 'breakwater/idempotency/postgres';
 *
 * const options: IdempotentConsumerOptions<OrderPlaced> = {
 *   store: postgresIdempotencyStore(pool),
 *   id: (m) => m.eventId,
 *   fingerprint: (m) => ({ order: m.orderId, total: m.total }), // same id, other payload → error
 *   ttl: 7 * 86_400_000, // longer than the broker redelivers
 * };
 * const onOrderPlaced = idempotentConsumer(options, (m) => sendReceipt(m.orderId));
 * ```
 */
export interface IdempotentConsumerOptions<M> extends Omit<IdempotentOptions, 'fingerprint' | 'onMissingKey'> {
  /** The message id that identifies a delivery and its redeliveries (e.g. the broker's message id). */
  readonly id: (message: M) => string;
  /**
   * What identifies the message payload; a redelivered id with another payload is
   * `IdempotencyKeyReusedError`. By default there is no payload check (the id decides).
   * @defaultValue undefined (no check)
   */
  readonly fingerprint?: ((message: M) => unknown) | undefined;
}

/**
 * Wraps a message handler for at-least-once delivery: the effect of each message id runs once;
 * a redelivery resolves with the stored result (so the caller acknowledges it) without running the
 * handler again. A handler failure releases the id for the broker's redelivery, unless
 * `cacheErrors` says it is terminal.
 *
 * @throws TypeError naming a bad option.
 * @example
 * ```ts
 * const onMessage = idempotentConsumer(
 *   { store: postgresIdempotencyStore(pool), id: (m: Msg) => m.id },
 *   async (m) => charge(m.body.orderId),
 * );
 * broker.subscribe(async (m) => { await onMessage(m); m.ack(); });
 * ```
 */
export function idempotentConsumer<M, R>(
  options: IdempotentConsumerOptions<M>,
  handler: (message: M, ctx: Context) => R | PromiseLike<R>,
): (message: M) => Promise<R> {
  checkObject('options', options);
  if (options === undefined || options === null) throw new TypeError('Expected `options` to be an object');
  checkFunction('id', options.id, false);
  checkFunction('handler', handler, false);
  checkFunction('fingerprint', options.fingerprint);
  const { id, fingerprint, ...rest } = options;
  const pick = fingerprint;
  const policy = idempotent({
    ...rest,
    fingerprint: pick === undefined ? false : (ctx) => pick(ctx.data.message as M),
  });
  return (message: M): Promise<R> => {
    let key: string;
    try {
      key = id(message);
    } catch (error) {
      return Promise.reject(error);
    }
    if (typeof key !== 'string') return Promise.reject(new TypeError('Expected `id(message)` to return a string'));
    return policy.execute((ctx) => handler(message, ctx), { key, data: { message } });
  };
}
