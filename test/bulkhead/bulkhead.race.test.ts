// Races with fc.scheduler(): arrivals, completions and aborts interleave in any order.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bulkhead, isBulkheadRejectedError } from '../../src/bulkhead/index.js';

describe('bulkhead races', () => {
  it('never runs more than `limit` calls, never loses a slot, and runs waiters in arrival order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.record({ abort: fc.boolean(), fail: fc.boolean() }), { minLength: 1, maxLength: 12 }),
        async (s, limit, queue, calls) => {
          const b = bulkhead({ limit, queue });
          let running = 0;
          let maxRunning = 0;
          const arrived: number[] = [];
          const started: number[] = [];
          const rejectedFull: number[] = [];
          const done = calls.map((c, i) => {
            const ac = new AbortController();
            if (c.abort) s.schedule(Promise.resolve()).then(() => ac.abort(new Error(`abort ${i}`)));
            return s
              .schedule(Promise.resolve())
              .then(() => {
                arrived.push(i);
                return b.execute(
                  () => {
                    started.push(i);
                    maxRunning = Math.max(maxRunning, ++running);
                    return s.schedule(Promise.resolve()).then(() => {
                      running--;
                      if (c.fail) throw new Error('fail');
                    });
                  },
                  { signal: ac.signal },
                );
              })
              .catch((e: unknown) => {
                if (isBulkheadRejectedError(e)) rejectedFull.push(i);
              });
          });
          await s.waitFor(Promise.all(done));
          expect(maxRunning).toBeLessThanOrEqual(limit);
          expect(b.active).toBe(0);
          expect(b.queued).toBe(0);
          // Calls start in arrival order (those that started at all).
          const order = arrived.filter((i) => started.includes(i));
          expect(started).toEqual(order);
          if (queue === 0) expect(rejectedFull.length + started.length).toBeLessThanOrEqual(calls.length);
        },
      ),
      { numRuns: 100 },
    );
  });
});
