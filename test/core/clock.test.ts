import { afterEach, describe, expect, it, vi } from 'vitest';
import { sleepWith, systemClock, systemTimers, turnNow } from '../../src/core/clock.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('systemClock (with fake platform timers)', () => {
  it('now follows Date.now and timers use the global setTimeout at call time', async () => {
    vi.useFakeTimers({ now: 5_000 });
    expect(systemClock.now()).toBe(5_000);
    let fired = 0;
    systemClock.setTimeout(() => fired++, 100);
    const cancelled = systemClock.setTimeout(() => fired++, 100);
    systemClock.clearTimeout(cancelled);
    await vi.advanceTimersByTimeAsync(100);
    expect(fired).toBe(1);
  });

  it('clamps delays above 2^31 − 1 ms (which platforms would fire after 1 ms)', () => {
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation((() => 0) as never);
    systemClock.setTimeout(() => {}, 30 * 24 * 3600 * 1000);
    systemClock.setTimeout(() => {}, Number.POSITIVE_INFINITY);
    systemClock.setTimeout(() => {}, 5);
    expect(spy.mock.calls.map((c) => c[1])).toEqual([2_147_483_647, 2_147_483_647, 5]);
  });

  it('sleep resolves after ms, and rejects at once with the abort reason', async () => {
    vi.useFakeTimers();
    let done = false;
    const p = systemClock.sleep(1_000).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(done).toBe(true);
    const ac = new AbortController();
    const s = systemClock.sleep(1_000, ac.signal);
    ac.abort('stop');
    await expect(s).rejects.toBe('stop');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('unref/ref call through to the platform handle and tolerate handles without them', () => {
    const handle = { unref: vi.fn(), ref: vi.fn() };
    systemClock.unref?.(handle);
    systemClock.ref?.(handle);
    expect(handle.unref).toHaveBeenCalledOnce();
    expect(handle.ref).toHaveBeenCalledOnce();
    expect(() => systemClock.unref?.(42)).not.toThrow();
    expect(() => systemClock.ref?.(null)).not.toThrow();
  });
});

describe('sleepWith', () => {
  const timers = () => {
    const pending = new Map<number, () => void>();
    let id = 0;
    return {
      pending,
      setTimeout: (cb: () => void) => {
        pending.set(++id, cb);
        return id;
      },
      clearTimeout: (h: unknown) => {
        pending.delete(h as number);
      },
      fire() {
        for (const [k, cb] of pending) {
          pending.delete(k);
          cb();
        }
      },
    };
  };

  it('a delay ≤ 0 (or NaN) resolves without a timer', async () => {
    const t = timers();
    await sleepWith(t, 0);
    await sleepWith(t, -5);
    await sleepWith(t, Number.NaN);
    expect(t.pending.size).toBe(0);
  });

  it('an already-aborted signal rejects with its reason, without a timer', async () => {
    const t = timers();
    await expect(sleepWith(t, 10, AbortSignal.abort('pre'))).rejects.toBe('pre');
    expect(t.pending.size).toBe(0);
  });

  it('removes its abort listener when the timer fires (no accumulation on a long-lived signal)', async () => {
    const t = timers();
    const ac = new AbortController();
    const remove = vi.spyOn(ac.signal, 'removeEventListener');
    const add = vi.spyOn(ac.signal, 'addEventListener');
    const p = sleepWith(t, 10, ac.signal);
    t.fire();
    await p;
    expect(add).toHaveBeenCalledOnce();
    expect(remove).toHaveBeenCalledWith('abort', add.mock.calls[0]?.[1]);
  });

  it('an abort clears the timer and rejects with the reason', async () => {
    const t = timers();
    const ac = new AbortController();
    const p = sleepWith(t, 10, ac.signal);
    ac.abort('r');
    await expect(p).rejects.toBe('r');
    expect(t.pending.size).toBe(0);
  });
});

describe('systemTimers (the sleep-less default of a timeout)', () => {
  it('behaves like systemClock: Date.now, global timers at call time, clamped delays, unref/ref', async () => {
    expect('sleep' in systemTimers).toBe(false);
    vi.useFakeTimers({ now: 7_000 });
    expect(systemTimers.now()).toBe(7_000);
    let fired = 0;
    systemTimers.setTimeout(() => fired++, 100);
    systemTimers.clearTimeout(systemTimers.setTimeout(() => fired++, 100));
    await vi.advanceTimersByTimeAsync(100);
    expect(fired).toBe(1);
    vi.useRealTimers();
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation((() => 0) as never);
    systemTimers.setTimeout(() => {}, Number.POSITIVE_INFINITY);
    expect(spy.mock.calls.map((c) => c[1])).toEqual([2_147_483_647]);
    spy.mockRestore();
    const handle = { unref: vi.fn(), ref: vi.fn() };
    systemTimers.unref?.(handle);
    systemTimers.ref?.(handle);
    systemTimers.unref?.(null);
    systemTimers.ref?.({});
    expect(handle.unref).toHaveBeenCalledOnce();
    expect(handle.ref).toHaveBeenCalledOnce();
  });
});

describe('turnNow (the platform clock, read once per turn)', () => {
  it('reads Date.now() once per turn of the event loop, and again in the next turn', async () => {
    const spy = vi.spyOn(Date, 'now');
    try {
      await new Promise((r) => setImmediate(r)); // start in a fresh turn
      spy.mockClear();
      const a = turnNow();
      for (let i = 0; i < 100; i++) expect(turnNow()).toBe(a);
      await Promise.resolve(); // microtasks are the same turn
      expect(turnNow()).toBe(a);
      expect(spy).toHaveBeenCalledTimes(1);
      await new Promise((r) => setTimeout(r, 5));
      const b = turnNow();
      expect(spy).toHaveBeenCalledTimes(2);
      expect(b).toBeGreaterThanOrEqual(a + 4);
    } finally {
      spy.mockRestore();
    }
  });
});
