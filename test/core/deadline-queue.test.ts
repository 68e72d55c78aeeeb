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
    q.add(new Entry('a', log), clock.now(), 100);
    await clock.advance(30);
    q.add(new Entry('b', log), clock.now(), 100);
    q.add(new Entry('c', log), clock.now(), 100);
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
    q.add(a, 0, 10);
    q.add(b, 0, 10);
    q.add(c, 0, 10);
    q.remove(b); // middle
    q.remove(b);
    q.remove(a); // head
    q.remove(c); // tail
    expect(q.size).toBe(0);
    await clock.advance(20);
    expect(log).toEqual([]);
    const d = new Entry('d', log);
    q.add(d, clock.now(), 10);
    await clock.advance(10);
    expect(log).toEqual(['d']);
    q.remove(d); // already expired
    expect(q.size).toBe(0);
  });

  it('unrefs its timer while idle and refs it again when work arrives', async () => {
    const clock = virtualClock();
    const q = new DeadlineQueue(clock);
    const e = new Entry('e', []);
    q.add(e, 0, 1_000);
    expect(clock.pending).toBe(1);
    q.remove(e);
    expect(clock.pending).toBe(0); // an idle process may exit
    expect(clock.scheduled).toBe(1);
    q.add(new Entry('f', []), clock.now(), 1_000);
    expect(clock.pending).toBe(1);
  });

  it('an early-firing timer (armed for a removed entry) re-arms for the next head', async () => {
    const clock = virtualClock();
    const q = new DeadlineQueue(clock);
    const log: string[] = [];
    const first = new Entry('first', log);
    q.add(first, 0, 100);
    q.remove(first);
    await clock.advance(50);
    q.add(new Entry('second', log), clock.now(), 100); // due at 150, timer still armed for 100
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
    q.add(x, 0, 10);
    q.remove(x);
    await clock.advance(10);
    expect(clock.scheduled).toBe(0);
    q.add(new Entry('y', log), clock.now(), 10);
    expect(clock.pending).toBe(1);
    await clock.advance(10);
    expect(log).toEqual(['y']);
  });

  it('clear forgets every entry without expiring it and cancels the timer', async () => {
    const clock = virtualClock();
    const q = new DeadlineQueue(clock);
    const log: string[] = [];
    q.add(new Entry('a', log), 0, 10);
    q.add(new Entry('b', log), 0, 10);
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
    q.add(a, 0, 10);
    q.remove(a);
    q.add(new Entry('b', log), 0, 10);
    await base.advance(10);
    expect(log).toEqual(['b']);
  });
});
