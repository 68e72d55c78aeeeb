// Two durable aggregators on one Redis prefix race on the same correlation keys: adds from both
// (with redeliveries), sweeps from both, and a holder whose lock lapses mid-write (a stalled
// onComplete). Every group completes exactly once, no message is lost or counted twice, late
// messages are handled as documented.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { durableAggregator, isAggregatorLockError } from '../../src/messaging/index.js';
import { redisAggregatorStore } from '../../src/messaging/redis/index.js';
import { handClock } from '../messaging/aggregator-store.conformance.js';
import { HAS, REDIS_URL } from '../support/servers.js';

const ns = `bw-qa6-agg:${Math.random().toString(36).slice(2, 8)}:`;
let n = 0;
const clients: Redis[] = [];
afterAll(async () => {
  const c = clients[0];
  if (c !== undefined) {
    const keys = await c.keys(`${ns}*`);
    if (keys.length > 0) await c.del(...keys);
  }
  for (const x of clients) x.disconnect();
});
const client = (): Redis => {
  const c = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  clients.push(c);
  return c;
};

interface Msg {
  readonly k: string;
  readonly i: number;
}

describe.skipIf(!HAS.redis)('durable aggregator on Redis, two processes on one prefix', () => {
  it('racing adds (with redeliveries) and sweeps from both complete each group once with every message once', async () => {
    const prefix = `${ns}${n++}:`;
    const clock = handClock();
    const completions = new Map<string, number[][]>();
    const make = () =>
      durableAggregator<Msg>({
        store: redisAggregatorStore(client(), { prefix, lockWait: 15_000 }),
        correlate: (m) => m.k,
        id: (m) => `${m.k}:${m.i}`,
        complete: { size: 4, timeout: 1000 },
        onComplete: async (all, { key }) => {
          await new Promise((r) => setTimeout(r, Math.random() * 3));
          const list = completions.get(key) ?? [];
          list.push(all.map((m) => m.i));
          completions.set(key, list);
        },
        onError: (e) => {
          throw e;
        },
        late: 'drop',
        clock,
      });
    const a = make();
    const b = make();
    const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
    // Every key gets messages 0..3 from both aggregators, each delivered twice (at-least-once).
    const adds: Promise<string>[] = [];
    for (let i = 0; i < 4; i++)
      for (const k of keys) {
        adds.push(a.add({ k, i }), b.add({ k, i }));
      }
    const outcomes = await Promise.all(adds);
    expect(outcomes.filter((o) => o === 'completed')).toHaveLength(60);
    expect(completions.size).toBe(60);
    for (const [k, list] of completions) {
      expect(list, k).toHaveLength(1);
      expect([...(list[0] as number[])].sort(), k).toEqual([0, 1, 2, 3]);
    }
    // Half-filled groups of a second batch, overdue, swept by both at once while late adds race.
    const more = keys.map((k) => `t${k}`);
    await Promise.all(more.flatMap((k, j) => [(j % 2 ? a : b).add({ k, i: 0 }), (j % 2 ? b : a).add({ k, i: 1 })]));
    clock.t += 5000;
    const swept = await Promise.all([a.sweep(), b.sweep(), ...more.slice(0, 20).map((k) => a.add({ k, i: 9 }))]);
    expect((swept[0] as number) + (swept[1] as number)).toBeLessThanOrEqual(60);
    for (const k of more) {
      expect(completions.get(k), k).toHaveLength(1);
      expect([...(completions.get(k)?.[0] ?? [])].sort(), k).toEqual([0, 1]);
    }
    expect(swept.slice(2).every((r) => r === 'dropped')).toBe(true);
    // The old messages of completed groups are recognised as redeliveries, not late.
    expect(await b.add({ k: 'k0', i: 2 })).toBe('duplicate');
    expect(await a.add({ k: 'tk0', i: 1 })).toBe('duplicate');
    expect(await a.openGroups()).toBe(0);
    await Promise.all([a.close(), b.close()]);
  });

  it('a holder stalled past its lease mid-completion gets AggregatorLockError; the group is stored completed once and its redelivered message is late, as documented', async () => {
    const prefix = `${ns}${n++}:`;
    const clock = handClock();
    const stored: string[] = [];
    let stall = true;
    // Ordered by promises, not by sleeps, so a loaded machine cannot reorder the two processes.
    let stallStarted!: () => void;
    const started = new Promise<void>((r) => {
      stallStarted = r;
    });
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const make = (lease: number) =>
      durableAggregator<Msg, readonly Msg[]>({
        store: redisAggregatorStore(client(), { prefix, lease, lockWait: 5000 }),
        correlate: (m) => m.k,
        id: (m) => `${m.k}:${m.i}`,
        complete: { size: 2 },
        onComplete: async (all, g) => {
          if (stall && all.some((m) => m.i === 1)) {
            stall = false;
            stallStarted();
            const end = Date.now() + 150; // no renewal can run: the lease (60 ms) lapses
            while (Date.now() < end) {
              /* busy */
            }
            await released; // the other process completes meanwhile
          }
          stored.push(`${g.key}#${g.generation}:${all.map((m) => m.i).join(',')}`);
        },
        late: 'drop',
        clock,
      });
    const slow = make(60);
    const fast = make(5000);
    expect(await slow.add({ k: 'x', i: 0 })).toBe('added');
    const stalled = slow.add({ k: 'x', i: 1 });
    await started; // resumes after the busy loop: the slow holder's lease has lapsed
    expect(await fast.add({ k: 'x', i: 2 })).toBe('completed');
    release();
    const err = await stalled.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAggregatorLockError(err)).toBe(true);
    // The broker redelivers message 1: the group completed without it, so it is late (dropped).
    expect(await fast.add({ k: 'x', i: 1 })).toBe('dropped');
    // Both onCompletes ran (documented), named by the same key#generation for deduplication.
    expect(stored.sort()).toEqual(['x#1:0,1', 'x#1:0,2']);
    expect(await fast.openGroups()).toBe(0);
    await Promise.all([slow.close(), fast.close()]);
  });
});
