// redisBreakerStore against the shared Redis on 6379 (each test its own key prefix; all keys are
// removed afterwards): the protocol and fleet conformance suites, a TCP-proxy cut for the degraded
// mode, and the adapter's own edges. The multi-process test with a Redis restart is in
// redis-fleet.test.ts.
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { circuitBreaker, consecutive } from '../../src/breaker/index.js';
import type { Op, Reply } from '../../src/breaker/redis/backend.js';
import {
  isBreakerStoreError,
  type RedisBreakerClient,
  type RedisBreakerStore,
  redisBreakerStore,
} from '../../src/breaker/redis/index.js';
import { RedisBackend } from '../../src/breaker/redis/redis-store.js';
import { virtualClock } from '../../src/testing/index.js';
import { tcpProxy } from '../idempotency/support/proxy.js';
import { HAS, REDIS, REDIS_URL } from '../support/servers.js';
import { describeFleetConformance, type FleetEnv } from './fleet-conformance.js';
import { describeProtocol } from './protocol-conformance.js';
import { MemoryBackend } from './support/memory-backend.js';

const run = Math.random().toString(36).slice(2, 10);
const PREFIX = `bw-breaker-test:${run}:`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const clients: Redis[] = [];
const stores: RedisBreakerStore[] = [];
/** A store closed before the keys are cleaned up (its poll would re-seed them otherwise). */
const track = (store: RedisBreakerStore): RedisBreakerStore => {
  stores.push(store);
  return store;
};

function connect(port?: number): Redis {
  const c = new Redis(port === undefined ? REDIS_URL : `redis://127.0.0.1:${port}`, {
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
  });
  c.on('error', () => {}); // the test's own client; the store never needs this
  clients.push(c);
  return c;
}

const admin = HAS.redis ? connect() : undefined;

afterAll(async () => {
  for (const s of stores) await s.close();
  if (admin !== undefined) {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await admin.del(...keys);
    } while (cursor !== '0');
  }
  for (const c of clients) c.disconnect();
});

let n = 0;
const newKey = () => `k${n++}`;
const base = (key: string) => `${PREFIX}{${key}}`;

describeProtocol('memory twin', async () => {
  const clock = virtualClock({ start: 5_000_000 });
  return { backend: new MemoryBackend(() => clock.now()), advance: (ms) => clock.advance(ms), close: async () => {} };
});

describeProtocol(
  'redis',
  async () => {
    const client = connect();
    const key = newKey();
    return {
      backend: new RedisBackend(client, base(key)),
      advance: sleep,
      close: async () => {
        await client.del(base(key), `${base(key)}:isolations`, `${base(key)}:probe:1`, `${base(key)}:probe:2`);
      },
    };
  },
  { skip: !HAS.redis },
);

describe.skipIf(!HAS.redis)('the in-memory twin is faithful to the Redis script', () => {
  // Random sequences of operations from three instances, run on Redis and on the twin side by side:
  // every reply must match (the ms left only by bucket, as the two clocks read a moment apart).
  const rem = (x: number) => (x > 50_000 ? 'long' : x > -1000 ? 'zero' : 'past');
  const norm = (r: Reply) => (r.state === undefined ? { ok: r.ok } : { ok: r.ok, ...r.state, rem: rem(r.state.rem) });
  type Step = {
    op: Op;
    me: string;
    delta: number;
    ms: number;
    strict: number;
    token: string;
    state: string;
    iso: number;
    n: number;
  };
  const step = fc.record({
    op: fc.constantFrom<Op>(
      'read',
      'seed',
      'open',
      'open',
      'acquire',
      'acquire',
      'confirm',
      'release',
      'renew',
      'isolate',
      'unisolate',
      'reset',
    ),
    me: fc.constantFrom('A', 'B', 'C'),
    delta: fc.constantFrom(0, 0, 0, -1, 1),
    ms: fc.constantFrom(0, 100_000),
    strict: fc.constantFrom(0, 1),
    token: fc.constantFrom('t1', 't2', 't3'),
    state: fc.constantFrom('closed', 'open', 'isolated'),
    iso: fc.constantFrom(0, 1),
    n: fc.integer({ min: 0, max: 3 }),
  });
  const args = (x: Step, e: number): (string | number)[] => {
    switch (x.op) {
      case 'seed':
        return [x.state, e + 1 + x.delta, x.ms, x.n, x.n % 2, x.iso, 100_000, x.token];
      case 'open':
        return [e + x.delta, x.ms, x.strict];
      case 'acquire':
        return [e + x.delta, x.token, 100_000];
      case 'confirm':
      case 'release':
        return [e + x.delta, x.token];
      case 'renew':
        return [e + x.delta, 100_000, x.token];
      default:
        return [];
    }
  };

  it('replies alike to any sequence of operations', async () => {
    const client = connect();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1, 2), fc.array(step, { minLength: 1, maxLength: 25 }), async (slots, steps) => {
        const key = newKey();
        const redis = new RedisBackend(client, base(key));
        const twin = new MemoryBackend(() => Date.now());
        try {
          for (const x of steps) {
            const a = args(x, twin.rec?.e ?? 0);
            const [r, t] = [await redis.exec(x.op, x.me, slots, a), twin.run(x.op, x.me, slots, a.map(String))];
            expect(norm(r), `${x.op} ${JSON.stringify(a)} by ${x.me}`).toEqual(norm(t));
          }
        } finally {
          await client.del(base(key), `${base(key)}:isolations`, `${base(key)}:probe:1`, `${base(key)}:probe:2`);
        }
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 40) },
    );
  });
});

describeFleetConformance(
  'redis (through a TCP proxy)',
  async () => {
    const proxy = await tcpProxy(REDIS.port, REDIS.host);
    const client = connect(proxy.port);
    const key = newKey();
    const ops: string[] = [];
    const counting = (c: Redis, notify: boolean): RedisBreakerClient => ({
      evalsha: (sha: string, numKeys: number, ...args: (string | number)[]) => {
        ops.push(String(args[numKeys]));
        return c.evalsha(sha, numKeys, ...args);
      },
      eval: (script: string, numKeys: number, ...args: (string | number)[]) => c.eval(script, numKeys, ...args),
      get status() {
        return c.status;
      },
      ...(notify ? { duplicate: () => c.duplicate() } : {}),
    });
    const env: FleetEnv = {
      clock: { now: () => Date.now(), setTimeout, clearTimeout, sleep } as never,
      staleness: 300,
      store: (o) =>
        redisBreakerStore(counting(client, o?.notify !== false), {
          key,
          prefix: PREFIX,
          staleness: o?.staleness ?? 300,
          timeout: 300,
          lease: 1000,
        }),
      advance: sleep,
      shared: async () => (await admin?.hget(base(key), 's')) ?? undefined,
      writes: () => ops.filter((op) => op !== 'read').length,
      down: () => proxy.stop(),
      up: () => proxy.start(),
      restart: async () => {
        await admin?.del(base(key), `${base(key)}:isolations`, `${base(key)}:probe:1`, `${base(key)}:probe:2`);
      },
      close: async () => {
        await proxy.start().catch(() => {});
        await proxy.close();
      },
    };
    return env;
  },
  { skip: !HAS.redis },
);

describe.skipIf(!HAS.redis)('redisBreakerStore', () => {
  it('keeps one record per key and prefix: other keys are other circuits', async () => {
    const client = connect();
    const k1 = newKey();
    const k2 = newKey();
    const mk = (key: string) =>
      circuitBreaker({
        strategy: consecutive(1),
        store: track(redisBreakerStore(client, { key, prefix: PREFIX, staleness: 200 })),
      });
    const a = mk(k1);
    const b = mk(k1);
    const c = mk(k2);
    await sleep(50);
    await a.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    await sleep(150);
    expect([a.state, b.state, c.state]).toEqual(['open', 'open', 'closed']);
    expect(await admin?.hget(base(k1), 's')).toBe('open');
    expect(await admin?.exists(base(k2))).toBe(1); // seeded closed
  });

  it('falls back to EVAL when the server does not know the script (NOSCRIPT)', async () => {
    const client = connect();
    let evals = 0;
    const forgetful: RedisBreakerClient = {
      evalsha: () => Promise.reject(new Error('NOSCRIPT No matching script. Please use EVAL.')),
      eval: (script: string, k: number, ...args: (string | number)[]) => {
        evals++;
        return client.eval(script, k, ...args);
      },
    };
    const b = circuitBreaker({
      strategy: consecutive(1),
      store: track(redisBreakerStore(forgetful, { key: newKey(), prefix: PREFIX })),
    });
    await sleep(50);
    await b.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    await sleep(50);
    expect(evals).toBeGreaterThanOrEqual(2); // the first read (seed) and the open
    expect(b.state).toBe('open');
  });

  it('a TCP cut: degraded once, no call fails for it, no unhandled error; back: resynced, the open is shared', async () => {
    const crashes: unknown[] = [];
    const onCrash = (e: unknown) => void crashes.push(e);
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    const proxy = await tcpProxy(REDIS.port, REDIS.host);
    try {
      const key = newKey();
      const cut = connect(proxy.port);
      const store = track(redisBreakerStore(cut, { key, prefix: PREFIX, staleness: 200, timeout: 200 }));
      const a = circuitBreaker({ strategy: consecutive(3), store, name: 'a' });
      const errors: unknown[] = [];
      a.on('degraded', (e) => void errors.push(e.error));
      let resynced = 0;
      a.on('resynced', () => void resynced++);
      const direct = connect();
      const b = circuitBreaker({
        strategy: consecutive(3),
        store: track(redisBreakerStore(direct, { key, prefix: PREFIX, staleness: 200 })),
      });
      await sleep(100);
      await proxy.stop();
      // Calls keep their own outcomes while Redis is away: nothing fails because of the store.
      for (let i = 0; i < 20; i++) expect(await a.execute(() => i)).toBe(i);
      for (let i = 0; i < 3; i++) await a.execute(() => Promise.reject(new Error('down'))).catch(() => {});
      expect(a.state).toBe('open');
      await until(() => errors.length > 0, 3000);
      await sleep(300);
      expect(errors).toHaveLength(1);
      expect(isBreakerStoreError(errors[0])).toBe(true);
      expect(b.state).toBe('closed'); // b never heard of it
      await proxy.start();
      await until(() => resynced === 1, 5000);
      await until(() => b.state === 'open', 2000);
      expect(await admin?.hget(base(key), 's')).toBe('open');
      expect(errors).toHaveLength(1);
      expect(crashes).toEqual([]);
    } finally {
      await proxy.start().catch(() => {});
      await proxy.close();
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    }
  });

  it('a client known to be reconnecting fails fast: a probe waits for no lease', async () => {
    const client = connect();
    let status = 'ready';
    const flaky: RedisBreakerClient = {
      evalsha: (...a: [string, number, ...(string | number)[]]) => client.evalsha(...a),
      eval: (...a: [string, number, ...(string | number)[]]) => client.eval(...a),
      get status() {
        return status;
      },
    };
    const b = circuitBreaker({
      strategy: consecutive(1),
      breakDuration: 50,
      store: track(redisBreakerStore(flaky, { key: newKey(), prefix: PREFIX, timeout: 5000 })),
    });
    await sleep(50);
    await b.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    await sleep(80);
    status = 'reconnecting';
    const t0 = Date.now();
    expect(await b.execute(() => 'probe ran')).toBe('probe ran');
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(10);
  }
}

describe('redisBreakerStore options', () => {
  const client = { evalsha: async () => [1], eval: async () => [1] } as RedisBreakerClient;
  it.each([
    [null, { key: 'k' }, /`client` to be an ioredis client/],
    [{}, { key: 'k' }, /`client` to be an ioredis client/],
    [client, undefined, /`options`/],
    [client, {}, /`key` to be a non-empty string, got undefined/],
    [client, { key: '' }, /`key` to be a non-empty string/],
    [client, { key: 'k', prefix: 3 }, /`prefix` to be a string, got 3/],
    [client, { key: 'k', staleness: 0 }, /`staleness` to be a number > 0, got 0/],
    [client, { key: 'k', staleness: Number.POSITIVE_INFINITY }, /`staleness` to be a finite number/],
    [client, { key: 'k', timeout: -1 }, /`timeout` to be a number > 0, got -1/],
    [client, { key: 'k', lease: 'long' }, /`lease` to be a number, got "long"/],
    [client, { key: 'k', clock: 5 }, /`clock` to be an object, got 5/],
  ])('rejects %o / %o', (c, o, message) => {
    expect(() => redisBreakerStore(c as never, o as never)).toThrow(message);
  });

  it('a store serves one breaker', () => {
    const store = redisBreakerStore(client, { key: 'k' });
    circuitBreaker({ store });
    expect(() => circuitBreaker({ store })).toThrow(/serve one breaker/);
    void store.close();
  });

  it('circuitBreaker rejects a store that is not one', () => {
    expect(() => circuitBreaker({ store: {} as never })).toThrow(/`store` to be a breaker store, got object/);
  });
});
