import { describe, expect, it } from 'vitest';
import { virtualClock } from '../../src/testing/virtual-clock.js';

describe('virtualClock', () => {
  it('starts at 0 or at `start`, and only moves when told', async () => {
    expect(virtualClock().now()).toBe(0);
    const clock = virtualClock({ start: 1_000 });
    expect(clock.now()).toBe(1_000);
    await clock.advance(250);
    expect(clock.now()).toBe(1_250);
  });

  it('fires due timers in time order (ties in creation order) and leaves later ones pending', async () => {
    const clock = virtualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 30);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`b1@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`b2@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push('late'), 100);
    await clock.advance(30);
    expect(fired).toEqual(['a@10', 'b1@20', 'b2@20', 'c@30']);
    expect(clock.now()).toBe(30);
    expect(clock.pending).toBe(1);
  });

  it('lets promise reactions run between timers, so a chain started by a timer sees its next timer', async () => {
    const clock = virtualClock();
    const log: number[] = [];
    const chain = (async () => {
      await clock.sleep(10);
      log.push(clock.now());
      await clock.sleep(10); // scheduled at 10, due at 20: within the same advance
      log.push(clock.now());
    })();
    await clock.advance(20);
    expect(log).toEqual([10, 20]);
    await chain;
  });

  it('a timer scheduled by a timer callback for a time inside the window fires in the same advance', async () => {
    const clock = virtualClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 5);
    }, 5);
    await clock.advance(9);
    expect(fired).toEqual([5]);
    await clock.advance(1);
    expect(fired).toEqual([5, 10]);
  });

  it('clearTimeout cancels; a handle that already fired is ignored', async () => {
    const clock = virtualClock();
    let n = 0;
    const h = clock.setTimeout(() => n++, 10);
    const h2 = clock.setTimeout(() => n++, 5);
    clock.clearTimeout(h);
    await clock.advance(20);
    clock.clearTimeout(h2);
    expect(n).toBe(1);
    expect(clock.scheduled).toBe(0);
  });

  it('treats negative / non-finite delays as 0', async () => {
    const clock = virtualClock();
    let n = 0;
    clock.setTimeout(() => n++, -5);
    clock.setTimeout(() => n++, Number.NaN);
    await clock.advance(0);
    expect(n).toBe(2);
  });

  it('pending counts only ref’d timers, scheduled counts all; ref undoes unref', () => {
    const clock = virtualClock();
    const h = clock.setTimeout(() => {}, 10);
    clock.setTimeout(() => {}, 10);
    clock.unref?.(h);
    expect(clock.pending).toBe(1);
    expect(clock.scheduled).toBe(2);
    clock.ref?.(h);
    expect(clock.pending).toBe(2);
    clock.unref?.(999); // unknown handles are ignored
    clock.ref?.(999);
    expect(clock.pending).toBe(2);
  });

  it('runAll fires everything, returns the time advanced, and respects the limit', async () => {
    const clock = virtualClock({ start: 100 });
    let n = 0;
    const again = () => {
      n++;
      clock.setTimeout(again, 10); // an endless chain: only the limit stops it
    };
    clock.setTimeout(() => n++, 50);
    expect(await clock.runAll()).toBe(50);
    expect(n).toBe(1);
    clock.setTimeout(again, 10);
    expect(await clock.runAll(3)).toBe(30);
    expect(n).toBe(4);
    expect(await virtualClock().runAll()).toBe(0);
  });

  it('flush lets microtasks run without moving time', async () => {
    const clock = virtualClock();
    let done = false;
    void Promise.resolve()
      .then(() => undefined)
      .then(() => {
        done = true;
      });
    await clock.flush();
    expect(done).toBe(true);
    expect(clock.now()).toBe(0);
  });

  it('sleep honours a signal: rejects at once with its reason and clears its timer', async () => {
    const clock = virtualClock();
    const ac = new AbortController();
    const p = clock.sleep(1_000, ac.signal);
    expect(clock.pending).toBe(1);
    const reason = new Error('stop');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(clock.scheduled).toBe(0);
    await expect(clock.sleep(0)).resolves.toBeUndefined();
    expect(clock.scheduled).toBe(0);
  });

  it('rejects bad options and a negative advance, naming them', async () => {
    expect(() => virtualClock({ start: Number.NaN })).toThrow(/`start`/);
    expect(() => virtualClock({ flushTurns: 1.5 })).toThrow(TypeError);
    expect(() => virtualClock({ flushTurns: -1 })).toThrow(RangeError);
    await expect(virtualClock().advance(-1)).rejects.toThrow(/`ms`/);
  });
});
