// A stream an endpoint answered with, passed on chunk by chunk while its token usage is read
// (OpenAI's last chunk, Anthropic's message_start / message_delta): when it ends, the tokens are
// accounted and the `usage` event emitted. A failure after the first chunk reaches the consumer (it
// is never failed over) and counts against the endpoint's health. Without the target's `stream`
// option, it also keeps the caller's abort linked to the attempt's signal until the stream ends,
// as `breakwater/stream` does: the attempt (and its policy) settled when the stream object arrived,
// which released the attempt's signal from the caller's.
import type { AbortScope, CallContext } from '../core/context.js';
import type { RateLimitLease } from '../rate-limit/rate-limit.js';
import type { Lane, Pass } from './call.js';
import type { EndpointState } from './gateway.js';
import { priceOf, type TokenUsage } from './usage.js';

const END: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });
const NONE: unique symbol = Symbol();
const noop = (): void => {};

/** The model a chunk names: OpenAI's `model`, Anthropic's `message.model`, OpenAI Responses' `response.model`. */
function modelOf(chunk: unknown): string | undefined {
  if (typeof chunk !== 'object' || chunk === null) return undefined;
  const c = chunk as { model?: unknown; message?: { model?: unknown } | null; response?: { model?: unknown } | null };
  const m = c.model ?? c.message?.model ?? c.response?.model;
  return typeof m === 'string' ? m : undefined;
}

/** @internal */
export class MeteredStream implements AsyncIterableIterator<unknown> {
  declare readonly pass: Pass;
  declare readonly ep: EndpointState;
  declare readonly i: number;
  declare readonly epoch: number;
  /** The attempt's tpm lease on its endpoint, trued up when the stream ends. */
  declare readonly lease: RateLimitLease | undefined;
  declare it: AsyncIterator<unknown> | undefined;
  declare readonly source: AsyncIterable<unknown>;
  declare input: number;
  declare output: number;
  declare seen: boolean;
  declare done: boolean;
  /** Chunks received, and whether the source reached its end (its last chunk carries OpenAI's usage). */
  declare chunks: number;
  declare complete: boolean;
  /** The model that answered, from the chunks (OpenAI's `model`, Anthropic's `message_start`). */
  declare model: string | undefined;
  declare readonly onChunk: (r: IteratorResult<unknown>) => IteratorResult<unknown>;
  declare readonly onError: (error: unknown) => never;
  /** The caller's signal, while the stream is linked to it. */
  declare caller: AbortSignal | undefined;
  /** The attempt's context and scope: whose signal the endpoint saw (aborted with the caller's reason). */
  declare readonly ctx: CallContext | undefined;
  declare readonly scope: AbortScope | undefined;
  /** The caller's abort reason once it aborted the stream (`NONE` before). */
  declare reason: unknown;
  /** Rejects with the caller's reason when it aborts: raced against each pending `next()`. */
  declare aborted: Promise<never> | undefined;
  declare rejectAborted: ((reason: unknown) => void) | undefined;
  /** Reads of the source in progress. */
  declare reading: number;
  /** The usage was accounted and the budget reservation given back (once). */
  declare settled: boolean;
  /** The signal of the streamTimeout that owns the stream (target option `stream`), while watched. */
  declare closed: AbortSignal | undefined;
  declare readonly onClosed: () => void;

  constructor(
    source: AsyncIterable<unknown>,
    pass: Pass,
    ep: EndpointState,
    i: number,
    lease: RateLimitLease | undefined,
    link: Lane | undefined,
    closed?: AbortSignal,
  ) {
    this.lease = lease;
    this.source = source;
    this.pass = pass;
    this.ep = ep;
    this.i = i;
    // The endpoint's epoch after the first chunk: a later failure counts only if nothing changed since.
    this.epoch = pass.t.health.eps[i]?.epoch ?? 0;
    this.it = undefined;
    this.input = this.output = 0;
    this.seen = this.done = this.complete = false;
    this.chunks = 0;
    this.model = undefined;
    this.onChunk = (r) => this.chunk(r);
    this.onError = (e) => this.fail(e);
    this.reason = NONE;
    this.ctx = link?.ctx;
    this.scope = link?.scope;
    this.caller = this.aborted = this.rejectAborted = undefined;
    this.reading = 0;
    this.settled = false;
    this.closed = undefined;
    // The streamTimeout ended the stream with no read pending (a read in progress ends through it):
    // account now rather than when — if ever — the consumer reads again.
    this.onClosed = () => {
      if (this.reading === 0) this.settle();
    };
    if (closed !== undefined) {
      if (closed.aborted) this.settle();
      else {
        this.closed = closed;
        closed.addEventListener('abort', this.onClosed, { once: true });
      }
    }
    const caller = link === undefined ? undefined : pass.call.signal;
    if (caller !== undefined) {
      this.caller = caller;
      this.aborted = new Promise<never>((_, reject) => {
        this.rejectAborted = reject;
      });
      this.aborted.then(undefined, noop);
      if (caller.aborted) this.abort(caller.reason);
      else caller.addEventListener('abort', this, { once: true });
    }
  }

  /** The caller's signal aborted. @internal */
  handleEvent(): void {
    this.abort(this.caller?.reason);
  }

  /**
   * The caller aborted while the stream lives: the attempt's signal is aborted with its reason (the
   * client closes the request), the source is closed, and the pending `next()` (and every later one)
   * rejects with that reason, never relabelled.
   */
  abort(reason: unknown): void {
    if (this.done) return;
    this.reason = reason;
    this.finish();
    this.scope?.abort(reason);
    const c = this.ctx;
    if (c !== undefined) (c.o ?? c).r?.abort(reason);
    this.rejectAborted?.(reason);
    try {
      const it = this.it ?? this.source[Symbol.asyncIterator]();
      if (it.return !== undefined) Promise.resolve(it.return()).then(undefined, noop);
    } catch {
      // Closing is best effort: the request's signal is aborted.
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.done) return this.reason === NONE ? Promise.resolve(END) : Promise.reject(this.reason);
    try {
      this.it ??= this.source[Symbol.asyncIterator]();
      this.reading++;
      const p = Promise.resolve(this.it.next()).then(this.onChunk, this.onError);
      const aborted = this.aborted;
      return aborted === undefined ? p : Promise.race([p, aborted]);
    } catch (error) {
      return Promise.reject(this.fail(error));
    }
  }

  return(): Promise<IteratorResult<unknown>> {
    if (!this.done) {
      this.finish();
      try {
        // A stream never read is closed too (a hedge discarding a late answer, a consumer that gave up).
        const it = this.it ?? this.source[Symbol.asyncIterator]();
        if (it.return !== undefined)
          return Promise.resolve(it.return()).then(
            () => END,
            () => END,
          );
      } catch {
        // Closing is best effort.
      }
    }
    return Promise.resolve(END);
  }

  chunk(r: IteratorResult<unknown>): IteratorResult<unknown> {
    this.reading--;
    if (this.done) return r;
    if (r.done) {
      this.complete = true;
      this.finish();
      return r;
    }
    this.chunks++;
    if (this.model === undefined) this.model = modelOf(r.value);
    let u: TokenUsage | undefined;
    try {
      u = this.pass.t.chunkUsage(r.value);
    } catch {
      u = undefined;
    }
    if (u !== undefined) {
      this.seen = true;
      if (u.inputTokens > this.input) this.input = u.inputTokens;
      if (u.outputTokens > this.output) this.output = u.outputTokens;
    }
    return r;
  }

  fail(error: unknown): never {
    if (this.reading > 0) this.reading--;
    if (!this.done) {
      this.finish();
      const call = this.pass.call;
      const gw = call.gw;
      const t = this.pass.t;
      const h = t.health.eps[this.i];
      // The consumer's own abort says nothing about the endpoint.
      if (!call.signal?.aborted && h !== undefined && h.epoch === this.epoch && h.state === 'healthy') {
        const cls = gw.classify(error);
        this.ep.totals.errors++;
        t.totals.errors++;
        this.pass.transition(this.i, t.health.end(this.i, this.epoch, cls, gw.clock.now()), cls);
      }
    }
    throw error;
  }

  /**
   * Unlinks the caller's signal and accounts the tokens: those the chunks reported, else (a stream
   * that ended without its usage: closed early, or OpenAI without `include_usage`) the estimate —
   * the request's estimated prompt tokens and one output token per chunk received.
   */
  finish(): void {
    this.done = true;
    const caller = this.caller;
    if (caller !== undefined) {
      this.caller = undefined;
      caller.removeEventListener('abort', this);
    }
    this.settle();
  }

  /** Accounts the stream's usage and gives the budget reservation back, once. */
  settle(): void {
    if (this.settled) return;
    this.settled = true;
    const closed = this.closed;
    if (closed !== undefined) {
      this.closed = undefined;
      closed.removeEventListener('abort', this.onClosed);
    }
    // The endpoint's concurrency slot, held while the stream was open (see `Pass.attempt`).
    this.ep.inflight--;
    const t = this.pass.t;
    if (t.waiters.size > 0) t.wake();
    const call = this.pass.call;
    call.release(); // the budget reservation gives way to the cost accounted here
    let input = this.input;
    let output = this.output;
    let estimated = false;
    if (!this.seen) {
      input = call.inputEstimate(this.pass.t);
      output = this.chunks;
      estimated = true;
    } else if (!this.complete && this.chunks > output) {
      output = this.chunks; // the final output count never came
      estimated = true;
    }
    const usage: TokenUsage = { inputTokens: input, outputTokens: output };
    try {
      const p = this.lease?.trueUp(input + output);
      if (p instanceof Promise) p.then(undefined, () => {});
    } catch {
      // Bookkeeping only.
    }
    const model = this.model;
    call.account(
      this.pass.t,
      this.ep,
      usage,
      priceOf(usage, this.ep.price),
      false,
      model === undefined ? undefined : { model },
      estimated,
    );
  }
}
