// One conformance suite for every AggregatorStore (memory, PostgreSQL, Redis): the store contract
// (one writer per key across two connections, atomic writes, due/count/trim), then the durable
// aggregator on it (restart recovery with completedBy, exactly-once completion across two
// aggregators, dedupe by id, late messages, a failing onComplete stores nothing). Times come from a
// hand-driven clock whose timers never fire: sweeps are called explicitly.
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import {
  type AggregatorStore,
  type DurableCompletion,
  durableAggregator,
  isLateMessageError,
  type StoredGroup,
} from '../../src/messaging/index.js';

export interface AggregatorStoreHarness {
  /** The store under test. */
  readonly store: AggregatorStore<any>;
  /** The same store through another connection (another process, as far as locks go). */
  readonly other: AggregatorStore<any>;
  close(): Promise<void>;
}

export interface AggregatorConformanceOptions {
  readonly skip?: boolean;
}

export interface HandClock extends Clock {
  t: number;
}

export function handClock(t = 1_000_000): HandClock {
  const c = {
    t,
    now: () => c.t,
    setTimeout: () => undefined,
    clearTimeout: () => undefined,
    sleep: async () => undefined,
  };
  return c;
}

const open = (over: Partial<StoredGroup> = {}): StoredGroup => ({
  status: 'open',
  generation: 1,
  messages: [],
  ids: [],
  firstAt: 1,
  lastAt: 1,
  dueAt: undefined,
  closedAt: undefined,
  completedBy: undefined,
  ...over,
});

interface Part {
  readonly task: string;
  readonly n: number;
}

export function describeAggregatorStore(
  name: string,
  make: () => Promise<AggregatorStoreHarness>,
  options: AggregatorConformanceOptions = {},
): void {
  describe.skipIf(options.skip === true)(`AggregatorStore conformance: ${name}`, () => {
    let n = 0;
    const run = Math.random().toString(36).slice(2, 8);
    const key = (label: string): string => `${run}:${label}:${n++}:"é"`;

    async function withStore(body: (h: AggregatorStoreHarness) => Promise<void>): Promise<void> {
      const h = await make();
      try {
        await body(h);
      } finally {
        await h.close();
      }
    }

    it('withGroup sees undefined for a new key, stores a write, deletes on null, keeps on undefined', () =>
      withStore(async ({ store }) => {
        const k = key('rw');
        expect(await store.withGroup(k, async (g) => ({ value: g }))).toBeUndefined();
        const g1 = open({ messages: ['"a"', '{"x":1}'], ids: ['i1', 'i2'], firstAt: 5, lastAt: 7, dueAt: 17 });
        expect(await store.withGroup(k, async () => ({ write: g1, value: 'w' }))).toBe('w');
        expect(await store.withGroup(k, async (g) => ({ value: g }))).toEqual(g1);
        expect(await store.withGroup(k, async (g) => ({ value: g?.generation }))).toBe(1);
        await store.withGroup(k, async () => ({ write: null, value: 0 }));
        expect(await store.withGroup(k, async (g) => ({ value: g }))).toBeUndefined();
      }));

    it('a rejecting fn stores nothing and the key is free again', () =>
      withStore(async ({ store }) => {
        const k = key('reject');
        await store.withGroup(k, async () => ({ write: open({ messages: ['1'] }), value: 0 }));
        await expect(
          store.withGroup(k, async () => {
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        expect(await store.withGroup(k, async (g) => ({ value: g?.messages }))).toEqual(['1']);
        const fresh = key('reject-new');
        await expect(
          store.withGroup(fresh, async () => {
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        expect(await store.withGroup(fresh, async (g) => ({ value: g }))).toBeUndefined();
      }));

    it('one writer per key across two connections: concurrent read-modify-writes lose no update', () =>
      withStore(async ({ store, other }) => {
        const k = key('race');
        const bump = (s: AggregatorStore<any>, i: number) =>
          s.withGroup(k, async (g) => {
            const messages = [...(g?.messages ?? [])];
            await new Promise((r) => setTimeout(r, 1)); // widen the race window
            messages.push(String(i));
            return { write: open({ messages }), value: messages.length };
          });
        const counts = await Promise.all(Array.from({ length: 12 }, (_, i) => bump(i % 2 ? store : other, i)));
        expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
        const final = await store.withGroup(k, async (g) => ({ value: g?.messages.length }));
        expect(final).toBe(12);
      }));

    it('other keys are not blocked while one key is held', () =>
      withStore(async ({ store, other }) => {
        const a = key('held');
        const b = key('free');
        let release!: () => void;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        const holding = store.withGroup(a, async () => {
          await gate;
          return { write: open(), value: 'a' };
        });
        expect(await other.withGroup(b, async () => ({ write: open(), value: 'b' }))).toBe('b');
        release();
        expect(await holding).toBe('a');
      }));

    it('due lists open groups due at now, earliest first, limited; count counts open groups', () =>
      withStore(async ({ store }) => {
        // A fresh namespace per harness is expected: counts start at 0.
        const ks = [key('d1'), key('d2'), key('d3'), key('d4'), key('d5')];
        await store.withGroup(ks[0] as string, async () => ({ write: open({ dueAt: 300 }), value: 0 }));
        await store.withGroup(ks[1] as string, async () => ({ write: open({ dueAt: 100 }), value: 0 }));
        await store.withGroup(ks[2] as string, async () => ({ write: open({ dueAt: 900 }), value: 0 }));
        await store.withGroup(ks[3] as string, async () => ({ write: open({ dueAt: undefined }), value: 0 }));
        await store.withGroup(ks[4] as string, async () => ({
          write: open({ status: 'closed', closedAt: 50, completedBy: 'size' }),
          value: 0,
        }));
        expect(await store.due(300, 10)).toEqual([ks[1], ks[0]]);
        expect(await store.due(300, 1)).toEqual([ks[1]]);
        expect(await store.due(99, 10)).toEqual([]);
        expect(await store.count()).toBe(4);
        // Closing a group takes it off the due list and the count.
        await store.withGroup(ks[1] as string, async () => ({
          write: open({ status: 'closed', closedAt: 60, completedBy: 'timeout' }),
          value: 0,
        }));
        expect(await store.due(1000, 10)).toEqual([ks[0], ks[2]]);
        expect(await store.count()).toBe(3);
      }));

    it('trim keeps the most recently closed markers and never touches open groups', () =>
      withStore(async ({ store }) => {
        const ks = Array.from({ length: 5 }, (_, i) => key(`t${i}`));
        for (const [i, k] of ks.entries()) {
          await store.withGroup(k, async () => ({
            write: open({ status: 'closed', closedAt: 100 + i, completedBy: 'size', ids: [`m${i}`] }),
            value: 0,
          }));
        }
        const o = key('t-open');
        await store.withGroup(o, async () => ({ write: open({ dueAt: 1 }), value: 0 }));
        expect(await store.trim(2)).toBe(3);
        const left = await Promise.all(ks.map((k) => store.withGroup(k, async (g) => ({ value: g?.status }))));
        expect(left).toEqual([undefined, undefined, undefined, 'closed', 'closed']);
        expect(await store.trim(2)).toBe(0);
        expect(await store.withGroup(o, async (g) => ({ value: g?.status }))).toBe('open');
      }));

    // --- the durable aggregator on this store ---------------------------------------------------

    it('completes on size across two aggregators (two processes) exactly once, with every message', () =>
      withStore(async ({ store, other }) => {
        const clock = handClock();
        const done: DurableCompletion<Part>[] = [];
        const make1 = (s: AggregatorStore<any>) =>
          durableAggregator<Part>({
            store: s,
            correlate: (p) => p.task,
            id: (p) => `${p.task}/${p.n}`,
            complete: { size: 6 },
            onComplete: (_r, g) => void done.push(g),
            clock,
          });
        const a = make1(store);
        const b = make1(other);
        const task = key('size');
        const results = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).add({ task, n: i })));
        expect(results.filter((r) => r === 'completed')).toHaveLength(1);
        expect(results.filter((r) => r === 'added')).toHaveLength(5);
        expect(done).toHaveLength(1);
        expect(done[0]?.completedBy).toBe('size');
        expect(done[0]?.generation).toBe(1);
        expect(done[0]?.messages.map((m) => m.n).sort()).toEqual([0, 1, 2, 3, 4, 5]);
        // A redelivered message of the completed group is recognised by id, not a new group.
        expect(await a.add({ task, n: 3 })).toBe('duplicate');
        await Promise.all([a.close(), b.close()]);
      }));

    it('a group whose timeout or deadline passed while no process ran completes on start, saying why', () =>
      withStore(async ({ store, other }) => {
        const clock = handClock();
        const done: DurableCompletion<Part>[] = [];
        const opts = {
          correlate: (p: Part) => p.task,
          complete: { timeout: 1000, deadline: 5000 },
          onComplete: (_r: unknown, g: DurableCompletion<Part>) => void done.push(g),
          clock,
        };
        const first = durableAggregator<Part>({ ...opts, store });
        const idle = key('idle');
        const busy = key('busy');
        for (let i = 0; i < 6; i++) {
          await first.add({ task: busy, n: i });
          clock.t += 900; // never idle for 1000 ms: only the deadline can complete it
        }
        await first.add({ task: idle, n: 1 });
        expect(await first.openGroups()).toBe(2);
        await first.close(); // the "process" stops; its groups stay in the store
        expect(done).toEqual([]);
        clock.t += 2000; // downtime: past idle's timeout, not its deadline; past busy's deadline
        const second = durableAggregator<Part>({ ...opts, store: other });
        expect(await second.sweep()).toBe(2);
        const byKey = new Map(done.map((g) => [g.key, g]));
        expect(byKey.get(idle)?.completedBy).toBe('timeout');
        expect(byKey.get(busy)?.completedBy).toBe('deadline');
        expect(byKey.get(busy)?.messages.map((m) => m.n)).toEqual([0, 1, 2, 3, 4, 5]);
        expect(await second.sweep()).toBe(0); // exactly once
        await second.close();
      }));

    it('a message after the group timed out (before any sweep) completes the group without it, then is late', () =>
      withStore(async ({ store }) => {
        const clock = handClock();
        const done: DurableCompletion<Part>[] = [];
        const agg = durableAggregator<Part>({
          store,
          correlate: (p) => p.task,
          complete: { timeout: 100 },
          late: 'reject',
          onComplete: (_r, g) => void done.push(g),
          clock,
        });
        const k = key('late-timeout');
        await agg.add({ task: k, n: 1 });
        clock.t += 500;
        await expect(agg.add({ task: k, n: 2 })).rejects.toSatisfy(isLateMessageError);
        expect(done.map((g) => [g.completedBy, g.messages.length])).toEqual([['timeout', 1]]);
        await agg.close();
      }));

    it('late messages: drop, reject, new-group (with the next generation)', () =>
      withStore(async ({ store }) => {
        const clock = handClock();
        for (const late of ['drop', 'reject', 'new-group'] as const) {
          const done: DurableCompletion<Part>[] = [];
          const agg = durableAggregator<Part>({
            store,
            correlate: (p) => p.task,
            complete: { size: 1 },
            late,
            onComplete: (_r, g) => void done.push(g),
            clock,
          });
          const k = key(`late-${late}`);
          expect(await agg.add({ task: k, n: 1 })).toBe('completed');
          if (late === 'drop') expect(await agg.add({ task: k, n: 2 })).toBe('dropped');
          if (late === 'reject') await expect(agg.add({ task: k, n: 2 })).rejects.toSatisfy(isLateMessageError);
          if (late === 'new-group') {
            expect(await agg.add({ task: k, n: 2 })).toBe('completed');
            expect(done.map((g) => g.generation)).toEqual([1, 2]);
          } else expect(done).toHaveLength(1);
          await agg.close();
        }
      }));

    it('an onComplete that throws stores nothing: the group stays open and completes on the next try', () =>
      withStore(async ({ store }) => {
        const clock = handClock();
        let fail = true;
        const done: number[][] = [];
        const agg = durableAggregator<Part>({
          store,
          correlate: (p) => p.task,
          id: (p) => String(p.n),
          complete: { size: 2 },
          onComplete: (ms) => {
            if (fail) throw new Error('downstream down');
            done.push(ms.map((m) => m.n));
          },
          clock,
        });
        const k = key('fail');
        expect(await agg.add({ task: k, n: 1 })).toBe('added');
        await expect(agg.add({ task: k, n: 2 })).rejects.toThrow('downstream down');
        expect(await agg.openGroups()).toBe(1);
        fail = false;
        expect(await agg.add({ task: k, n: 2 })).toBe('completed'); // the redelivery
        expect(done).toEqual([[1, 2]]);
        await agg.close();
      }));
  });
}
