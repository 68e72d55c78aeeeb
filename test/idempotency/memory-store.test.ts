import { describe, expect, it } from 'vitest';
import { memoryIdempotencyStore } from '../../src/idempotency/index.js';
import { describeConformance } from './conformance.js';

describeConformance('memory', async () => {
  const store = memoryIdempotencyStore();
  return {
    store,
    corrupt: async () => {},
    close: async () => {},
  };
});

describe('memoryIdempotencyStore', () => {
  it('stays within maxEntries, evicting lapsed records first, then old completed ones', async () => {
    const s = memoryIdempotencyStore({ maxEntries: 3 });
    const a = await s.claim('a', { fingerprint: undefined, lease: 100, now: 0 });
    const b = await s.claim('b', { fingerprint: undefined, lease: 10_000, now: 0 });
    const c = await s.claim('c', { fingerprint: undefined, lease: 10_000, now: 0 });
    expect([a, b, c].every((r) => r.claimed)).toBe(true);
    if (c.claimed) await s.complete('c', c.token, '{"ok":true}', 10_000, 1);
    // 'a' lapsed at 100: it goes first.
    await s.claim('d', { fingerprint: undefined, lease: 10_000, now: 200 });
    expect(s.size).toBe(3);
    expect(await s.get('b', 200)).toBeDefined();
    expect(await s.get('c', 200)).toBeDefined();
    // Nothing lapsed: the completed 'c' goes before the in-progress 'b'.
    await s.claim('e', { fingerprint: undefined, lease: 10_000, now: 300 });
    expect(s.size).toBe(3);
    expect(await s.get('c', 300)).toBeUndefined();
    expect(await s.get('b', 300)).toBeDefined();
    // Only in-progress records: the oldest goes.
    await s.claim('f', { fingerprint: undefined, lease: 10_000, now: 400 });
    expect(await s.get('b', 400)).toBeUndefined();
    expect(s.size).toBe(3);
  });

  it('validates maxEntries', () => {
    expect(() => memoryIdempotencyStore({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => memoryIdempotencyStore({ maxEntries: 1.5 })).toThrow(/maxEntries/);
  });
});
