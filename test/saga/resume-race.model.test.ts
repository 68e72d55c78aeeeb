// Races: two orchestrators resume the same saga while fast-check's scheduler reorders every store
// append (and so every claim and transition). Whatever the interleaving, each step runs exactly
// once and the saga completes (or compensates) exactly as an uncontended run would.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryEventStore } from '../../src/event-store/index.js';
import { type SagaStore, sagaOrchestrator } from '../../src/saga/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { recorder, tripSaga } from './helpers.js';

describe('concurrent resumers under every interleaving', () => {
  it('never run a step twice', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.constantFrom(undefined, 'b', 'd'), async (s, failing) => {
        const clock = virtualClock();
        const store = memoryEventStore({ clock });
        await store.append('saga-k', [
          { type: 'saga.started', data: { id: 'k', saga: 'trip', input: 1, at: 0 } },
          { type: 'saga.claimed', data: { owner: 'dead', until: -1 } },
        ]);
        const scheduled: SagaStore = {
          append: s.scheduleFunction((stream: string, events: never[], options?: never) =>
            store.append(stream, events, options),
          ) as SagaStore['append'],
          read: (stream, options) => store.read(stream, options),
          streams: (options) => store.streams(options),
        };
        const rec = recorder();
        if (failing !== undefined) rec.failRun.set(failing, 1);
        const saga = tripSaga(rec);
        const o1 = sagaOrchestrator({ store: scheduled, clock, sagas: [saga], compensationRetries: 0 });
        const o2 = sagaOrchestrator({ store: scheduled, clock, sagas: [saga], compensationRetries: 0 });
        const [s1, s2] = await s.waitFor(Promise.all([o1.resume(), o2.resume()]));
        expect(s1.length + s2.length).toBe(1);
        const runs = rec.calls.filter((c) => c.startsWith('run:'));
        expect(new Set(runs).size).toBe(runs.length);
        const undos = rec.calls.filter((c) => c.startsWith('undo:'));
        expect(new Set(undos).size).toBe(undos.length);
        const final = await o1.status('k');
        expect(final?.status).toBe(failing === undefined ? 'completed' : 'compensated');
        expect(undos.sort()).toEqual(
          failing === 'd' ? ['undo:a', 'undo:b', 'undo:c'] : failing === 'b' ? ['undo:a', 'undo:c'] : [],
        );
      }),
    );
  });
});
