// The Redis rate limit store against real servers: the shared one (every test on its own random
// prefix, cleaned up), reached directly or through a TCP proxy that a test cuts, and a private
// redis-server on a free port that a test restarts. Redis time drives the buckets, so these tests
// run on real time, briefly.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  isRateLimitedError,
  isRateLimitStoreError,
  type RateLimitEvent,
  type RateLimitOptions,
  rateLimit,
} from '../../src/rate-limit/index.js';
import { redisRateLimitStore } from '../../src/rate-limit/redis/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { tcpProxy } from '../idempotency/support/proxy.js';
import { sleep, until } from '../support/outage.js';
import { HAS, REDIS, REDIS_URL } from '../support/servers.js';

const run = Math.random().toString(36).slice(2, 10);
const base = `bw-rl-test:${run}:`;
let n = 0;
const prefix = () => `${base}${n++}:`;

function client(url: string, extra?: Record<string, unknown>): Redis {
  const c = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, ...extra });
  c.on('error', () => {});
  return c;
}

const shared = HAS.redis ? client(REDIS_URL, { enableOfflineQueue: true }) : undefined;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
afterAll(async () => {
  if (shared === undefined) return;
  const keys = await shared.keys(`${base}*`);
  if (keys.length > 0) await shared.del(...keys);
  shared.disconnect();
});

const outcome = (p: Promise<unknown>) =>
  p.then(
    (v) => ({ ok: v }),
    (e: unknown) => (isRateLimitedError(e) ? { limited: e.reason, retryAfter: e.retryAfter } : { error: e }),
  );

describe.skipIf(!HAS.redis)('redisRateLimitStore on the shared server', () => {
  it.each(['token-bucket', 'sliding-window'] as const)(
    '%s: admits the limit, then rejects with retryAfter',
    async (algorithm) => {
      const p = prefix();
      const rl = rateLimit({ limit: 5, per: 60_000, algorithm, store: redisRateLimitStore(shared!, { prefix: p }) });
      const results = [];
      for (let i = 0; i < 7; i++) results.push(await outcome(rl.execute(() => i)));
      expect(results.slice(0, 5)).toEqual([0, 1, 2, 3, 4].map((ok) => ({ ok })));
      const r = results[5] as { limited: string; retryAfter: number };
      expect(r.limited).toBe('limit');
      // A token every 12 s; the window frees its slot after per + one slot (61.2 s).
      if (algorithm === 'token-bucket') expect(r.retryAfter).toBeGreaterThan(10_000);
      else expect(r.retryAfter).toBeGreaterThan(59_000);
      expect(r.retryAfter).toBeLessThanOrEqual(algorithm === 'token-bucket' ? 12_000 : 61_200);
      // The key expires once the bucket would be full (the window empty) again.
      const ttl = await shared!.pttl(p);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(algorithm === 'token-bucket' ? 61_000 : 62_200);
    },
  );

  it('runs on Redis time: limiters whose clocks disagree by hours share one correct bucket', async () => {
    const p = prefix();
    const opts = (start: number): RateLimitOptions => ({
      limit: 4,
      per: 60_000,
      store: redisRateLimitStore(shared!, { prefix: p }),
      clock: virtualClock({ start }),
    });
    const early = rateLimit(opts(0));
    const late = rateLimit(opts(Date.now() + 3 * 3_600_000));
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await outcome(early.execute(() => 'early')));
    for (let i = 0; i < 3; i++) got.push(await outcome(late.execute(() => 'late')));
    expect(got.filter((g) => 'ok' in g)).toHaveLength(4);
    expect(got.filter((g) => 'limited' in g)).toHaveLength(2);
  });

  it('true-up, feedback and the low-level methods go through the script', async () => {
    for (const algorithm of ['token-bucket', 'sliding-window'] as const) {
      const p = prefix();
      const rl = rateLimit({
        limit: 1000,
        per: 60_000,
        algorithm,
        cost: 600,
        actualCost: (r: number) => r,
        store: redisRateLimitStore(shared!, { prefix: p }),
      });
      await rl.execute(() => 100); // 600 taken, 500 refunded
      await until(async () => Math.round((await rl.snapshot()).remaining) === 900, 2000, `${algorithm} refund`);
      const lease = await rl.acquire({ cost: 300 });
      await lease.trueUp(500);
      expect(Math.round((await rl.snapshot()).remaining)).toBe(400);
      expect(await rl.check({ cost: 401 })).toMatchObject({ allowed: false });
      expect(await rl.tryAcquire({ cost: 401 })).toBeUndefined();
      await rl.setRemaining(100);
      expect(Math.round((await rl.snapshot()).remaining)).toBe(100);
      // A 429 from downstream holds the shared bucket off for its Retry-After.
      const plain = rateLimit({
        limit: 10,
        per: 1000,
        algorithm,
        store: redisRateLimitStore(shared!, { prefix: prefix() }),
      });
      const err = Object.assign(new Error('429'), { status: 429, headers: { 'retry-after': '2' } });
      await plain.execute(() => Promise.reject(err)).catch(() => undefined);
      await until(async () => (await plain.snapshot()).blockedFor > 1500, 2000, `${algorithm} hold-off`);
      expect(await outcome(plain.execute(() => 0))).toMatchObject({ limited: 'limit' });
    }
  });

  it('wait mode: a process queues FIFO locally and polls Redis when the head should fit', async () => {
    const rl = rateLimit({
      limit: 10,
      per: 200,
      mode: 'wait',
      maxWait: 2000,
      store: redisRateLimitStore(shared!, { prefix: prefix() }),
    });
    const order: number[] = [];
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 20 }, (_, i) => rl.execute(() => order.push(i))));
    expect(order).toHaveLength(20);
    // The first 10 from the burst, the next 10 refilled over ~200 ms.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect((await rl.snapshot()).waiting).toBe(0);
  });

  it('falls back to EVAL when the server does not know the script (NOSCRIPT)', async () => {
    let evals = 0;
    const forgetful = {
      evalsha: () => Promise.reject(new Error('NOSCRIPT No matching script. Please use EVAL.')),
      eval: (script: string, k: number, ...args: (string | number)[]) => {
        evals++;
        return shared!.eval(script, k, ...args);
      },
    };
    const rl = rateLimit({ limit: 2, per: 1000, store: redisRateLimitStore(forgetful, { prefix: prefix() }) });
    expect(await rl.execute(() => 'ok')).toBe('ok');
    expect(evals).toBe(1);
  });

  it('bad options', () => {
    expect(() => redisRateLimitStore({} as never)).toThrow(/`client` to be an ioredis client/);
    expect(() => redisRateLimitStore(shared!, { prefix: 5 as never })).toThrow(/`prefix` to be a string/);
    expect(() => redisRateLimitStore(shared!, { timeout: 0 })).toThrow(/`timeout` to be a number > 0, got 0/);
  });
});

describe.skipIf(!HAS.redis)('redisRateLimitStore: Redis unreachable (TCP proxy cut mid-run)', () => {
  it('a typed error by default, fail-open / fail-closed by option; back to normal when Redis is', async () => {
    const crashes: unknown[] = [];
    const onCrash = (e: unknown) => void crashes.push(e);
    process.on('unhandledRejection', onCrash);
    const proxy = await tcpProxy(REDIS.port, REDIS.host);
    const c = client(`redis://127.0.0.1:${proxy.port}`, { retryStrategy: () => 50 });
    cleanups.push(async () => {
      process.off('unhandledRejection', onCrash);
      c.disconnect();
      await proxy.close();
    });
    const p = prefix();
    const events: RateLimitEvent[] = [];
    const make = (onStoreError: 'throw' | 'fail-open' | 'fail-closed') => {
      const rl = rateLimit({
        limit: 1000,
        per: 1000,
        cost: 1,
        actualCost: () => 2,
        store: redisRateLimitStore(c, { prefix: p, timeout: 300 }),
        onStoreError,
      });
      rl.on('store-error', (e) => events.push(e));
      return rl;
    };
    const [throwing, open, closed] = [make('throw'), make('fail-open'), make('fail-closed')];
    await until(() => c.status === 'ready', 3000, 'proxied client ready');
    // Calls in flight while the proxy is cut: their true-ups fail quietly.
    const inflight = Array.from({ length: 5 }, () => open.execute(() => sleep(50)));
    await sleep(10);
    await proxy.stop();
    await Promise.all(inflight);

    const e = await throwing.execute(() => 'no').catch((x: unknown) => x);
    expect(isRateLimitStoreError(e)).toBe(true);
    expect(await open.execute(() => 'admitted')).toBe('admitted');
    expect(await outcome(closed.execute(() => 'no'))).toEqual({ limited: 'store-unavailable', retryAfter: 0 });
    expect(events.map((x) => x.type === 'store-error' && x.action)).toEqual(
      expect.arrayContaining(['throw', 'fail-open', 'fail-closed']),
    );

    await proxy.start();
    await until(() => c.status === 'ready', 5000, 'client reconnected');
    expect(await throwing.execute(() => 'back')).toBe('back');
    expect(crashes).toEqual([]);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function redisServer(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'],
    {
      stdio: 'ignore',
    },
  );
  const probe = client(`redis://127.0.0.1:${port}`, { retryStrategy: () => 20, enableOfflineQueue: true });
  try {
    await until(async () => (await probe.ping().catch(() => '')) === 'PONG', 5000, 'private redis-server up');
  } finally {
    probe.disconnect();
  }
  return child;
}

const stopped = (child: ChildProcess) => new Promise<void>((resolve) => child.once('exit', () => resolve()));

describe.skipIf(!HAS.redis)('redisRateLimitStore: a private redis-server restarted mid-run', () => {
  it('fails typed while down, recovers after the restart (the script is loaded again), no crash', async () => {
    const port = await freePort();
    let server = await redisServer(port);
    const c = client(`redis://127.0.0.1:${port}`, { retryStrategy: () => 50 });
    cleanups.push(async () => {
      c.disconnect();
      if (server.exitCode === null) {
        server.kill('SIGKILL');
        await stopped(server);
      }
    });
    const rl = rateLimit({ limit: 1000, per: 1000, store: redisRateLimitStore(c, { timeout: 300 }) });
    await until(() => c.status === 'ready', 3000, 'client ready');
    const ok: unknown[] = [];
    const failed: unknown[] = [];
    let stop = false;
    // A steady stream of calls across the restart.
    const hammer = (async () => {
      while (!stop) {
        await rl
          .execute(() => 'x')
          .then(
            (v) => ok.push(v),
            (e: unknown) => failed.push(e),
          );
        await sleep(5);
      }
    })();
    await until(() => ok.length >= 10, 3000, 'calls before the restart');
    server.kill('SIGTERM');
    await stopped(server);
    await until(() => failed.length >= 3, 3000, 'calls failing while down');
    server = await redisServer(port); // a fresh server: empty script cache, no keys
    const before = ok.length;
    await until(() => ok.length >= before + 10, 5000, 'calls succeeding after the restart');
    stop = true;
    await hammer;
    expect(failed.every((e) => isRateLimitStoreError(e))).toBe(true);
  });
});

describe('redisRateLimitStore: timeout', () => {
  // A client that answers the script after `delay.ms` (on whatever timers are installed).
  const slowClient = (delay: { ms: number }) => {
    const answer = () =>
      new Promise<unknown>((resolve) => setTimeout(() => resolve([1, '0', '9', '1000', '0']), delay.ms));
    return { evalsha: answer, eval: answer };
  };

  it('a long timeout waits that long: it is not cut to 1 ms by the timer ceiling (2^31 − 1 ms)', async () => {
    const delay = { ms: 0 };
    const rl = rateLimit({ limit: 10, per: 1000, store: redisRateLimitStore(slowClient(delay), { timeout: 2 ** 31 }) });
    await rl.execute(() => 'warm'); // the script's hash is computed once, off the fake timers
    vi.useFakeTimers();
    try {
      delay.ms = 50;
      const p = rl.executeOutcome(() => 'ran');
      await vi.advanceTimersByTimeAsync(50);
      expect(await p).toEqual({ ok: true, value: 'ran' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('a timeout that is not a finite number is refused, naming the option', () => {
    expect(() => redisRateLimitStore(slowClient({ ms: 0 }), { timeout: Number.POSITIVE_INFINITY })).toThrow(
      /`timeout` to be a finite number/,
    );
  });
});
