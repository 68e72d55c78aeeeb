// Model-based tests of the two algorithms (the pure functions, through the in-memory algorithm
// object) against deliberately simple models: integer arithmetic advanced one millisecond at a
// time, full history kept, waits found by stepping forward until the cost fits. Commands: takes of
// weighted costs, checks, true-ups (refunds and charges) of earlier admissions, server hold-offs and
// remaining counts, and clock moves forward and back. A clock that goes back must not mint anything:
// the models count only forward moves between the readings the limiter sees.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SLOTS } from '../../src/rate-limit/sliding-window.js';
import { type Algorithm, algorithm, type KeyState } from '../../src/rate-limit/store.js';

interface Cfg {
  readonly algorithm: 'token-bucket' | 'sliding-window';
  readonly limit: number;
  readonly per: number;
  readonly capacity: number;
}

interface Lease {
  readonly stamp: number; // the real algorithm's stamp
  readonly slot: number; // the model's slot (window)
  readonly cost: number;
  settled: boolean;
}

/** What both models answer. */
interface Model {
  /** The limiter reads the clock at `t` (raw, may be earlier than before). */
  observe(t: number): void;
  fits(cost: number): boolean;
  take(cost: number): void;
  adjust(lease: Lease, delta: number): void;
  block(ms: number): void;
  cap(remaining: number): void;
  remaining(): number;
  slot(): number;
  clone(): Model;
}

/** Token bucket: `units` = tokens × per (integers); each forward ms not held off adds `limit` units. */
class BucketModel implements Model {
  units: number;
  t: number;
  m = 0; // ms of forward time seen
  held = 0; // no refill while m < held
  readonly cfg: Cfg;
  constructor(cfg: Cfg, t: number) {
    this.cfg = cfg;
    this.units = cfg.capacity * cfg.per;
    this.t = t;
  }
  observe(t: number): void {
    if (t > this.t) {
      for (let i = 0; i < t - this.t; i++) {
        if (this.m >= this.held) this.units = Math.min(this.cfg.capacity * this.cfg.per, this.units + this.cfg.limit);
        this.m++;
      }
    }
    this.t = t;
  }
  fits(cost: number): boolean {
    return this.m >= this.held && this.units >= cost * this.cfg.per;
  }
  take(cost: number): void {
    this.units -= cost * this.cfg.per;
  }
  adjust(_lease: Lease, delta: number): void {
    this.units = Math.min(this.cfg.capacity * this.cfg.per, this.units - delta * this.cfg.per);
  }
  block(ms: number): void {
    this.units = Math.min(this.units, 0);
    this.held = Math.max(this.held, this.m + ms);
  }
  cap(remaining: number): void {
    this.units = Math.min(this.units, remaining * this.cfg.per);
  }
  remaining(): number {
    return this.units / this.cfg.per;
  }
  slot(): number {
    return 0;
  }
  clone(): BucketModel {
    return Object.assign(new BucketModel(this.cfg, this.t), this);
  }
}

/** Sliding window: every slot's total ever (never pruned); slots advance only with forward time. */
class WindowModel implements Model {
  totals = new Map<number, number>();
  t: number;
  m = 0;
  mslot: number;
  held = 0;
  readonly w: number;
  readonly cfg: Cfg;
  constructor(cfg: Cfg, t: number) {
    this.cfg = cfg;
    this.t = t;
    this.w = cfg.per / SLOTS;
    this.mslot = Math.floor(t / this.w);
  }
  observe(t: number): void {
    if (t > this.t) {
      this.m += t - this.t;
      this.mslot += Math.floor(t / this.w) - Math.floor(this.t / this.w);
    }
    this.t = t;
  }
  sum(): number {
    let s = 0;
    for (const [slot, v] of this.totals) if (slot >= this.mslot - SLOTS) s += v;
    return s;
  }
  fits(cost: number): boolean {
    return this.m >= this.held && this.sum() + cost <= this.cfg.limit;
  }
  #add(slot: number, cost: number): void {
    this.totals.set(slot, (this.totals.get(slot) ?? 0) + cost);
  }
  take(cost: number): void {
    this.#add(this.mslot, cost);
  }
  adjust(lease: Lease, delta: number): void {
    const v = this.totals.get(lease.slot);
    if (v !== undefined && lease.slot >= this.mslot - SLOTS) this.totals.set(lease.slot, Math.max(0, v + delta));
    else if (delta > 0) this.#add(this.mslot, delta);
  }
  block(ms: number): void {
    this.held = Math.max(this.held, this.m + ms);
  }
  cap(remaining: number): void {
    const free = this.cfg.limit - this.sum();
    if (free > remaining) this.#add(this.mslot, free - remaining);
  }
  remaining(): number {
    return this.cfg.limit - this.sum();
  }
  slot(): number {
    return this.mslot;
  }
  clone(): WindowModel {
    const c = Object.assign(new WindowModel(this.cfg, this.t), this);
    c.totals = new Map(this.totals);
    return c;
  }
}

/** Ms until `cost` fits, by stepping a copy of the model forward one ms at a time. */
function modelWait(model: Model, t: number, cost: number): number {
  const copy = model.clone();
  for (let d = 0; d < 200_000; d++) {
    copy.observe(t + d);
    if (copy.fits(cost)) return d;
  }
  throw new Error('model never fits');
}

interface Real {
  algo: Algorithm;
  s: KeyState;
  now: number;
  leases: Lease[];
}
type M = { model: Model; cfg: Cfg; leases: Lease[] };
/** A wait as the limiter reports it: whole ms, rounded up. */
const ms = (w: number): number => (w > 0 ? Math.ceil(w - 1e-6) : 0);

const sync = (m: M, r: Real) => {
  m.model.observe(r.now);
  expect(r.algo.remaining(r.s, r.now)).toBeCloseTo(m.model.remaining(), 6);
};

class Move implements fc.Command<M, Real> {
  readonly d: number;
  constructor(d: number) {
    this.d = d;
  }
  check = () => true;
  run(m: M, r: Real): void {
    r.now = Math.max(0, r.now + this.d);
    sync(m, r); // the limiter reads the clock at every move (it only ever sees readings)
  }
  toString = () => `move(${this.d})`;
}

class Take implements fc.Command<M, Real> {
  readonly cost: number;
  constructor(cost: number) {
    this.cost = cost;
  }
  check = () => true;
  run(m: M, r: Real): void {
    m.model.observe(r.now);
    const wait = r.algo.take(r.s, this.cost, r.now);
    if (this.cost > m.cfg.capacity) {
      expect(wait).toBeGreaterThan(0);
      return;
    }
    const fits = m.model.fits(this.cost);
    expect(wait === 0, `take(${this.cost}) admitted`).toBe(fits);
    if (fits) {
      const lease = { stamp: r.algo.stamp(r.s, r.now), slot: m.model.slot(), cost: this.cost, settled: false };
      m.model.take(this.cost);
      m.leases.push(lease);
    } else {
      expect(ms(wait)).toBe(modelWait(m.model, r.now, this.cost));
    }
    sync(m, r);
  }
  toString = () => `take(${this.cost})`;
}

class Check implements fc.Command<M, Real> {
  readonly cost: number;
  constructor(cost: number) {
    this.cost = cost;
  }
  check = (m: Readonly<M>) => this.cost <= m.cfg.capacity;
  run(m: M, r: Real): void {
    m.model.observe(r.now);
    const wait = r.algo.wait(r.s, this.cost, r.now);
    expect(ms(wait)).toBe(modelWait(m.model, r.now, this.cost));
    sync(m, r);
  }
  toString = () => `check(${this.cost})`;
}

class TrueUp implements fc.Command<M, Real> {
  readonly pick: number;
  readonly actual: number;
  constructor(pick: number, actual: number) {
    this.pick = pick;
    this.actual = actual;
  }
  check = (m: Readonly<M>) => m.leases.some((l) => !l.settled);
  run(m: M, r: Real): void {
    const open = m.leases.filter((l) => !l.settled);
    const lease = open[this.pick % open.length] as Lease;
    lease.settled = true;
    m.model.observe(r.now);
    r.algo.adjust(r.s, this.actual - lease.cost, lease.stamp, r.now);
    m.model.adjust(lease, this.actual - lease.cost);
    sync(m, r);
  }
  toString = () => `trueUp(${this.pick}, ${this.actual})`;
}

class Block implements fc.Command<M, Real> {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check = () => true;
  run(m: M, r: Real): void {
    m.model.observe(r.now);
    r.algo.block(r.s, this.ms, r.now);
    m.model.block(this.ms);
    sync(m, r);
  }
  toString = () => `block(${this.ms})`;
}

class Cap implements fc.Command<M, Real> {
  readonly remaining: number;
  constructor(remaining: number) {
    this.remaining = remaining;
  }
  check = () => true;
  run(m: M, r: Real): void {
    m.model.observe(r.now);
    r.algo.cap(r.s, this.remaining, r.now);
    m.model.cap(this.remaining);
    sync(m, r);
  }
  toString = () => `cap(${this.remaining})`;
}

const commands = (maxCost: number) =>
  fc.commands(
    [
      fc.integer({ min: 0, max: maxCost + 1 }).map((c) => new Take(c)),
      fc.integer({ min: 0, max: maxCost + 1 }).map((c) => new Take(c)),
      fc.integer({ min: 0, max: maxCost }).map((c) => new Check(c)),
      fc.tuple(fc.nat(20), fc.integer({ min: 0, max: maxCost })).map(([p, a]) => new TrueUp(p, a)),
      fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constantFrom(1, 999, 1000, 1001, 5000)).map((d) => new Move(d)),
      fc.integer({ min: 1, max: 3000 }).map((d) => new Move(-d)), // the clock goes back
      fc.integer({ min: 1, max: 800 }).map((ms) => new Block(ms)),
      fc.integer({ min: 0, max: maxCost }).map((n) => new Cap(n)),
    ],
    { maxCommands: 60 },
  );

function runModel(cfg: Cfg) {
  return fc.property(fc.integer({ min: 0, max: 1_000_000 }), commands(cfg.capacity), (start, cmds) => {
    const algo = algorithm(cfg);
    const leases: Lease[] = [];
    const model = cfg.algorithm === 'token-bucket' ? new BucketModel(cfg, start) : new WindowModel(cfg, start);
    fc.modelRun(
      () => ({ model: { model, cfg, leases }, real: { algo, s: algo.create(start), now: start, leases } }),
      cmds,
    );
  });
}

// Rates whose per-ms refill is exact in the model's integer units; widths (per / 50) are whole ms.
const bucketCfg = fc.record({
  algorithm: fc.constant('token-bucket' as const),
  limit: fc.integer({ min: 1, max: 12 }),
  per: fc.constantFrom(100, 250, 1000),
  capacity: fc.integer({ min: 1, max: 12 }),
});
const windowCfg = fc
  .record({ limit: fc.integer({ min: 1, max: 12 }), per: fc.constantFrom(100, 250, 1000) })
  .map((c) => ({ algorithm: 'sliding-window' as const, ...c, capacity: c.limit }));

describe('token bucket (model-based)', () => {
  it('agrees with a millisecond-stepped integer model: admissions, waits, true-ups, hold-offs, clock moves', () => {
    fc.assert(
      fc.property(bucketCfg, (cfg) => fc.assert(runModel(cfg), { numRuns: 8 })),
      { numRuns: 25 },
    );
  });
});

describe('sliding window (model-based)', () => {
  it('agrees with a full-history model: admissions, waits, true-ups, hold-offs, clock moves', () => {
    fc.assert(
      fc.property(windowCfg, (cfg) => fc.assert(runModel(cfg), { numRuns: 8 })),
      { numRuns: 25 },
    );
  });
});

/** Admission times and costs under steady demand, forward time only: checks the advertised bounds. */
function admissions(algo: Algorithm, arrivals: { t: number; cost: number }[]): { t: number; cost: number }[] {
  const s = algo.create(arrivals[0]?.t ?? 0);
  const out: { t: number; cost: number }[] = [];
  for (const a of arrivals) if (algo.take(s, a.cost, a.t) === 0) out.push(a);
  return out;
}

function maxInWindow(admitted: { t: number; cost: number }[], per: number): number {
  let best = 0;
  for (const a of admitted) {
    let sum = 0;
    for (const b of admitted) if (b.t >= a.t && b.t < a.t + per) sum += b.cost;
    best = Math.max(best, sum);
  }
  return best;
}

const arrivalsArb = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 200 })
  .map((xs) => {
    let t = 0;
    return xs.map(([gap, cost]) => {
      t += gap;
      return { t, cost };
    });
  });

describe('advertised bounds', () => {
  it('sliding window: no window of `per` ms ever holds more than `limit`', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 20 }), fc.constantFrom(100, 500, 1000), arrivalsArb, (limit, per, arr) => {
        const admitted = admissions(algorithm({ algorithm: 'sliding-window', limit, per, capacity: limit }), arr);
        expect(maxInWindow(admitted, per)).toBeLessThanOrEqual(limit);
      }),
      { numRuns: 200 },
    );
  });

  it('token bucket: no window of `per` ms holds more than `limit + burst`', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 20 }),
        fc.integer({ min: 4, max: 20 }),
        fc.constantFrom(100, 500, 1000),
        arrivalsArb,
        (limit, burst, per, arr) => {
          const admitted = admissions(algorithm({ algorithm: 'token-bucket', limit, per, capacity: burst }), arr);
          expect(maxInWindow(admitted, per)).toBeLessThanOrEqual(limit + burst + 1e-9);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('under saturation both admit their rate: the window ≥ 50/51 of `limit` per `per`, the bucket `limit`', () => {
    for (const alg of ['sliding-window', 'token-bucket'] as const) {
      const limit = 100;
      const per = 1000;
      const algo = algorithm({ algorithm: alg, limit, per, capacity: limit });
      const s = algo.create(0);
      let admitted = 0;
      for (let t = 0; t < 20 * per; t++) while (algo.take(s, 1, t) === 0) admitted++;
      // 20 periods (plus the bucket's initial burst).
      const rate = (admitted - (alg === 'token-bucket' ? limit : 0)) / 20;
      expect(rate).toBeGreaterThanOrEqual(alg === 'sliding-window' ? (limit * SLOTS) / (SLOTS + 1) - 1 : limit - 1);
      expect(rate).toBeLessThanOrEqual(limit);
    }
  });
});
