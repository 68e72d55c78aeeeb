// The fleet-wide breaker on a private redis-server (started on a free port, stopped with SIGSTOP and
// killed by this test; the shared server on 6379 is never touched): a Redis that stops answering
// (degraded once, no call fails, local decisions, resynced when it answers again and an open made
// meanwhile reaches the other instance), and a probe lease whose holder process dies.
import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { type BreakerEvent, circuitBreaker, consecutive, isBrokenCircuitError } from '../../src/breaker/index.js';
import { redisBreakerStore } from '../../src/breaker/redis/index.js';
import { freePort, HAS_REDIS_SERVER, startRedis, until } from '../support/redis-server.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const children: ChildProcess[] = [];
const clients: Redis[] = [];
const stores: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
  for (const c of clients) c.disconnect();
  for (const p of children) {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    }
  }
});

const client = (port: number): Redis => {
  const c = new Redis({ port, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  c.on('error', () => {});
  clients.push(c);
  return c;
};

describe.skipIf(!HAS_REDIS_SERVER)('fleet-wide breaker on a private redis-server', () => {
  it('a Redis that stops answering (SIGSTOP): degraded once, no call fails, local open; resumed: resynced, the open reaches the other instance within staleness', async () => {
    const crashes: unknown[] = [];
    const onCrash = (e: unknown) => void crashes.push(e);
    process.on('unhandledRejection', onCrash);
    try {
      const port = await freePort();
      const server = await startRedis(port);
      children.push(server);
      const opts = { key: 'dep', prefix: 'qa6:', staleness: 400, timeout: 250 };
      const make = () => {
        const store = redisBreakerStore(client(port), opts);
        stores.push(store);
        const b = circuitBreaker({ strategy: consecutive(2), breakDuration: 60_000, store });
        const events: BreakerEvent[] = [];
        for (const t of ['open', 'close', 'half-open', 'degraded', 'resynced'] as const) b.on(t, (e) => events.push(e));
        return { b, store, events };
      };
      const a = make();
      const b = make();
      await sleep(300); // both have read the record (seeded)
      server.kill('SIGSTOP');
      await until(() => a.store.degraded && b.store.degraded, 2000, 'both degraded');
      // No call fails because Redis is down; A opens on its own failures, locally.
      expect(await b.b.execute(() => 'b ran')).toBe('b ran');
      for (let i = 0; i < 2; i++) await a.b.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
      expect(a.b.state).toBe('open');
      expect(b.b.state).toBe('closed');
      await sleep(600); // more polls time out while stopped: still one degraded event each
      expect(a.events.filter((e) => e.type === 'degraded')).toHaveLength(1);
      expect(b.events.filter((e) => e.type === 'degraded')).toHaveLength(1);
      server.kill('SIGCONT');
      const took = await until(() => b.b.state === 'open', 3000, 'the open made while degraded reaches B');
      // Staleness bound (plus the round trips the resumed server answers first).
      // (A generous margin for a loaded CI machine: the bound is what matters, not its last 100 ms.)
      expect(took).toBeLessThan(opts.staleness + 2 * opts.timeout + 1000);
      expect(a.events.filter((e) => e.type === 'resynced')).toHaveLength(1);
      expect(b.events.filter((e) => e.type === 'resynced')).toHaveLength(1);
      expect(a.b.state).toBe('open');
      const e = await b.b.execute(() => 'no').catch((x: unknown) => x);
      expect(isBrokenCircuitError(e)).toBe(true);
      expect(crashes).toEqual([]);
    } finally {
      process.off('unhandledRejection', onCrash);
    }
  });

  it('the probe lease of a holder process that dies lapses after `lease`; another instance probes once and closes for all', async () => {
    const port = await freePort();
    children.push(await startRedis(port));
    const prefix = 'qa6-lease:';
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        new URL('./fixtures/qa6-lease-holder.ts', import.meta.url).pathname,
        String(port),
        'dep',
        prefix,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(holder);
    let out = '';
    holder.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const store = redisBreakerStore(client(port), { key: 'dep', prefix, staleness: 200, lease: 900 });
    stores.push(store);
    const a = circuitBreaker({ strategy: consecutive(2), breakDuration: 60_000, store });
    await until(() => out.includes('ready'), 10_000, 'the holder process is up');
    // Then open the circuit with a short break from a third
    // instance: the holder's loop takes the lease as soon as the break ends.
    const b2 = redisBreakerStore(client(port), { key: 'dep', prefix, staleness: 200, lease: 900 });
    stores.push(b2);
    const opener = circuitBreaker({ strategy: consecutive(1), breakDuration: 300, store: b2 });
    await opener.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
    await until(() => out.includes('probing'), 5000, 'the holder probes');
    // While the holder's probe runs, nobody else probes.
    let probes = 0;
    const call = () =>
      a
        .execute(() => {
          probes++;
          return 'ok';
        })
        .catch((e: unknown) => e);
    expect(isBrokenCircuitError(await call())).toBe(true);
    await sleep(1000); // longer than the lease: the holder renews it
    expect(isBrokenCircuitError(await call())).toBe(true);
    expect(probes).toBe(0);
    holder.kill('SIGKILL');
    const killedAt = Date.now();
    await until(
      async () => {
        await call();
        return a.state === 'closed';
      },
      5000,
      'another instance probes after the lease lapses',
    );
    expect(Date.now() - killedAt).toBeLessThan(900 + 200 + 1500); // lease + poll, with a margin for load
    expect(probes).toBe(1);
    await until(() => opener.state === 'closed', 1000, 'closed for all');
  });
});
