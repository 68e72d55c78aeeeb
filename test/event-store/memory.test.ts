import { describe, expect, it } from 'vitest';
import { memoryEventStore } from '../../src/event-store/index.js';
import { conformance } from './conformance.js';

conformance('memory', async () => ({ store: memoryEventStore(), close: async () => {} }));

describe('memoryEventStore', () => {
  it('rejects bad options', () => {
    expect(() => memoryEventStore({ generateId: 5 as never })).toThrow(/generateId/);
  });
  it('freezes stored events so readers cannot corrupt the log', async () => {
    const store = memoryEventStore();
    await store.append('s', [{ type: 'A', data: { n: [1] } }]);
    for await (const e of store.read('s')) expect(() => ((e.data as { n: number[] }).n[0] = 2)).toThrow();
  });
});
