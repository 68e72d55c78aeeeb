// Model-based test of one stream's life: random chunk arrivals, source ends and failures, consumer
// next() and return(), clock advances and caller aborts, against a model of the three limits, the
// buffered first chunk and the consumer's pending read. After every step the outcome of execute,
// every next() and, once the stream is over, the timers, the caller's listeners, the source's
// return() and the call's signal are compared with the model.
import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Policy } from '../../src/core/policy.js';
import { isStreamTimeoutError, streamTimeout } from '../../src/stream/index.js';
import { type VirtualClock, virtualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { type Manual, manualSource, track } from './support.js';

interface Cfg {
  readonly firstChunk: number | undefined;
  readonly idle: number | undefined;
  readonly total: number | undefined;
  readonly caller: boolean;
  /** Inside an outer `timeout` (that never fires here): the stream's scope then has a parent scope. */
  readonly outer: boolean;
}

type Item = { kind: 'value'; v: number } | { kind: 'end' } | { kind: 'error' };
type Result = 'pending' | 'done' | { value: number } | { error: string };

interface Model {
  cfg: Cfg;
  now: number;
  state: 'before' | 'open' | 'done';
  exposed: boolean;
  exec: 'pending' | 'ok' | 'empty' | { error: string };
  queue: Item[];
  pulling: boolean;
  srcFinished: boolean;
  first: number | undefined;
  stored: string | undefined;
  consumer: number | undefined;
  results: Result[];
  idleDue: number;
  nextValue: number;
  /** How the run ended: what the call's signal and the source must show. */
  end: 'complete' | 'error' | 'timeout' | 'abort' | 'return' | undefined;
  abortedCaller: boolean;
}

interface Real {
  policy: Policy;
  clock: VirtualClock;
  src: Manual<number>;
  caller: AbortController;
  callerReason: Error;
  boom: Error;
  signal: AbortSignal | undefined;
  exec: ReturnType<typeof track<AsyncIterableIterator<number>>>;
  results: ReturnType<typeof track<IteratorResult<number>>>[];
}

const INF = Number.POSITIVE_INFINITY;

function describeError(r: Real, e: unknown): string {
  if (isStreamTimeoutError(e)) return `timeout:${e.phase}`;
  if (e === r.callerReason) return 'abort';
  if (e === r.boom) return 'boom';
  return `unexpected:${String(e)}`;
}

function fail(m: Model, error: string, end: Model['end']): void {
  if (m.state === 'done') return;
  if (m.state === 'before') m.exec = { error };
  else if (m.consumer !== undefined) {
    m.results[m.consumer] = { error };
    m.consumer = undefined;
  } else m.stored = error;
  m.state = 'done';
  m.pulling = false;
  m.end = end;
}

function arrive(m: Model, item: Item): void {
  m.pulling = false;
  if (item.kind === 'error') {
    fail(m, 'boom', 'error');
    return;
  }
  if (item.kind === 'end') {
    if (m.state === 'before') {
      m.exec = 'empty';
      m.exposed = true;
    } else if (m.consumer !== undefined) {
      m.results[m.consumer] = 'done';
      m.consumer = undefined;
    }
    m.state = 'done';
    m.end = 'complete';
    return;
  }
  m.idleDue = m.now + (m.cfg.idle ?? INF);
  if (m.state === 'before') {
    m.state = 'open';
    m.first = item.v;
    m.exec = 'ok';
    m.exposed = true;
  } else if (m.consumer !== undefined) {
    m.results[m.consumer] = { value: item.v };
    m.consumer = undefined;
  }
}

async function settle(r: Real): Promise<void> {
  await r.clock.flush();
}

function check(m: Model, r: Real): void {
  const e = r.exec;
  if (m.exec === 'pending') expect(e.state).toBe('pending');
  else if (m.exec === 'ok' || m.exec === 'empty') expect(e.state).toBe('ok');
  else {
    expect(e.state).toBe('error');
    expect(describeError(r, e.error)).toBe(m.exec.error);
  }
  m.results.forEach((want, i) => {
    const got = r.results[i];
    if (got === undefined) throw new Error(`no real result ${i}`);
    if (want === 'pending') expect(got.state, `next #${i}`).toBe('pending');
    else if (want === 'done') expect(got.value, `next #${i}`).toEqual({ done: true, value: undefined });
    else if ('value' in want) expect(got.value, `next #${i}`).toEqual({ done: false, value: want.value });
    else {
      expect(got.state, `next #${i}`).toBe('error');
      expect(describeError(r, got.error), `next #${i}`).toBe(want.error);
    }
  });
  if (m.state === 'done') {
    // An outer timeout keeps its one shared timer, unref'd while idle: count the ref'd ones then.
    expect(m.cfg.outer ? r.clock.pending : r.clock.scheduled, 'timers left').toBe(0);
    expect(getEventListeners(r.caller.signal, 'abort'), 'caller listeners left').toHaveLength(0);
    const closedByUs = m.end === 'timeout' || m.end === 'abort' || m.end === 'return';
    expect(r.src.returned, `source return() after ${m.end}`).toBe(closedByUs ? 1 : 0);
    const s = r.signal as AbortSignal;
    if (m.end === 'complete') expect(s.aborted).toBe(false);
    else {
      expect(s.aborted).toBe(true);
      if (m.end === 'return') expect((s.reason as Error).name).toBe('AbortError');
      else if (m.end === 'abort') expect(s.reason).toBe(r.callerReason);
      else if (m.end === 'error') expect(s.reason).toBe(r.boom);
      else expect(isStreamTimeoutError(s.reason)).toBe(true);
    }
  } else {
    expect(r.signal?.aborted).toBe(false);
  }
}

class Push implements fc.AsyncCommand<Model, Real> {
  readonly kind: Item['kind'];
  constructor(kind: Item['kind']) {
    this.kind = kind;
  }
  check = (m: Readonly<Model>) => !m.srcFinished;
  async run(m: Model, r: Real): Promise<void> {
    const item: Item = this.kind === 'value' ? { kind: 'value', v: m.nextValue++ } : { kind: this.kind };
    if (item.kind === 'value') r.src.push(item.v);
    else if (item.kind === 'end') r.src.end();
    else r.src.fail(r.boom);
    if (item.kind !== 'value') m.srcFinished = true;
    if (m.state !== 'done') {
      if (m.pulling) arrive(m, item);
      else m.queue.push(item);
    }
    await settle(r);
    check(m, r);
  }
  toString = () => `push(${this.kind})`;
}

class Next implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.exposed && m.consumer === undefined;
  async run(m: Model, r: Real): Promise<void> {
    const stream = r.exec.value as AsyncIterableIterator<number>;
    const i = m.results.length;
    r.results.push(track(stream.next()));
    m.results.push('pending');
    if (m.first !== undefined) {
      m.results[i] = { value: m.first };
      m.first = undefined;
    } else if (m.state === 'done') {
      if (m.stored !== undefined) {
        m.results[i] = { error: m.stored };
        m.stored = undefined;
      } else m.results[i] = 'done';
    } else {
      m.consumer = i;
      const item = m.queue.shift();
      if (item !== undefined) arrive(m, item);
      else m.pulling = true;
    }
    await settle(r);
    check(m, r);
  }
  toString = () => 'next';
}

class Return implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.exposed;
  async run(m: Model, r: Real): Promise<void> {
    const stream = r.exec.value as AsyncIterableIterator<number>;
    const got = await (stream.return as () => Promise<IteratorResult<number>>)();
    expect(got).toEqual({ done: true, value: undefined });
    m.first = undefined;
    m.stored = undefined;
    if (m.state === 'open') {
      if (m.consumer !== undefined) {
        m.results[m.consumer] = 'done';
        m.consumer = undefined;
      }
      m.state = 'done';
      m.pulling = false;
      m.end = 'return';
    }
    await settle(r);
    check(m, r);
  }
  toString = () => 'return';
}

class Abort implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.cfg.caller && !m.abortedCaller;
  async run(m: Model, r: Real): Promise<void> {
    m.abortedCaller = true;
    r.caller.abort(r.callerReason);
    fail(m, 'abort', 'abort');
    await settle(r);
    check(m, r);
  }
  toString = () => 'abort';
}

class Advance implements fc.AsyncCommand<Model, Real> {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const target = m.now + this.ms;
    const { firstChunk, total } = m.cfg;
    const firstDue = firstChunk ?? INF;
    const totalDue = total ?? INF;
    while (m.state !== 'done') {
      const d = m.state === 'before' ? firstDue : m.idleDue;
      const due = Math.min(d, totalDue);
      if (due > target) break;
      m.now = due;
      const phase = d <= totalDue ? (m.state === 'before' ? 'first-chunk' : 'idle') : 'total';
      fail(m, `timeout:${phase}`, 'timeout');
    }
    m.now = target;
    await r.clock.advance(this.ms);
    check(m, r);
  }
  toString = () => `advance(${this.ms})`;
}

const limit = (xs: number[]) => fc.option(fc.constantFrom(...xs), { nil: undefined });
const cfgArb = fc
  .record({
    firstChunk: limit([50, 120]),
    idle: limit([30, 80]),
    total: limit([200, 500]),
    caller: fc.boolean(),
    outer: fc.boolean(),
  })
  .filter((c) => c.firstChunk !== undefined || c.idle !== undefined || c.total !== undefined);

const commands = fc.commands(
  [
    fc.constant(new Push('value')),
    fc.constant(new Push('value')),
    fc.constantFrom<Item['kind']>('end', 'error').map((k) => new Push(k)),
    fc.constant(new Next()),
    fc.constant(new Next()),
    fc.constant(new Return()),
    fc.constant(new Abort()),
    fc.constantFrom(5, 20, 40, 100).map((ms) => new Advance(ms)),
  ],
  { maxCommands: 40, size: 'max' },
);

describe('streamTimeout model', () => {
  it('matches the model of limits, first chunk, consumer reads, aborts and cleanup', async () => {
    await fc.assert(
      fc.asyncProperty(cfgArb, commands, async (cfg, cmds) => {
        const clock = virtualClock({ flushTurns: 20 });
        const src = manualSource<number>();
        const caller = new AbortController();
        const inner = streamTimeout({ firstChunk: cfg.firstChunk, idle: cfg.idle, total: cfg.total, clock });
        const policy: Policy = cfg.outer ? Policy.wrap(timeout({ after: 1e6, clock }), inner) : inner;
        const real: Real = {
          policy,
          clock,
          src,
          caller,
          callerReason: new Error('caller'),
          boom: new Error('boom'),
          signal: undefined,
          exec: undefined as never,
          results: [],
        };
        // Inside Policy.wrap the result is typed as what fn returns; at run time it is the timed stream.
        real.exec = track(
          policy.execute(
            (ctx) => {
              real.signal = ctx.signal;
              return src;
            },
            cfg.caller ? { signal: caller.signal } : undefined,
          ) as Promise<unknown> as Promise<AsyncIterableIterator<number>>,
        );
        await clock.flush();
        const model: Model = {
          cfg,
          now: 0,
          state: 'before',
          exposed: false,
          exec: 'pending',
          queue: [],
          pulling: true,
          srcFinished: false,
          first: undefined,
          stored: undefined,
          consumer: undefined,
          results: [],
          idleDue: INF,
          nextValue: 0,
          end: undefined,
          abortedCaller: false,
        };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        // Whatever happened, a consumer that returns leaves nothing behind.
        if (model.exposed) {
          await (real.exec.value as AsyncIterableIterator<number>).return?.();
          expect(clock.pending).toBe(0);
          expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});
