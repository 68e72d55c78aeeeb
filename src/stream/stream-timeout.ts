import { type Clock, systemTimers, type TimerHandle } from '../core/clock.js';
import { AbortScope, type CallContext, fork, throwIfAborted } from '../core/context.js';
import type { PolicyEventBase } from '../core/events.js';
import { BaseLayer, type Chain, invoke, Pipeline, type Policy } from '../core/policy.js';
import type { ReadableStreamLike, StreamingPolicy, StreamReader, TimedStream } from '../core/streaming.js';
import { checkNumber, checkObject } from '../core/validate.js';
import { StreamTimeoutError, type StreamTimeoutPhase } from './errors.js';

/**
 * How a stream that `execute` handed out ended.
 *
 * @example
 * ```ts
 * import { type StreamEndOutcome, streamTimeout } from 'breakwater/stream';
 *
 * const policy = streamTimeout({ firstChunk: 10_000, idle: 5_000, name: 'chat' });
 * const ended: Record<StreamEndOutcome, number> = { complete: 0, error: 0, timeout: 0, abort: 0, return: 0 };
 * policy.on('stream-end', (e) => ended[e.outcome]++);
 * ```
 */
export type StreamEndOutcome = 'complete' | 'error' | 'timeout' | 'abort' | 'return';

type Base = PolicyEventBase & { readonly kind: 'stream-timeout' };

/**
 * Events a stream-timeout policy emits.
 *
 * @example
 * ```ts
 * import { type StreamTimeoutEvent, streamTimeout } from 'breakwater/stream';
 *
 * const policy = streamTimeout({ firstChunk: 10_000, idle: 5_000, name: 'chat' });
 * policy.on('*', (e: StreamTimeoutEvent) => {
 *   if (e.type === 'first-chunk') metrics.histogram('llm.ttft_ms', e.ms);
 *   else if (e.type === 'timeout') log.warn(`${e.name}: ${e.phase} limit of ${e.ms} ms passed`);
 *   else metrics.histogram('llm.stream_ms', e.ms, { outcome: e.outcome, chunks: e.chunks }); // 'stream-end'
 * });
 * ```
 */
export type StreamTimeoutEvent =
  /** The first chunk arrived; `ms` since the call started (time to first chunk, TTFT). */
  | (Base & { readonly type: 'first-chunk'; readonly ms: number })
  /** A limit passed: `phase` says which, `ms` is the limit. */
  | (Base & { readonly type: 'timeout'; readonly phase: StreamTimeoutPhase; readonly ms: number })
  /**
   * A stream that `execute` handed out ended: how, the chunks it delivered (the first included) and
   * `ms` since the call started.
   */
  | (Base & {
      readonly type: 'stream-end';
      readonly outcome: StreamEndOutcome;
      readonly chunks: number;
      readonly ms: number;
    });

/**
 * Options for {@link streamTimeout}. Give at least one of `firstChunk`, `idle`, `total`.
 *
 * @example
 * ```ts
 * import { type StreamTimeoutOptions, streamTimeout } from 'breakwater/stream';
 *
 * // First token within 15 s, no gap over 5 s, and the whole answer within 2 min.
 * const options: StreamTimeoutOptions = { firstChunk: 15_000, idle: 5_000, total: 120_000, name: 'chat' };
 * const policy = streamTimeout(options);
 * ```
 */
export interface StreamTimeoutOptions {
  /**
   * Longest wait for the first chunk, in ms from the start of the call (time to first chunk,
   * including the time to open the stream). `execute` rejects when it passes.
   * @defaultValue no limit
   */
  readonly firstChunk?: number | undefined;
  /**
   * Longest gap between two chunks, in ms: from the moment a chunk arrives until the next one
   * does. Time the consumer spends between two `next()` calls counts too, so a stream nobody reads
   * is reclaimed after `idle` ms.
   * @defaultValue no limit
   */
  readonly idle?: number | undefined;
  /**
   * Longest life of the whole stream, in ms from the start of the call to its last chunk. Also
   * sets `ctx.deadline` (the nearer of the enclosing one and its own).
   * @defaultValue no limit
   */
  readonly total?: number | undefined;
  /** @defaultValue the platform timers */
  readonly clock?: Omit<Clock, 'sleep'> | undefined;
  /** A name carried by this policy's events. */
  readonly name?: string | undefined;
}

/**
 * A stream-timeout policy: `execute` resolves to a {@link TimedStream} of the source's chunks. The
 * second signature exists for composition (`Policy.wrap`): a value that is not a stream is passed
 * through as is. A `Policy.wrap` pipeline that holds it is a {@link StreamingPolicy} too.
 *
 * @example
 * ```ts
 * import { type StreamPolicy, streamTimeout } from 'breakwater/stream';
 *
 * const tokens: StreamPolicy = streamTimeout({ firstChunk: 10_000, idle: 5_000 });
 * const r = await tokens.executeOutcome(({ signal }) => llm.streamText(prompt, { signal }));
 * if (r.ok) for await (const text of r.value) res.write(text);
 * else res.write(cannedAnswer); // no chunk was delivered, so nothing is said twice
 * ```
 */
export interface StreamPolicy extends StreamingPolicy<StreamTimeoutEvent> {}

const NONE: unique symbol = Symbol();
const END: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });
const noop = (): void => {};

// Run states: waiting for the source or its first chunk (`execute` pending), streaming, over.
const BEFORE = 0;
const OPEN = 1;
const DONE = 2;

/** The run whose pending promise is being made: {@link capture} stores its resolvers. */
let making: StreamRun | undefined;
function capture(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
  const r = making as StreamRun;
  r.resolve = resolve;
  r.reject = reject;
}

type Chunk = { readonly done?: boolean | undefined; readonly value?: unknown };

/**
 * One stream: its abort scope (the signal `fn` sees, alive as long as the stream), its one timer,
 * the source's iterator or reader, and the iterator handed to the consumer. Fields are assigned in
 * the constructor; the per-chunk path allocates only the promise it returns.
 */
class StreamRun implements TimedStream<unknown> {
  declare readonly layer: StreamTimeoutLayer;
  declare readonly scope: AbortScope;
  /** The caller's signal, listened to directly when the scope follows an enclosing scope instead. */
  declare readonly caller: AbortSignal | undefined;
  declare readonly start: number;
  declare readonly firstDue: number;
  declare readonly totalDue: number;
  declare idleDue: number;
  declare state: number;
  declare it: AsyncIterator<unknown> | undefined;
  declare reader: StreamReader<unknown> | undefined;
  /** The first chunk, until the consumer takes it. */
  declare first: Chunk | undefined;
  /** A failure that happened while nobody was waiting: the next `next()` rejects with it. */
  declare error: unknown;
  /** True while `promise` (`execute`'s, then each `next()`'s) is unsettled. */
  declare pending: boolean;
  declare promise: Promise<unknown>;
  declare resolve: (value: unknown) => void;
  declare reject: (error: unknown) => void;
  declare chunks: number;
  declare timer: TimerHandle;
  /** When the timer is due (`NaN` when none is armed). */
  declare armedAt: number;
  declare readonly onChunk: (r: Chunk) => void;
  declare readonly onError: (error: unknown) => void;
  declare readonly onTimer: () => void;

  constructor(layer: StreamTimeoutLayer, ctx: CallContext, inner: Chain | undefined) {
    this.layer = layer;
    const now = layer.clock.now();
    this.start = now;
    this.firstDue = now + layer.firstChunk;
    this.totalDue = now + layer.total;
    this.idleDue = Number.POSITIVE_INFINITY;
    this.state = BEFORE;
    this.it = this.reader = this.first = undefined;
    this.error = NONE;
    this.chunks = 0;
    this.timer = undefined;
    this.armedAt = Number.NaN;
    this.onChunk = (r) => this.chunk(r);
    this.onError = (e) => this.fail('error', e, e);
    this.onTimer = () => this.expire();
    // The call's signal is this scope's for the whole stream, until `teardown`. It follows the
    // enclosing scope's signal (or the caller's), and, under an enclosing scope, the caller's
    // directly too: once the first chunk is out, the enclosing layers settle and release their own
    // links to the caller, while one that still aborts its scope (a hedge cancelling an attempt that
    // lost the race) still reaches the stream.
    const parent = ctx.scope;
    const pd = parent?.deadline;
    const own = this.totalDue < Number.POSITIVE_INFINITY ? this.totalDue : undefined;
    const scope = new AbortScope(
      parent,
      ctx.callerSignal,
      pd !== undefined && !(own !== undefined && own < pd) ? pd : own,
    );
    this.scope = scope;
    scope.signal.addEventListener('abort', this);
    const caller = parent !== undefined ? ctx.callerSignal : undefined;
    this.caller = caller;
    caller?.addEventListener('abort', this, { once: true });
    making = this;
    this.promise = new Promise(capture);
    this.pending = true;
    this.arm(now);
    const forked = fork(ctx);
    forked.scope = scope;
    let p: unknown;
    try {
      p = invoke(forked, inner);
    } catch (error) {
      p = Promise.reject(error);
    }
    Promise.resolve(p).then(
      (source) => this.open(source),
      (error: unknown) => this.fail('error', error, error),
    );
  }

  [Symbol.asyncIterator](): TimedStream<unknown> {
    return this;
  }

  next(): Promise<IteratorResult<unknown, undefined>> {
    const first = this.first;
    if (first !== undefined) {
      this.first = undefined;
      return Promise.resolve(first as IteratorResult<unknown, undefined>);
    }
    if (this.state !== OPEN) {
      const e = this.error;
      if (e === NONE) return Promise.resolve(END);
      this.error = NONE;
      return Promise.reject(e);
    }
    if (this.pending) {
      // A call made while another is pending waits for it (for-await never does this).
      const again = (): Promise<IteratorResult<unknown, undefined>> => this.next();
      return this.promise.then(again, again);
    }
    making = this;
    const p = new Promise(capture) as Promise<IteratorResult<unknown, undefined>>;
    this.promise = p;
    this.pending = true;
    this.pull();
    return p;
  }

  return(): Promise<IteratorResult<unknown, undefined>> {
    this.first = undefined;
    this.error = NONE;
    if (this.state === OPEN) {
      const pending = this.pending;
      this.pending = false;
      this.teardown(new DOMException('The stream was closed by its consumer', 'AbortError'), true);
      if (pending) this.resolve(END);
      this.layer.ended('return', this);
    }
    return Promise.resolve(END);
  }

  /** An abort of the call's signal from outside (caller, enclosing scope) or of the caller's own. @internal */
  handleEvent(event: Event): void {
    const caller = this.caller;
    if (caller !== undefined && event.target === caller) this.fail('abort', caller.reason, caller.reason);
    else this.fail('abort', this.scope.signal.reason, NONE);
  }

  /** `fn` produced its result: start pulling the first chunk (or pass a non-stream value through). */
  private open(source: unknown): void {
    const s = source as { [Symbol.asyncIterator]?: unknown; getReader?: unknown } | null | undefined;
    if (this.state === DONE) {
      closeLate(s, this.scope.signal.reason);
      return;
    }
    try {
      // A web stream is read through its reader even where it is async-iterable too (Node, Deno,
      // Bun, Chromium 124+): its iterator's `return()` waits for a pending read (WebIDL queues it
      // behind `next()`), so a stalled stream would never be cancelled, while `reader.cancel()`
      // cancels at once and settles the pending read.
      if (typeof s?.getReader === 'function') this.reader = (s as ReadableStreamLike<unknown>).getReader();
      else if (typeof s?.[Symbol.asyncIterator] === 'function')
        this.it = (s as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      else {
        // Not a stream: its arrival is the "first chunk"; nothing is left to time.
        this.teardown(NONE, false);
        this.pending = false;
        this.resolve(source);
        return;
      }
    } catch (error) {
      this.fail('error', error, error);
      return;
    }
    this.pull();
  }

  private pull(): void {
    let q: unknown;
    try {
      q = this.reader !== undefined ? this.reader.read() : (this.it as AsyncIterator<unknown>).next();
    } catch (error) {
      this.fail('error', error, error);
      return;
    }
    Promise.resolve(q as Chunk).then(this.onChunk, this.onError);
  }

  private chunk(r: Chunk): void {
    if (this.state === DONE) return; // late: the stream already ended (timeout, abort, return)
    if (typeof r !== 'object' || r === null) {
      const e = new TypeError(`Expected the stream's next() to resolve to an object, got ${String(r)}`);
      this.fail('error', e, e);
      return;
    }
    const layer = this.layer;
    if (r.done) {
      const before = this.state === BEFORE;
      this.teardown(NONE, false);
      this.pending = false;
      // An empty stream is a stream that ended: `execute` resolves to it, and it yields nothing.
      this.resolve(before ? this : END);
      layer.ended('complete', this);
      return;
    }
    this.chunks++;
    if (this.state === OPEN) {
      if (layer.idle < Number.POSITIVE_INFINITY) this.idleDue = layer.clock.now() + layer.idle;
      this.pending = false;
      this.resolve(r);
      return;
    }
    const now = layer.clock.now();
    this.state = OPEN;
    this.idleDue = now + layer.idle;
    this.arm(now);
    this.first = r;
    layer.firstChunkIn(now - this.start);
    this.pending = false;
    this.resolve(this);
  }

  /** The nearest limit that applies in the current state. */
  private due(): number {
    const d = this.state === BEFORE ? this.firstDue : this.idleDue;
    return Math.min(d, this.totalDue);
  }

  /** Makes the one timer due no later than the nearest limit (an early timer re-arms itself). */
  private arm(now: number): void {
    const due = this.due();
    const clock = this.layer.clock;
    const armed = !Number.isNaN(this.armedAt);
    if (armed && this.armedAt <= due && due < Number.POSITIVE_INFINITY) return;
    if (armed) {
      clock.clearTimeout(this.timer);
      this.armedAt = Number.NaN;
    }
    if (due === Number.POSITIVE_INFINITY) return;
    this.armedAt = due;
    this.timer = clock.setTimeout(this.onTimer, due - now);
  }

  private expire(): void {
    this.armedAt = Number.NaN;
    if (this.state === DONE) return;
    const layer = this.layer;
    const now = layer.clock.now();
    const d = this.state === BEFORE ? this.firstDue : this.idleDue;
    let phase: StreamTimeoutPhase | undefined;
    if (d <= now && d <= this.totalDue) phase = this.state === BEFORE ? 'first-chunk' : 'idle';
    else if (this.totalDue <= now) phase = 'total';
    if (phase === undefined) {
      this.arm(now); // a chunk moved the idle limit on since the timer was armed
      return;
    }
    const ms = phase === 'first-chunk' ? layer.firstChunk : phase === 'idle' ? layer.idle : layer.total;
    const error = new StreamTimeoutError(phase, ms);
    layer.timedOut(phase, ms);
    this.fail('timeout', error, error);
  }

  /**
   * Ends the run with `error`: `execute` or the pending `next()` rejects with it (or the next
   * `next()` will). `abort` is the reason to abort the call's signal with (`NONE` when it already is).
   */
  private fail(outcome: StreamEndOutcome, error: unknown, abort: unknown): void {
    if (this.state === DONE) return;
    const before = this.state === BEFORE;
    // A source that failed is done (iterator protocol); any other end closes it.
    this.teardown(abort, outcome !== 'error');
    if (this.pending) {
      this.pending = false;
      this.reject(error);
    } else this.error = error;
    if (!before) this.layer.ended(outcome, this);
  }

  /** Clears the timer and every listener, aborts the call's signal if asked, closes the source. */
  private teardown(abort: unknown, close: boolean): void {
    this.state = DONE;
    if (!Number.isNaN(this.armedAt)) {
      this.layer.clock.clearTimeout(this.timer);
      this.armedAt = Number.NaN;
    }
    const scope = this.scope;
    scope.signal.removeEventListener('abort', this);
    this.caller?.removeEventListener('abort', this);
    scope.dispose();
    if (abort !== NONE) scope.abort(abort);
    const it = this.it;
    const reader = this.reader;
    this.it = this.reader = undefined;
    try {
      if (reader !== undefined) {
        if (close) Promise.resolve(reader.cancel(scope.signal.reason)).then(undefined, noop);
        reader.releaseLock();
      } else if (close && typeof it?.return === 'function') Promise.resolve(it.return()).then(undefined, noop);
    } catch {
      // A source that fails to close is left to its signal, which is aborted.
    }
  }
}

/** Closes a source that arrived after its run ended (its signal is already aborted). */
function closeLate(source: unknown, reason: unknown): void {
  const s = source as { cancel?: (r: unknown) => unknown; [Symbol.asyncIterator]?: () => AsyncIterator<unknown> };
  try {
    if (typeof s?.cancel === 'function') Promise.resolve(s.cancel(reason)).then(undefined, noop);
    else {
      const make = s?.[Symbol.asyncIterator];
      if (typeof make !== 'function') return;
      const it = make.call(s);
      if (typeof it.return === 'function') Promise.resolve(it.return()).then(undefined, noop);
    }
  } catch {
    // Nothing more can be done for it: its signal is aborted.
  }
}

class StreamTimeoutLayer extends BaseLayer<StreamTimeoutEvent> {
  readonly firstChunk: number;
  readonly idle: number;
  readonly total: number;
  readonly clock: Omit<Clock, 'sleep'>;

  constructor(o: StreamTimeoutOptions) {
    super('stream-timeout', o.name);
    const limit = (name: string, v: unknown): number =>
      v === undefined ? Number.POSITIVE_INFINITY : checkNumber(name, v, 0, { exclusiveMin: true });
    this.firstChunk = limit('firstChunk', o.firstChunk);
    this.idle = limit('idle', o.idle);
    this.total = limit('total', o.total);
    if (o.firstChunk === undefined && o.idle === undefined && o.total === undefined) {
      throw new TypeError('Expected at least one of `firstChunk`, `idle`, `total`');
    }
    checkObject('clock', o.clock);
    this.clock = o.clock ?? systemTimers;
  }

  run(ctx: CallContext, inner: Chain | undefined): Promise<unknown> {
    try {
      throwIfAborted(ctx);
    } catch (reason) {
      return Promise.reject(reason);
    }
    return new StreamRun(this, ctx, inner).promise;
  }

  firstChunkIn(ms: number): void {
    if (this.listening('first-chunk')) this.emit({ type: 'first-chunk', kind: 'stream-timeout', name: this.name, ms });
  }

  timedOut(phase: StreamTimeoutPhase, ms: number): void {
    if (this.listening('timeout')) this.emit({ type: 'timeout', kind: 'stream-timeout', name: this.name, phase, ms });
  }

  ended(outcome: StreamEndOutcome, run: StreamRun): void {
    if (this.listening('stream-end'))
      this.emit({
        type: 'stream-end',
        kind: 'stream-timeout',
        name: this.name,
        outcome,
        chunks: run.chunks,
        ms: this.clock.now() - run.start,
      });
  }
}

/**
 * Time limits for a streaming call (an LLM token stream, a server-sent event stream). `fn` returns
 * an `AsyncIterable` (an SDK stream, an async generator) or a web `ReadableStream`, or a promise of
 * one. `execute` pulls the first chunk itself and resolves, to a stream that yields that chunk and
 * then the rest, only once it has arrived: until then every failure — a first chunk later than
 * `firstChunk`, an error from `fn` or the source — is an ordinary rejection that outer `retry`,
 * `fallback` or `circuitBreaker` handle. After it, an error or a stall (`idle`, `total`) makes the
 * stream's `next()` reject and is never retried, so no output is duplicated.
 *
 * A limit that passes aborts the signal `fn` sees with a `StreamTimeoutError` (`phase`, `ms`) and
 * closes the source. That signal belongs to the stream for its whole life: it follows the caller's
 * signal until the stream ends (the caller's abort rejects with the caller's reason), and `break`
 * or `return()` aborts it. An empty stream resolves to a stream that yields nothing. One timer per
 * stream, re-armed only when needed (not per chunk).
 *
 * @throws TypeError / RangeError when no limit is given or a limit is not a number > 0.
 * @example
 * ```ts
 * const llm = Policy.wrap(
 *   retry({ maxRetries: 2 }),                                  // retries only before the first chunk
 *   streamTimeout({ firstChunk: 10_000, idle: 5_000, total: 120_000 }),
 * );
 * const stream: AsyncIterable<ChatCompletionChunk> = await llm.execute(({ signal }) =>
 *   client.chat.completions.create({ model, messages, stream: true }, { signal }),
 * );
 * for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta.content ?? '');
 * ```
 */
export function streamTimeout(options: StreamTimeoutOptions): StreamPolicy {
  checkObject('options', options);
  if (options === undefined || options === null) {
    throw new TypeError('Expected `streamTimeout` options with `firstChunk`, `idle` or `total`');
  }
  return new Pipeline<StreamTimeoutEvent>([
    new StreamTimeoutLayer(options),
  ]) as Policy<StreamTimeoutEvent> as StreamPolicy;
}
