// 4 processes hammer one key of a Redis rate limiter. Counted in windows of `per` on Redis time,
// the admitted calls stay within the bound (token bucket: limit + burst; sliding window: limit) and,
// while demand exceeds the limit, reach at least 95 % of it. "Demand exceeds the limit" is checked,
// not assumed: on a loaded machine a worker can be descheduled for a while, so the floor applies to
// the windows with a rejection in each tenth of them (and most windows must be such windows).
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS, REDIS_URL } from '../support/servers.js';
import { bundleWorker } from '../support/worker-bundle.js';

interface Report {
  admitted: number[];
  rejectedAt: number[];
  rejected: number;
  failed: number;
}

const CACHE = new URL('../../node_modules/.cache/breakwater-rate-limit/', import.meta.url).pathname;
const WORKER = `${CACHE}worker-${process.pid}.mjs`;
const run = Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  await bundleWorker(new URL('./fixtures/worker.ts', import.meta.url).pathname, WORKER, ['ioredis']);
});

afterAll(async () => {
  rmSync(WORKER, { force: true });
  if (!HAS.redis) return;
  const c = new Redis(REDIS_URL);
  const keys = await c.keys(`bw-rl-mp:${run}:*`);
  if (keys.length > 0) await c.del(...keys);
  c.disconnect();
});

/** Starts `n` workers, waits until each is connected, starts them together, and collects their reports. */
async function workers(n: number, config: Record<string, unknown>, ms: number): Promise<Report[]> {
  const children = Array.from({ length: n }, () =>
    spawn(process.execPath, [WORKER, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const outs = children.map(() => ({ text: '' }));
  const ready = children.map(
    (child, i) =>
      new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          outs[i]!.text += chunk.toString('utf8');
          if (outs[i]!.text.startsWith('ready\n')) resolve();
        });
      }),
  );
  const exits = children.map(
    (child) => new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))),
  );
  await Promise.all(ready);
  for (const child of children) child.stdin.write(`go ${ms}\n`);
  expect(await Promise.all(exits)).toEqual(children.map(() => 0));
  return outs.map((o) => JSON.parse(o.text.slice('ready\n'.length)) as Report);
}

describe.skipIf(!HAS.redis)('rate limit shared by 4 processes on real Redis', () => {
  it.each([
    ['token-bucket', 20],
    ['sliding-window', undefined],
  ] as const)(
    '%s: per window, at most the bound and at least 95 percent of the limit',
    async (algorithm, burst) => {
      const limit = 100;
      const per = 500;
      const prefix = `bw-rl-mp:${run}:${algorithm}:`;
      const reports = await workers(4, { url: REDIS_URL, prefix, algorithm, limit, per, burst, lanes: 4 }, 3000);
      expect(reports.map((r) => r.failed)).toEqual([0, 0, 0, 0]);
      // Every process got a share: one key, four clients.
      for (const r of reports) expect(r.admitted.length).toBeGreaterThan(0);
      const times = reports.flatMap((r) => r.admitted).sort((a, b) => a - b);
      const rejected = reports.reduce((a, r) => a + r.rejected, 0);
      expect(rejected).toBeGreaterThan(times.length); // demand exceeded the limit throughout
      const origin = times[0] as number;
      const windows = Math.floor(((times.at(-1) as number) - origin) / per);
      expect(windows).toBeGreaterThanOrEqual(4);
      const bound = algorithm === 'token-bucket' ? limit + (burst ?? limit) : limit;
      const counts: number[] = [];
      for (let k = 0; k < windows; k++) {
        counts.push(times.filter((t) => t >= origin + k * per && t < origin + (k + 1) * per).length);
      }
      for (const c of counts) expect(c).toBeLessThanOrEqual(bound);
      // After the first window (the bucket's burst), each window where demand exceeded the limit
      // throughout admits at least 95 % of the limit.
      const rejections = reports.flatMap((r) => r.rejectedAt);
      const pressed = (k: number) =>
        Array.from({ length: 10 }, (_, j) => origin + k * per + (j * per) / 10).every((from) =>
          rejections.some((t) => t >= from && t < from + per / 10),
        );
      const busy = counts.map((_, k) => k).filter((k) => k > 0 && pressed(k));
      expect(busy.length).toBeGreaterThanOrEqual((windows - 1) / 2);
      for (const k of busy) expect(counts[k]).toBeGreaterThanOrEqual(0.95 * limit);
      // Sliding windows at any offset too, not just aligned ones.
      let worst = 0;
      for (let i = 0, j = 0; i < times.length; i++) {
        while (j < times.length && (times[j] as number) < (times[i] as number) + per) j++;
        worst = Math.max(worst, j - i);
      }
      expect(worst).toBeLessThanOrEqual(bound);
    },
    30_000,
  );
});
