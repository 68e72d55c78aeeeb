import { isBrokenCircuitError } from '../../../src/breaker/index.js';
import { isRegistryConfigError, isUnknownTargetError, registry } from '../../../src/registry/index.js';
import { deepEqual, describe, equal, ok, rejects, test } from '../harness.js';

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
});
