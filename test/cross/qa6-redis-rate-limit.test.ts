// redisRateLimitStore on a private redis-server (free port, killed / SIGSTOPped by this test; the
// shared server on 6379 is never touched): wait-mode waiters queued when Redis dies or stops
// answering settle as `onStoreError` says (none hangs, none is an unhandled rejection), and the
// limiter works again after a restart (the script is loaded again after NOSCRIPT).
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  isRateLimitedError,
  isRateLimitStoreError,
  type RateLimitEvent,
  rateLimit,
} from '../../src/rate-limit/index.js';
import { redisRateLimitStore } from '../../src/rate-limit/redis/index.js';
import { freePort, HAS_REDIS_SERVER, startRedis, stopRedis, until } from '../support/redis-server.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const servers: ChildProcess[] = [];
const clients: Redis[] = [];
afterAll(() => {
  for (const c of clients) c.disconnect();
  for (const p of servers) {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    }
  }
});

type Settled = { ok: unknown } | { err: unknown };
const settle = (p: Promise<unknown>): Promise<Settled> =>
  p.then(
    (ok) => ({ ok }),
    (err: unknown) => ({ err }),
  );

describe.skipIf(!HAS_REDIS_SERVER)('redisRateLimitStore: waiters when Redis goes away', () => {
  for (const how of ['kill', 'SIGSTOP'] as const)
    it(`wait mode, Redis ${how === 'kill' ? 'killed' : 'stopped (SIGSTOP)'} while calls queue: every waiter settles per onStoreError; a restart recovers`, async () => {
      const crashes: unknown[] = [];
      const onCrash = (e: unknown) => void crashes.push(e);
      process.on('unhandledRejection', onCrash);
      try {
        const port = await freePort();
        let server = await startRedis(port);
        servers.push(server);
        const c = new Redis({ port, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
        c.on('error', () => {});
        clients.push(c);
        await until(() => c.status === 'ready', 3000, 'client ready');
        const events: RateLimitEvent[] = [];
        const make = (onStoreError: 'throw' | 'fail-open' | 'fail-closed') => {
          const rl = rateLimit({
            limit: 2,
            per: 600,
            mode: 'wait',
            store: redisRateLimitStore(c, { prefix: `qa6:${onStoreError}:`, timeout: 200 }),
            onStoreError,
          });
          rl.on('store-error', (e) => events.push(e));
          return rl;
        };
        const limiters = { throw: make('throw'), open: make('fail-open'), closed: make('fail-closed') };
        // Each limiter: 2 admitted at once, 3 waiting for the refill (one every 300 ms).
        const calls = Object.entries(limiters).map(([name, rl]) =>
          Array.from({ length: 5 }, (_, i) => settle(rl.execute(() => `${name}${i}`))),
        );
        await sleep(50);
        if (how === 'kill') await stopRedis(server);
        else server.kill('SIGSTOP');
        const results = await Promise.race([
          Promise.all(calls.map((l) => Promise.all(l))),
          sleep(5000).then(() => 'hung' as const),
        ]);
        expect(results).not.toBe('hung');
        const [thrown, opened, closed] = results as Settled[][];
        // The first two of each ran before the outage.
        for (const l of [thrown, opened, closed]) expect(l?.slice(0, 2).every((r) => 'ok' in r)).toBe(true);
        expect(thrown?.slice(2).every((r) => 'err' in r && isRateLimitStoreError(r.err))).toBe(true);
        expect(opened?.slice(2)).toEqual([{ ok: 'open2' }, { ok: 'open3' }, { ok: 'open4' }]);
        expect(
          closed
            ?.slice(2)
            .every((r) => 'err' in r && isRateLimitedError(r.err) && r.err.reason === 'store-unavailable'),
        ).toBe(true);
        expect(new Set(events.map((e) => e.type === 'store-error' && e.action))).toEqual(
          new Set(['throw', 'fail-open', 'fail-closed']),
        );
        if (how === 'kill') {
          server = await startRedis(port);
          servers.push(server);
        } else server.kill('SIGCONT');
        await until(() => c.status === 'ready', 5000, 'client reconnected');
        await sleep(700); // the buckets refill (or the restarted server is empty)
        for (const rl of Object.values(limiters)) expect(await rl.execute(() => 'back')).toBe('back');
        expect(crashes).toEqual([]);
      } finally {
        process.off('unhandledRejection', onCrash);
      }
    });
});
