/**
 * Bundles a one-line entry with esbuild (minified, tree-shaken, ESM) and gzips the result: the
 * bytes a user's bundle grows by for one named import. Breakwater resolves through the package
 * `exports` map to `dist/` (a file inside the package can self-reference it by name); when
 * `dist/` is missing, `breakwater[/sub]` is mapped to `src/<sub>/index.ts` instead.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Plugin } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = `${dir}/${name}`;
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

/** True when `dist/` holds a build that is not older than `src/`. */
export function hasDist(): boolean {
  const entry = `${ROOT}dist/index.js`;
  return existsSync(entry) && statSync(entry).mtimeMs >= newestMtime(`${ROOT}src`);
}

/** Where breakwater is bundled from, for the report. */
export function bundleSource(): string {
  if (hasDist()) return 'dist/';
  return existsSync(`${ROOT}dist/index.js`) ? 'src/ (dist/ is older than src/)' : 'src/ (no dist/ build)';
}

const fromSrc: Plugin = {
  name: 'breakwater-from-src',
  setup(b) {
    b.onResolve({ filter: /^breakwater(\/.*)?$/ }, (args) => {
      const sub = args.path === 'breakwater' ? 'index' : `${args.path.slice('breakwater/'.length)}/index`;
      return { path: `${ROOT}src/${sub}.ts` };
    });
  },
};

/** Minified and gzipped size of bundling `code` (an ESM entry). */
export async function bundleSize(
  code: string,
  options: { platform?: 'neutral' | 'node'; source?: 'dist' | 'src' } = {},
): Promise<{ min: number; gzip: number; text: string }> {
  const source = options.source ?? (hasDist() ? 'dist' : 'src');
  const result = await build({
    stdin: { contents: code, resolveDir: ROOT, loader: 'js', sourcefile: 'entry.js' },
    bundle: true,
    write: false,
    format: 'esm',
    minify: true,
    treeShaking: true,
    platform: options.platform ?? 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2022',
    // Database and broker clients and the OpenTelemetry API are optional peers: a user's bundle
    // never inlines them through breakwater.
    external: ['pg', 'ioredis', 'better-sqlite3', '@nats-io/*', '@opentelemetry/*'],
    logLevel: 'silent',
    plugins: source === 'src' ? [fromSrc] : [],
  });
  const text = result.outputFiles[0]?.text ?? '';
  return { min: Buffer.byteLength(text), gzip: gzipSync(text, { level: 9 }).length, text };
}
