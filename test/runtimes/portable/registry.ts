import { isBrokenCircuitError } from '../../../src/breaker/index.js';
import { isRegistryConfigError, isUnknownTargetError, registry } from '../../../src/registry/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { deepEqual, describe, equal, ok, rejects, test, turns } from '../harness.js';

const boom = (): never => {
  throw new Error('boom');
};

describe('registry', () => {
  test('builds pipelines from JSON config and reports every problem with its path', async () => {
    const mesh = registry({
      config: {
        policies: { llm: [{ timeout: '5s' }, { retry: { maxRetries: 2, backoff: 0 } }] },
        targets: { a: 'llm' },
      },
    });
    let n = 0;
    equal(
      await mesh.get('a').execute(() => {
        if (++n < 3) throw new Error('again');
        return n;
      }),
      3,
    );
    let errors: unknown;
    try {
      registry({ config: { targets: { a: { retry: -1 }, b: { retyr: 1 } } } });
    } catch (e) {
      ok(isRegistryConfigError(e));
      errors = e.errors.map((i) => `${i.path}: ${i.message}`);
    }
    deepEqual(errors, [
      'targets.a.retry: expected an integer ≥ 0, got -1',
      'targets.b.retyr: unknown policy kind; did you mean "retry"?',
    ]);
    ok(isUnknownTargetError(await rejects(Promise.resolve().then(() => mesh.get('nope')))));
  });

  test('an update keeps an open breaker open, and a rejected update keeps the last good config', async () => {
    const cfg = (retries: number) => ({
      targets: {
        a: [
          { breaker: { strategy: { type: 'consecutive', failures: 1 } } },
          { retry: { maxRetries: retries, backoff: 0 } },
        ],
      },
    });
    const mesh = registry({ config: cfg(0) });
    await rejects(mesh.get('a').execute(boom));
    deepEqual(mesh.update(cfg(3)), {
      ok: true,
      version: 2,
      changes: [
        {
          target: 'a',
          kind: 'retry',
          name: undefined,
          change: 'rebuilt',
          options: [{ path: 'maxRetries', before: 0, after: 3 }],
        },
      ],
    });
    await rejects(
      mesh.get('a').execute(() => 'ok'),
      isBrokenCircuitError,
    );
    const r = mesh.update({ targets: { a: { timeout: 'soon' } } });
    equal(r.ok, false);
    equal(mesh.version, 2);
  });

  test('an update changes what the same policy object runs; a call in flight finishes on the old pipeline', async () => {
    const clock = virtualClock();
    const mesh = registry({ clock, config: { targets: { a: { retry: { maxRetries: 0, backoff: 0 } } } } });
    const policy = mesh.get('a');
    let open: () => void = () => {};
    let inFlightAttempts = 0;
    const inFlight = policy.execute(async () => {
      inFlightAttempts++;
      await new Promise<void>((r) => {
        open = r;
      });
      throw new Error('slow failure');
    });
    await turns();
    equal(inFlightAttempts, 1, 'the first call is running');
    const r = mesh.update({
      targets: { a: { retry: { maxRetries: 2, backoff: 0 } }, b: { timeout: { after: '50ms' } } },
    });
    equal(r.ok, true);
    equal(mesh.version, 2);
    ok(mesh.get('a') === policy, 'get() keeps returning the same object');
    open();
    await rejects(inFlight);
    equal(inFlightAttempts, 1, 'the call started before the update kept maxRetries 0');
    let n = 0;
    equal(
      await policy.execute(() => {
        if (++n < 3) throw new Error('again');
        return n;
      }),
      3,
      'a call after the update retries twice',
    );
    const late = rejects(mesh.get('b').execute(({ signal }) => clock.sleep(100, signal)));
    await turns(); // the target's pipeline starts the call (and its timer) a few turns later
    await clock.advance(50);
    equal(((await late) as { code?: string }).code, 'ERR_TIMEOUT', 'the target added by the update is live');
  });
});
