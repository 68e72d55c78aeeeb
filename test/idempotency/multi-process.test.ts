// 4 worker processes × 200 keys × 3 duplicate deliveries, in random order, on real Redis and
// PostgreSQL: every key completes exactly once and every delivery gets the same result. Then a
// worker is kill -9'ed while holding leases: its keys are taken over and still complete once.
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdempotencyStore } from '../../src/idempotency/index.js';
import { postgresIdempotencyStore } from '../../src/idempotency/postgres/index.js';
import { redisIdempotencyStore } from '../../src/idempotency/redis/index.js';
import { HAS, PG_URL, REDIS_URL } from '../support/servers.js';
import { bundleWorker } from '../support/worker-bundle.js';

interface Line {
  t: 'run' | 'complete' | 'result' | 'error' | 'done';
  key: string;
  worker: number;
  result?: unknown;
  code?: string;
}

interface Worker {
  readonly child: ChildProcess;
  readonly lines: Line[];
  readonly exit: Promise<number | null>;
}

const WORKER_SRC = new URL('./fixtures/worker.ts', import.meta.url).pathname;
// Bundled once to plain JS (clients left external), so each worker starts in ~100 ms instead of
// paying tsx's transform on every spawn. Kept under node_modules/.cache so `pg`/`ioredis` resolve.
const CACHE = new URL('../../node_modules/.cache/breakwater-idempotency/', import.meta.url).pathname;
const WORKER = `${CACHE}worker-${process.pid}.mjs`;

beforeAll(async () => {
  await bundleWorker(WORKER_SRC, WORKER, ['pg', 'ioredis']);
});

function startWorker(config: Record<string, unknown>): Worker {
  const child = spawn(process.execPath, [WORKER, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Line[] = [];
  let buf = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let i = buf.indexOf('\n');
    while (i >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)) as Line);
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exit };
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** Every key delivered `dups` times, shuffled, dealt to `n` workers. */
function deal(keys: string[], dups: number, n: number): string[][] {
  const all = shuffle(keys.flatMap((k) => Array.from({ length: dups }, () => k)));
  return Array.from({ length: n }, (_, w) => all.filter((_k, i) => i % n === w));
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function check(lines: Line[], keys: string[], deliveriesPerKey: number, excludeRunsOf?: number) {
  const errors = lines.filter((l) => l.t === 'error');
  expect(errors.map((e) => `${e.key}: ${e.code}`)).toEqual([]);
  for (const key of keys) {
    const completes = lines.filter((l) => l.t === 'complete' && l.key === key);
    expect(completes, key).toHaveLength(1);
    const runs = lines.filter((l) => l.t === 'run' && l.key === key && l.worker !== excludeRunsOf);
    expect(runs, key).toHaveLength(1);
    const results = lines.filter((l) => l.t === 'result' && l.key === key).map((l) => JSON.stringify(l.result));
    expect(results, key).toHaveLength(deliveriesPerKey);
    expect(new Set(results).size, key).toBe(1);
  }
}

async function finalResults(store: IdempotencyStore, keys: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const k of keys) {
    const r = await store.get(k, Date.now());
    expect(r?.status).toBe('completed');
    out.set(k, JSON.stringify((JSON.parse(r?.result ?? '{}') as { value: unknown }).value));
  }
  return out;
}

const run = Math.random().toString(36).slice(2, 8);
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
  rmSync(WORKER, { force: true });
});

async function backend(name: 'redis' | 'postgres'): Promise<{ store: IdempotencyStore; url: string; ns: string }> {
  if (name === 'redis') {
    const ns = `bw-idem-mp:${run}:`;
    const client = new Redis(REDIS_URL);
    cleanups.push(async () => {
      const keys = await client.keys(`${ns}*`);
      if (keys.length > 0) await client.del(...keys);
      client.disconnect();
    });
    return { store: redisIdempotencyStore(client, { prefix: ns }), url: REDIS_URL, ns };
  }
  const ns = `idem_mp_${run}`;
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
  const store = postgresIdempotencyStore(pool, { table: ns });
  await store.migrate();
  cleanups.push(async () => {
    await pool.query(`DROP TABLE IF EXISTS "${ns}"`);
    await pool.end();
  });
  return { store, url: PG_URL, ns };
}

for (const name of ['redis', 'postgres'] as const) {
  const skip = name === 'redis' ? !HAS.redis : !HAS.postgres;
  describe.skipIf(skip)(`multi-process exactly-once on ${name}`, () => {
    it('4 workers × 200 keys × 3 duplicates in random order: each key completes once, same result', async () => {
      const { store, url, ns } = await backend(name);
      const keys = Array.from({ length: 200 }, (_, i) => `p1:${i}:"é"`);
      const shares = deal(keys, 3, 4);
      const workers = shares.map((deliveries, worker) =>
        startWorker({ backend: name, url, ns, worker, deliveries, lease: 5000, victim: false, concurrency: 8 }),
      );
      const codes = await Promise.all(workers.map((w) => w.exit));
      expect(codes).toEqual([0, 0, 0, 0]);
      const lines = workers.flatMap((w) => w.lines);
      check(lines, keys, 3);
      // No completed record was overwritten: the stored result is what every delivery got.
      const stored = await finalResults(store, keys);
      for (const l of lines.filter((x) => x.t === 'result')) expect(JSON.stringify(l.result)).toBe(stored.get(l.key));
    }, 90_000);

    it('a worker kill -9ed while holding leases: its keys are taken over and still complete once', async () => {
      const { store, url, ns } = await backend(name);
      const keys = Array.from({ length: 60 }, (_, i) => `p2:${i}`);
      const victimKeys = keys.slice(0, 20);
      const victim = startWorker({
        backend: name,
        url,
        ns,
        worker: 99,
        deliveries: victimKeys,
        lease: 500,
        victim: true,
        concurrency: 20,
      });
      await until(() => victim.lines.filter((l) => l.t === 'run').length === victimKeys.length, 15_000);
      const shares = deal(keys, 3, 3);
      const workers = shares.map((deliveries, worker) =>
        // The survivors' own lease is long: a lease lapsing under machine load would (correctly) be
        // reported as IdempotencyLeaseLostError, which is not what this test is about.
        startWorker({ backend: name, url, ns, worker, deliveries, lease: 5000, victim: false, concurrency: 8 }),
      );
      await new Promise((r) => setTimeout(r, 200));
      victim.child.kill('SIGKILL');
      expect(await victim.exit).toBe(null);
      const codes = await Promise.all(workers.map((w) => w.exit));
      expect(codes).toEqual([0, 0, 0]);
      expect(victim.lines.filter((l) => l.t === 'complete')).toEqual([]);
      const lines = workers.flatMap((w) => w.lines);
      check(lines, keys, 3);
      const stored = await finalResults(store, keys);
      for (const l of lines.filter((x) => x.t === 'result')) expect(JSON.stringify(l.result)).toBe(stored.get(l.key));
    }, 90_000);
  });
}
