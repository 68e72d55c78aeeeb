// Model-based test: the aggregator against a deliberately naive model that recomputes every
// group's due time on each step, driven by random interleavings of messages, clock advances and
// forced completions on the virtual clock.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Aggregator, aggregator, type CompletedBy, isLateMessageError } from '../../src/messaging/index.js';
import { type VirtualClock, virtualClock } from '../../src/testing/index.js';

interface Msg {
  readonly key: string;
  readonly id: number;
  readonly final: boolean;
}
interface Done {
  readonly key: string;
  readonly ids: readonly number[];
  readonly by: CompletedBy;
  readonly at: number;
}
interface Config {
  readonly size: number | undefined;
  readonly timeout: number | undefined;
  readonly deadline: number | undefined;
  readonly predicate: boolean;
  readonly late: 'drop' | 'reject' | 'new-group';
  readonly maxGroups: number | undefined;
  readonly onClose: 'complete' | 'discard';
}

class Model {
  now = 0;
  nextId = 1;
  groups = new Map<string, { ids: number[]; firstAt: number; lastAt: number }>();
  closed = new Set<string>();
  done: Done[] = [];
  readonly cfg: Config;
  constructor(cfg: Config) {
    this.cfg = cfg;
  }

  finish(key: string, by: CompletedBy): void {
    const g = this.groups.get(key);
    if (g === undefined) return;
    this.groups.delete(key);
    this.closed.add(key);
    this.done.push({ key, ids: g.ids, by, at: this.now });
  }

  due(g: { firstAt: number; lastAt: number }): number {
    const { timeout, deadline } = this.cfg;
    return Math.min(
      timeout === undefined ? Number.POSITIVE_INFINITY : g.lastAt + timeout,
      deadline === undefined ? Number.POSITIVE_INFINITY : g.firstAt + deadline,
    );
  }

  add(m: Msg): string {
    let g = this.groups.get(m.key);
    if (g === undefined) {
      if (this.cfg.late !== 'new-group' && this.closed.has(m.key)) {
        return this.cfg.late === 'drop' ? 'dropped' : 'rejected';
      }
      if (this.cfg.maxGroups !== undefined && this.groups.size >= this.cfg.maxGroups) {
        this.finish(this.groups.keys().next().value as string, 'forced');
      }
      g = { ids: [], firstAt: this.now, lastAt: this.now };
      this.groups.set(m.key, g);
    }
    g.lastAt = this.now;
    g.ids.push(m.id);
    if (this.cfg.size !== undefined && g.ids.length >= this.cfg.size) {
      this.finish(m.key, 'size');
      return 'completed';
    }
    if (this.cfg.predicate && m.final) {
      this.finish(m.key, 'predicate');
      return 'completed';
    }
    return 'added';
  }

  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let next: [string, number] | undefined;
      for (const [k, g] of this.groups) {
        const d = this.due(g);
        if (d <= target && (next === undefined || d < next[1])) next = [k, d];
      }
      if (next === undefined) break;
      this.now = next[1];
      const g = this.groups.get(next[0]) as { firstAt: number; lastAt: number };
      const byDeadline = this.cfg.deadline !== undefined && this.now >= g.firstAt + this.cfg.deadline;
      this.finish(next[0], byDeadline ? 'deadline' : 'timeout');
    }
    this.now = target;
  }
}

interface Real {
  readonly agg: Aggregator<Msg, string>;
  readonly clock: VirtualClock;
  readonly done: Done[];
}

// Completions at the same instant may come in any order (timers due together); compare as sets.
const canon = (list: readonly Done[]): Done[] =>
  [...list].sort((a, b) => a.at - b.at || a.key.localeCompare(b.key) || (a.ids[0] ?? 0) - (b.ids[0] ?? 0));

const check = (m: Model, r: Real): void => {
  expect(canon(r.done)).toEqual(canon(m.done));
  expect(r.agg.openGroups).toBe(m.groups.size);
  expect(r.clock.now()).toBe(m.now);
};

class AddCmd implements fc.AsyncCommand<Model, Real> {
  readonly key: string;
  readonly final: boolean;
  constructor(key: string, final: boolean) {
    this.key = key;
    this.final = final;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const msg: Msg = { key: this.key, id: m.nextId++, final: this.final };
    const expected = m.add(msg);
    let actual: string;
    try {
      actual = r.agg.add(msg);
    } catch (e) {
      expect(isLateMessageError(e)).toBe(true);
      actual = 'rejected';
    }
    expect(actual).toBe(expected);
    check(m, r);
  }
  toString = () => `add(${this.key}${this.final ? ', final' : ''})`;
}

class AdvanceCmd implements fc.AsyncCommand<Model, Real> {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    m.advance(this.ms);
    await r.clock.advance(this.ms);
    check(m, r);
  }
  toString = () => `advance(${this.ms})`;
}

class CompleteCmd implements fc.AsyncCommand<Model, Real> {
  readonly key: string;
  constructor(key: string) {
    this.key = key;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const had = m.groups.has(this.key);
    m.finish(this.key, 'forced');
    expect(r.agg.complete(this.key)).toBe(had);
    check(m, r);
  }
  toString = () => `complete(${this.key})`;
}

class CompleteAllCmd implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const keys = [...m.groups.keys()];
    for (const k of keys) m.finish(k, 'forced');
    expect(r.agg.completeAll()).toBe(keys.length);
    check(m, r);
  }
  toString = () => 'completeAll()';
}

const configArb: fc.Arbitrary<Config> = fc
  .record({
    size: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
    timeout: fc.option(fc.constantFrom(10, 20, 30, 37), { nil: undefined }),
    deadline: fc.option(fc.constantFrom(20, 30, 40, 61), { nil: undefined }),
    predicate: fc.boolean(),
    late: fc.constantFrom('drop' as const, 'reject' as const, 'new-group' as const),
    maxGroups: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    onClose: fc.constantFrom('complete' as const, 'discard' as const),
  })
  .map((c) =>
    c.size === undefined && c.timeout === undefined && c.deadline === undefined && !c.predicate ? { ...c, size: 3 } : c,
  );

const key = fc.constantFrom('a', 'b', 'c', 'd');
const rarely = fc.nat(5).map((n) => n === 0);
const commands = fc.commands(
  [
    fc.tuple(key, rarely).map(([k, f]) => new AddCmd(k, f)),
    fc.tuple(key, rarely).map(([k, f]) => new AddCmd(k, f)),
    fc.tuple(key, rarely).map(([k, f]) => new AddCmd(k, f)),
    fc.oneof(fc.constantFrom(0, 5, 10, 20), fc.integer({ min: 0, max: 50 })).map((ms) => new AdvanceCmd(ms)),
    fc.oneof(fc.constantFrom(0, 5, 10, 20), fc.integer({ min: 0, max: 50 })).map((ms) => new AdvanceCmd(ms)),
    key.map((k) => new CompleteCmd(k)),
    fc.constant(new CompleteAllCmd()),
  ],
  { maxCommands: 40, size: 'large' },
);

describe('aggregator (model-based)', () => {
  it('matches the model: same groups, completedBy, late handling; no timer after close()', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, commands, async (cfg, cmds) => {
        const clock = virtualClock({ flushTurns: 2 });
        const done: Done[] = [];
        const agg = aggregator<Msg, string, readonly number[]>({
          correlate: (msg) => msg.key,
          complete: {
            size: cfg.size,
            timeout: cfg.timeout,
            deadline: cfg.deadline,
            predicate: cfg.predicate ? (g) => g.messages[g.messages.length - 1]?.final === true : undefined,
          },
          combine: (messages) => messages.map((msg) => msg.id),
          onComplete: (ids, g) => {
            done.push({ key: g.key, ids, by: g.completedBy, at: g.completedAt });
          },
          late: cfg.late,
          maxGroups: cfg.maxGroups,
          onClose: cfg.onClose,
          clock,
        });
        const model = new Model(cfg);
        const real: Real = { agg, clock, done };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        // close(): open groups complete as 'close' (or are discarded) and no timer is left behind
        const open = [...model.groups.keys()];
        if (cfg.onClose === 'complete') for (const k of open) model.finish(k, 'close');
        agg.close();
        expect(canon(done)).toEqual(canon(model.done));
        expect(agg.openGroups).toBe(0);
        expect(clock.pending).toBe(0);
      }),
      { numRuns: 120 },
    );
  });
});
