// Model-based tests of outlier ejection.
// 1. The health state machine of one target against a model that moves time eagerly (ejections
//    end and `n` decays as the clock advances) where the implementation is lazy: random calls
//    begun and ended with every error class, aborts, and clock steps.
// 2. A whole gateway driven by random endpoint behaviours, calls (some left in flight) and clock
//    steps: after every step the ejected share stays within maxEjectedPercent, a target always
//    keeps a healthy endpoint (a one-endpoint target is never ejected: LiteLLM #5673, Envoy #3263),
//    an ejected endpoint is never called and a probing one takes one call at a time.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ErrorClass } from '../../src/gateway/classify.js';
import { type EndpointHealth, ejectionOf, Health } from '../../src/gateway/health.js';
import { gateway, isGatewayUnavailableError } from '../../src/gateway/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { http, ok } from './support.js';

const FAILURES: readonly (ErrorClass | undefined)[] = [
  undefined,
  'overloaded',
  'timeout',
  'unknown',
  'auth',
  'rate-limited',
  'client',
  'context-length',
  'content-policy',
];
const COUNTED = new Set<ErrorClass | undefined>(['overloaded', 'timeout', 'unknown', 'auth']);

interface Cfg {
  size: number;
  threshold: number;
  base: number;
  max: number;
  jitter: number;
  decay: number;
  percent: number;
  randoms: number[];
}

interface MEp {
  state: 'healthy' | 'ejected' | 'probing';
  fails: number;
  n: number;
  since: number;
  until: number;
  cooling: number;
  probe: boolean;
  gen: number;
}

interface Model {
  cfg: Cfg;
  now: number;
  eps: MEp[];
  pending: { i: number; gen: number }[];
  draws: number;
}

interface Real {
  health: Health;
  now: number;
  pending: { i: number; epoch: number }[];
}

function maxEjected(cfg: Cfg): number {
  return Math.min(Math.floor((cfg.size * cfg.percent) / 100), cfg.size - 1);
}

/** Eager time: ejections end and `n` decays step by step as the model's clock moves. */
function advance(m: Model, ms: number): void {
  const end = m.now + ms;
  for (const e of m.eps) {
    if (e.state === 'ejected' && end >= e.until) e.state = 'probing';
    if (e.state === 'healthy') {
      while (e.n > 0 && end - e.since >= m.cfg.decay) {
        e.n--;
        e.since += m.cfg.decay;
      }
    }
  }
  m.now = end;
}

function eject(m: Model, e: MEp): void {
  e.n++;
  const r = m.cfg.randoms[m.draws++ % m.cfg.randoms.length] as number;
  e.until = m.now + Math.min(m.cfg.base * e.n, m.cfg.max) + r * m.cfg.jitter;
  e.state = 'ejected';
  e.fails = 0;
  e.probe = false;
  e.gen++;
}

const available = (m: Model, e: MEp) =>
  m.now >= e.cooling && (e.state === 'healthy' || (e.state === 'probing' && !e.probe));

class Begin implements fc.AsyncCommand<Model, Real> {
  readonly i: number;
  constructor(i: number) {
    this.i = i;
  }
  check(m: Readonly<Model>) {
    return this.i < m.cfg.size;
  }
  async run(m: Model, r: Real) {
    const e = m.eps[this.i] as MEp;
    const can = available(m, e);
    expect(r.health.available(this.i, r.now)).toBe(can);
    if (!can) return;
    if (e.state === 'probing') e.probe = true;
    m.pending.push({ i: this.i, gen: e.gen });
    r.pending.push({ i: this.i, epoch: r.health.begin(this.i, r.now) });
  }
  toString() {
    return `begin(${this.i})`;
  }
}

class End implements fc.AsyncCommand<Model, Real> {
  readonly k: number;
  readonly cls: ErrorClass | undefined | 'abandon';
  readonly retryAfter: number;
  constructor(k: number, cls: ErrorClass | undefined | 'abandon', retryAfter: number) {
    this.k = k;
    this.cls = cls;
    this.retryAfter = retryAfter;
  }
  check(m: Readonly<Model>) {
    return m.pending.length > 0;
  }
  async run(m: Model, r: Real) {
    const k = this.k % m.pending.length;
    const { i, gen } = m.pending.splice(k, 1)[0] as { i: number; gen: number };
    const real = r.pending.splice(k, 1)[0] as { i: number; epoch: number };
    const e = m.eps[i] as MEp;
    if (this.cls === 'abandon') {
      if (gen === e.gen && e.probe) e.probe = false;
      r.health.abandon(real.i, real.epoch);
      return;
    }
    const cls = this.cls;
    let expected: string | undefined;
    if (gen === e.gen) {
      const probing = e.state === 'probing' && e.probe;
      if (probing) e.probe = false;
      if (cls === 'rate-limited' && m.now + this.retryAfter > e.cooling) {
        e.cooling = m.now + this.retryAfter;
        expected = 'cool';
      }
      if (COUNTED.has(cls)) {
        e.fails++;
        const ejected = m.eps.filter((x) => x.state !== 'healthy').length;
        const may = ejected + 1 <= Math.floor((m.cfg.size * m.cfg.percent) / 100) && m.cfg.size - ejected - 1 >= 1;
        expected = undefined;
        if (probing || (e.state === 'healthy' && (cls === 'auth' || e.fails >= m.cfg.threshold) && may)) {
          eject(m, e);
          expected = 'eject';
        }
      } else {
        e.fails = 0;
        if (probing) {
          e.state = 'healthy';
          e.since = m.now;
          e.gen++;
          expected = 'recover';
        }
      }
    }
    const t = r.health.end(real.i, real.epoch, cls, r.now, this.retryAfter);
    expect(t?.type).toBe(expected);
  }
  toString() {
    return `end(${this.k}, ${String(this.cls)}, ${this.retryAfter})`;
  }
}

class Advance implements fc.AsyncCommand<Model, Real> {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check() {
    return true;
  }
  async run(m: Model, r: Real) {
    advance(m, this.ms);
    r.now += this.ms;
  }
  toString() {
    return `advance(${this.ms})`;
  }
}

function compare(m: Model, r: Real): void {
  const eps = r.health.eps;
  for (let i = 0; i < m.cfg.size; i++) {
    const h = eps[i] as EndpointHealth;
    r.health.refresh(h, r.now);
    const e = m.eps[i] as MEp;
    expect({ state: h.state, fails: h.failures, n: h.n, cooling: h.cooling, probe: h.probe }).toEqual({
      state: e.state,
      fails: e.fails,
      n: e.n,
      cooling: e.cooling,
      probe: e.probe,
    });
    if (h.state !== 'healthy') expect(h.until).toBeCloseTo(e.until, 9);
  }
  const ejected = r.health.ejected(r.now);
  expect(ejected).toBeLessThanOrEqual(maxEjected(m.cfg));
}

const cfgArb = fc
  .record({
    size: fc.integer({ min: 1, max: 6 }),
    threshold: fc.integer({ min: 1, max: 4 }),
    base: fc.integer({ min: 1, max: 1000 }),
    extra: fc.integer({ min: 0, max: 3000 }),
    jitter: fc.integer({ min: 0, max: 200 }),
    decay: fc.integer({ min: 1, max: 2000 }),
    percent: fc.integer({ min: 0, max: 100 }),
    randoms: fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 1, maxLength: 5 }),
  })
  .map(({ extra, ...c }) => ({ ...c, max: c.base + extra }));

const commandsArb = fc.commands(
  [
    fc.integer({ min: 0, max: 5 }).map((i) => new Begin(i)),
    fc
      .tuple(
        fc.nat(20),
        fc.constantFrom<ErrorClass | undefined | 'abandon'>(...FAILURES, 'abandon'),
        fc.integer({ min: 0, max: 2000 }),
      )
      .map(([k, cls, ra]) => new End(k, cls, ra)),
    fc.integer({ min: 1, max: 3000 }).map((ms) => new Advance(ms)),
  ],
  { size: '+1' },
);

describe('ejection model', () => {
  it('the health state machine follows the eager model; the ejected share stays bounded', async () => {
    await fc.assert(
      fc.asyncProperty(cfgArb, commandsArb, async (cfg, cmds) => {
        let draw = 0;
        const random = () => cfg.randoms[draw++ % cfg.randoms.length] as number;
        const ej = ejectionOf({
          consecutiveFailures: cfg.threshold,
          base: cfg.base,
          max: cfg.max,
          jitter: cfg.jitter,
          decay: cfg.decay,
          maxEjectedPercent: cfg.percent,
        });
        const model: Model = {
          cfg,
          now: 0,
          eps: Array.from({ length: cfg.size }, () => ({
            state: 'healthy' as const,
            fails: 0,
            n: 0,
            since: 0,
            until: 0,
            cooling: 0,
            probe: false,
            gen: 0,
          })),
          pending: [],
          draws: 0,
        };
        const real: Real = { health: new Health(cfg.size, ej, random), now: 0, pending: [] };
        await fc.asyncModelRun(
          () => ({ model, real }),
          [...cmds].map((c) => ({
            check: (m: Readonly<Model>) => c.check(m),
            run: async (m: Model, r: Real) => {
              await c.run(m, r);
              compare(m, r);
            },
            toString: () => c.toString(),
          })),
        );
      }),
      { numRuns: 200 },
    );
  });
});

type Behaviour = 'ok' | '500' | '503' | '429' | '401' | '400';

describe('ejection through a gateway (invariants)', () => {
  it('bounded ejected share, a healthy endpoint always left, no call to an ejected endpoint, one probe at a time', async () => {
    const step = fc.oneof(
      fc.record({
        kind: fc.constant('behave' as const),
        i: fc.nat(5),
        b: fc.constantFrom<Behaviour>('ok', '500', '503', '429', '401', '400'),
      }),
      fc.record({ kind: fc.constant('call' as const), slow: fc.boolean() }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 4000 }) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(step, { maxLength: 60 }),
        async (size, percent, threshold, steps) => {
          const clock = virtualClock();
          const behaviour: Behaviour[] = Array.from({ length: size }, () => 'ok');
          const violations: string[] = [];
          const probes = new Map<string, number>();
          const snapshotOf = (id: string) => gw.snapshot().targets.t?.endpoints.find((e) => e.id === id);
          const endpoints = behaviour.map((_, i) => ({
            id: `e${i}`,
            call: async (_req: unknown, ctx: { signal: AbortSignal }) => {
              const id = `e${i}`;
              const s = snapshotOf(id);
              if (s?.state === 'ejected') violations.push(`${id} called while ejected`);
              const probing = s?.state === 'probing';
              if (probing) {
                probes.set(id, (probes.get(id) ?? 0) + 1);
                if ((probes.get(id) ?? 0) > 1) violations.push(`${id}: two probes at once`);
              }
              try {
                if (slowNext) await clock.sleep(500, ctx.signal);
                const b = behaviour[i] as Behaviour;
                if (b === 'ok') return ok();
                throw http(Number(b), b === '429' ? { 'retry-after-ms': '300' } : {});
              } finally {
                if (probing) probes.set(id, (probes.get(id) ?? 1) - 1);
              }
            },
          }));
          let slowNext = false;
          const gw = gateway({
            clock,
            random: () => 0.5,
            maxWait: 0,
            ejection: {
              consecutiveFailures: threshold,
              base: 1000,
              max: 5000,
              jitter: 100,
              maxEjectedPercent: percent,
            },
            targets: { t: { endpoints } },
          });
          const inflight: Promise<unknown>[] = [];
          const bound = Math.min(Math.floor((size * percent) / 100), size - 1);
          for (const s of steps) {
            if (s.kind === 'behave') behaviour[s.i % size] = s.b;
            else if (s.kind === 'advance') await clock.advance(s.ms);
            else {
              slowNext = s.slow;
              const p = gw.call('t', { messages: [] }).then(
                () => undefined,
                (e: unknown) => {
                  const status = (e as { status?: number }).status;
                  if (!isGatewayUnavailableError(e) && status === undefined) violations.push(`unexpected ${String(e)}`);
                },
              );
              slowNext = false;
              if (s.slow) inflight.push(p);
              else await p;
            }
            const eps = gw.snapshot().targets.t?.endpoints ?? [];
            const out = eps.filter((e) => e.state === 'ejected' || e.state === 'probing').length;
            expect(out).toBeLessThanOrEqual(bound);
            expect(violations).toEqual([]);
          }
          await clock.advance(1000);
          await Promise.all(inflight);
          expect(violations).toEqual([]);
        },
      ),
      { numRuns: 150 },
    );
  });
});
