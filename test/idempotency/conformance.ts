// One conformance suite for every IdempotencyStore. Times are passed explicitly (the store contract
// uses the caller's clock), so lease and TTL expiry are tested without sleeping.
import { describe, expect, it } from 'vitest';
import {
  type IdempotencyStore,
  idempotent,
  isIdempotencyKeyReusedError,
  isIdempotencyRecordMalformedError,
} from '../../src/idempotency/index.js';

export interface StoreHarness {
  readonly store: IdempotencyStore;
  /** Writes an unreadable record for `key` behind the store's back. */
  corrupt(key: string): Promise<void>;
  close(): Promise<void>;
}

export interface ConformanceOptions {
  /** Skip the whole suite (server not reachable). */
  readonly skip?: boolean;
  /** The store persists raw data that can be corrupted (not the memory store). */
  readonly durable?: boolean;
}

export function describeConformance(
  name: string,
  make: () => Promise<StoreHarness>,
  options: ConformanceOptions = {},
): void {
  const skip = options.skip === true;
  describe.skipIf(skip)(`IdempotencyStore conformance: ${name}`, () => {
    let n = 0;
    const run = Math.random().toString(36).slice(2, 8);
    const key = (label: string): string => `${run}:${label}:${n++}`;
    const T = Date.now();
    const fp = 'a'.repeat(64);

    async function withStore(body: (s: IdempotencyStore, h: StoreHarness) => Promise<void>): Promise<void> {
      const h = await make();
      try {
        await body(h.store, h);
      } finally {
        await h.close();
      }
    }

    it('claims a free key once, with a lease, a token and the fingerprint', () =>
      withStore(async (s) => {
        const k = key('claim');
        const first = await s.claim(k, { fingerprint: fp, lease: 1000, now: T });
        expect(first.claimed).toBe(true);
        if (!first.claimed) return;
        expect(typeof first.token).toBe('string');
        const again = await s.claim(k, { fingerprint: 'b', lease: 1000, now: T + 1 });
        expect(again).toMatchObject({
          claimed: false,
          record: { key: k, status: 'in-progress', token: first.token, fingerprint: fp, leaseUntil: T + 1000 },
        });
        expect(await s.get(k, T + 2)).toMatchObject({ status: 'in-progress', token: first.token });
      }));

    it('completes while owning the claim and returns the result to later claims', () =>
      withStore(async (s) => {
        const k = key('complete');
        const c = await s.claim(k, { fingerprint: undefined, lease: 1000, now: T });
        if (!c.claimed) throw new Error('not claimed');
        expect(await s.complete(k, c.token, '{"ok":true,"value":1}', 60_000, T + 10)).toBe(true);
        const later = await s.claim(k, { fingerprint: undefined, lease: 1000, now: T + 5000 });
        expect(later).toMatchObject({
          claimed: false,
          record: { status: 'completed', result: '{"ok":true,"value":1}', expiresAt: T + 60_010 },
        });
        if (later.claimed) return;
        expect(later.record.fingerprint).toBeUndefined();
        // A completed record is never overwritten, not even by its own holder.
        expect(await s.complete(k, c.token, '{"ok":true,"value":2}', 60_000, T + 20)).toBe(false);
        expect(await s.renew(k, c.token, 1000, T + 20)).toBe(false);
        expect(await s.release(k, c.token, T + 20)).toBe(false);
        expect((await s.get(k, T + 30))?.result).toBe('{"ok":true,"value":1}');
      }));

    it('refuses complete / renew / release with a wrong token', () =>
      withStore(async (s) => {
        const k = key('wrong');
        const c = await s.claim(k, { fingerprint: fp, lease: 1000, now: T });
        expect(c.claimed).toBe(true);
        expect(await s.complete(k, 'not-the-token', '{}', 1000, T + 1)).toBe(false);
        expect(await s.renew(k, 'not-the-token', 1000, T + 1)).toBe(false);
        expect(await s.release(k, 'not-the-token', T + 1)).toBe(false);
        expect(await s.complete(`absent-key-${k}`, 'x', '{}', 1000, T + 1)).toBe(false);
        expect((await s.get(k, T + 2))?.status).toBe('in-progress');
      }));

    it('lets the next caller take over a lapsed lease with a new token; the stale holder cannot complete', () =>
      withStore(async (s) => {
        const k = key('takeover');
        const a = await s.claim(k, { fingerprint: fp, lease: 1000, now: T });
        if (!a.claimed) throw new Error('not claimed');
        expect(await s.get(k, T + 1000)).toBeUndefined();
        // Lapsed but not taken over: still lost.
        expect(await s.complete(k, a.token, '{"ok":true}', 1000, T + 1000)).toBe(false);
        expect(await s.renew(k, a.token, 1000, T + 1000)).toBe(false);
        const b = await s.claim(k, { fingerprint: fp, lease: 1000, now: T + 1001 });
        if (!b.claimed) throw new Error('no takeover');
        expect(b.token).not.toBe(a.token);
        expect(await s.complete(k, a.token, '{"ok":true,"value":"stale"}', 1000, T + 1002)).toBe(false);
        expect(await s.release(k, a.token, T + 1002)).toBe(false);
        expect(await s.complete(k, b.token, '{"ok":true,"value":"new"}', 1000, T + 1003)).toBe(true);
        expect((await s.get(k, T + 1004))?.result).toBe('{"ok":true,"value":"new"}');
      }));

    it('renews a lease so that it does not lapse', () =>
      withStore(async (s) => {
        const k = key('renew');
        const a = await s.claim(k, { fingerprint: undefined, lease: 1000, now: T });
        if (!a.claimed) throw new Error('not claimed');
        expect(await s.renew(k, a.token, 1000, T + 900)).toBe(true);
        expect((await s.get(k, T + 1500))?.leaseUntil).toBe(T + 1900);
        expect((await s.claim(k, { fingerprint: undefined, lease: 1000, now: T + 1500 })).claimed).toBe(false);
        expect(await s.complete(k, a.token, '{"ok":true}', 1000, T + 1800)).toBe(true);
      }));

    it('release frees the key for the next claim', () =>
      withStore(async (s) => {
        const k = key('release');
        const a = await s.claim(k, { fingerprint: fp, lease: 1000, now: T });
        if (!a.claimed) throw new Error('not claimed');
        expect(await s.release(k, a.token, T + 1)).toBe(true);
        expect(await s.get(k, T + 2)).toBeUndefined();
        const b = await s.claim(k, { fingerprint: fp, lease: 1000, now: T + 3 });
        expect(b.claimed).toBe(true);
        if (b.claimed) expect(b.token).not.toBe(a.token);
      }));

    it('forgets a completed record after its TTL', () =>
      withStore(async (s) => {
        const k = key('ttl');
        const a = await s.claim(k, { fingerprint: fp, lease: 1000, now: T });
        if (!a.claimed) throw new Error('not claimed');
        await s.complete(k, a.token, '{"ok":true}', 2000, T + 10);
        expect((await s.get(k, T + 2009))?.status).toBe('completed');
        expect(await s.get(k, T + 2010)).toBeUndefined();
        const b = await s.claim(k, { fingerprint: 'other', lease: 1000, now: T + 2010 });
        expect(b.claimed).toBe(true);
        expect((await s.get(k, T + 2011))?.fingerprint).toBe('other');
      }));

    it('gives exactly one of many concurrent claims', () =>
      withStore(async (s) => {
        const k = key('race');
        const results = await Promise.all(
          Array.from({ length: 20 }, () => s.claim(k, { fingerprint: fp, lease: 5000, now: T })),
        );
        expect(results.filter((r) => r.claimed)).toHaveLength(1);
      }));

    it('keeps keys with quotes, unicode and 1 kB length apart, and 1 MB results intact', () =>
      withStore(async (s) => {
        const base = key('weird');
        const keys = [
          `${base}'"\\;--`,
          `${base} 'x' `,
          `${base}\u00e9\u4e2d\u{1F600}`,
          `${base}${'k'.repeat(1024)}`,
          `${base}\n|["p",`,
        ];
        const big = JSON.stringify({ ok: true, value: 'x'.repeat(1024 * 1024) });
        for (const [i, k] of keys.entries()) {
          const c = await s.claim(k, { fingerprint: String(i), lease: 1000, now: T });
          if (!c.claimed) throw new Error(`not claimed: ${i}`);
          expect(await s.complete(k, c.token, i === 0 ? big : `{"ok":true,"value":${i}}`, 60_000, T + 1)).toBe(true);
        }
        for (const [i, k] of keys.entries()) {
          const r = await s.get(k, T + 2);
          expect(r?.fingerprint).toBe(String(i));
          expect(r?.key).toBe(k);
          expect(r?.result).toBe(i === 0 ? big : `{"ok":true,"value":${i}}`);
        }
      }));

    it.skipIf(options.durable !== true)('reports a malformed record with an error naming the key', () =>
      withStore(async (s, h) => {
        const k = key('malformed');
        await h.corrupt(k);
        const e1 = await s.get(k, T).catch((e: unknown) => e);
        expect(isIdempotencyRecordMalformedError(e1)).toBe(true);
        expect((e1 as { key: string }).key).toBe(k);
        const e2 = await s.claim(k, { fingerprint: fp, lease: 1000, now: T }).catch((e: unknown) => e);
        expect(isIdempotencyRecordMalformedError(e2)).toBe(true);
      }),
    );

    it('drives idempotent(): replay, payload mismatch, cached vs released errors', () =>
      withStore(async (s) => {
        const policy = idempotent({
          store: s,
          cacheErrors: (e) => (e as { code?: string }).code === 'E_TERMINAL',
        });
        const k = key('policy');
        let runs = 0;
        const fn = async () => ({ n: ++runs });
        expect(await policy.execute(fn, { key: k, data: { a: 1, b: 2 } })).toEqual({ n: 1 });
        expect(await policy.execute(fn, { key: k, data: { b: 2, a: 1 } })).toEqual({ n: 1 });
        const reused = await policy.execute(fn, { key: k, data: { a: 2 } }).catch((e: unknown) => e);
        expect(isIdempotencyKeyReusedError(reused)).toBe(true);
        expect(runs).toBe(1);

        const transient = key('transient');
        await expect(
          policy.execute(
            () => {
              throw Object.assign(new Error('flaky'), { code: 'E_FLAKY' });
            },
            { key: transient },
          ),
        ).rejects.toThrow('flaky');
        expect(await policy.execute(() => 'second try', { key: transient })).toBe('second try');

        const terminal = key('terminal');
        const boom = () => {
          throw Object.assign(new TypeError('bad input'), { code: 'E_TERMINAL' });
        };
        await expect(policy.execute(boom, { key: terminal })).rejects.toThrow('bad input');
        const replayed = await policy.execute(() => 'never', { key: terminal }).catch((e: unknown) => e);
        expect(replayed).toMatchObject({ name: 'TypeError', message: 'bad input', code: 'E_TERMINAL', replayed: true });
      }));
  });
}
