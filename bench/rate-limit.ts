/**
 * Rate limiter benchmarks (standalone: `npx tsx bench/rate-limit.ts`, about 30 s; `--quick` for a
 * smoke run; `--no-redis` skips part 2).
 *
 * 1. Acquire cost, in memory and uncontended (a limit never reached): `rateLimit().execute(fn)`
 *    (token bucket, sliding window, keyed by 1,000 users, with a true-up) against bottleneck
 *    (`reservoir` refreshed on an interval) and p-queue (`intervalCap` per `interval`), the limiters
 *    users compare, and a bare `await fn()`. Subjects run interleaved in every round; the table shows
 *    the median per call and the ratio to the bare call.
 * 2. The Redis store: acquires/s from 4 processes hammering one key (a limit never reached, so every
 *    acquire is one EVALSHA round trip), and from 1 process for comparison.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import PQueue from 'p-queue';
import { rateLimit } from '../src/rate-limit/index.js';
import { bundleWorker } from '../test/support/worker-bundle.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const ROUNDS = quick ? 3 : 9;
const CALLS = quick ? 5_000 : 20_000;
const log = (s: string): void => console.log(s);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const started = performance.now();

// --- 1. in-memory acquire cost ---------------------------------------------------------------

const fn = async (): Promise<number> => 1;
const HUGE = 1e12; // never limited: this measures the bookkeeping, not waiting

const bucket = rateLimit({ limit: HUGE, per: 1000 });
const window = rateLimit({ limit: HUGE, per: 1000, algorithm: 'sliding-window' });
const users = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
const keyed = rateLimit({ limit: HUGE, per: 1000, key: (ctx) => ctx.key as string });
const trued = rateLimit({ limit: HUGE, per: 1000, cost: 500, actualCost: (r: number) => r * 400 });
const bottleneck = new Bottleneck({
  reservoir: HUGE,
  reservoirRefreshAmount: HUGE,
  reservoirRefreshInterval: 1000,
});
const pqueue = new PQueue({ intervalCap: Number.MAX_SAFE_INTEGER, interval: 1000 });

// bottleneck starts a timer per job (≥ 1 ms each): fewer calls per round keep its rows affordable.
type Subject = { name: string; call: (i: number) => Promise<unknown>; calls?: number };
const subjects: Subject[] = [
  { name: 'bare `await fn()` (baseline)', call: () => fn() },
  { name: 'breakwater `rateLimit` token bucket', call: () => bucket.execute(fn) },
  { name: 'breakwater `rateLimit` sliding window', call: () => window.execute(fn) },
  {
    name: 'breakwater `rateLimit` keyed (1,000 users, LRU)',
    call: (i) => keyed.execute(fn, { key: users[i % 1000] as string }),
  },
  { name: 'breakwater `rateLimit` cost + actualCost true-up', call: () => trued.execute(fn) },
  {
    name: 'bottleneck `schedule` (reservoir + refresh interval)',
    call: () => bottleneck.schedule(fn),
    calls: quick ? 50 : 200,
  },
  { name: 'p-queue `add` (intervalCap + interval)', call: () => pqueue.add(fn) },
];

async function perCall(s: Subject): Promise<number> {
  const n = s.calls ?? CALLS;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await s.call(i);
  return ((performance.now() - t0) * 1000) / n;
}

/** 1,000 calls submitted at once, awaited together: µs per call. */
async function perBurst(s: Subject): Promise<number> {
  const n = 1000;
  const t0 = performance.now();
  const ps: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) ps.push(s.call(i));
  await Promise.all(ps);
  return ((performance.now() - t0) * 1000) / n;
}

async function memory(): Promise<void> {
  for (const s of subjects) {
    await perCall(s); // warm-up
    await perBurst(s);
  }
  const seq = subjects.map(() => [] as number[]);
  const burst = subjects.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved, in a rotating order, so that drift and GC land on every subject alike.
    for (let k = 0; k < subjects.length; k++) {
      const j = (k + r) % subjects.length;
      seq[j]?.push(await perCall(subjects[j] as Subject));
      burst[j]?.push(await perBurst(subjects[j] as Subject));
    }
  }
  const base = median(seq[0] as number[]);
  const baseBurst = median(burst[0] as number[]);
  log('\n### 1. Acquire cost, in memory, uncontended (limit never reached)\n');
  log('| subject | sequential, per call | vs bare | burst of 1,000, per call | vs bare |');
  log('|---|---:|---:|---:|---:|');
  subjects.forEach((s, i) => {
    const m = median(seq[i] as number[]);
    const b = median(burst[i] as number[]);
    log(
      `| ${s.name} | ${m.toFixed(3)} µs | ${(m / base).toFixed(2)}× | ${b.toFixed(3)} µs | ${(b / baseBurst).toFixed(2)}× |`,
    );
  });
  log(
    `\n_Medians of ${ROUNDS} interleaved rounds; sequential: ${CALLS.toLocaleString()} awaited calls per round (bottleneck: ${subjects[5]?.calls}); burst: 1,000 calls submitted at once, then awaited._`,
  );
  await bottleneck.stop({ dropWaitingJobs: true });
  pqueue.clear();
}

// --- 2. Redis: acquires/s from 4 processes ----------------------------------------------------

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CACHE = new URL('../node_modules/.cache/breakwater-rate-limit/', import.meta.url).pathname;
const WORKER = `${CACHE}bench-worker-${process.pid}.mjs`;

interface Report {
  admitted: number[];
  rejected: number;
  failed: number;
}

async function workers(n: number, config: Record<string, unknown>, ms: number): Promise<Report[]> {
  const children = Array.from({ length: n }, () =>
    spawn(process.execPath, [WORKER, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const outs = children.map(() => ({ text: '' }));
  const ready = children.map(
    (child, i) =>
      new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          (outs[i] as { text: string }).text += chunk.toString('utf8');
          if ((outs[i] as { text: string }).text.startsWith('ready\n')) resolve();
        });
      }),
  );
  const exits = children.map((child) => new Promise<void>((resolve) => child.on('exit', () => resolve())));
  await Promise.all(ready);
  for (const child of children) child.stdin.write(`go ${ms}\n`);
  await Promise.all(exits);
  return outs.map((o) => JSON.parse(o.text.slice('ready\n'.length)) as Report);
}

async function redis(): Promise<void> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  probe.on('error', () => {});
  const up = await probe.connect().then(
    () => true,
    () => false,
  );
  if (!up) {
    log(`\n_Redis not reachable at ${REDIS_URL}: part 2 skipped._`);
    return;
  }
  await bundleWorker(new URL('../test/rate-limit/fixtures/worker.ts', import.meta.url).pathname, WORKER, ['ioredis']);
  const ms = quick ? 1000 : 3000;
  const prefix = `bw-rl-bench:${Math.random().toString(36).slice(2, 8)}:`;
  const rows: string[] = [];
  try {
    for (const [procs, lanes] of [
      [1, 8],
      [4, 8],
    ] as const) {
      for (const algorithm of ['token-bucket', 'sliding-window'] as const) {
        const config = {
          url: REDIS_URL,
          prefix: `${prefix}${procs}:${algorithm}:`,
          algorithm,
          limit: HUGE,
          per: 1000,
          lanes,
        };
        const reports = await workers(procs, config, ms);
        const total = reports.reduce((a, r) => a + r.admitted.length, 0);
        const failed = reports.reduce((a, r) => a + r.failed, 0);
        rows.push(
          `| ${procs} × ${lanes} lanes | ${algorithm} | ${Math.round((total / ms) * 1000).toLocaleString()} | ${failed} |`,
        );
      }
    }
  } finally {
    rmSync(WORKER, { force: true });
    const keys = await probe.keys(`${prefix}*`);
    if (keys.length > 0) await probe.del(...keys);
    probe.disconnect();
  }
  log('\n### 2. Redis store: acquires/s on one key (one EVALSHA each, limit never reached)\n');
  log('| processes | algorithm | acquires/s (all processes) | failed |');
  log('|---|---|---:|---:|');
  for (const r of rows) log(r);
  log(`\n_${ms / 1000} s per row, Redis at ${REDIS_URL}, every process on this machine._`);
}

await memory();
if (!args.has('--no-redis')) await redis();
log(`\n_Node ${process.version}; ${((performance.now() - started) / 1000).toFixed(1)} s._`);
process.exit(0); // bottleneck's and p-queue's interval timers would keep the process alive
