// Model-based test: the durable aggregator on the in-memory store against a naive model, driven by
// random interleavings of messages, redeliveries (the same id again), clock advances, sweeps,
// forced completions and restarts (close, then a new aggregator on the same store). Timers never
// fire (a hand-driven clock): timed rules act only through `sweep()` or a message that finds its
// group overdue, which is exactly what a fleet sees between sweeps.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AggregatorStore,
  type CompletedBy,
  type DurableAggregator,
  durableAggregator,
  isLateMessageError,
  memoryAggregatorStore,
} from '../../src/messaging/index.js';
import { type HandClock, handClock } from './aggregator-store.conformance.js';

interface Msg {
  readonly key: string;
  readonly id: string;
  readonly final: boolean;
}
interface Done {
  readonly key: string;
  readonly ids: readonly string[];
  readonly by: CompletedBy;
  readonly at: number;
  readonly generation: number;
}
interface Config {
  readonly size: number | undefined;
  readonly timeout: number | undefined;
  readonly deadline: number | undefined;
  readonly predicate: boolean;
  readonly late: 'drop' | 'reject' | 'new-group';
}
interface Group {
  ids: string[];
  firstAt: number;
  lastAt: number;
  generation: number;
  open: boolean;
}

class Model {
  now = 1_000_000;
  next = 1;
  groups = new Map<string, Group>();
  sent: Msg[] = [];
  done: Done[] = [];
  readonly cfg: Config;
  constructor(cfg: Config) {
    this.cfg = cfg;
  }

  timed(g: Group): CompletedBy | undefined {
    const { timeout, deadline } = this.cfg;
    if (deadline !== undefined && this.now >= g.firstAt + deadline) return 'deadline';
    if (timeout !== undefined && this.now >= g.lastAt + timeout) return 'timeout';
    return undefined;
  }

  finish(key: string, g: Group, by: CompletedBy): void {
    g.open = false;
    this.done.push({ key, ids: [...g.ids], by, at: this.now, generation: g.generation });
  }

  add(m: Msg): string {
    let g = this.groups.get(m.key);
    if (g?.open === true) {
      if (g.ids.includes(m.id)) return 'duplicate';
      const by = this.timed(g);
      if (by !== undefined) this.finish(m.key, g, by);
    }
    if (g !== undefined && !g.open) {
      if (g.ids.includes(m.id)) return 'duplicate';
      if (this.cfg.late === 'drop') return 'dropped';
      if (this.cfg.late === 'reject') return 'rejected';
      g = { ids: [], firstAt: this.now, lastAt: this.now, generation: g.generation + 1, open: true };
      this.groups.set(m.key, g);
    } else if (g === undefined) {
      g = { ids: [], firstAt: this.now, lastAt: this.now, generation: 1, open: true };
      this.groups.set(m.key, g);
    }
    g.ids.push(m.id);
    g.lastAt = this.now;
    if (this.cfg.size !== undefined && g.ids.length >= this.cfg.size) {
      this.finish(m.key, g, 'size');
      return 'completed';
    }
    if (this.cfg.predicate && m.final) {
      this.finish(m.key, g, 'predicate');
      return 'completed';
    }
    return 'added';
  }

  sweep(): number {
    let n = 0;
    for (const [k, g] of this.groups) {
      if (!g.open) continue;
      const by = this.timed(g);
      if (by !== undefined) {
        this.finish(k, g, by);
        n++;
      }
    }
    return n;
  }

  get open(): number {
    let n = 0;
    for (const g of this.groups.values()) if (g.open) n++;
    return n;
  }
}

interface Real {
  agg: DurableAggregator<Msg>;
  readonly store: AggregatorStore;
  readonly clock: HandClock;
  readonly done: Done[];
  readonly make: () => DurableAggregator<Msg>;
}

const canon = (list: readonly Done[]): Done[] =>
  [...list].sort((a, b) => a.at - b.at || a.key.localeCompare(b.key) || a.generation - b.generation);

async function check(m: Model, r: Real): Promise<void> {
  expect(canon(r.done)).toEqual(canon(m.done));
  expect(await r.agg.openGroups()).toBe(m.open);
}

type Cmd = fc.AsyncCommand<Model, Real>;

const cmd = (name: string, body: (m: Model, r: Real) => Promise<void>): Cmd => ({
  check: () => true,
  run: async (m, r) => {
    await body(m, r);
    await check(m, r);
  },
  toString: () => name,
});

const add = (key: string, final: boolean): Cmd =>
  cmd(`add(${key}${final ? ', final' : ''})`, async (m, r) => {
    const msg: Msg = { key, id: `m${m.next++}`, final };
    m.sent.push(msg);
    const expected = m.add(msg);
    const actual = await r.agg.add(msg).catch((e: unknown) => {
      expect(isLateMessageError(e)).toBe(true);
      return 'rejected';
    });
    expect(actual).toBe(expected);
  });

const redeliver = (pick: number): Cmd =>
  cmd(`redeliver(${pick})`, async (m, r) => {
    if (m.sent.length === 0) return;
    const msg = m.sent[pick % m.sent.length] as Msg;
    const expected = m.add(msg);
    const actual = await r.agg.add(msg).catch((e: unknown) => {
      expect(isLateMessageError(e)).toBe(true);
      return 'rejected';
    });
    expect(actual).toBe(expected);
  });

const advance = (ms: number): Cmd =>
  cmd(`advance(${ms})`, async (m, r) => {
    m.now += ms;
    r.clock.t += ms;
  });

const sweep = (): Cmd =>
  cmd('sweep()', async (m, r) => {
    expect(await r.agg.sweep()).toBe(m.sweep());
  });

const force = (key: string): Cmd =>
  cmd(`complete(${key})`, async (m, r) => {
    const g = m.groups.get(key);
    const had = g?.open === true;
    if (g !== undefined && had) m.finish(key, g, 'forced');
    expect(await r.agg.complete(key)).toBe(had);
  });

const restart = (): Cmd =>
  cmd('restart()', async (_m, r) => {
    await r.agg.close();
    r.agg = r.make();
  });

const configArb: fc.Arbitrary<Config> = fc
  .record({
    size: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
    timeout: fc.option(fc.constantFrom(10, 25, 40), { nil: undefined }),
    deadline: fc.option(fc.constantFrom(30, 50, 70), { nil: undefined }),
    predicate: fc.boolean(),
    late: fc.constantFrom('drop' as const, 'reject' as const, 'new-group' as const),
  })
  .map((c) =>
    c.size === undefined && c.timeout === undefined && c.deadline === undefined && !c.predicate ? { ...c, size: 3 } : c,
  );

const keyArb = fc.constantFrom('a', 'b', 'c');
const commands = fc.commands(
  [
    fc
      .tuple(
        keyArb,
        fc.nat(5).map((n) => n === 0),
      )
      .map(([k, f]) => add(k, f)),
    fc
      .tuple(
        keyArb,
        fc.nat(5).map((n) => n === 0),
      )
      .map(([k, f]) => add(k, f)),
    fc.nat(50).map(redeliver),
    fc.constantFrom(5, 15, 30, 80).map(advance),
    fc.constant(null).map(sweep),
    keyArb.map(force),
    fc.constant(null).map(restart),
  ],
  { maxCommands: 40 },
);

describe('durable aggregator model', () => {
  it('agrees with a naive model under messages, redeliveries, sweeps, forced completions and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, commands, async (cfg, cmds) => {
        const clock = handClock(1_000_000);
        const store = memoryAggregatorStore();
        const done: Done[] = [];
        const make = () =>
          durableAggregator<Msg>({
            store,
            correlate: (m) => m.key,
            id: (m) => m.id,
            complete: {
              size: cfg.size,
              timeout: cfg.timeout,
              deadline: cfg.deadline,
              predicate: cfg.predicate ? (g) => g.messages[g.messages.length - 1]?.final === true : undefined,
            },
            late: cfg.late,
            onComplete: (ms, g) =>
              void done.push({
                key: g.key,
                ids: ms.map((x) => x.id),
                by: g.completedBy,
                at: g.completedAt,
                generation: g.generation,
              }),
            clock,
          });
        const real: Real = { agg: make(), store, clock, done, make };
        try {
          await fc.asyncModelRun(() => ({ model: new Model(cfg), real }), cmds);
        } finally {
          await real.agg.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});
