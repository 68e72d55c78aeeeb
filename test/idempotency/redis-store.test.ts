import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { idempotent, isIdempotencyStoreUnavailableError } from '../../src/idempotency/index.js';
import { redisIdempotencyStore } from '../../src/idempotency/redis/index.js';
import { HAS, REDIS, REDIS_URL } from '../support/servers.js';
import { describeConformance } from './conformance.js';
import { tcpProxy } from './support/proxy.js';

const prefix = `bw-idem-test:${Math.random().toString(36).slice(2, 10)}:`;

async function connect(url: string): Promise<Redis> {
  const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  await client.connect();
  return client;
}

const client = HAS.redis ? await connect(REDIS_URL) : undefined;
const store = client === undefined ? undefined : redisIdempotencyStore(client, { prefix });

afterAll(async () => {
  if (client === undefined) return;
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
  client.disconnect();
});

describeConformance(
  'redis',
  async () => ({
    store: store!,
    corrupt: async (key) => {
      await client!.set(prefix + key, '["p","x",not json');
    },
    close: async () => {},
  }),
  { skip: !HAS.redis, durable: true },
);

describe.skipIf(!HAS.redis)('redisIdempotencyStore', () => {
  it('lets a crashed holder’s record expire physically after its lease', async () => {
    const k = `phys-${Math.random()}`;
    await store!.claim(k, { fingerprint: undefined, lease: 50, now: Date.now() });
    const ttl = await client!.pttl(prefix + k);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(50);
  });

  it('falls back to EVAL when the server does not know the script (NOSCRIPT)', async () => {
    let evals = 0;
    const forgetful = {
      evalsha: () => Promise.reject(new Error('NOSCRIPT No matching script. Please use EVAL.')),
      eval: (script: string, n: number, ...args: (string | number)[]) => {
        evals++;
        return client!.eval(script, n, ...args);
      },
      get: (k: string) => client!.get(k),
    };
    const s = redisIdempotencyStore(forgetful, { prefix });
    const k = `noscript-${Math.random()}`;
    expect((await s.claim(k, { fingerprint: undefined, lease: 1000, now: Date.now() })).claimed).toBe(true);
    expect(evals).toBe(1);
  });

  it('fails fast with IdempotencyStoreUnavailableError on a closed port', async () => {
    const dead = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    dead.on('error', () => {});
    const started = Date.now();
    const err = await idempotent({ store: redisIdempotencyStore(dead) })
      .execute(() => 'ran', { key: 'k' })
      .catch((e: unknown) => e);
    expect(isIdempotencyStoreUnavailableError(err)).toBe(true);
    expect(err).toMatchObject({ store: 'redis', code: 'ERR_IDEMPOTENCY_STORE_UNAVAILABLE' });
    expect((err as Error).cause).toBeInstanceOf(Error);
    expect(Date.now() - started).toBeLessThan(1000);
    dead.disconnect();
  });

  it('times out a client that does not answer', async () => {
    const hung = {
      evalsha: () => new Promise<never>(() => {}),
      eval: () => new Promise<never>(() => {}),
      get: () => new Promise<never>(() => {}),
    };
    const err = await redisIdempotencyStore(hung, { timeout: 50 })
      .get('k', 0)
      .catch((e: unknown) => e);
    expect(isIdempotencyStoreUnavailableError(err)).toBe(true);
  });

  it('fails while the server is unreachable mid-run, and works again once it is back', async () => {
    const proxy = await tcpProxy(REDIS.port, REDIS.host);
    const c = await connect(`redis://127.0.0.1:${proxy.port}`);
    const policy = idempotent({ store: redisIdempotencyStore(c, { prefix, timeout: 1000 }) });
    const key = `mid-run-${Math.random()}`;
    expect(await policy.execute(() => 'before', { key: `${key}-a` })).toBe('before');
    await proxy.stop();
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const err = await policy.execute(() => 'during', { key }).catch((e: unknown) => e);
    expect(isIdempotencyStoreUnavailableError(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1500);
    await proxy.start();
    let result: unknown;
    for (let i = 0; i < 60 && result === undefined; i++) {
      result = await policy.execute(() => 'after', { key }).catch(() => undefined);
      if (result === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(result).toBe('after');
    c.disconnect();
    await proxy.close();
  });

  it('validates its arguments', () => {
    expect(() => redisIdempotencyStore({} as never)).toThrow(/client/);
    expect(() => redisIdempotencyStore(client!, { prefix: 1 as never })).toThrow(/prefix/);
    expect(() => redisIdempotencyStore(client!, { timeout: -1 })).toThrow(/timeout/);
  });
});
