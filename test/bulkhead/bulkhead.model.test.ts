// Model-based test: random starts (with or without a signal), completions, aborts of queued calls
// and clock advances, against a model of a slot count and a FIFO list of waiters.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Bulkhead, bulkhead } from '../../src/bulkhead/index.js';
import { type VirtualClock, virtualClock } from '../../src/testing/index.js';

interface Cfg {
  limit: number;
  queue: number;
  timeout: number | undefined;
}

interface Model {
  cfg: Cfg;
  nextId: number;
  running: number[];
  waiting: { id: number; at: number }[];
  everStarted: number[];
  outcomes: Map<number, string>;
}

interface Call {
  controller: AbortController;
  finish?: (ok: boolean) => void;
  outcome: string | undefined;
}

interface Real {
  b: Bulkhead;
  clock: VirtualClock;
  calls: Map<number, Call>;
  started: number[];
}

const describeError = (e: unknown): string =>
  (e as { reason?: unknown }).reason !== undefined && typeof (e as { reason: unknown }).reason === 'string'
    ? `rejected:${(e as { reason: string }).reason}`
    : `error:${(e as Error).message}`;

function expireQueue(m: Model, now: number): void {
  const t = m.cfg.timeout;
  if (t === undefined) return;
  for (const w of m.waiting.filter((x) => x.at + t <= now)) m.outcomes.set(w.id, 'rejected:queue-timeout');
  m.waiting = m.waiting.filter((x) => x.at + t > now);
}

class Start implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const id = m.nextId++;
    const controller = new AbortController();
    const call: Call = { controller, outcome: undefined };
    r.calls.set(id, call);
    r.b
      .execute(
        () => {
          r.started.push(id);
          return new Promise<string>((resolve, reject) => {
            call.finish = (ok) => (ok ? resolve('ok') : reject(new Error('failed')));
          });
        },
        { signal: controller.signal },
      )
      .then(
        (v) => {
          call.outcome = v;
        },
        (e: unknown) => {
          call.outcome = describeError(e);
        },
      );
    if (m.running.length < m.cfg.limit) {
      m.running.push(id);
      m.everStarted.push(id);
    } else if (m.waiting.length < m.cfg.queue) m.waiting.push({ id, at: r.clock.now() });
    else m.outcomes.set(id, 'rejected:full');
  }
  toString = () => 'start';
}

class Finish implements fc.AsyncCommand<Model, Real> {
  readonly pick: number;
  readonly ok: boolean;
  constructor(pick: number, ok: boolean) {
    this.pick = pick;
    this.ok = ok;
  }
  check = (m: Readonly<Model>) => m.running.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const id = m.running[this.pick % m.running.length] as number;
    r.calls.get(id)?.finish?.(this.ok);
    m.running = m.running.filter((x) => x !== id);
    m.outcomes.set(id, this.ok ? 'ok' : 'error:failed');
    const next = m.waiting.shift();
    if (next !== undefined) {
      m.running.push(next.id);
      m.everStarted.push(next.id);
    }
  }
  toString = () => `finish(${this.pick}, ${this.ok})`;
}

class AbortWaiter implements fc.AsyncCommand<Model, Real> {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>) => m.waiting.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const w = m.waiting[this.pick % m.waiting.length] as { id: number };
    r.calls.get(w.id)?.controller.abort(new Error(`abort ${w.id}`));
    m.waiting = m.waiting.filter((x) => x.id !== w.id);
    m.outcomes.set(w.id, `error:abort ${w.id}`);
  }
  toString = () => `abort(${this.pick})`;
}

class Advance implements fc.AsyncCommand<Model, Real> {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    await r.clock.advance(this.ms);
    expireQueue(m, r.clock.now());
  }
  toString = () => `advance(${this.ms})`;
}

const commands = fc.commands(
  [
    fc.constant(new Start()),
    fc.constant(new Start()),
    fc.tuple(fc.nat(10), fc.boolean()).map(([p, ok]) => new Finish(p, ok)),
    fc.nat(10).map((p) => new AbortWaiter(p)),
    fc.constantFrom(10, 50, 100).map((ms) => new Advance(ms)),
  ],
  { maxCommands: 60, size: 'max' },
);

describe('bulkhead (model-based)', () => {
  it('agrees with a FIFO model of slots, queue, timeouts and aborts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          limit: fc.integer({ min: 1, max: 3 }),
          queue: fc.integer({ min: 0, max: 3 }),
          timeout: fc.option(fc.constantFrom(50, 120), { nil: undefined }),
        }),
        commands,
        async (cfg, cmds) => {
          const clock = virtualClock();
          const b = bulkhead({ limit: cfg.limit, queue: cfg.queue, queueTimeout: cfg.timeout, clock });
          const real: Real = { b, clock, calls: new Map(), started: [] };
          const model: Model = { cfg, nextId: 0, running: [], waiting: [], everStarted: [], outcomes: new Map() };
          await fc.asyncModelRun(
            () => ({ model, real }),
            [...cmds].map((c) => ({
              check: (m: Readonly<Model>) => c.check(m),
              run: async (m: Model, r: Real) => {
                await c.run(m, r);
                await r.clock.flush();
                expect(r.started).toEqual(m.everStarted); // FIFO: same calls, same order
                expect(r.b.active).toBe(m.running.length);
                expect(r.b.queued).toBe(m.waiting.length);
                for (const [id, outcome] of m.outcomes) expect(r.calls.get(id)?.outcome).toBe(outcome);
                for (const id of [...m.running, ...m.waiting.map((w) => w.id)]) {
                  expect(r.calls.get(id)?.outcome).toBeUndefined();
                }
              },
              toString: () => c.toString(),
            })),
          );
          // Drain: every running call finishes, and every timer is gone.
          for (const c of real.calls.values()) c.finish?.(true);
          for (const c of real.calls.values()) if (c.outcome === undefined) c.controller.abort(new Error('drain'));
          await clock.flush();
          expect(b.active).toBe(0);
          expect(b.queued).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });
});
