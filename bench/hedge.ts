/**
 * Hedging and chaos overhead (standalone: `npx tsx bench/hedge.ts`, bounded to well under 30 s).
 *
 * 1. Hedge overhead when no hedge fires: `execute()` of a function that resolves at once, through
 *    `hedge()` (fixed delay, percentile delay), against a bare `await fn()` and `timeout()` (the
 *    other policy that arms a deadline per call; the aggressive one, like a hedge, must be able to
 *    return while `fn` still runs, so it also makes a promise and a forked context per call).
 * 2. Chaos overhead: a disabled `chaos()` (and an enabled one whose rates never fire), alone and
 *    inside a pipeline, against a bare `await fn()`, `Policy.noop` and the same pipeline without it.
 *
 * Rows interleave subject and baseline rounds and report the median of the rounds (process CPU time).
 */
import { chaos } from '../src/chaos/index.js';
import { hedge } from '../src/hedge/index.js';
import { Policy } from '../src/index.js';
import { retry } from '../src/retry/index.js';
import { timeout } from '../src/timeout/index.js';

const ROUNDS = 9;
const BUDGET_MS = 20_000;
const CALLS = 50_000;
const log = (s: string): void => console.log(s);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const fn = async (): Promise<number> => 1;

// Process CPU time (user + system), not wall time: on a shared machine the time the scheduler gives
// to other processes would otherwise dominate the spread (as in bench/run.ts).
const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system; // µs
};

async function perCall(run: () => Promise<unknown>): Promise<number> {
  const t0 = cpu();
  for (let i = 0; i < CALLS; i++) await run();
  return (cpu() - t0) / CALLS; // µs per call
}

type Subject = readonly [name: string, run: () => Promise<unknown>];

async function table(title: string, subjects: readonly Subject[], started: number): Promise<void> {
  const samples = subjects.map(() => [] as number[]);
  for (const [, run] of subjects) await perCall(run); // warm-up
  for (let r = 0; r < ROUNDS && (r < 3 || performance.now() - started < BUDGET_MS / 2); r++) {
    // Alternate the order by round so drift cancels.
    const order = r % 2 === 0 ? subjects.map((_, i) => i) : subjects.map((_, i) => subjects.length - 1 - i);
    for (const i of order) samples[i]?.push(await perCall((subjects[i] as Subject)[1]));
  }
  const base = median(samples[0] as number[]);
  log(`\n### ${title}\n`);
  log('| subject | per call (median) | overhead | ratio to bare |');
  log('|---|---:|---:|---:|');
  subjects.forEach(([name], i) => {
    const m = median(samples[i] as number[]);
    log(
      i === 0
        ? `| ${name} (baseline) | ${m.toFixed(3)} µs | — | 1.00× |`
        : `| ${name} | ${m.toFixed(3)} µs | +${(m - base).toFixed(3)} µs | ${(m / base).toFixed(2)}× |`,
    );
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const t = timeout(1_000);
  const ta = timeout({ after: 1_000, strategy: 'aggressive' });
  const h = hedge({ delay: 1_000 });
  const hp = hedge({ delay: { percentile: 95, max: 1_000 } });
  const h0 = hedge({ delay: 1_000, maxHedges: 0 });
  await table(
    'Hedge overhead when no hedge fires (fn resolves at once)',
    [
      ['bare `await fn()`', fn],
      ['`timeout(1000)`', () => t.execute(fn)],
      ["`timeout({ after: 1000, strategy: 'aggressive' })`", () => ta.execute(fn)],
      ['`hedge({ delay: 1000 })`', () => h.execute(fn)],
      ['`hedge({ delay: { percentile: 95 } })`', () => hp.execute(fn)],
      ['`hedge({ delay: 1000, maxHedges: 0 })` (no timer)', () => h0.execute(fn)],
    ],
    started,
  );

  const off = chaos({ fault: { rate: 0.5 }, latency: { rate: 0.5, ms: 1_000 }, enabled: false });
  const flag = { on: false };
  const offFn = chaos({ fault: { rate: 0.5 }, enabled: () => flag.on });
  const never = chaos({ fault: { rate: 0 }, latency: { rate: 0, ms: 1_000 } });
  const pipe = Policy.wrap(retry(), timeout(1_000));
  const pipeChaos = Policy.wrap(retry(), timeout(1_000), off);
  await table(
    'Chaos overhead when disabled (fn resolves at once)',
    [
      ['bare `await fn()`', fn],
      ['`Policy.noop`', () => Policy.noop.execute(fn)],
      ['`chaos({ …, enabled: false })`', () => off.execute(fn)],
      ['`chaos({ …, enabled: () => false })`', () => offFn.execute(fn)],
      ['`chaos` enabled, rates 0 (draws, never fires)', () => never.execute(fn)],
      ['`Policy.wrap(retry(), timeout(1000))`', () => pipe.execute(fn)],
      ['`Policy.wrap(retry(), timeout(1000), chaos(disabled))`', () => pipeChaos.execute(fn)],
    ],
    started,
  );
  log(
    `\n_Node ${process.version}, ${CALLS.toLocaleString()} sequential calls per sample, CPU time, median of up to ${ROUNDS} interleaved rounds; ${((performance.now() - started) / 1000).toFixed(1)} s._`,
  );
}

await main();
