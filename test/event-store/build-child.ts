// Bundles a child-process fixture once with esbuild so each child starts in ~100 ms instead of
// compiling TypeScript through tsx on every spawn.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

export async function buildChild(
  entry: string,
): Promise<{ file: string; env: NodeJS.ProcessEnv; dispose: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-es-child-'));
  const out = join(dir, 'child.cjs');
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: out,
    external: ['better-sqlite3', 'pg'],
    logLevel: 'silent',
  });
  return {
    file: out,
    env: { ...process.env, NODE_PATH: resolve('node_modules') },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
