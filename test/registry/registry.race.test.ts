// Races between updates and calls in flight, interleaved by fc.scheduler: every call runs, from
// start to end, on the pipeline in force when it started — whatever updates land while it retries.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type RegistryConfig, registry } from '../../src/registry/index.js';

const config = (maxRetries: number): RegistryConfig => ({
  targets: { t: [{ retry: { maxRetries, backoff: 0 } }, { bulkhead: { limit: 2, queue: 100 } }] },
});

type Op = { readonly call: true } | { readonly update: number };

describe('updates racing calls in flight', () => {
  test('each call makes the attempts of the version in force when it started', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(
          fc.oneof(
            fc.constant<Op>({ call: true }),
            fc.integer({ min: 0, max: 3 }).map((n): Op => ({ update: n })),
          ),
          {
            minLength: 1,
            maxLength: 14,
          },
        ),
        async (s, ops) => {
          const mesh = registry({ config: config(1) });
          let inForce = 1;
          const calls: Promise<{ attempts: number; expected: number }>[] = [];
          const started: Promise<void>[] = [];
          for (const op of ops) {
            // Each operation starts at a moment the scheduler picks, between other calls' attempts.
            started.push(
              s.schedule(Promise.resolve(), 'call' in op ? 'call' : `update ${op.update}`).then(() => {
                if ('update' in op) {
                  expect(mesh.update(config(op.update)).ok).toBe(true);
                  inForce = op.update;
                  return;
                }
                const expected = inForce + 1;
                let attempts = 0;
                calls.push(
                  mesh
                    .get('t')
                    .executeOutcome(() => {
                      attempts++;
                      return s.schedule(Promise.resolve(), `attempt ${attempts}`).then(() => {
                        throw new Error('down');
                      });
                    })
                    .then(() => ({ attempts, expected })),
                );
              }),
            );
          }
          // Retries schedule new attempts as they go: wait for whatever it takes to end every call.
          const done = Promise.all(started).then(() => Promise.all(calls));
          for (const c of await s.waitFor(done)) expect(c.attempts).toBe(c.expected);
          // Every bulkhead slot taken by a call was given back, on whichever instance admitted it.
          const bulkhead = mesh.describe('t')[1]?.policy as unknown as { active: number; queued: number };
          expect([bulkhead.active, bulkhead.queued]).toEqual([0, 0]);
        },
      ),
      { numRuns: 150 },
    );
  });
});
