// Races: concurrent calls through one instrumented policy, their attempts, backoff sleeps and
// nested work resolved in an order fast-check chooses. Every attempt span must sit under its own
// call's span, every span `fn` makes under its own attempt, and every retry delay on the attempt
// that followed it in the same call.
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Clock, Policy, systemClock } from '../../src/index.js';
import { instrument } from '../../src/otel/index.js';
import { constant, retry } from '../../src/retry/index.js';
import { childrenOf, sdk } from './support.js';

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

const callSpec = fc.record({ failures: fc.integer({ min: 0, max: 3 }), retryAfter: fc.integer({ min: 1, max: 1000 }) });

describe('concurrent calls (fc.scheduler)', () => {
  it('attempts, their delays and fn spans stay with their own call', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(callSpec, { minLength: 2, maxLength: 5 }), async (s, specs) => {
        const o = sdk();
        // Backoff sleeps resolve when the scheduler says, so they interleave with the attempts.
        const clock: Clock = { ...systemClock, sleep: () => s.schedule(Promise.resolve(), 'sleep') };
        const policy = Policy.wrap(retry({ maxRetries: 3, backoff: constant(0), clock }));
        const off = instrument(policy, { tracerProvider: o.tracerProvider });
        const user = o.tracerProvider.getTracer('user');
        const runs = specs.map((spec, id) => {
          let n = 0;
          return policy.execute(async () => {
            n++;
            await s.schedule(Promise.resolve(), `call ${id} attempt ${n}`);
            user.startSpan(`work ${id}`).end();
            if (n <= spec.failures) throw Object.assign(new Error(`fail ${id}`), { retryAfter: spec.retryAfter });
            return id;
          });
        });
        expect(await s.waitFor(Promise.all(runs))).toEqual(specs.map((_, id) => id));
        off();

        const spans = o.spans();
        const calls = spans.filter((sp) => sp.name === 'breakwater retry');
        expect(calls).toHaveLength(specs.length);
        const seen = new Set<number>();
        for (const call of calls) {
          const attempts = childrenOf(spans, call);
          const works = attempts.map((a) => childrenOf(spans, a).map((sp) => sp.name));
          const id = Number(String(works[0]?.[0]).slice(5));
          seen.add(id);
          const spec = specs[id] as { failures: number; retryAfter: number };
          expect(attempts).toHaveLength(spec.failures + 1);
          expect(call.attributes['breakwater.attempts']).toBe(spec.failures + 1);
          expect(works).toEqual(attempts.map(() => [`work ${id}`]));
          expect(attempts.map((a) => a.attributes['breakwater.attempt.delay_ms'])).toEqual(
            attempts.map((_, i) => (i === 0 ? undefined : spec.retryAfter)),
          );
          expect(call.events.filter((e) => e.name === 'breakwater.retry')).toHaveLength(spec.failures);
        }
        expect(seen.size).toBe(specs.length);
      }),
    );
  });
});
