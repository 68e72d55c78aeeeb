// Model-based test: random sequences of calls (succeeding, failing with handled or unhandled
// errors, returning a handled result, running slowly, aborted by the caller), clock advances,
// isolation, reset and snapshot round-trips, checked against a deliberately simple model that
// keeps the raw list of outcomes and recomputes every rule from it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BreakerState,
  BrokenCircuitError,
  type CircuitBreaker,
  type CircuitBreakerOptions,
  circuitBreaker,
  consecutive,
  countWindow,
  failureRate,
  IsolatedCircuitError,
  type IsolationHandle,
} from '../../src/breaker/index.js';
import { type VirtualClock, virtualClock } from '../../src/testing/index.js';

type Rule =
  | { type: 'consecutive'; n: number }
  | { type: 'rate'; threshold: number; min: number }
  | { type: 'count'; size: number; min: number };

interface Config {
  rule: Rule;
  slow: boolean; // slowCall { duration: 50, rate: 0.5 }
  escalate: boolean; // breakDuration n => 100 n, else 200
  probes: number;
}

interface Rec {
  t: number;
  failed: boolean;
  slow: boolean;
}

interface Model {
  cfg: Config;
  state: BreakerState;
  openUntil: number;
  openings: number;
  opens: number;
  succeeded: number;
  isolations: number;
  records: Rec[];
}

interface Real {
  clock: VirtualClock;
  breaker: CircuitBreaker;
  options: CircuitBreakerOptions;
  handles: IsolationHandle[];
  opens: number;
}

const SLOW_MS = 50;
const breakFor = (cfg: Config, n: number) => (cfg.escalate ? 100 * n : 200);

function lazyState(m: Model, now: number): BreakerState {
  if (m.state === 'open' && now >= m.openUntil) {
    m.state = 'half-open';
    m.succeeded = 0;
  }
  return m.state;
}

function modelOpens(m: Model, now: number): boolean {
  const r = m.cfg.rule;
  let live: Rec[];
  if (r.type === 'consecutive') {
    let k = 0;
    for (let i = m.records.length - 1; i >= 0 && (m.records[i]!.failed || m.records[i]!.slow); i--) k++;
    return k >= r.n;
  }
  if (r.type === 'rate') live = m.records.filter((x) => Math.floor(x.t / 200) > Math.floor(now / 200) - 5);
  else live = m.records.slice(-r.size);
  const f = live.filter((x) => x.failed).length;
  const s = live.filter((x) => x.slow).length;
  const rate = r.type === 'rate' ? r.threshold : 0.5;
  return live.length >= r.min && (f / live.length >= rate || (m.cfg.slow && s / live.length >= 0.5));
}

function open(m: Model, now: number): void {
  m.openings++;
  m.opens++;
  m.state = 'open';
  m.openUntil = now + breakFor(m.cfg, m.openings);
}

function close(m: Model): void {
  m.state = 'closed';
  m.openings = 0;
  m.records = [];
}

type Kind = 'ok' | 'fail' | 'ignored' | 'abort' | 'bad-result';

class CallCommand implements fc.AsyncCommand<Model, Real> {
  readonly kind: Kind;
  readonly duration: number;
  constructor(kind: Kind, duration: number) {
    this.kind = kind;
    this.duration = duration;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const now = r.clock.now();
    const state = lazyState(m, now);
    let called = false;
    const ac = new AbortController();
    const p = r.breaker
      .execute(
        async () => {
          called = true;
          await r.clock.sleep(this.duration);
          if (this.kind === 'fail') throw new Error('boom');
          if (this.kind === 'ignored') throw new Error('ignored');
          if (this.kind === 'abort') {
            ac.abort(new Error('caller abort'));
            throw ac.signal.reason;
          }
          return this.kind === 'bad-result' ? 'bad' : 'good';
        },
        { signal: ac.signal },
      )
      .then(
        (value) => ({ ok: true, value }) as const,
        (error: unknown) => ({ ok: false, error }) as const,
      );
    if (state === 'isolated' || state === 'open') {
      const out = await p;
      expect(called).toBe(false);
      expect(out.ok).toBe(false);
      if (state === 'isolated') expect((out as { error: unknown }).error).toBeInstanceOf(IsolatedCircuitError);
      else {
        const e = (out as { error: BrokenCircuitError }).error;
        expect(e).toBeInstanceOf(BrokenCircuitError);
        expect(e.retryAfter).toBe(m.openUntil - now);
      }
      return;
    }
    await r.clock.advance(this.duration);
    const out = await p;
    expect(called).toBe(true);
    expect(out.ok).toBe(this.kind === 'ok' || this.kind === 'bad-result');
    if (this.kind === 'ignored' || this.kind === 'abort') return; // counts neither way
    const end = now + this.duration;
    const failed = this.kind !== 'ok';
    const slow = m.cfg.slow && this.duration > SLOW_MS;
    m.records.push({ t: end, failed, slow });
    if (state === 'closed') {
      if ((failed || slow) && modelOpens(m, end)) open(m, end);
    } else if (failed || slow) open(m, end);
    else if (++m.succeeded >= m.cfg.probes) close(m);
  }
  toString = () => `call(${this.kind}, ${this.duration})`;
}

class AdvanceCommand implements fc.AsyncCommand<Model, Real> {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check = () => true;
  async run(_m: Model, r: Real): Promise<void> {
    await r.clock.advance(this.ms);
  }
  toString = () => `advance(${this.ms})`;
}

class IsolateCommand implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    r.handles.push(r.breaker.isolate());
    m.isolations++;
    m.state = 'isolated';
  }
  toString = () => 'isolate';
}

class ReleaseCommand implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.isolations > 0;
  async run(m: Model, r: Real): Promise<void> {
    r.handles.pop()?.release();
    if (--m.isolations === 0) close(m);
  }
  toString = () => 'release';
}

class ResetCommand implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    r.breaker.reset();
    r.handles = [];
    m.isolations = 0;
    close(m);
  }
  toString = () => 'reset';
}

class RoundTripCommand implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    lazyState(m, r.clock.now());
    const snap = JSON.parse(JSON.stringify(r.breaker.snapshot()));
    const restored = circuitBreaker({ ...r.options, initialState: snap });
    expect(restored.snapshot()).toEqual(snap);
    r.breaker = restored;
    r.breaker.on('open', () => r.opens++);
    r.handles = []; // handles of the old instance do not govern the new one
    m.isolations = 0; // a restored isolation ends with the next released handle (or reset)
    m.succeeded = 0; // a restored half-open state starts probing afresh
  }
  toString = () => 'roundTrip';
}

const ruleArb: fc.Arbitrary<Rule> = fc.oneof(
  fc.record({ type: fc.constant('consecutive' as const), n: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    type: fc.constant('rate' as const),
    threshold: fc.constantFrom(0.5, 1),
    min: fc.integer({ min: 1, max: 4 }),
  }),
  fc.integer({ min: 1, max: 4 }).chain((size) =>
    fc.record({
      type: fc.constant('count' as const),
      size: fc.constant(size),
      min: fc.integer({ min: 1, max: size }),
    }),
  ),
);

const configArb: fc.Arbitrary<Config> = fc.record({
  rule: ruleArb,
  slow: fc.boolean(),
  escalate: fc.boolean(),
  probes: fc.integer({ min: 1, max: 2 }),
});

const callArb = fc
  .tuple(
    fc.constantFrom<Kind>('ok', 'ok', 'fail', 'fail', 'ignored', 'abort', 'bad-result'),
    fc.constantFrom(0, 10, 60, 120),
  )
  .map(([k, d]) => new CallCommand(k, d));
const advanceArb = fc.oneof(fc.constantFrom(100, 200, 400), fc.integer({ min: 0, max: 600 }));

const commandsArb = fc.commands(
  [
    callArb,
    callArb,
    callArb,
    advanceArb.map((ms) => new AdvanceCommand(ms)),
    fc.constant(new IsolateCommand()),
    fc.constant(new ReleaseCommand()),
    fc.constant(new ResetCommand()),
    fc.constant(new RoundTripCommand()),
  ],
  { maxCommands: 50, size: 'max' },
);

function optionsFor(cfg: Config, clock: VirtualClock): CircuitBreakerOptions {
  const r = cfg.rule;
  const strategy =
    r.type === 'consecutive'
      ? consecutive(r.n)
      : r.type === 'rate'
        ? failureRate({ threshold: r.threshold, minThroughput: r.min, window: 1000, buckets: 5 })
        : countWindow({ size: r.size, threshold: 0.5, minCalls: r.min });
  return {
    strategy,
    clock,
    breakDuration: cfg.escalate ? (n: number) => 100 * n : 200,
    halfOpen: { probes: cfg.probes },
    handle: (e) => (e as Error).message !== 'ignored',
    handleResult: (v) => v === 'bad',
    ...(cfg.slow ? { slowCall: { duration: SLOW_MS, rate: 0.5 } } : {}),
  };
}

describe('circuit breaker state machine (model-based)', () => {
  it('agrees with the model for every strategy, and snapshots round-trip in any reachable state', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, commandsArb, async (cfg, cmds) => {
        const clock = virtualClock({ start: 1_000_000 });
        const options = optionsFor(cfg, clock);
        const real: Real = { clock, options, breaker: circuitBreaker(options), handles: [], opens: 0 };
        real.breaker.on('open', () => real.opens++);
        const model: Model = {
          cfg,
          state: 'closed',
          openUntil: 0,
          openings: 0,
          opens: 0,
          succeeded: 0,
          isolations: 0,
          records: [],
        };
        await fc.asyncModelRun(
          () => ({ model, real }),
          [...cmds].map((c) => ({
            check: (m: Readonly<Model>) => c.check(m),
            run: async (m: Model, r: Real) => {
              await c.run(m, r);
              expect(r.breaker.state).toBe(lazyState(m, r.clock.now()));
              expect(r.opens).toBe(m.opens);
            },
            toString: () => c.toString(),
          })),
        );
      }),
      { numRuns: 100 },
    );
  });
});
