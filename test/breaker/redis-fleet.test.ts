// Three worker processes share one breaker through a Redis server of this test's own (started on a
// free port, so that it can be killed and restarted without touching the shared one). The
// downstream is a flag file every worker reads. An outage opens the circuit in every process within
// the staleness bound (1 s by default); one probe in total closes it for all; a Redis restart while
// the circuit is open (every key lost) crashes nothing and loses no transition.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, HAS_REDIS_SERVER, startRedis, stopRedis, until } from '../support/redis-server.js';
import { bundleWorker } from '../support/worker-bundle.js';

interface Line {
  t: string;
  w: number;
  at: number;
  state?: string;
  openings?: number;
  message?: string;
  other?: number;
}

interface Worker {
  readonly child: ChildProcess;
  readonly lines: Line[];
  readonly exit: Promise<number | null>;
}

const WORKER_SRC = new URL('./fixtures/fleet-worker.ts', import.meta.url).pathname;
const CACHE = new URL('../../node_modules/.cache/breakwater-breaker/', import.meta.url).pathname;
const WORKER = `${CACHE}fleet-worker-${process.pid}.mjs`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function startWorker(config: Record<string, unknown>): Worker {
  const child = spawn(process.execPath, [WORKER, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
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

const first = (w: Worker, t: string, after: number): Line | undefined =>
  w.lines.find((l) => l.t === t && l.at >= after);
const probesAfter = (ws: Worker[], after: number) =>
  ws.flatMap((w) => w.lines).filter((l) => l.t === 'run' && l.state === 'half-open' && l.at >= after);

const dir = mkdtempSync(join(tmpdir(), 'bw-breaker-fleet-'));
const processes: ChildProcess[] = [];

beforeAll(async () => {
  if (!HAS_REDIS_SERVER) return;
  await bundleWorker(WORKER_SRC, WORKER, ['ioredis']);
});

afterAll(() => {
  for (const p of processes) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  rmSync(WORKER, { force: true });
});

describe.skipIf(!HAS_REDIS_SERVER)('a fleet of 3 processes sharing a breaker on real Redis', () => {
  it('outage: open everywhere within 1 s; one probe closes it for all; a Redis restart loses no transition', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    processes.push(redis);
    const flag = join(dir, 'downstream-down');
    const prefix = 'bw-fleet:';
    const key = 'llm';
    const base = `${prefix}{${key}}`;
    const workers = [0, 1, 2].map((worker) =>
      startWorker({ port, key, prefix, worker, flag, breakDuration: 2000, probes: 1, every: 10 }),
    );
    for (const w of workers) processes.push(w.child);
    await until(() => workers.every((w) => first(w, 'ready', 0) !== undefined), 10_000, 'workers ready');
    await sleep(300);

    // 1. The downstream goes down: some worker trips first; every other follows within 1 s.
    const down1 = Date.now();
    writeFileSync(flag, '');
    await until(() => workers.every((w) => first(w, 'open', down1) !== undefined), 5000, 'open everywhere');
    const opens = workers.map((w) => (first(w, 'open', down1) as Line).at);
    const t0 = Math.min(...opens);
    for (const at of opens) expect(at - t0).toBeLessThanOrEqual(1000);

    // 2. It comes back during the break: one probe in total, after the break, closes every worker.
    await sleep(200);
    const up1 = Date.now();
    rmSync(flag);
    await until(() => workers.every((w) => first(w, 'close', up1) !== undefined), 6000, 'closed everywhere');
    const probes1 = probesAfter(workers, t0);
    expect(probes1, JSON.stringify(probes1)).toHaveLength(1);
    expect((probes1[0] as Line).at - t0).toBeGreaterThanOrEqual(1900); // not before the break ended
    // Closed: every worker runs the downstream again.
    const closed1 = Date.now();
    await until(
      () => workers.every((w) => w.lines.some((l) => l.t === 'run' && l.state === 'closed' && l.at > closed1)),
      3000,
      'calls flow again',
    );

    // 3. Down again; while open, Redis is killed and restarted empty.
    const down2 = Date.now();
    writeFileSync(flag, '');
    await until(() => workers.every((w) => first(w, 'open', down2) !== undefined), 5000, 'open everywhere again');
    const t1 = Math.min(...workers.map((w) => (first(w, 'open', down2) as Line).at));
    await stopRedis(redis);
    await sleep(200);
    redis = await startRedis(port);
    processes.push(redis);
    const admin = new Redis({ port, maxRetriesPerRequest: 1 });
    admin.on('error', () => {});
    try {
      // The workers re-seed the lost record from what they know: still open.
      await until(async () => (await admin.hget(base, 's')) === 'open', 5000, 'the open re-seeded');
      // A worker whose operations failed while Redis was away ran degraded; each such worker resyncs.
      // (One that sent nothing in that window, or whose command waited in ioredis's queue, did not.)
      const settledAfterRestart = (w: Worker) => {
        const d = w.lines.filter((l) => l.t === 'degraded' && l.at >= t1).at(-1);
        return d === undefined || w.lines.some((l) => l.t === 'resynced' && l.at >= d.at);
      };
      await until(() => workers.every(settledAfterRestart), 5000, 'every degraded worker resynced');
      expect(workers.some((w) => first(w, 'degraded', t1) !== undefined)).toBe(true);
      // No worker closed while Redis was away or after: the open transition survived the restart.
      for (const w of workers) expect(first(w, 'close', down2)).toBeUndefined();
      expect(await admin.hget(base, 's')).toBe('open');

      // 4. The downstream recovers: again exactly one probe, through the restarted Redis, closes all.
      await sleep(100);
      const up2 = Date.now();
      rmSync(flag);
      await until(
        () => workers.every((w) => first(w, 'close', up2) !== undefined),
        8000,
        'closed everywhere after the restart',
      );
      const probes2 = probesAfter(workers, up2);
      expect(probes2, JSON.stringify(probes2)).toHaveLength(1);
      expect(await admin.hget(base, 's')).toBe('closed');
    } finally {
      admin.disconnect();
    }

    // Nothing crashed; no call ever failed with anything but the downstream's error or a rejection.
    for (const w of workers) w.child.stdin?.write('stop\n');
    expect(await Promise.all(workers.map((w) => w.exit))).toEqual([0, 0, 0]);
    const lines = workers.flatMap((w) => w.lines);
    expect(lines.filter((l) => l.t === 'crash' || l.t === 'unexpected')).toEqual([]);
    expect(lines.filter((l) => l.t === 'done').map((l) => l.other)).toEqual([0, 0, 0]);
    await stopRedis(redis);
  }, 60_000);
});
