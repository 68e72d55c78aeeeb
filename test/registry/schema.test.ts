import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { SCHEMA_FILE, schemaText } from '../../scripts/registry-schema.js';
import { Policy } from '../../src/index.js';
import { type RegistryConfig, registry, registrySchema } from '../../src/registry/index.js';
import { FUNCTIONS, mutations, validConfig } from './support/configs.js';
import { validates } from './support/json-schema.js';

const schema = registrySchema();
const ok = (config: unknown): boolean => validates(schema, config);

/** The first ```json block of docs/mesh.md: the guide's full example. */
function guideExample(): RegistryConfig {
  const md = readFileSync(new URL('../../docs/mesh.md', import.meta.url), 'utf8');
  const block = /```json\n([\s\S]*?)\n```/.exec(md)?.[1];
  if (block === undefined) throw new Error('docs/mesh.md has no ```json block');
  return JSON.parse(block) as RegistryConfig;
}

const guideFunctions = { isTransient: () => true, cachedSummary: () => 'cached' };

describe('the shipped JSON Schema', () => {
  test('equals the one generated from the kind descriptions (run `npm run schema` after changing a kind)', () => {
    // Compared as JSON: the file is formatted by biome, the generator writes JSON.stringify's layout.
    expect(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'))).toEqual(JSON.parse(schemaText()));
  });

  test('is exported as breakwater/registry/schema.json and shipped in `files`', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(pkg.exports['./registry/schema.json']).toBe('./schema/registry.schema.json');
    expect(pkg.files).toContain('schema');
  });

  test("accepts the guide's example, which the registry accepts too", () => {
    const example = guideExample();
    expect(ok(example)).toBe(true);
    const mesh = registry({ config: example, functions: guideFunctions });
    expect(mesh.targets.length).toBeGreaterThan(3);
  });

  test.each([
    ['a negative retry count', { targets: { a: { retry: -1 } } }],
    ['two kinds in one layer', { targets: { a: [{ timeout: 1, retry: 2 }] } }],
    ['a misspelt kind', { policies: { p: { retyr: {} } } }],
    ['an unknown default kind', { defaults: { circuitBreaker: {} } }],
    ['an unknown top-level key', { targetz: {} }],
    ['an unknown strategy', { targets: { a: { breaker: { strategy: { type: 'nope' } } } } }],
    ['a duration without a unit', { targets: { a: { timeout: 'soon' } } }],
    ['an unknown option', { targets: { a: { bulkhead: { limit: 1, size: 2 } } } }],
    [
      'a fraction above 1',
      { targets: { a: { breaker: { strategy: { type: 'failureRate', threshold: 2, window: 1000 } } } } },
    ],
    ['a target of the wrong type', { targets: { a: 42 } }],
    ['an enum value', { targets: { a: { retry: { backoff: { type: 'exponential', jitter: 'lots' } } } } }],
  ])('rejects %s, as the registry does', (_what, config) => {
    expect(ok(config)).toBe(false);
    expect(() => registry({ config: config as RegistryConfig })).toThrow();
  });

  test.each([
    ['durations with units and shorthands', { targets: { a: [{ timeout: '1.5s' }, { retry: 3 }, { bulkhead: 4 }] } }],
    [
      'an override by layer name',
      { policies: { p: [{ timeout: { after: 5, name: 'attempt' } }] }, targets: { a: { policy: 'p', attempt: '2s' } } },
    ],
    [
      'a pipeline of names and layers',
      { policies: { a: { retry: 1 }, b: ['a', { timeout: 5 }] }, targets: { t: 'b' } },
    ],
    ['a fallback value of any JSON', { targets: { a: { fallback: { value: { text: 'sorry', n: [1, null] } } } } }],
    ['a backoff as a bare delay', { targets: { a: { retry: { backoff: '250ms' } } } }],
  ])('accepts %s, as the registry does', (_what, config) => {
    expect(ok(config)).toBe(true);
    expect(registry({ config: config as RegistryConfig }).targets).toContain(Object.keys(config.targets)[0]);
  });

  test('property: it accepts every generated valid config and rejects every mutation it can see', () => {
    fc.assert(
      fc.property(validConfig, (config) => {
        expect(ok(config)).toBe(true);
        for (const m of mutations(config)) {
          if (m.schemaSees) expect(ok(m.apply(config)), `${m.what} at ${m.path}`).toBe(false);
        }
      }),
      { numRuns: 60 },
    );
  });

  test('registrySchema({ factories }) describes custom kinds too', () => {
    const custom = registrySchema({
      factories: {
        audit: {
          shorthand: 'topic',
          options: { type: 'object', props: { topic: { type: 'string' } } },
          create: () => Policy.noop,
        },
        loose: { create: () => Policy.noop },
      },
    });
    expect(
      validates(custom, {
        targets: { a: { audit: 'x' }, b: { audit: { topic: 'y', name: 'n' } }, c: { loose: { any: 1 } } },
      }),
    ).toBe(true);
    expect(validates(custom, { targets: { a: { audit: { topic: 1 } } } })).toBe(false);
    expect(ok({ targets: { a: { audit: 'x' } } })).toBe(false);
    // The registry agrees.
    expect(() => registry({ config: { targets: { a: { retry: 1 } } }, functions: FUNCTIONS })).not.toThrow();
  });
});
