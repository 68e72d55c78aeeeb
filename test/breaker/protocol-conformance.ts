// The shared record's operations, one by one, against real Redis (the Lua script) and against the
// in-memory twin the race tests use: the same cases must hold for both, so the twin is faithful.
import { describe, expect, it } from 'vitest';
import type { BreakerBackend, Op, Reply, Shared } from '../../src/breaker/redis/backend.js';

export interface ProtocolEnv {
  readonly backend: BreakerBackend;
  /** Lets `ms` pass (virtual, or a real sleep). */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

export function describeProtocol(name: string, make: () => Promise<ProtocolEnv>, options: { skip?: boolean } = {}) {
  describe.skipIf(options.skip === true)(`breaker store protocol: ${name}`, () => {
    async function withEnv(
      body: (
        x: (op: Op, args?: (string | number)[], me?: string, slots?: number) => Promise<Reply>,
        env: ProtocolEnv,
      ) => Promise<void>,
    ) {
      const env = await make();
      try {
        await body((op, args = [], me = 'A', slots = 1) => env.backend.exec(op, me, slots, args), env);
      } finally {
        await env.close();
      }
    }
    const st = (r: Reply): Shared => {
      expect(r.state).toBeDefined();
      return r.state as Shared;
    };
    // A closed record at epoch 5, as an instance that knows nothing newer would seed it.
    const seedClosed = (x: (op: Op, args?: (string | number)[]) => Promise<Reply>) =>
      x('seed', ['closed', 5, 0, 0, 0, 0, 1000]);

    it('has no record at first: every operation but seed says so', () =>
      withEnv(async (x) => {
        for (const op of [
          'read',
          'open',
          'acquire',
          'confirm',
          'release',
          'renew',
          'isolate',
          'unisolate',
          'reset',
        ] as const) {
          const r = await x(op, op === 'read' ? [] : [0, 10, 'tok']);
          expect(r, op).toEqual({ ok: -1, state: undefined });
        }
      }));

    it('seed writes a missing or older record, never over a newer or equal one', () =>
      withEnv(async (x) => {
        const a = await x('seed', ['open', 7, 10_000, 3, 2, 1, 1000, 'tok']);
        expect(a.ok).toBe(1);
        expect(st(a)).toMatchObject({ s: 'open', e: 7, n: 3, r: 2, i: 1, m: true });
        expect(st(a).rem).toBeGreaterThan(9000);
        expect((await x('seed', ['closed', 7, 0, 0, 0, 0, 1000], 'B')).ok).toBe(0);
        expect((await x('seed', ['closed', 6, 0, 0, 0, 0, 1000], 'B')).ok).toBe(0);
        expect(st(await x('read')).s).toBe('open');
        // The seeded lease is live: the slot is taken.
        const b = await x('seed', ['closed', 8, 0, 0, 1, 0, 1000], 'B');
        expect(b.ok).toBe(1);
        expect(st(b)).toMatchObject({ s: 'closed', e: 8, n: 0, r: 2 }); // resets never go back
      }));

    it('open: a trip opens a closed record (any epoch); a probe failure reopens only its own period', () =>
      withEnv(async (x) => {
        await seedClosed(x);
        expect((await x('open', [3, 10_000, 1])).ok).toBe(0); // strict on a closed record
        const a = await x('open', [3, 10_000, 0]);
        expect(a.ok).toBe(1);
        expect(st(a)).toMatchObject({ s: 'open', e: 6, n: 1 });
        expect(st(a).rem).toBeGreaterThan(9000);
        expect((await x('open', [5, 20_000, 1])).ok).toBe(0); // an older period's failure
        expect((await x('open', [5, 20_000, 0])).ok).toBe(0); // a stale trip on an open record
        const b = await x('open', [6, 20_000, 1]);
        expect(st(b)).toMatchObject({ s: 'open', e: 7, n: 2 });
        expect(st(b).rem).toBeGreaterThan(19_000);
      }));

    it('acquire: no slot while the break runs; then exactly `slots` leases per period', () =>
      withEnv(async (x) => {
        await seedClosed(x);
        await x('open', [5, 10_000, 0]);
        expect((await x('acquire', [6, 't1', 1000])).ok).toBe(0);
        await x('seed', ['open', 9, 0, 1, 0, 0, 1000]); // a break that is over
        expect((await x('acquire', [8, 't1', 1000], 'A', 2)).ok).toBe(0); // wrong epoch
        expect((await x('acquire', [9, 't1', 1000], 'A', 2)).ok).toBe(1);
        expect((await x('acquire', [9, 't2', 1000], 'B', 2)).ok).toBe(1);
        expect((await x('acquire', [9, 't3', 1000], 'C', 2)).ok).toBe(0);
      }));

    it('confirm: only the lease holder; the last success of the period closes, with openings reset', () =>
      withEnv(async (x) => {
        await x('seed', ['open', 9, 0, 2, 0, 0, 1000]);
        await x('acquire', [9, 't1', 1000], 'A', 2);
        await x('acquire', [9, 't2', 1000], 'B', 2);
        expect((await x('confirm', [9, 'nobody'], 'A', 2)).ok).toBe(0);
        const a = await x('confirm', [9, 't1'], 'A', 2);
        expect(a.ok).toBe(1);
        expect(st(a)).toMatchObject({ s: 'open', e: 9 });
        expect((await x('confirm', [9, 't1'], 'A', 2)).ok).toBe(0); // once
        const b = await x('confirm', [9, 't2'], 'B', 2);
        expect(st(b)).toMatchObject({ s: 'closed', e: 10, n: 0 });
      }));

    it('release frees a slot for the next probe of the same period', () =>
      withEnv(async (x) => {
        await x('seed', ['open', 9, 0, 1, 0, 0, 1000]);
        expect((await x('acquire', [9, 't1', 1000])).ok).toBe(1);
        expect((await x('acquire', [9, 't2', 1000])).ok).toBe(0);
        await x('release', [8, 't1']); // another period's release does nothing
        expect((await x('acquire', [9, 't2', 1000])).ok).toBe(0);
        await x('release', [9, 't1']);
        expect((await x('acquire', [9, 't2', 1000])).ok).toBe(1);
      }));

    it('a transition ends the period: a lease from before it can neither confirm nor renew (fencing)', () =>
      withEnv(async (x) => {
        await x('seed', ['open', 9, 0, 1, 0, 0, 1000]);
        await x('acquire', [9, 't1', 1000]);
        await x('open', [9, 0, 1]); // another instance's probe failed: reopened, epoch 10
        const c = await x('confirm', [9, 't1']);
        expect(c.ok).toBe(0);
        expect(st(c)).toMatchObject({ s: 'open', e: 10, n: 2 });
        expect((await x('renew', [9, 1000, 't1'])).ok).toBe(0);
        expect((await x('acquire', [10, 't2', 1000])).ok).toBe(1); // the new period has its own slot
      }));

    it('a dead holder’s lease lapses; a live holder keeps its lease by renewing it', () =>
      withEnv(async (x, env) => {
        await x('seed', ['open', 9, 0, 1, 0, 0, 1000]);
        expect((await x('acquire', [9, 'dead', 60])).ok).toBe(1);
        await env.advance(120);
        expect((await x('acquire', [9, 'live', 300])).ok).toBe(1);
        expect((await x('renew', [9, 60, 'dead'])).ok).toBe(0); // its slot is someone else's now
        for (let i = 0; i < 3; i++) {
          await env.advance(150);
          expect((await x('renew', [9, 300, 'live'])).ok).toBe(1);
        }
        expect((await x('acquire', [9, 'other', 300])).ok).toBe(0);
        expect((await x('confirm', [9, 'live'])).ok).toBe(1);
      }));

    it('isolate / unisolate: isolated while any instance holds an isolation', () =>
      withEnv(async (x) => {
        await seedClosed(x);
        const a = await x('isolate', [], 'A');
        expect(st(a)).toMatchObject({ s: 'isolated', e: 6, i: 1, m: true });
        const b = await x('isolate', [], 'B');
        expect(st(b)).toMatchObject({ s: 'isolated', e: 6, i: 2, m: true });
        expect(st(await x('unisolate', [], 'A'))).toMatchObject({ s: 'isolated', e: 6, i: 1, m: false });
        expect(st(await x('read', [], 'B')).m).toBe(true);
        expect(st(await x('unisolate', [], 'B'))).toMatchObject({ s: 'closed', e: 7, i: 0 });
      }));

    it('reset closes, ends every isolation and counts itself', () =>
      withEnv(async (x) => {
        await x('seed', ['open', 9, 10_000, 4, 1, 0, 1000]);
        await x('isolate', [], 'A');
        const r = await x('reset', [], 'B');
        expect(st(r)).toMatchObject({ s: 'closed', e: 11, n: 0, r: 2, i: 0 });
      }));

    it('publishes the record after every transition', () =>
      withEnv(async (x, env) => {
        const seen: Shared[] = [];
        const stop = env.backend.listen(
          (s) => void seen.push(s),
          () => {},
        );
        try {
          await env.advance(50); // subscribed
          await seedClosed(x);
          await x('open', [5, 10_000, 0]);
          await x('isolate', [], 'A');
          await x('acquire', [7, 't', 1000]); // not a transition
          await env.advance(50);
          expect(seen.map((s) => `${s.s}@${s.e}`)).toEqual(['closed@5', 'open@6', 'isolated@7']);
          expect(seen[1]?.rem).toBeGreaterThan(9000);
          expect(seen[1]?.m).toBeUndefined();
        } finally {
          await stop();
        }
      }));
  });
}
