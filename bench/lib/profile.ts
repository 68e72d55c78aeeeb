/**
 * Profiles one breakwater policy's hot path: `npx tsx bench/lib/profile.ts <kind> [seconds]`,
 * kind ∈ retry | breaker | window | timeout | aggressive | bulkhead | pipeline | noop.
 *
 * The subject is bundled with esbuild into a plain .mjs (so the profile holds no loader frames),
 * run under `node --cpu-prof` for the given time, and the top functions by self time are printed
 * with the CPU time per call.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const POLICIES: Record<string, string> = {
  noop: 'Policy.wrap()',
  retry: 'retry({ maxRetries: 3, backoff: constant(0) })',
  breaker: 'circuitBreaker({ strategy: consecutive(5) })',
  window: 'circuitBreaker({ strategy: failureRate({ threshold: 0.5, minThroughput: 20, window: 30_000 }) })',
  timeout: 'timeout(1000)',
  aggressive: "timeout({ after: 1000, strategy: 'aggressive' })",
  bulkhead: 'bulkhead({ limit: 10, queue: 10 })',
  pipeline:
    'Policy.wrap(timeout(1000), retry({ maxRetries: 3, backoff: constant(0) }), circuitBreaker({ strategy: consecutive(5) }), bulkhead({ limit: 10, queue: 10 }))',
};

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

/** For each line of an esbuild bundle, the source file it came from (esbuild's `// path` markers). */
function sourceOfLines(bundle: string): string[] {
  let current = '';
  return bundle.split('\n').map((line) => {
    const m = /^\/\/ (\S+\.ts)$/.exec(line);
    if (m !== null) current = (m[1] as string).replace(/^.*?src\//, 'src/');
    return current;
  });
}

/** Top `n` functions by self time of a .cpuprofile, as `[percent, label]`. */
export function topSelf(
  profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] },
  n: number,
  lines: readonly string[] = [],
) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const cf = (byId.get(id) as ProfileNode).callFrame;
    const bundled = cf.url.endsWith('entry.mjs');
    // Line 1 of the bundle is the module body: the measuring loop itself (top-level await).
    const file = !bundled
      ? cf.url.split('/').slice(-2).join('/') || '(native)'
      : cf.lineNumber === 0
        ? 'the measuring loop'
        : (lines[cf.lineNumber] ?? 'entry');
    const where = bundled ? ` (bundle line ${cf.lineNumber + 1})` : `:${cf.lineNumber + 1}`;
    const key = `${cf.functionName || '(anonymous)'}  ${file}${where}`;
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, t]) => [(100 * t) / total, k] as const);
}

async function main(): Promise<void> {
  const [kind = 'pipeline', seconds = '3'] = process.argv.slice(2);
  const policy = POLICIES[kind];
  if (policy === undefined) throw new Error(`unknown kind ${kind}; one of ${Object.keys(POLICIES).join(', ')}`);
  const dir = mkdtempSync(`${tmpdir()}/bw-profile-`);
  const entry = `
import { Policy } from '${SRC}index.ts';
import { retry, constant } from '${SRC}retry/index.ts';
import { timeout } from '${SRC}timeout/index.ts';
import { circuitBreaker, consecutive, failureRate } from '${SRC}breaker/index.ts';
import { bulkhead } from '${SRC}bulkhead/index.ts';
const p = ${policy};
const fn = async () => 1;
const end = performance.now() + ${Number(seconds) * 1000};
let n = 0;
const t0 = process.cpuUsage();
while (performance.now() < end) { for (let i = 0; i < 1000; i++) await p.execute(fn); n += 1000; }
const u = process.cpuUsage(t0);
console.log(${JSON.stringify(kind)}, n, 'calls,', ((u.user + u.system) * 1000 / n).toFixed(0), 'ns CPU per call');
`;
  writeFileSync(`${dir}/entry.ts`, entry);
  await build({
    entryPoints: [`${dir}/entry.ts`],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: `${dir}/entry.mjs`,
    logLevel: 'warning',
  });
  spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, `${dir}/entry.mjs`], { stdio: 'inherit' });
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort((a, b) => statSync(`${dir}/${b}`).size - statSync(`${dir}/${a}`).size)[0];
  if (file === undefined) throw new Error('no profile written');
  const lines = sourceOfLines(readFileSync(`${dir}/entry.mjs`, 'utf8'));
  for (const [pct, label] of topSelf(JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')), 20, lines)) {
    console.log(`${pct.toFixed(1).padStart(5)} %  ${label}`);
  }
  console.log(`profile: ${dir}/${file} (open in Chrome DevTools → Performance)`);
}

await main();
