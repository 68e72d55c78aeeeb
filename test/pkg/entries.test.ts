import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import tsupConfig from '../../tsup.config.js';
import { entryName, hasDist, pkg, ROOT, subpaths } from './support.js';

interface TsupLike {
  readonly entry?: Record<string, string>;
}

async function typedocEntryPoints(): Promise<string[]> {
  if (existsSync(`${ROOT}typedoc.json`)) {
    const { readFileSync } = await import('node:fs');
    return (JSON.parse(readFileSync(`${ROOT}typedoc.json`, 'utf8')) as { entryPoints: string[] }).entryPoints;
  }
  for (const f of ['typedoc.config.mjs', 'typedoc.config.js', 'typedoc.config.cjs']) {
    if (existsSync(`${ROOT}${f}`)) {
      const mod = (await import(`${ROOT}${f}`)) as { default: { entryPoints: string[] } };
      return mod.default.entryPoints;
    }
  }
  throw new Error('no typedoc configuration (typedoc.json or typedoc.config.mjs) found');
}

const normalize = (p: string): string => p.replace(/^\.\//, '');

describe('one list of entry points', () => {
  const expected = subpaths.map((sub) => `src/${entryName(sub)}.ts`).sort();

  test('every exports entry has types first and points into dist/', () => {
    for (const sub of subpaths) {
      const target = pkg.exports[sub];
      expect(typeof target, `exports['${sub}']`).toBe('object');
      const t = target as { types: string; default: string };
      expect(Object.keys(t)[0], `exports['${sub}']: types must come first`).toBe('types');
      expect(t.types).toBe(`./dist/${entryName(sub)}.d.ts`);
      expect(t.default).toBe(`./dist/${entryName(sub)}.js`);
    }
  });

  test('each export has its src/<module>/index.ts', () => {
    for (const file of expected) expect(existsSync(`${ROOT}${file}`), `${file} is missing`).toBe(true);
  });

  test('the tsup entry map equals the exports map', () => {
    const cfg = tsupConfig as TsupLike;
    const entry = cfg.entry ?? {};
    expect(Object.keys(entry).sort()).toEqual(subpaths.map(entryName).sort());
    for (const [name, file] of Object.entries(entry)) expect(normalize(file)).toBe(`src/${name}.ts`);
  });

  test('the typedoc entry points equal the exports map', async () => {
    expect((await typedocEntryPoints()).map(normalize).sort()).toEqual(expected);
  });

  test('the build has every exported file (run `npx tsup` first)', () => {
    expect(hasDist(), 'dist/ is missing').toBe(true);
    for (const sub of subpaths) {
      const t = pkg.exports[sub] as { types: string; default: string };
      expect(existsSync(`${ROOT}${normalize(t.default)}`), `${t.default} was not built`).toBe(true);
      expect(existsSync(`${ROOT}${normalize(t.types)}`), `${t.types} was not built`).toBe(true);
    }
  });
});
