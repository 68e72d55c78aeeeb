import { describe, expect, it } from 'vitest';
import { DeadlineEntry, DeadlineQueue } from '../../src/core/deadline-queue.js';
import { virtualClock } from '../../src/testing/virtual-clock.js';

class Entry extends DeadlineEntry {
  readonly id: string;
  readonly log: string[];
  constructor(id: string, log: string[]) {
    super();
    this.id = id;
    this.log = log;
  }
  override expire(): void {
    this.log.push(this.id);
  }
}

describe('DeadlineQueue', () => {
  it('expires entries in order, each at its own deadline, with one timer', async () => {
    const clock = virtualClock();
    const q = new DeadlineQueue(clock);
    const log: string[] = [];
    q.add(new Entry('a', log), 100, clock.now());
    await clock.advance(30);
    q.add(new Entry('b', log), 100, clock.now());
    q.add(new Entry('c', log), 100, clock.now());
    expect(q.size).toBe(3);
    expect(clock.scheduled).toBe(1);
    await clock.advance(70);
    expect(log).toEqual(['a']);
    await clock.advance(29);
    expect(log).toEqual(['a']);
    await clock.advance(1);
    expect(log).toEqual(['a', 'b', 'c']);
    expect(q.size).toBe(0);
    expect(clock.scheduled).toBe(0);
  });

  it('a removed entry never expires; removing twice is harmless', async () => {
    const clock = virtualClock();
    const q = new DeadlineQueue(clock);
    const log: string[] = [];
    const a = new Entry('a', log);
    const b = new Entry('b', log);
    const c = new Entry('c', log);
    q.add(a, 10, 0);
    q.add(b, 10, 0);
    q.add(c, 10, 0);
    q.remove(b); // middle
    q.remove(b);
    q.remove(a); // head
    q.remove(c); // tail
    expect(q.size).toBe(0);
    await clock.advance(20);
    expect(log).toEqual([]);
    const d = new Entry('d', log);
    q.add(d, 10, clock.now());
    await clock.advance(10);
    expect(log).toEqual(['d']);
    q.remove(d); // already expired
    expect(q.size).toBe(0);
  });

  it('unrefs its timer while idle and refs it again when work arrives', async () => {
    const clock = virtualClock();
    const q = new DeadlineQueue(clock);
    const e = new Entry('e', []);
    q.add(e, 1_000, 0);
    expect(clock.pending).toBe(1);
    q.remove(e);
    expect(clock.pending).toBe(0); // an idle process may exit
    expect(clock.scheduled).toBe(1);
    q.add(new Entry('f', []), 1_000, clock.now());
    expect(clock.pending).toBe(1);
  });

  it('an early-firing timer (armed for a removed entry) re-arms for the next head', async () => {
    const clock = virtualClock();
    const q = new DeadlineQueue(clock);
    const log: string[] = [];
    const first = new Entry('first', log);
    q.add(first, 100, 0);
    q.remove(first);
    await clock.advance(50);
    q.add(new Entry('second', log), 100, clock.now()); // due at 150, timer still armed for 100
    await clock.advance(50);
    expect(log).toEqual([]);
    expect(clock.pending).toBe(1); // re-armed for the remaining 50 ms
    await clock.advance(50);
    expect(log).toEqual(['second']);
  });

  it('an idle unref’d timer that fires disarms; the next add arms a fresh one', async () => {
    const clock = virtualClock();
    const q = new DeadlineQueue(clock);
    const log: string[] = [];
    const x = new Entry('x', log);
    q.add(x, 10, 0);
    q.remove(x);
    await clock.advance(10);
    expect(clock.scheduled).toBe(0);
    q.add(new Entry('y', log), 10, clock.now());
    expect(clock.pending).toBe(1);
    await clock.advance(10);
    expect(log).toEqual(['y']);
  });

  it('clear forgets every entry without expiring it and cancels the timer', async () => {
    const clock = virtualClock();
    const q = new DeadlineQueue(clock);
    const log: string[] = [];
    q.add(new Entry('a', log), 10, 0);
    q.add(new Entry('b', log), 10, 0);
    q.clear();
    expect(q.size).toBe(0);
    expect(clock.scheduled).toBe(0);
    await clock.advance(20);
    expect(log).toEqual([]);
    q.clear(); // idle clear is harmless
  });

  it('works with a clock without ref/unref', async () => {
    const base = virtualClock();
    const clock = { now: base.now, setTimeout: base.setTimeout, clearTimeout: base.clearTimeout, sleep: base.sleep };
    const q = new DeadlineQueue(clock);
    const log: string[] = [];
    const a = new Entry('a', log);
    q.add(a, 10, 0);
    q.remove(a);
    q.add(new Entry('b', log), 10, 0);
    await base.advance(10);
    expect(log).toEqual(['b']);
  });
});

describe('DeadlineQueue, coarse (due times set once per turn)', () => {
  /** A virtual clock that counts `now()` reads, and a manual "end of turn". */
  function setup() {
    const base = virtualClock({ start: 1_000 });
    let reads = 0;
    const clock = {
      ...base,
      now: () => {
        reads++;
        return base.now();
      },
    };
    const turn: (() => void)[] = [];
    const endTurn = () => {
      for (const cb of turn.splice(0)) cb();
    };
    const q = new DeadlineQueue(clock, (cb) => turn.push(cb));
    return { base, q, endTurn, turn, reads: () => reads };
  }

  it('reads the clock once per turn, after the entries started: none expires early', async () => {
    const { base, q, endTurn, turn, reads } = setup();
    const log: string[] = [];
    const entries = ['a', 'b', 'c'].map((id) => new Entry(id, log));
    for (const e of entries) q.add(e, 100);
    expect(reads()).toBe(0);
    expect(turn).toHaveLength(1); // one deferred callback for the whole turn
    expect(entries.every((e) => Number.isNaN(e.dueAt))).toBe(true);
    await base.advance(5); // the turn ran 5 ms before it ended
    endTurn();
    expect(reads()).toBe(1);
    expect(entries.map((e) => e.dueAt)).toEqual([1_105, 1_105, 1_105]);
    await base.advance(99); // 104 ms after they started: not yet (late by at most the turn)
    expect(log).toEqual([]);
    await base.advance(1);
    expect(log).toEqual(['a', 'b', 'c']);
  });

  it('due() fixes the due time at once; an entry removed before its turn ended is due now', async () => {
    const { base, q, endTurn } = setup();
    const a = new Entry('a', []);
    const b = new Entry('b', []);
    q.add(a, 50);
    q.add(b, 50);
    await base.advance(3);
    expect(q.due(b)).toBe(1_053);
    expect(a.dueAt).toBe(1_053); // the whole open turn was closed together
    const c = new Entry('c', []);
    q.add(c, 50);
    q.remove(c);
    expect(q.due(c)).toBe(1_003);
    endTurn();
    expect(q.size).toBe(2);
  });

  it('an entry added while the timer waits for an earlier one is served after it', async () => {
    const { base, q, endTurn } = setup();
    const log: string[] = [];
    q.add(new Entry('a', log), 100);
    endTurn();
    await base.advance(60);
    q.add(new Entry('b', log), 100);
    await base.advance(40); // the timer fires for a; b is still open, closed at 1_100 by the timer
    expect(log).toEqual(['a']);
    endTurn();
    await base.advance(99);
    expect(log).toEqual(['a']);
    await base.advance(1);
    expect(log).toEqual(['a', 'b']);
  });

  it('unrefs the timer as soon as the queue is idle, and refs it again only when a turn ends with entries', async () => {
    const base = virtualClock();
    let toggles = 0;
    const count =
      <A extends unknown[]>(f: (...a: A) => void) =>
      (...a: A) => {
        toggles++;
        f(...a);
      };
    const clockWithCounts = {
      ...base,
      ref: count(base.ref as (h: unknown) => void),
      unref: count(base.unref as (h: unknown) => void),
    };
    const counted = new DeadlineQueue(clockWithCounts, (cb) => {
      turn.push(cb);
    });
    const turn: (() => void)[] = [];
    const a = new Entry('a', []);
    counted.add(a, 1_000); // arms a (ref'd) timer
    expect(base.pending).toBe(1);
    counted.remove(a);
    expect(base.pending).toBe(0); // idle: nothing holds the process past the last call
    toggles = 0;
    for (let i = 0; i < 100; i++) {
      const e = new Entry(String(i), []);
      counted.add(e, 1_000);
      counted.remove(e);
    }
    expect(toggles).toBe(0); // calls that come and go within a turn toggle nothing
    const b = new Entry('b', []);
    counted.add(b, 1_000);
    expect(base.pending).toBe(0); // until the turn ends, the deferred callback holds the process
    for (const cb of turn.splice(0)) cb();
    expect(base.pending).toBe(1);
    counted.remove(b);
    expect(base.pending).toBe(0);
  });
});
