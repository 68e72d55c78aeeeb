import { beforeAll, describe, expect, test } from 'vitest';
import { bundle, hasDist, pkg, specifier, subpaths } from './support.js';

beforeAll(() => {
  if (!hasDist()) throw new Error('dist/ is missing: run `npx tsup` (or `npm run build`) before the package checks');
});

/** Gzip budgets (bytes) of one named import per resilience module (the performance issue's numbers). */
const BUDGETS: Record<string, { readonly name: string; readonly bytes: number }> = {
  '.': { name: 'Policy', bytes: 1000 },
  './retry': { name: 'retry', bytes: 1200 },
  './timeout': { name: 'timeout', bytes: 2000 },
  './fallback': { name: 'fallback', bytes: 2000 },
  './breaker': { name: 'circuitBreaker', bytes: 2000 },
  './bulkhead': { name: 'bulkhead', bytes: 2000 },
};

describe('size budgets (esbuild --minify, tree-shaken, gzip -9)', () => {
  test('every budgeted module is in the exports map', () => {
    for (const sub of Object.keys(BUDGETS)) expect(subpaths, `${sub} has a budget but no export`).toContain(sub);
  });

  test.each(Object.entries(BUDGETS))('%s: one named import stays within its budget', async (sub, { name, bytes }) => {
    const b = await bundle(`export { ${name} } from '${specifier(sub)}';`);
    expect(b.text, `${name} is not exported by ${specifier(sub)}`).not.toBe('');
    expect(
      b.gzip,
      `{ ${name} } from '${specifier(sub)}' is ${b.gzip} B gzip (${b.min} B minified); budget ${bytes} B`,
    ).toBeLessThanOrEqual(bytes);
  });

  // Modules without a per-import budget: the whole entry must bundle (and not balloon).
  test.each(subpaths.filter((s) => BUDGETS[s] === undefined))('%s: the whole entry bundles', async (sub) => {
    const b = await bundle(`export * from '${specifier(sub)}';`);
    expect(b.gzip, `${specifier(sub)} bundles to ${b.gzip} B gzip`).toBeGreaterThan(0);
    expect(b.gzip, `${specifier(sub)} bundles to ${b.gzip} B gzip (${b.min} B minified)`).toBeLessThan(40_000);
  });

  test('the package name used for self-reference is breakwater', () => {
    expect(pkg.name).toBe('breakwater');
  });
});
