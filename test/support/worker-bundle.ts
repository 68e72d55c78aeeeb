// Worker processes of the multi-process tests (and bench/rate-limit.ts) run as one esbuild bundle
// of a fixture: plain Node, no tsx in each child; the database clients stay external.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { build } from 'esbuild';

/** Bundles `entry` (a .ts fixture) into the ESM file `outfile` for Node 20, keeping `external` out. */
export async function bundleWorker(entry: string, outfile: string, external: readonly string[]): Promise<void> {
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: [...external],
    logLevel: 'error',
  });
}
