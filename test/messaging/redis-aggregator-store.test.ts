import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { durableAggregator, isAggregatorLockError } from '../../src/messaging/index.js';
import { redisAggregatorStore } from '../../src/messaging/redis/index.js';
import { HAS, REDIS_URL } from '../support/servers.js';
import { describeAggregatorStore, handClock } from './aggregator-store.conformance.js';

const run = Math.random().toString(36).slice(2, 8);
let n = 0;
const clients: Redis[] = [];
const ns = `bw-agg-test:${run}:`;

afterAll(async () => {
  const c = clients[0];
  if (c !== undefined) {
    const keys = await c.keys(`${ns}*`);
    if (keys.length > 0) await c.del(...keys);
  }
  for (const x of clients) x.disconnect();
});

function client(): Redis {
  const c = new Redis(REDIS_URL, { lazyConnect: false });
  clients.push(c);
  return c;
}

describeAggregatorStore(
  'redis',
  async () => {
    const prefix = `${ns}${n++}:`;
    return {
      store: redisAggregatorStore(client(), { prefix }),
      other: redisAggregatorStore(client(), { prefix }),
      close: async () => undefined,
    };
  },
  { skip: !HAS.redis },
);

describe.skipIf(!HAS.redis)('redis aggregator store', () => {
  it('a holder whose lock lapsed has its write refused (fencing); the next holder wins', async () => {
    const prefix = `${ns}fence:`;
    const slow = redisAggregatorStore(client(), { prefix, lease: 60, lockWait: 5000 });
    const fast = redisAggregatorStore(client(), { prefix, lease: 5000 });
    // The renewal runs every lease/3: stall the slow holder's event loop past its lease instead.
    const stalled = slow.withGroup('k', async () => {
      const end = Date.now() + 150;
      while (Date.now() < end) {
        // busy: no renewal can run
      }
      await new Promise((r) => setTimeout(r, 100)); // the fast holder takes the lapsed lock meanwhile
      return {
        write: {
          status: 'open',
          generation: 1,
          messages: ['slow'],
          ids: [],
          firstAt: 1,
          lastAt: 1,
          dueAt: undefined,
          closedAt: undefined,
          completedBy: undefined,
        },
        value: 'slow',
      };
    });
    await new Promise((r) => setTimeout(r, 170));
    const won = await fast.withGroup('k', async () => ({
      write: {
        status: 'open',
        generation: 1,
        messages: ['fast'],
        ids: [],
        firstAt: 1,
        lastAt: 1,
        dueAt: undefined,
        closedAt: undefined,
        completedBy: undefined,
      },
      value: 'fast',
    }));
    expect(won).toBe('fast');
    const e = await stalled.catch((x: unknown) => x);
    expect(isAggregatorLockError(e)).toBe(true);
    expect((e as { reason: string }).reason).toBe('lost');
    expect(await fast.withGroup('k', async (g) => ({ value: g?.messages }))).toEqual(['fast']);
  });

  it('a lock not freed in time rejects with reason timeout', async () => {
    const prefix = `${ns}wait:`;
    const a = redisAggregatorStore(client(), { prefix });
    const b = redisAggregatorStore(client(), { prefix, lockWait: 50 });
    let release!: () => void;
    const held = a.withGroup(
      'k',
      () =>
        new Promise<{ value: number }>((r) => {
          release = () => r({ value: 1 });
        }),
    );
    await new Promise((r) => setTimeout(r, 20));
    const e = await b.withGroup('k', async () => ({ value: 2 })).catch((x: unknown) => x);
    expect(isAggregatorLockError(e) && e.reason).toBe('timeout');
    release();
    await held;
  });

  it('a durable aggregator on Redis completes after a restart of the process', async () => {
    const prefix = `${ns}restart:`;
    const clock = handClock();
    const done: string[] = [];
    const opts = {
      correlate: (m: { k: string }) => m.k,
      complete: { timeout: 10 },
      clock,
      onComplete: (_: unknown, g: { completedBy: string }) => void done.push(g.completedBy),
    };
    const a = durableAggregator({ ...opts, store: redisAggregatorStore(client(), { prefix }) });
    await a.add({ k: 'x' });
    await a.close();
    clock.t += 100;
    const b = durableAggregator({ ...opts, store: redisAggregatorStore(client(), { prefix }) });
    expect(await b.sweep()).toBe(1);
    expect(done).toEqual(['timeout']);
    await b.close();
  });

  it('names bad options', () => {
    expect(() => redisAggregatorStore({} as never)).toThrow(/`client`/);
    expect(() => redisAggregatorStore(client(), { lease: 0 })).toThrow(/`lease`/);
    expect(() => redisAggregatorStore(client(), { lockWait: -1 })).toThrow(/`lockWait`/);
  });
});
