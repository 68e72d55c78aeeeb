import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isRegistryConfigError, type RegistryConfig, RegistryConfigError, registry } from '../../src/registry/index.js';
import { FUNCTIONS, mutations, related, validConfig } from './support/configs.js';

/** The problems of `config` as `path: message` lines (empty when it is valid). */
function problems(config: unknown, functions: Record<string, (...a: any[]) => unknown> = FUNCTIONS): string[] {
  try {
    registry({ config: config as RegistryConfig, functions });
    return [];
  } catch (e) {
    if (!isRegistryConfigError(e)) throw e;
    return e.errors.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`));
  }
}

const llm = [
  { timeout: { after: '60s', name: 'total' } },
  { retry: { maxRetries: 3 } },
  { breaker: { strategy: { type: 'consecutive', failures: 5 } } },
  { timeout: { after: '20s', name: 'attempt' } },
];

describe('every problem names its path and what was expected', () => {
  test('the issue example', () => {
    expect(problems({ policies: { llm }, targets: { openai: { policy: 'llm', retry: { maxRetries: -1 } } } })).toEqual([
      'targets.openai.retry.maxRetries: expected an integer ≥ 0, got -1',
    ]);
  });

  test('all problems at once, in config order', () => {
    const errors = problems({
      defaults: { retry: { maxRetries: 'three' } },
      policies: { llm: [{ timeout: -5 }, { retry: { backof: 100 } }, { bulkhead: { limit: 0 } }] },
      targets: { a: { policy: 'llm', bulkhead: { queue: 1.5 } }, b: 'nope' },
    });
    expect(errors).toEqual([
      'defaults.retry.maxRetries: expected an integer ≥ 0, got "three"',
      'policies.llm[0].timeout: expected a duration in ms ≥ 0 (or a string such as "1.5s"), got -5',
      'policies.llm[1].retry.backof: unknown option; did you mean "backoff"?',
      'policies.llm[2].bulkhead.limit: expected an integer ≥ 1, got 0',
      'targets.a.bulkhead.queue: expected an integer ≥ 0, got 1.5',
      'targets.b: unknown policy "nope" (policies: llm)',
    ]);
  });

  test('unknown keys everywhere, with "did you mean" when close', () => {
    expect(problems({ polices: {} })).toEqual(['polices: unknown key; did you mean "policies"?']);
    expect(problems({ targets: { a: { retyr: 3 } } })).toEqual([
      'targets.a.retyr: unknown policy kind; did you mean "retry"?',
    ]);
    expect(problems({ targets: { a: { circuitBreaker: {} } } })).toEqual([
      'targets.a.circuitBreaker: unknown policy kind; did you mean "breaker"?',
    ]);
    expect(problems({ targets: { a: { retry: { maxAttempts: 3 } } } })).toEqual([
      'targets.a.retry.maxAttempts: unknown option; did you mean "maxRetries"?',
    ]);
    expect(problems({ defaults: { bulkheads: { limit: 1 } } })).toEqual([
      'defaults.bulkheads: unknown policy kind; did you mean "bulkhead"?',
    ]);
    const far = problems({ targets: { a: { retry: { qqqqqq: 1 } } } });
    expect(far).toHaveLength(1);
    expect(far[0]).toMatch(/^targets\.a\.retry\.qqqqqq: unknown option \(expected one of "maxRetries", "backoff"/);
    expect(problems({ policies: { llm }, targets: { a: { policy: 'llm', atempt: 5000 } } })).toEqual([
      'targets.a.atempt: policy "llm" has no layer named or of kind "atempt" (its layers: timeout "total", retry, breaker, timeout "attempt"); did you mean "attempt"?',
    ]);
  });

  test('nested options, tags and enums', () => {
    expect(
      problems({
        targets: {
          a: { breaker: { strategy: { type: 'failureRate', threshold: 1.5, window: '0s' } } },
          b: { retry: { backoff: { type: 'exponentail' } } },
          c: { timeout: { after: 1, strategy: 'agressive' } },
          d: { breaker: { strategy: { type: 'countWindow', size: 5, threshold: 0.5, minCalls: 10 } } },
          e: { breaker: { halfOpen: { probes: 0 } } },
          f: { breaker: { slowCall: { rate: 0.5 } } },
        },
      }),
    ).toEqual([
      'targets.a.breaker.strategy.threshold: expected a number > 0 and ≤ 1, got 1.5',
      'targets.a.breaker.strategy.window: expected a duration in ms > 0 (or a string such as "1.5s"), got "0s"',
      'targets.b.retry.backoff.type: expected one of "constant", "linear", "exponential", got "exponentail"; did you mean "exponential"?',
      'targets.c.timeout.strategy: expected one of "cooperative", "aggressive", got "agressive"; did you mean "aggressive"?',
      'targets.d.breaker.strategy.minCalls: expected an integer ≤ size (5), got 10',
      'targets.e.breaker.halfOpen.probes: expected an integer ≥ 1, got 0',
      'targets.f.breaker.slowCall.duration: required: a duration in ms ≥ 0 (or a string such as "1.5s")',
    ]);
  });

  test('required options may come from defaults or the target; missing everywhere, the layer is named', () => {
    expect(problems({ defaults: { timeout: { after: 100 } }, targets: { a: { timeout: {} } } })).toEqual([]);
    expect(problems({ policies: { p: { timeout: {} } }, targets: { a: { policy: 'p', timeout: 5 } } })).toEqual([]);
    expect(problems({ policies: { p: { timeout: { strategy: 'aggressive' } } }, targets: { a: 'p' } })).toEqual([
      'policies.p.timeout.after: required: a duration in ms ≥ 0 (or a string such as "1.5s")',
    ]);
  });

  test('a value set by a default is blamed on the default, an override on the target', () => {
    // minCalls 10 comes from the policy, size 5 from the target: the check across keys reports where minCalls was set.
    const p = { breaker: { strategy: { type: 'countWindow', size: 20, threshold: 0.5, minCalls: 10 } } };
    expect(problems({ policies: { p }, targets: { a: { policy: 'p', breaker: { strategy: { size: 5 } } } } })).toEqual([
      'policies.p.breaker.strategy.minCalls: expected an integer ≤ size (5), got 10',
    ]);
  });

  test('function references must name a function given in `functions`', () => {
    expect(problems({ targets: { a: { fallback: { to: 'cachd' } } } })).toEqual([
      'targets.a.fallback.to: expected the name of a function given in `functions` (given: cached, isTransient), got "cachd"; did you mean "cached"?',
    ]);
    expect(problems({ targets: { a: { fallback: { to: 'x' } } } }, {})).toEqual([
      'targets.a.fallback.to: expected the name of a function given in `functions` (none were given), got "x"',
    ]);
    expect(problems({ targets: { a: { fallback: { to: 'cached', value: 1 } } } })).toEqual([
      'targets.a.fallback.to: expected exactly one of `to` (a function name) or `value`',
    ]);
  });

  test('pipelines: one kind per layer, references resolved, cycles found', () => {
    expect(problems({ targets: { a: [{ timeout: 1, retry: 2 }] } })).toEqual([
      'targets.a[0]: expected one policy kind per layer, got "timeout", "retry": list several layers as an array, outermost first',
    ]);
    expect(problems({ targets: { a: [{}] } })[0]).toMatch(/^targets\.a\[0\]: expected a layer with one policy kind/);
    expect(problems({ targets: { a: [42] } })).toEqual([
      'targets.a[0]: expected a layer such as { "retry": { … } } or a policy name, got 42',
    ]);
    expect(problems({ policies: { a: ['b'], b: ['a'] }, targets: { t: 'a' } })).toEqual([
      'policies.b[0]: policy "a" refers back to itself (a → b → a)',
    ]);
    expect(
      problems({ policies: { base: [{ timeout: 5 }], llm: ['base', { retry: 1 }] }, targets: { t: 'llm' } }),
    ).toEqual([]);
  });

  test('overrides: by kind, by name, ambiguous, twice', () => {
    const two = [{ timeout: 1 }, { timeout: 2 }];
    expect(problems({ policies: { two }, targets: { a: { policy: 'two', timeout: 5 } } })).toEqual([
      'targets.a.timeout: policy "two" has 2 timeout layers (timeout, timeout): give each a "name" and override it by that name',
    ]);
    expect(problems({ policies: { llm }, targets: { a: { policy: 'llm', attempt: 5000, total: 1000 } } })).toEqual([]);
    expect(problems({ policies: { llm }, targets: { a: { policy: 'llm', timeout: 1000 } } })).toEqual([
      'targets.a.timeout: policy "llm" has 2 timeout layers (timeout "total", timeout "attempt"): give each a "name" and override it by that name',
    ]);
    expect(problems({ policies: { llm }, targets: { a: { policy: 'llm', attempt: 5000, total: 1000 } } })).toEqual([]);
    expect(problems({ targets: { a: { policy: 'x' } }, policies: { x: { retry: 1 } } })).toEqual([]);
    expect(problems({ targets: { a: {} } })[0]).toMatch(/^targets\.a\.policy: required/);
  });

  test('a broken policy does not make its overrides look wrong, but their own problems are still reported', () => {
    expect(
      problems({ policies: { p: [{ retry: -1 }] }, targets: { a: { policy: 'p', retry: { maxRetries: 'x' } } } }),
    ).toEqual([
      'policies.p[0].retry: expected an integer ≥ 0, got -1',
      'targets.a.retry.maxRetries: expected an integer ≥ 0, got "x"',
    ]);
  });

  test('odd keys are quoted in paths', () => {
    expect(problems({ targets: { 'api.openai.com': { retry: -1 } } })).toEqual([
      'targets["api.openai.com"].retry: expected an integer ≥ 0, got -1',
    ]);
  });

  test('bad input everywhere: not an object, wrong section types, non-JSON values', () => {
    for (const bad of [undefined, null, 42, 'x', [], true]) {
      const e = problems(bad);
      expect(e, String(bad)).toHaveLength(1);
      expect(e[0]).toMatch(/^expected the config to be an object/);
    }
    expect(problems({ targets: [], policies: 3, defaults: 'x', $schema: 1 })).toEqual([
      '$schema: expected a string, got 1',
      'defaults: expected an object, got "x"',
      'policies: expected an object, got 3',
      'targets: expected an object, got an array',
    ]);
    expect(problems({ targets: { a: { retry: { maxRetries: Number.NaN } } } })).toEqual([
      'targets.a.retry.maxRetries: expected an integer ≥ 0, got NaN',
    ]);
    expect(problems({ targets: { a: { fallback: { value: () => 1 } } } })).toEqual([
      'targets.a.fallback.value: expected a JSON value, got a function',
    ]);
    expect(problems({ targets: { a: { timeout: Number.POSITIVE_INFINITY } } })[0]).toMatch(/got Infinity$/);
    expect(problems({ targets: { a: { timeout: 'soon' } } })[0]).toMatch(/^targets\.a\.timeout: expected a duration/);
  });

  test('an empty config is valid (no targets)', () => {
    expect(problems({})).toEqual([]);
  });

  test('the thrown error lists every problem in its message', () => {
    let error: unknown;
    try {
      registry({ config: { targets: { a: { retry: -1 }, b: { timeout: 'x' } } } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RegistryConfigError);
    expect((error as RegistryConfigError).code).toBe('ERR_REGISTRY_CONFIG');
    expect((error as Error).message).toContain('(2 problems)');
    expect((error as Error).message).toContain('targets.a.retry: expected an integer ≥ 0, got -1');
    expect((error as Error).message).toContain('targets.b.timeout: expected a duration');
  });
});

describe('property: random configs', () => {
  test('valid configs are accepted, and every target is built', () => {
    fc.assert(
      fc.property(validConfig, (config) => {
        expect(problems(config)).toEqual([]);
        const r = registry({ config, functions: FUNCTIONS });
        expect([...r.targets].sort()).toEqual(Object.keys(config.targets as object).sort());
      }),
      { numRuns: 150 },
    );
  });

  test('one mutation of a valid config gives errors, each pointing at the mutated key', () => {
    const arb = validConfig.chain((config) => {
      const ms = mutations(config);
      return fc.constantFrom(...ms).map((m) => ({ config, m }));
    });
    fc.assert(
      fc.property(arb, ({ config, m }) => {
        const mutated = m.apply(config);
        let errors: { path: string; message: string }[] = [];
        try {
          registry({ config: mutated, functions: FUNCTIONS });
        } catch (e) {
          if (!isRegistryConfigError(e)) throw e;
          errors = [...e.errors];
        }
        expect(errors.length, `${m.what} at ${m.path} was accepted`).toBeGreaterThan(0);
        for (const e of errors)
          expect(related(e.path, m.path), `${e.path}: ${e.message} (mutated ${m.path}: ${m.what})`).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});
