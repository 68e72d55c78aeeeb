import { beforeAll, describe, expect, test } from 'vitest';
import { reachable } from './arrows.js';
import { bundle, hasDist, markersByModule, moduleOf, pkg, specifier, subpaths } from './support.js';

// Needs `npx tsup` first (npm run check builds before check:pkg).
beforeAll(() => {
  if (!hasDist()) throw new Error('dist/ is missing: run `npx tsup` (or `npm run build`) before the package checks');
});

const markers = markersByModule();

/**
 * Words a module may contain without importing the module they mark: `breakwater/otel` maps every
 * policy's events by their type names, the breaker's `'half-open'` among them.
 */
const NAMES_ONLY: Readonly<Record<string, readonly string[]>> = { otel: ['half-open'] };

/** Markers of every module other than `own`, core (which everyone may use) and what `own` may import. */
function foreignMarkers(own: string): string[] {
  const out: string[] = [];
  const allowed = reachable(own);
  for (const [mod, set] of markers) if (mod !== own && mod !== 'core' && !allowed.has(mod)) out.push(...set);
  return out.filter((m) => !NAMES_ONLY[own]?.includes(m));
}

describe('tree shaking', () => {
  test('the marker scan finds the literals this test relies on', () => {
    expect(markers.get('breaker')).toContain('ERR_BROKEN_CIRCUIT');
    expect(markers.get('breaker')).toContain('half-open');
    expect(markers.get('bulkhead')).toContain('ERR_BULKHEAD_REJECTED');
    expect(foreignMarkers('retry').length).toBeGreaterThan(10);
  });

  test('`import { retry } from "breakwater/retry"` pulls in no other module', async () => {
    const { text } = await bundle(`export { retry } from '${pkg.name}/retry';`);
    expect(text).toContain('maxRetries');
    for (const m of ['ERR_BROKEN_CIRCUIT', 'half-open', 'ERR_BULKHEAD_REJECTED', 'ERR_CONCURRENCY']) {
      expect(text, `found '${m}' in the { retry } bundle`).not.toContain(m);
    }
    for (const m of foreignMarkers('retry')) expect(text, `found '${m}' in the { retry } bundle`).not.toContain(m);
  });

  test('`import { Policy } from "breakwater"` pulls in no feature module', async () => {
    const { text } = await bundle(`export { Policy } from '${pkg.name}';`);
    for (const m of foreignMarkers('core')) expect(text, `found '${m}' in the { Policy } bundle`).not.toContain(m);
  });

  test.each(subpaths)('every export of %s bundles only core and its own module', async (sub) => {
    const { text } = await bundle(`export * from '${specifier(sub)}';`);
    expect(text.length).toBeGreaterThan(0);
    for (const m of foreignMarkers(moduleOf(sub))) {
      expect(text, `found '${m}' in the bundle of ${specifier(sub)}`).not.toContain(m);
    }
  });

  test('`import "breakwater"` alone bundles to (almost) nothing', async () => {
    const { text } = await bundle(`import '${pkg.name}';`);
    expect(text.trim().length, text).toBeLessThan(50);
  });

  test.each(subpaths)('a bare import of %s bundles to (almost) nothing (no module-scope side effects)', async (sub) => {
    const { text } = await bundle(`import '${specifier(sub)}';`);
    expect(text.trim().length, text).toBeLessThan(50);
  });

  test('package.json declares no side effects', () => {
    expect(pkg.sideEffects).toBe(false);
  });
});
