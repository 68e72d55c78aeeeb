/**
 * Registry benchmarks (standalone: `npx tsx bench/registry.ts`, bounded to well under 30 s).
 *
 * 1. Call overhead: a call through `registry.get(target)` against the same pipeline built with
 *    `Policy.wrap` (timeout → retry → breaker), and a bare `await fn()`. The registry's policy object
 *    forwards to the pipeline in force: the difference is its cost per call.
 * 2. Update cost: `update()` of a 50-target config, one target's retry changed (the others kept),
 *    and the same config rejected for one bad value.
 *
 * Rows interleave the subjects and report the median of the rounds.
 */
import { circuitBreaker } from '../src/breaker/index.js';
import { Policy } from '../src/index.js';
import { type RegistryConfig, registry } from '../src/registry/index.js';
import { retry } from '../src/retry/index.js';
import { timeout } from '../src/timeout/index.js';

const ROUNDS = 9;
const BUDGET_MS = 18_000;
const CALLS = 200_000;
const log = (s: string): void => console.log(s);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const fn = async (): Promise<number> => 1;

const direct = Policy.wrap(timeout(10_000), retry({ maxRetries: 2 }), circuitBreaker({}));
const mesh = registry({
  config: { targets: { t: [{ timeout: 10_000 }, { retry: 2 }, { breaker: {} }] } },
});
const viaRegistry = mesh.get('t');

async function perCall(run: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < CALLS; i++) await run();
  return ((performance.now() - t0) * 1e6) / CALLS; // ns per call
}

function config(n: number, changed: number): RegistryConfig {
  const targets: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) targets[`t${i}`] = { policy: 'llm', retry: { maxRetries: i === 0 ? changed : 2 } };
  return {
    policies: {
      llm: [
        { timeout: { after: '60s', name: 'total' } },
        { retry: { maxRetries: 3 } },
        { breaker: { strategy: { type: 'failureRate', threshold: 0.5, window: '30s' } } },
        { timeout: { after: '20s', name: 'attempt' } },
      ],
    },
    targets: targets as RegistryConfig['targets'],
  };
}

function perUpdate(run: (i: number) => void, n = 200): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) run(i);
  return ((performance.now() - t0) * 1000) / n; // µs per update
}

async function main(): Promise<void> {
  const started = performance.now();
  for (let i = 0; i < 2; i++) {
    await perCall(fn);
    await perCall(() => direct.execute(fn));
    await perCall(() => viaRegistry.execute(fn));
  }
  const r: Record<'bare' | 'direct' | 'registry', number[]> = { bare: [], direct: [], registry: [] };
  for (let round = 0; round < ROUNDS && (round === 0 || performance.now() - started < BUDGET_MS / 2); round++) {
    r.bare.push(await perCall(fn));
    r.direct.push(await perCall(() => direct.execute(fn)));
    r.registry.push(await perCall(() => viaRegistry.execute(fn)));
  }
  const bare = median(r.bare);
  const row = (name: string, xs: number[]): string => {
    const m = median(xs);
    return `| ${name} | ${m.toFixed(0)} ns | ${(m / bare).toFixed(2)}× |`;
  };
  log('\n### Registry: call overhead (timeout → retry → breaker, fn resolves at once)\n');
  log('| subject | per call (median) | vs bare `await fn()` |');
  log('|---|---:|---:|');
  log(row('bare `await fn()`', r.bare));
  log(row('`Policy.wrap(timeout, retry, circuitBreaker)`', r.direct));
  log(row("`registry.get('t')` (same pipeline)", r.registry));
  log(`\nregistry / direct: ${(median(r.registry) / median(r.direct)).toFixed(3)}×`);

  const big = registry({ config: config(50, 2) });
  const valid = [config(50, 3), config(50, 4)];
  const invalid = config(50, -1);
  const u: Record<'apply' | 'reject', number[]> = { apply: [], reject: [] };
  for (let round = 0; round < ROUNDS && (round === 0 || performance.now() - started < BUDGET_MS); round++) {
    u.apply.push(perUpdate((i) => big.update(valid[i % 2] as RegistryConfig)));
    u.reject.push(perUpdate(() => big.update(invalid)));
  }
  log('\n### Registry: update cost (50 targets × 4 layers)\n');
  log('| update | per update (median) |');
  log('|---|---:|');
  log(`| applied: one target's retry changed, 199 layers kept | ${median(u.apply).toFixed(0)} µs |`);
  log(`| rejected: one bad value (all 50 targets still checked) | ${median(u.reject).toFixed(0)} µs |`);
  log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

await main();
