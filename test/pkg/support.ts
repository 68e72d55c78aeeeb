/**
 * Helpers of the package-level checks: the exports map, and esbuild bundles of a one-line entry
 * that imports `breakwater…` by name. The entry's resolve directory is the repository root, so
 * esbuild resolves the package by self-reference through its `exports` map, i.e. from `dist/`,
 * exactly as a user's bundler would.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleSize } from '../../bench/lib/bundle.js';

export const ROOT: string = fileURLToPath(new URL('../../', import.meta.url));

interface PackageJson {
  readonly name: string;
  readonly sideEffects?: boolean;
  readonly exports: Record<string, string | { readonly types: string; readonly default: string }>;
}

export const pkg: PackageJson = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as PackageJson;

/**
 * Every code subpath of the exports map (`.`, `./retry`, …): without the entries that point at a
 * plain file (`./package.json`, `./registry/schema.json`).
 */
export const subpaths: readonly string[] = Object.keys(pkg.exports).filter((s) => typeof pkg.exports[s] !== 'string');

/** `'.'` → `'breakwater'`, `'./retry'` → `'breakwater/retry'`. */
export const specifier = (sub: string): string => (sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`);

/** `'.'` → `'index'`, `'./idempotency/sqlite'` → `'idempotency/sqlite/index'`. */
export const entryName = (sub: string): string => (sub === '.' ? 'index' : `${sub.slice(2)}/index`);

/** The top-level module directory a subpath belongs to (`./idempotency/sqlite` → `idempotency`). */
export const moduleOf = (sub: string): string => (sub === '.' ? 'core' : (sub.slice(2).split('/')[0] as string));

/** True when the build output exists. */
export const hasDist = (): boolean => existsSync(`${ROOT}dist/index.js`);

export interface Bundle {
  readonly text: string;
  readonly min: number;
  readonly gzip: number;
}

/** Bundles `code` (an ESM entry) minified and tree-shaken from `dist/`, like a user's production build. */
export function bundle(code: string): Promise<Bundle> {
  return bundleSize(code, { source: 'dist' });
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = `${dir}/${name}`;
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/**
 * String literals that only one module's code contains: its error codes (`'ERR_…'`), plus a few
 * hand-picked words. A bundle that imports one module must contain none of another module's.
 */
export function markersByModule(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const mod of readdirSync(`${ROOT}src`)) {
    if (!statSync(`${ROOT}src/${mod}`).isDirectory()) continue;
    const set = new Set<string>();
    for (const file of walk(`${ROOT}src/${mod}`)) {
      for (const m of readFileSync(file, 'utf8').matchAll(/'(ERR_[A-Z0-9_]+)'/g)) set.add(m[1] as string);
    }
    found.set(mod, set);
  }
  found.get('breaker')?.add('half-open');
  // A code used by more than one module (e.g. core's ERR_TIMEOUT, reused by others) marks none.
  const count = new Map<string, number>();
  for (const set of found.values()) for (const m of set) count.set(m, (count.get(m) ?? 0) + 1);
  for (const set of found.values()) for (const m of [...set]) if ((count.get(m) ?? 0) > 1) set.delete(m);
  return found;
}
