// Keys that are names of Object.prototype members (constructor, toString, __proto__, …) are keys
// like any other in a JSON config: unknown ones must be reported, and never crash update().
import { describe, expect, test } from 'vitest';
import { type RegistryConfig, registry, registrySchema } from '../../src/registry/index.js';
import { validates } from '../registry/support/json-schema.js';

const schema = registrySchema();
const base: RegistryConfig = { targets: { z: { retry: 1 } } };

describe('registry: keys named like Object.prototype members', () => {
  test.each([
    [
      'an unknown option "constructor"',
      { targets: { a: { retry: { maxRetries: 1, constructor: 5 } } } },
      'targets.a.retry.constructor',
    ],
    [
      'an unknown option "toString"',
      { targets: { a: { retry: { maxRetries: 1, toString: 'x' } } } },
      'targets.a.retry.toString',
    ],
    [
      'an unknown default kind "constructor"',
      { defaults: { constructor: {} }, targets: { a: { retry: 1 } } },
      'defaults.constructor',
    ],
    [
      'an unknown default kind "__proto__" (JSON.parse)',
      JSON.parse('{"defaults":{"__proto__":{}},"targets":{"a":{"retry":1}}}'),
      'defaults.__proto__',
    ],
    ['an unknown layer kind "constructor"', { targets: { a: { constructor: {} } } }, 'targets.a.constructor'],
    [
      'an unknown layer kind "__proto__" (JSON.parse)',
      JSON.parse('{"targets":{"a":{"__proto__":{"x":1}}}}'),
      'targets.a.__proto__',
    ],
    [
      'an unknown layer kind "hasOwnProperty"',
      { targets: { a: [{ hasOwnProperty: 1 }] } },
      'targets.a[0].hasOwnProperty',
    ],
  ])('%s is rejected with its path, as the schema does', (_what, config, path) => {
    expect(validates(schema, config)).toBe(false);
    const mesh = registry({ config: base });
    const r = mesh.update(config as RegistryConfig);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors.map((e) => e.path)).toContain(path);
      expect(r.errors.find((e) => e.path === path)?.message).toMatch(/^unknown/);
    }
    expect(mesh.version).toBe(1);
    expect(mesh.targets).toEqual(['z']);
  });

  test.each([
    [
      'backoff type "constructor"',
      { targets: { a: { retry: { backoff: { type: 'constructor' } } } } },
      'targets.a.retry.backoff.type',
    ],
    [
      'backoff type "toString"',
      { targets: { a: { retry: { backoff: { type: 'toString' } } } } },
      'targets.a.retry.backoff.type',
    ],
    [
      'strategy type "valueOf"',
      { targets: { a: { breaker: { strategy: { type: 'valueOf' } } } } },
      'targets.a.breaker.strategy.type',
    ],
  ])('a tagged %s: update() returns the problem instead of throwing', (_what, config, path) => {
    expect(validates(schema, config)).toBe(false);
    const mesh = registry({ config: base });
    let r: ReturnType<typeof mesh.update> | undefined;
    expect(() => {
      r = mesh.update(config as RegistryConfig);
    }).not.toThrow();
    expect(r?.ok).toBe(false);
    if (r !== undefined && !r.ok)
      expect(r.errors[0]).toMatchObject({ path, message: expect.stringMatching(/^expected one of/) });
    expect(() => registry({ config: config as RegistryConfig })).toThrow(/ERR_REGISTRY_CONFIG|expected one of/);
  });
});
