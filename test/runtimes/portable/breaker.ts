import {
  circuitBreaker,
  consecutive,
  failureRate,
  isBrokenCircuitError,
  isIsolatedCircuitError,
} from '../../../src/breaker/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { deepEqual, describe, equal, ok, rejects, test } from '../harness.js';

const fail = () => Promise.reject(new Error('down'));

describe('breaker', () => {
  test('closed → open after consecutive failures, then fails fast with retryAfter', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(2), breakDuration: 1000, clock });
    await rejects(b.execute(fail));
    equal(b.state, 'closed');
    await rejects(b.execute(fail));
    equal(b.state, 'open');
    let ran = false;
    const e = await rejects(
      b.execute(() => {
        ran = true;
      }),
      isBrokenCircuitError,
    );
    equal(ran, false);
    equal((e as { retryAfter: number }).retryAfter, 1000);
  });

  test('open → half-open when the break elapses → closed after a good probe', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 500, clock });
    const seen: string[] = [];
    b.on('*', (e) => seen.push(e.type));
    await rejects(b.execute(fail));
    equal(b.state, 'open');
    await clock.advance(500);
    equal(b.state, 'half-open');
    equal(await b.execute(() => 'probe ok'), 'probe ok');
    equal(b.state, 'closed');
    deepEqual(
      seen.filter((t) => t !== 'failure' && t !== 'success'),
      ['open', 'half-open', 'close'],
    );
  });

  test('half-open → open again after a failed probe; extra callers are rejected', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 100, clock });
    await rejects(b.execute(fail));
    await clock.advance(100);
    let release: (v: unknown) => void = () => undefined;
    const probe = b.execute(() => new Promise((_, reject) => (release = () => reject(new Error('still down')))));
    await rejects(
      b.execute(() => 'second'),
      isBrokenCircuitError,
    );
    release(undefined);
    await rejects(probe);
    equal(b.state, 'open');
  });

  test('isolate holds it open until released; reset closes', async () => {
    const b = circuitBreaker({ strategy: consecutive(3) });
    const h = b.isolate();
    equal(b.state, 'isolated');
    await rejects(
      b.execute(() => 1),
      isIsolatedCircuitError,
    );
    h.release();
    equal(b.state, 'closed');
    equal(await b.execute(() => 1), 1);
    b.isolate();
    b.reset();
    equal(b.state, 'closed');
  });

  test('failure rate over a time window opens at the threshold with enough throughput', async () => {
    const clock = virtualClock();
    const b = circuitBreaker({
      strategy: failureRate({ threshold: 0.5, minThroughput: 4, window: 10_000 }),
      clock,
    });
    await b.execute(() => 1);
    await b.execute(() => 1);
    await rejects(b.execute(fail));
    equal(b.state, 'closed');
    await rejects(b.execute(fail));
    equal(b.state, 'open');
  });

  test('handle: errors it does not match count neither way', async () => {
    const b = circuitBreaker({ strategy: consecutive(1), handle: (e) => (e as Error).message === 'down' });
    await rejects(b.execute(() => Promise.reject(new Error('bad request'))));
    equal(b.state, 'closed');
  });

  test('snapshot and initialState carry the state to a new breaker', async () => {
    const clock = virtualClock();
    const a = circuitBreaker({ strategy: consecutive(1), breakDuration: 1000, clock });
    await rejects(a.execute(fail));
    const snap = JSON.parse(JSON.stringify(a.snapshot()));
    const b = circuitBreaker({ strategy: consecutive(1), breakDuration: 1000, clock, initialState: snap });
    equal(b.state, 'open');
    ok(isBrokenCircuitError(await b.execute(() => 1).catch((e: unknown) => e)));
  });
});
