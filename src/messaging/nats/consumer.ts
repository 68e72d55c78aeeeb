import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { type Clock, systemClock, type TimerHandle } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import { Emitter, type Listener, type PolicyEventBase, type Unsubscribe } from '../../core/events.js';
import { Policy } from '../../core/policy.js';
import { checkFunction, checkNumber, checkObject, checkOneOf, fail } from '../../core/validate.js';
import { idempotent } from '../../idempotency/idempotent.js';
import type { IdempotencyStore } from '../../idempotency/store.js';
import { ConsumerClosedError, MessageDecodeError } from './errors.js';

/**
 * How long a failed message waits before its redelivery (the `nak` delay), by delivery count
 * (1 after the first delivery failed):
 * - an array of ms: `[1000, 5000, 30000]` (the last one repeats), like JetStream's own `backoff`;
 * - a `breakwater/retry` backoff (`exponential({ initial: 500, max: 60_000, jitter: 'full' })`),
 *   asked for retry number = delivery count;
 * - a function `(deliveryCount, error) => ms`.
 *
 * Without a `backoff` option the consumer uses the backoff of the outermost `retry()` in its
 * `policy`, else `[1000, 2000, 5000, 10000, 30000]`.
 *
 * An error with a numeric `retryAfter` (ms; breakwater's own errors carry one, e.g. an open circuit
 * or an idempotency key still held by another worker) waits at least that long.
 *
 * @example
 * ```ts
 * import { jetstreamConsumer, type NakBackoff } from 'breakwater/messaging/nats';
 * import { exponential } from 'breakwater/retry';
 *
 * const steps: NakBackoff = [1_000, 5_000, 30_000]; // then 30 s for every later failure
 * const curve: NakBackoff = exponential({ initial: 500, max: 60_000, jitter: 'full' });
 * const custom: NakBackoff = (deliveryCount, error) => (isQuotaError(error) ? 60_000 : deliveryCount * 2_000);
 * const worker = jetstreamConsumer({ consumer, handler: runTool, backoff: steps });
 * ```
 */
export type NakBackoff = readonly number[] | BackoffLike | ((deliveryCount: number, error: unknown) => number);

/**
 * A delay schedule shaped like `breakwater/retry`'s `Backoff` (`constant`, `linear`, `exponential`).
 *
 * @example
 * ```ts
 * import { jetstreamConsumer, type BackoffLike } from 'breakwater/messaging/nats';
 *
 * // 2 s more per failed delivery, ±20 % jitter (`random` is the consumer's `random` option).
 * const linearJitter: BackoffLike = { delay: (retry, random) => retry * 2_000 * (0.8 + 0.4 * random()) };
 * const worker = jetstreamConsumer({ consumer, handler: runTool, backoff: linearJitter });
 * ```
 */
export interface BackoffLike {
  /** The delay in ms before retry number `retry` (here: after delivery number `retry` failed). */
  delay(retry: number, random: () => number, state: { prev: number }): number;
}

/**
 * Deduplication of redeliveries through an idempotency store.
 *
 * @example
 * ```ts
 * import { jetstreamConsumer, type JetStreamIdempotencyOptions } from 'breakwater/messaging/nats';
 * import { redisIdempotencyStore } from 'breakwater/idempotency/redis';
 *
 * const idempotency: JetStreamIdempotencyOptions = {
 *   store: redisIdempotencyStore(redis),
 *   key: (msg) => msg.headers?.get('Order-Id') || `${msg.info.stream}:${msg.seq}`,
 *   ttl: 7 * 86_400_000, // longer than a redelivery can come
 *   lease: 60_000, // renewed while the handler runs; a crashed worker's claim lapses after 1 min
 * };
 * const worker = jetstreamConsumer({ consumer, handler: chargeOrder, idempotency });
 * ```
 */
export interface JetStreamIdempotencyOptions {
  /** The store; share a durable one (PostgreSQL, Redis) between the workers of a consumer. */
  readonly store: IdempotencyStore;
  /**
   * What identifies a message: `'msg-id'` (the `Nats-Msg-Id` header, else the stream sequence),
   * `'seq'` (`<stream>:<stream sequence>`), or a function.
   * @defaultValue 'msg-id'
   */
  readonly key?: 'msg-id' | 'seq' | ((msg: JsMsg) => string) | undefined;
  /**
   * How long a handled message's record is kept, in ms: longer than a redelivery can come.
   * @defaultValue 86_400_000
   */
  readonly ttl?: number | undefined;
  /**
   * Lease of a message being handled, in ms (renewed while the handler runs). A duplicate
   * delivery while it is held is redelivered after the lease's remaining time.
   * @defaultValue 30_000
   */
  readonly lease?: number | undefined;
}

/**
 * Where messages that will not succeed go.
 *
 * @example
 * ```ts
 * import { jetstreamConsumer, type DeadLetterOptions } from 'breakwater/messaging/nats';
 *
 * // One dead-letter subject per source subject; a stream should capture `dlq.>`.
 * const deadLetter: DeadLetterOptions = { js, subject: (msg) => `dlq.${msg.subject}` };
 * const worker = jetstreamConsumer({ consumer, handler: runTool, maxDeliver: 5, deadLetter });
 * ```
 */
export interface DeadLetterOptions {
  /** The JetStream client that publishes them (the subject should belong to a stream). */
  readonly js: JetStreamClient;
  /** The subject, or a function of the message (e.g. `dlq.${msg.subject}`). */
  readonly subject: string | ((msg: JsMsg) => string);
}

/**
 * Options for {@link jetstreamConsumer}.
 *
 * @example
 * ```ts
 * import { isTerminalMessageError, jetstreamConsumer, type JetStreamConsumerOptions } from 'breakwater/messaging/nats';
 * import { postgresIdempotencyStore } from 'breakwater/idempotency/postgres';
 *
 * const options: JetStreamConsumerOptions<ToolCall> = {
 *   consumer: await js.consumers.get('TOOLS', 'tool-workers'),
 *   handler: (call, { signal }) => runTool(call, { signal }),
 *   decode: (msg) => msg.json<ToolCall>(),
 *   terminal: (e) => isTerminalMessageError(e) || e instanceof ValidationError,
 *   idempotency: postgresIdempotencyStore(pool),
 *   ack: 'fire', // a lost ack is a redelivery, which `idempotency` dedupes
 *   concurrency: 8,
 * };
 * const worker = jetstreamConsumer(options);
 * ```
 */
export interface JetStreamConsumerOptions<M> {
  /** A pull consumer: `await js.consumers.get(stream, durable)`. Share a durable one between workers. */
  readonly consumer: Consumer;
  /**
   * The handler: a router's `route`, a filter's `to(...)`, a durable aggregator's `add`, any
   * `(message, ctx) => result`. `ctx.data.msg` is the `JsMsg`; with `idempotency`, `ctx.key` is the
   * message's idempotency key (`Nats-Msg-Id`, else `<stream>:<seq>`); `ctx.signal` aborts when
   * `close({ timeout })` gives up waiting.
   */
  readonly handler: (message: M, ctx: Context) => unknown;
  /**
   * Turns a `JsMsg` into the handler's message; a throw is terminal ({@link MessageDecodeError}).
   * @defaultValue `msg.json()`
   */
  readonly decode?: ((msg: JsMsg) => M) | undefined;
  /** The policy the handler runs under (timeout, in-process retry, circuit breaker, …). */
  readonly policy?: Policy<any> | undefined;
  /**
   * The `nak` delay of a transient failure (see {@link NakBackoff}).
   * @defaultValue the backoff of the outermost `retry()` in `policy` (asked for retry number =
   * delivery count), else `[1000, 2000, 5000, 10000, 30000]`
   */
  readonly backoff?: NakBackoff | undefined;
  /**
   * Which failures are terminal (term + dead letter at once, no redelivery).
   * @defaultValue {@link TerminalMessageError}, {@link MessageDecodeError}, and the deterministic
   * breakwater errors `NoRouteError`, `FilteredError`, `LateMessageError`, `IdempotencyKeyReusedError`
   */
  readonly terminal?: ((error: unknown) => boolean) | undefined;
  /**
   * The delivery that is the last try: when it fails the message is terminated and dead-lettered.
   * Capped at the consumer's `max_deliver` (past which the server stops redelivering by itself).
   * @defaultValue the consumer's `max_deliver`, or unlimited
   */
  readonly maxDeliver?: number | undefined;
  /** Where terminated messages are published, with their headers and the error's. */
  readonly deadLetter?: DeadLetterOptions | undefined;
  /** Deduplicates redeliveries: a store, or options with the store. */
  readonly idempotency?: IdempotencyStore | JetStreamIdempotencyOptions | undefined;
  /**
   * Messages handled at once.
   * @defaultValue 1
   */
  readonly concurrency?: number | undefined;
  /**
   * Messages pulled per request (buffered in the client until a slot is free; they are not
   * heartbeated while buffered, so keep `batch × handler time` below `ack_wait`).
   * @defaultValue `max(2 × concurrency, 10)`
   */
  readonly batch?: number | undefined;
  /**
   * `'confirm'`: wait for the server to confirm each ack (`ackAck`), so `close()` returns only once
   * every success is recorded (where exactly-once matters); `'fire'`: ack and go on (faster; a lost
   * ack means a redelivery, which `idempotency` dedupes).
   * @defaultValue 'confirm'
   */
  readonly ack?: 'confirm' | 'fire' | undefined;
  /**
   * The consumer's `ack_wait` in ms, for the heartbeat.
   * @defaultValue read from the consumer's info
   */
  readonly ackWait?: number | undefined;
  /**
   * How often (ms) a message whose handler still runs is told `working()` (resetting its ack
   * timer, so it is not redelivered while alive); `false` turns it off.
   * @defaultValue `ackWait / 3`
   */
  readonly heartbeat?: number | false | undefined;
  /**
   * Randomness for jittered backoffs.
   * @defaultValue `Math.random`
   */
  readonly random?: (() => number) | undefined;
  /**
   * Time source for the heartbeat and `close({ timeout })`.
   * @defaultValue systemClock
   */
  readonly clock?: Clock | undefined;
  /** A name carried by every event. */
  readonly name?: string | undefined;
}

/**
 * Why a message was terminated.
 *
 * @example
 * ```ts
 * import { jetstreamConsumer, type TermReason } from 'breakwater/messaging/nats';
 *
 * const deadLetter = { js, subject: 'tools.dead' };
 * const worker = jetstreamConsumer({ consumer, handler: runTool, maxDeliver: 5, deadLetter });
 * worker.on('dead-letter', (e) => {
 *   const reason: TermReason = e.reason; // also in the dead letter's `Breakwater-Reason` header
 *   if (reason === 'max-deliver') alert(`seq ${e.seq} failed ${e.deliveryCount} deliveries`, e.error);
 *   else log.warn(`seq ${e.seq} cannot succeed`, e.error); // 'terminal'
 * });
 * ```
 */
export type TermReason = 'terminal' | 'max-deliver';

interface EventBase extends PolicyEventBase {
  /** The message's stream sequence. */
  readonly seq: number;
  /** Its delivery count (1 on the first delivery). */
  readonly deliveryCount: number;
}

/**
 * Events of a {@link JetStreamConsumer}.
 *
 * @example
 * ```ts
 * import { jetstreamConsumer, type JetStreamConsumerEvent } from 'breakwater/messaging/nats';
 *
 * const worker = jetstreamConsumer({ consumer, handler: runTool, name: 'tools' });
 * worker.on('*', (e: JetStreamConsumerEvent) => {
 *   switch (e.type) {
 *     case 'ack': metrics.acked.inc({ worker: e.name }); break;
 *     case 'nak': log.info(`seq ${e.seq}: delivery ${e.deliveryCount} failed, again in ${e.delay} ms`, e.error); break;
 *     case 'dead-letter': log.warn(`seq ${e.seq} → ${e.subject ?? 'terminated'} (${e.reason})`, e.error); break;
 *     case 'error': log.error(`${e.op} failed for seq ${e.seq}`, e.error);
 *   }
 * });
 * ```
 */
export type JetStreamConsumerEvent =
  | (EventBase & { readonly type: 'ack' })
  | (EventBase & { readonly type: 'nak'; readonly delay: number; readonly error: unknown })
  | (EventBase & {
      readonly type: 'dead-letter';
      readonly reason: TermReason;
      readonly error: unknown;
      /** The dead-letter subject, or `undefined` when there is no `deadLetter` option (term only). */
      readonly subject: string | undefined;
    })
  | (EventBase & {
      readonly type: 'error';
      /** What failed: the ack's confirmation, or the dead-letter publish (then the message is nak'ed). */
      readonly op: 'ack' | 'dead-letter';
      readonly error: unknown;
    });

/**
 * A running consumer, built by {@link jetstreamConsumer}.
 *
 * @example
 * ```ts
 * import { jetstreamConsumer, type JetStreamConsumer } from 'breakwater/messaging/nats';
 *
 * const worker: JetStreamConsumer = jetstreamConsumer({ consumer, handler: runTool, concurrency: 4 });
 * const off = worker.on('nak', (e) => log.info(`seq ${e.seq} again in ${e.delay} ms`)); // off() unsubscribes
 * setInterval(() => gauge.set(worker.inFlight), 5_000);
 * worker.done.catch((e) => log.fatal('pulling failed for good', e));
 * process.on('SIGTERM', () => void worker.close({ timeout: 30_000 })); // drains; nak's what is still running at 30 s
 * ```
 */
export interface JetStreamConsumer {
  /**
   * Drains: stops pulling, handles the messages the client had already buffered (at most `batch`),
   * waits for in-flight handlers and their acks, then resolves. With `timeout` (ms), handlers still
   * running then see their `ctx.signal` abort with {@link ConsumerClosedError}, and their messages
   * are nak'ed at once (even if a handler ignores its signal; what it does later is not sent), as
   * are buffered ones not started, for another worker; `close` then resolves without waiting for
   * handlers that ignore their signal (they run on in the background; nothing they do later is
   * acked or nak'ed). Messages the server was sending to this worker's pull request
   * as it stopped are redelivered after the consumer's `ack_wait`.
   */
  close(options?: { readonly timeout?: number | undefined }): Promise<void>;
  /** Settles when the consumer stops: resolves after `close()`, rejects if pulling failed for good. */
  readonly done: Promise<void>;
  /** Messages being handled now. */
  readonly inFlight: number;
  /** Listens to events of `type` (or `'*'`); returns an unsubscribe. */
  on<K extends JetStreamConsumerEvent['type'] | '*'>(
    type: K,
    listener: Listener<K extends '*' ? JetStreamConsumerEvent : Extract<JetStreamConsumerEvent, { type: K }>>,
  ): Unsubscribe;
}

const DEFAULT_BACKOFF: readonly number[] = [1000, 2000, 5000, 10_000, 30_000];

/**
 * The nak schedule of a consumer without `backoff`: the backoff of the outermost `retry()` layer of
 * its policy, looked up at each nak (a registry policy's layers change with its config; duck-typed:
 * no import of retry), else {@link DEFAULT_BACKOFF}. @internal
 */
export function policyBackoff(policy: Policy<any> | undefined): NakBackoff {
  if (policy === undefined) return DEFAULT_BACKOFF;
  return (count, error) => {
    const retry = (policy.layers as readonly unknown[]).find(
      (l): l is { backoffDelay(n: number, error: unknown): number } =>
        typeof (l as { backoffDelay?: unknown }).backoffDelay === 'function',
    );
    return retry !== undefined
      ? retry.backoffDelay(count, error)
      : (DEFAULT_BACKOFF[Math.min(count, DEFAULT_BACKOFF.length) - 1] as number);
  };
}
const TERMINAL_CODES = new Set([
  'ERR_TERMINAL_MESSAGE',
  'ERR_MESSAGE_DECODE',
  'ERR_NO_ROUTE',
  'ERR_FILTERED',
  'ERR_LATE_MESSAGE',
  'ERR_IDEMPOTENCY_KEY_REUSED',
]);
const BRAND = Symbol.for('breakwater.error');

/** The default `terminal` predicate: the breakwater errors that a redelivery would repeat. @internal */
export function defaultTerminal(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { [BRAND]?: unknown })[BRAND] === true &&
    TERMINAL_CODES.has((error as { code: string }).code)
  );
}

const decodeJson = (msg: JsMsg): unknown => msg.json();

/** The nak delay for `count` failed deliveries (pure). @internal */
export function nakDelay(backoff: NakBackoff, count: number, error: unknown, random: () => number): number {
  let d: number;
  if (typeof backoff === 'function') d = backoff(count, error);
  else if (Array.isArray(backoff))
    d = backoff.length === 0 ? 0 : (backoff[Math.min(count, backoff.length) - 1] as number);
  else
    d = (backoff as Exclude<NakBackoff, readonly number[] | ((c: number, e: unknown) => number)>).delay(count, random, {
      prev: 0,
    });
  const hint = (error as { retryAfter?: unknown } | null)?.retryAfter;
  if (typeof hint === 'number' && hint > d) d = hint;
  return Number.isFinite(d) && d > 0 ? Math.ceil(d) : 0;
}

/**
 * Headers that tell JetStream how to store a publish (expectations about the source stream, a
 * rollup, a per-message TTL, a counter increment, an atomic batch, a schedule; the message id, set
 * anew): copied to the dead-letter publish they would make it fail (`expected stream does not
 * match`, `rollup not permitted`) and the message would never be parked.
 */
const isPublishControl = (name: string): boolean =>
  /^nats-(expected-|rollup$|ttl$|incr$|msg-id$|batch-|schedule)/i.test(name);

function describe(error: unknown): { code: string; message: string } {
  const e = error as { code?: unknown; name?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error';
  const raw = typeof e?.message === 'string' ? e.message : String(error);
  // A header value is one line; keep it short.
  return { code, message: raw.replace(/[\r\n]+/g, ' ').slice(0, 512) };
}

class Runner<M> {
  readonly #o: JetStreamConsumerOptions<M>;
  readonly #policy: Policy<any>;
  readonly #decode: (msg: JsMsg) => M;
  readonly #terminal: (error: unknown) => boolean;
  readonly #backoff: NakBackoff;
  readonly #random: () => number;
  readonly #clock: Clock;
  readonly #concurrency: number;
  readonly #batch: number;
  readonly #confirm: boolean;
  readonly #keyOf: ((msg: JsMsg) => string) | undefined;
  readonly #abort = new AbortController();
  readonly #inflight = new Set<JsMsg>();
  /** Messages whose handler is running (in flight, not yet acking or nak'ing). */
  readonly #running = new Set<JsMsg>();
  /** Running messages that `close({ timeout })` handed back: their handler's outcome is not sent. */
  readonly #handedBack = new Set<JsMsg>();
  readonly events = new Emitter<JetStreamConsumerEvent>();
  #maxDeliver: number;
  #heartbeat: number | undefined;
  #beat: TimerHandle;
  #iter: ConsumerMessages | undefined;
  #closing = false;
  #slot: (() => void) | undefined;
  #drained: (() => void) | undefined;
  readonly done: Promise<void>;

  constructor(o: JetStreamConsumerOptions<M>) {
    this.#o = o;
    this.#decode = (o.decode ?? decodeJson) as (msg: JsMsg) => M;
    this.#terminal = o.terminal ?? defaultTerminal;
    this.#backoff = o.backoff ?? policyBackoff(o.policy);
    this.#random = o.random ?? Math.random;
    this.#clock = o.clock ?? systemClock;
    this.#concurrency = checkNumber('concurrency', o.concurrency ?? 1, 1, { integer: true });
    this.#batch = checkNumber('batch', o.batch ?? Math.max(2 * this.#concurrency, 10), 1, { integer: true });
    this.#confirm = checkOneOf('ack', o.ack ?? 'confirm', ['confirm', 'fire']) === 'confirm';
    this.#maxDeliver =
      o.maxDeliver === undefined
        ? Number.POSITIVE_INFINITY
        : checkNumber('maxDeliver', o.maxDeliver, 1, { integer: true });
    const hb = o.heartbeat;
    if (hb !== undefined && hb !== false) checkNumber('heartbeat', hb, 1);
    if (o.ackWait !== undefined) checkNumber('ackWait', o.ackWait, 1);
    this.#heartbeat = hb === false ? undefined : (hb ?? (o.ackWait === undefined ? undefined : o.ackWait / 3));
    const idem = o.idempotency;
    let keyMode: JetStreamIdempotencyOptions['key'] = 'msg-id';
    let inner: Policy<any> = o.policy ?? Policy.noop;
    if (idem !== undefined) {
      checkObject('idempotency', idem);
      const opts: JetStreamIdempotencyOptions =
        typeof (idem as IdempotencyStore).claim === 'function'
          ? { store: idem as IdempotencyStore }
          : (idem as JetStreamIdempotencyOptions);
      keyMode = opts.key ?? 'msg-id';
      if (keyMode !== 'msg-id' && keyMode !== 'seq' && typeof keyMode !== 'function') {
        fail('idempotency.key', "'msg-id', 'seq' or a function", keyMode);
      }
      // A duplicate while the first delivery runs is not waited for: it is nak'ed with the lease's
      // remaining time (the error's `retryAfter`).
      const once = idempotent({
        store: opts.store,
        ttl: opts.ttl,
        lease: opts.lease,
        fingerprint: false,
        onDuplicate: 'reject',
        clock: o.clock,
      });
      inner = Policy.wrap(once, inner);
    }
    this.#policy = inner;
    const seqKey = (msg: JsMsg): string => `${msg.info.stream}:${msg.info.streamSequence}`;
    this.#keyOf =
      idem === undefined
        ? undefined
        : typeof keyMode === 'function'
          ? keyMode
          : keyMode === 'seq'
            ? seqKey
            : (msg) => msg.headers?.get('Nats-Msg-Id') || seqKey(msg);
    this.done = this.#run();
    // Nobody may be listening to `done`; `close()` reports the failure too.
    this.done.catch(() => undefined);
  }

  get inFlight(): number {
    return this.#inflight.size;
  }

  #emit(event: JetStreamConsumerEvent): void {
    this.events.emit(event);
  }

  #listening(type: JetStreamConsumerEvent['type']): boolean {
    return this.events.count > 0 && this.events.has(type);
  }

  async #run(): Promise<void> {
    const o = this.#o;
    const info = await o.consumer.info(true);
    const md = info.config.max_deliver;
    // Past the consumer's max_deliver the server stops redelivering: its last delivery is the last
    // try, whatever `maxDeliver` says (else a failing message would vanish, never parked).
    if (typeof md === 'number' && md > 0 && md < this.#maxDeliver) this.#maxDeliver = md;
    if (this.#heartbeat === undefined && o.heartbeat !== false) {
      const ns = info.config.ack_wait ?? 30_000_000_000;
      this.#heartbeat = Math.max(1, ns / 1e6 / 3);
    }
    if (this.#closing) return;
    if (this.#heartbeat !== undefined) this.#armBeat();
    const iter = await o.consumer.consume({ max_messages: this.#batch });
    this.#iter = iter;
    if (this.#closing) iter.stop();
    try {
      for await (const msg of iter) {
        // After close() the iterator still yields what the client had buffered: those are handled
        // too (a nak could send them back into this worker's own pull request, which the server
        // keeps until it expires); once close's timeout aborted, they fail at once and are nak'ed.
        this.#inflight.add(msg);
        void this.#handle(msg);
        if (this.#inflight.size >= this.#concurrency) {
          await new Promise<void>((resolve) => {
            this.#slot = resolve;
          });
        }
      }
    } finally {
      if (this.#inflight.size > 0) {
        await new Promise<void>((resolve) => {
          this.#drained = resolve;
        });
      }
      if (this.#beat !== undefined) this.#clock.clearTimeout(this.#beat);
      this.#beat = undefined;
    }
  }

  #armBeat(): void {
    this.#beat = this.#clock.setTimeout(() => {
      for (const msg of this.#inflight) if (!this.#handedBack.has(msg)) msg.working();
      if (!this.#closing || this.#inflight.size > 0) this.#armBeat();
      else this.#beat = undefined;
    }, this.#heartbeat as number);
    this.#clock.unref?.(this.#beat);
  }

  async #handle(msg: JsMsg): Promise<void> {
    try {
      let message: M;
      try {
        message = this.#decode(msg);
      } catch (cause) {
        await this.#failed(msg, new MessageDecodeError({ cause }), true);
        return;
      }
      const handler = this.#o.handler;
      let ok = true;
      let error: unknown;
      this.#running.add(msg);
      try {
        await this.#policy.execute((ctx) => handler(message, ctx), {
          key: this.#keyOf?.(msg),
          signal: this.#abort.signal,
          data: { msg },
        });
      } catch (e) {
        ok = false;
        error = e;
      } finally {
        this.#running.delete(msg);
      }
      if (this.#handedBack.has(msg)) return; // nak'ed by close({ timeout }) already
      if (ok) await this.#acked(msg);
      else await this.#failed(msg, error, false);
    } catch (error) {
      // An ack or nak on a closed connection throws: the server redelivers after `ack_wait`.
      this.#report(msg, 'ack', error);
    } finally {
      this.#inflight.delete(msg);
      this.#handedBack.delete(msg);
      const slot = this.#slot;
      if (slot !== undefined) {
        this.#slot = undefined;
        slot();
      }
      if (this.#inflight.size === 0) this.#drained?.();
    }
  }

  async #acked(msg: JsMsg): Promise<void> {
    if (this.#confirm) {
      try {
        await msg.ackAck();
      } catch (error) {
        // Not confirmed: the ack may or may not have landed; a redelivery is deduped by `idempotency`.
        this.#report(msg, 'ack', error);
        return;
      }
    } else msg.ack();
    if (this.#listening('ack')) {
      this.#emit({
        type: 'ack',
        kind: 'jetstream-consumer',
        name: this.#o.name,
        seq: msg.seq,
        deliveryCount: msg.info.deliveryCount,
      });
    }
  }

  #report(msg: JsMsg, op: 'ack' | 'dead-letter', error: unknown): void {
    if (!this.#listening('error')) return;
    this.#emit({
      type: 'error',
      kind: 'jetstream-consumer',
      name: this.#o.name,
      seq: msg.seq,
      deliveryCount: msg.info.deliveryCount,
      op,
      error,
    });
  }

  #nak(msg: JsMsg, delay: number, error: unknown): void {
    if (delay > 0) msg.nak(delay);
    else msg.nak();
    if (this.#listening('nak')) {
      this.#emit({
        type: 'nak',
        kind: 'jetstream-consumer',
        name: this.#o.name,
        seq: msg.seq,
        deliveryCount: msg.info.deliveryCount,
        delay,
        error,
      });
    }
  }

  async #failed(msg: JsMsg, error: unknown, terminal: boolean): Promise<void> {
    const count = msg.info.deliveryCount;
    // Stopped by close({ timeout }): hand it back at once, for another worker.
    if (this.#abort.signal.aborted) {
      this.#nak(msg, 0, error);
      return;
    }
    const term = terminal || this.#terminal(error);
    if (!term && count < this.#maxDeliver) {
      this.#nak(msg, nakDelay(this.#backoff, count, error, this.#random), error);
      return;
    }
    const reason: TermReason = term ? 'terminal' : 'max-deliver';
    const dl = this.#o.deadLetter;
    let subject: string | undefined;
    if (dl !== undefined) {
      try {
        subject = typeof dl.subject === 'function' ? dl.subject(msg) : dl.subject;
        await this.#deadLetter(dl.js, subject, msg, error, reason);
      } catch (e) {
        // Not parked: keep the message (a redelivery tries again) rather than lose it.
        this.#report(msg, 'dead-letter', e);
        this.#nak(msg, nakDelay(this.#backoff, count, error, this.#random), error);
        return;
      }
    }
    // No reason argument: servers before 2.11 do not parse `+TERM <reason>` (the headers carry it).
    msg.term();
    if (this.#listening('dead-letter')) {
      this.#emit({
        type: 'dead-letter',
        kind: 'jetstream-consumer',
        name: this.#o.name,
        seq: msg.seq,
        deliveryCount: count,
        reason,
        error,
        subject,
      });
    }
  }

  async #deadLetter(
    js: JetStreamClient,
    subject: string,
    msg: JsMsg,
    error: unknown,
    reason: TermReason,
  ): Promise<void> {
    const h = natsHeaders();
    const src = msg.headers;
    if (src !== undefined) {
      for (const [k, vs] of src) if (!isPublishControl(k)) for (const v of vs) h.append(k, v);
    }
    const { code, message } = describe(error);
    const info = msg.info;
    h.set('Breakwater-Reason', reason);
    h.set('Breakwater-Error-Code', code);
    h.set('Breakwater-Error-Message', message);
    h.set('Breakwater-Delivery-Count', String(info.deliveryCount));
    h.set('Breakwater-Stream', info.stream);
    h.set('Breakwater-Stream-Seq', String(info.streamSequence));
    h.set('Breakwater-Consumer', info.consumer);
    h.set('Breakwater-Subject', msg.subject);
    // The same poison message dead-lettered twice (a crash between publish and term) is deduped.
    await js.publish(subject, msg.data, { headers: h, msgID: `dead-letter:${info.stream}:${info.streamSequence}` });
  }

  async close(timeout: number | undefined): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#iter?.stop();
      const slot = this.#slot;
      this.#slot = undefined;
      slot?.();
    }
    let timer: TimerHandle;
    let gaveUp: Promise<void> | undefined;
    if (timeout !== undefined) {
      let stop!: () => void;
      gaveUp = new Promise<void>((resolve) => {
        stop = resolve;
      });
      timer = this.#clock.setTimeout(() => {
        // After the timeout `close` returns, whatever the handlers do: a shutdown must not hang on
        // a handler deaf to its signal (its message is handed back; what it does later is not sent).
        stop();
        if (this.#abort.signal.aborted) return;
        const reason = new ConsumerClosedError();
        this.#abort.abort(reason);
        // Hand back at once what still runs, for another worker: a handler deaf to its signal must
        // not keep its message (the heartbeat would hold it for as long as this process lives).
        for (const msg of this.#running) {
          this.#handedBack.add(msg);
          try {
            this.#nak(msg, 0, reason);
          } catch (error) {
            this.#report(msg, 'ack', error); // a closed connection: redelivered after ack_wait
          }
        }
      }, timeout);
    }
    try {
      await (gaveUp === undefined ? this.done : Promise.race([this.done, gaveUp]));
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
  }
}

/**
 * Runs a breakwater handler over a JetStream pull consumer, with the delivery semantics a fleet of
 * workers needs: success is an `ack` (confirmed by the server with `ack: 'confirm'`); a transient
 * failure is a `nak` delayed by `backoff`; a terminal failure, or the failure of the `maxDeliver`-th
 * delivery, is a `term`, after the message is published to `deadLetter` with its headers and the
 * error's (`Breakwater-Reason`, `-Error-Code`, `-Error-Message`, `-Delivery-Count`, `-Stream`,
 * `-Stream-Seq`, `-Consumer`, `-Subject`). `idempotency` dedupes redeliveries by `Nats-Msg-Id` or
 * stream sequence; a handler that still runs sends `working()` every `heartbeat` ms; at most
 * `concurrency` messages are handled at once; `close()` drains.
 *
 * @throws TypeError / RangeError naming a bad option.
 * @example
 * ```ts
 * const js = jetstream(await connect({ servers: 'nats://127.0.0.1:4222' }));
 * const worker = jetstreamConsumer({
 *   consumer: await js.consumers.get('TOOLS', 'tool-workers'),
 *   handler: (call: ToolCall, { signal }) => runTool(call, { signal }),
 *   policy: timeout(60_000),
 *   backoff: exponential({ initial: 1000, max: 60_000, jitter: 'full' }),
 *   maxDeliver: 5,
 *   deadLetter: { js, subject: 'tools.dead' },
 *   idempotency: postgresIdempotencyStore(pool),
 *   concurrency: 8,
 * });
 * process.on('SIGTERM', () => worker.close({ timeout: 30_000 }));
 * ```
 */
export function jetstreamConsumer<M = unknown>(options: JetStreamConsumerOptions<M>): JetStreamConsumer {
  checkObject('options', options);
  if (options === undefined) throw new TypeError('Expected `options` to be an object, got undefined');
  const c = options.consumer as Partial<Consumer> | undefined;
  if (c === null || typeof c !== 'object' || typeof c.consume !== 'function') {
    fail('consumer', 'a JetStream pull consumer (`js.consumers.get(stream, name)`)', c);
  }
  checkFunction('handler', options.handler, false);
  checkFunction('decode', options.decode);
  checkFunction('terminal', options.terminal);
  checkFunction('random', options.random);
  const p = options.policy as Policy | undefined;
  if (p !== undefined && (p === null || typeof p.execute !== 'function')) fail('policy', 'a Policy', p);
  const b = options.backoff as unknown;
  if (
    b !== undefined &&
    typeof b !== 'function' &&
    !(Array.isArray(b) && b.every((x) => typeof x === 'number' && x >= 0)) &&
    typeof (b as { delay?: unknown } | null)?.delay !== 'function'
  ) {
    fail('backoff', 'an array of ms, a backoff (`exponential()`, …) or a function', b);
  }
  const dl = options.deadLetter;
  if (dl !== undefined) {
    checkObject('deadLetter', dl);
    if (typeof (dl.js as Partial<JetStreamClient> | undefined)?.publish !== 'function') {
      fail('deadLetter.js', 'a JetStream client', dl.js);
    }
    if (typeof dl.subject !== 'string' && typeof dl.subject !== 'function') {
      fail('deadLetter.subject', 'a subject or a function', dl.subject);
    }
  }
  const idem = options.idempotency as { claim?: unknown; store?: { claim?: unknown } } | undefined;
  if (idem !== undefined && typeof idem?.claim !== 'function' && typeof idem?.store?.claim !== 'function') {
    fail('idempotency', 'an idempotency store or `{ store }`', idem);
  }
  const r = new Runner(options);
  return {
    close: (o) => {
      if (o?.timeout !== undefined) checkNumber('timeout', o.timeout, 0);
      return r.close(o?.timeout);
    },
    done: r.done,
    get inFlight() {
      return r.inFlight;
    },
    on: (type, listener) => r.events.on(type, listener as Listener<JetStreamConsumerEvent>),
  };
}
