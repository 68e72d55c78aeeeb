import { chaos, isInjectedFaultError } from '../../../src/chaos/index.js';
import { isTimeoutError, Policy } from '../../../src/index.js';
import { seededRandom, virtualClock } from '../../../src/testing/index.js';
import { timeout } from '../../../src/timeout/index.js';
import { deepEqual, describe, equal, ok, rejects, test } from '../harness.js';

/** Runs 40 calls through a chaos policy seeded with `seed` and records what each one saw. */
async function trace(seed: number): Promise<string[]> {
  const clock = virtualClock();
  const policy = chaos({
    fault: { rate: 0.3 },
    latency: { rate: 0.25, ms: 50 },
    result: { rate: 0.2, value: 'canned' },
    random: seededRandom(seed),
    clock,
  });
  const out: string[] = [];
  for (let i = 0; i < 40; i++) {
    let settled = false;
    const p = policy.executeOutcome(() => 'real');
    p.then(() => {
      settled = true;
    });
    await clock.advance(0);
    const delayed = !settled;
    await clock.advance(50);
    const r = await p;
    const kind = r.ok ? String(r.value) : isInjectedFaultError(r.error) ? 'fault' : 'other';
    out.push(delayed ? `${kind}+50ms` : kind);
  }
  return out;
}

describe('chaos', () => {
  test('a seeded random replays the same faults, results and latencies', async () => {
    const a = await trace(7);
    const b = await trace(7);
    deepEqual(a, b);
    const c = await trace(8);
    ok(JSON.stringify(a) !== JSON.stringify(c), 'another seed draws differently');
    const kinds = new Set(a.map((x) => x.replace('+50ms', '')));
    deepEqual([...kinds].sort(), ['canned', 'fault', 'real'], `a mix of outcomes: ${a.join(',')}`);
    ok(
      a.some((x) => x.endsWith('+50ms')),
      'some calls were delayed',
    );
  });

  test('injected latency delays the call by exactly its ms, in the seeded order', async () => {
    const run = async (seed: number) => {
      const clock = virtualClock();
      const policy = chaos({ latency: { rate: 0.5, ms: 30 }, random: seededRandom(seed), clock });
      const delays: number[] = [];
      for (let i = 0; i < 20; i++) {
        let at = -1;
        const p = policy.execute(() => {
          at = clock.now();
        });
        const t0 = clock.now();
        await clock.advance(30);
        await p;
        delays.push(at - t0);
      }
      return delays;
    };
    const d = await run(3);
    deepEqual(await run(3), d);
    ok(
      d.every((x) => x === 0 || x === 30),
      d.join(','),
    );
    ok(d.includes(0) && d.includes(30), d.join(','));
  });

  test('disabled chaos is a pass-through, and enabled is asked per call', async () => {
    let on = false;
    let draws = 0;
    const policy = chaos({
      fault: { rate: 1 },
      enabled: () => on,
      random: () => {
        draws++;
        return 0;
      },
    });
    equal(await policy.execute(() => 'through'), 'through');
    equal(draws, 0, 'switched off: no draw');
    on = true;
    await rejects(
      policy.execute(() => 'through'),
      isInjectedFaultError,
    );
    ok(draws > 0);
    equal(await chaos({ fault: { rate: 1 }, enabled: false }).execute(() => 'off'), 'off');
  });

  test('injected latency is abortable by the caller and by an enclosing timeout', async () => {
    const clock = virtualClock();
    const slow = chaos({ latency: { rate: 1, ms: 10_000 }, clock });
    const c = new AbortController();
    let ran = false;
    const p = slow.execute(
      () => {
        ran = true;
      },
      { signal: c.signal },
    );
    await clock.advance(10);
    const reason = new Error('caller gave up');
    c.abort(reason);
    equal(await rejects(p), reason);
    equal(ran, false);
    equal(clock.pending, 0, 'the injected sleep left no timer');

    const bounded = Policy.wrap(timeout({ after: 100, clock }), slow);
    const q = rejects(
      bounded.execute(() => 'never'),
      isTimeoutError,
    );
    await clock.advance(100);
    await q;
    equal(clock.pending, 0);
  });
});
