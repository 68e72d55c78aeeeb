import { describe, expect, it, vi } from 'vitest';
import { Policy } from '../../src/core/policy.js';
import {
  type IdempotencyEvent,
  type IdempotencyStore,
  idempotent,
  isIdempotencyInProgressError,
  isIdempotencyKeyMissingError,
  isIdempotencyKeyReusedError,
  isIdempotencyLeaseLostError,
  isIdempotencyNotSerializableError,
  memoryIdempotencyStore,
} from '../../src/idempotency/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { deferred } from '../support/deferred.js';

function once<T extends IdempotencyEvent['type']>(p: Policy<IdempotencyEvent>, type: T): Promise<IdempotencyEvent> {
  return new Promise((resolve) => {
    const off = p.on(type, (e) => {
      off();
      resolve(e);
    });
  });
}

function spyStore(inner: IdempotencyStore = memoryIdempotencyStore()) {
  const calls = { claim: 0, complete: 0, renew: 0, release: 0, get: 0 };
  const count =
    <A extends unknown[], R>(name: keyof typeof calls, f: (...a: A) => R) =>
    (...a: A): R => {
      calls[name]++;
      return f(...a);
    };
  const store: IdempotencyStore = {
    claim: count('claim', inner.claim.bind(inner)),
    complete: count('complete', inner.complete.bind(inner)),
    renew: count('renew', inner.renew.bind(inner)),
    release: count('release', inner.release.bind(inner)),
    get: count('get', inner.get.bind(inner)),
  };
  return { store, calls };
}

describe('idempotent()', () => {
  it('runs fn once per key and replays the result', async () => {
    const policy = idempotent();
    const fn = vi.fn(async () => ({ at: 'first' }));
    expect(await policy.execute(fn, { key: 'k' })).toEqual({ at: 'first' });
    expect(await policy.execute(fn, { key: 'k' })).toEqual({ at: 'first' });
    expect(await policy.execute(fn, { key: 'other' })).toEqual({ at: 'first' });
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('replays undefined and falsy results', async () => {
    const policy = idempotent();
    let runs = 0;
    for (const v of [undefined, null, 0, '', false]) {
      const key = `k${String(v)}`;
      const run =
        <T>(value: T) =>
        () => {
          runs++;
          return value;
        };
      expect(await policy.execute(run(v), { key })).toBe(v);
      expect(await policy.execute(run('again'), { key })).toBe(v);
    }
    expect(runs).toBe(5);
  });

  it('fails a call without a key unless told to pass it through', async () => {
    const err = await idempotent()
      .execute(() => 1)
      .catch((e: unknown) => e);
    expect(isIdempotencyKeyMissingError(err)).toBe(true);
    const fn = vi.fn(() => 7);
    const pass = idempotent({ onMissingKey: 'pass-through' });
    expect(await pass.execute(fn)).toBe(7);
    expect(await pass.execute(fn)).toBe(7);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('shares one in-flight promise between in-process duplicates, with one claim', async () => {
    const { store, calls } = spyStore();
    const policy = idempotent({ store });
    const gate = deferred<string>();
    const fn = vi.fn(() => gate.promise);
    const dups: IdempotencyEvent[] = [];
    policy.on('duplicate', (e) => dups.push(e));
    const all = Promise.all([1, 2, 3].map(() => policy.execute(fn, { key: 'k', data: { q: 1 } })));
    await vi.waitFor(() => expect(fn).toHaveBeenCalled());
    gate.resolve('done');
    expect(await all).toEqual(['done', 'done', 'done']);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(calls.claim).toBe(1);
    expect(calls.complete).toBe(1);
    expect(dups).toHaveLength(2);
    expect(dups[0]).toMatchObject({ type: 'duplicate', kind: 'idempotent', key: 'k', inProcess: true });
  });

  it('an in-process duplicate stops waiting when its own caller aborts; the first call runs on', async () => {
    const policy = idempotent();
    const gate = deferred<string>();
    const first = policy.execute(() => gate.promise, { key: 'k' });
    await once(policy, 'claim');
    const ac = new AbortController();
    const dup = policy.execute(() => 'x', { key: 'k', signal: ac.signal }).catch((e: unknown) => e);
    const late = policy.execute(() => 'x', { key: 'k', signal: new AbortController().signal });
    await once(policy, 'duplicate');
    ac.abort(new Error('dup gave up'));
    expect(await dup).toMatchObject({ message: 'dup gave up' });
    gate.resolve('ok');
    expect(await first).toBe('ok');
    expect(await late).toBe('ok');
    const aborted = new AbortController();
    const again = policy.execute(() => new Promise<string>(() => {}), { key: 'k2' });
    await once(policy, 'claim');
    aborted.abort(new Error('already'));
    await expect(policy.execute(() => 'y', { key: 'k2', signal: aborted.signal })).rejects.toThrow(/already/);
    void again;
  });

  it('rejects an in-process duplicate with another payload', async () => {
    const policy = idempotent();
    const gate = deferred<string>();
    const first = policy.execute(() => gate.promise, { key: 'k', data: { q: 1 } });
    await once(policy, 'claim');
    const err = await policy.execute(() => 'x', { key: 'k', data: { q: 2 } }).catch((e: unknown) => e);
    expect(isIdempotencyKeyReusedError(err)).toBe(true);
    gate.resolve('ok');
    expect(await first).toBe('ok');
  });

  it("onDuplicate 'reject' fails a duplicate from elsewhere at once, with retryAfter", async () => {
    const clock = virtualClock({ start: 1000 });
    const store = memoryIdempotencyStore();
    const a = idempotent({ store, clock, lease: 9000 });
    const b = idempotent({ store, clock, onDuplicate: 'reject' });
    const gate = deferred<string>();
    const first = a.execute(() => gate.promise, { key: 'k' });
    await once(a, 'claim');
    await clock.advance(1000);
    const err = await b.execute(() => 'b', { key: 'k' }).catch((e: unknown) => e);
    expect(isIdempotencyInProgressError(err)).toBe(true);
    expect(err).toMatchObject({ key: 'k', retryAfter: 8000, code: 'ERR_IDEMPOTENCY_IN_PROGRESS' });
    gate.resolve('a');
    expect(await first).toBe('a');
  });

  it("onDuplicate 'wait' waits for the first call's result", async () => {
    const clock = virtualClock();
    const store = memoryIdempotencyStore();
    const a = idempotent({ store, clock });
    const b = idempotent({ store, clock });
    const gate = deferred<string>();
    const first = a.execute(() => gate.promise, { key: 'k' });
    await once(a, 'claim');
    const second = b.execute(() => 'b ran', { key: 'k' });
    await once(b, 'duplicate');
    await clock.advance(5000);
    gate.resolve('from a');
    expect(await first).toBe('from a');
    await clock.advance(1000);
    expect(await second).toBe('from a');
  });

  it("onDuplicate 'wait' gives up after maxWait with IdempotencyInProgressError", async () => {
    const clock = virtualClock();
    const store = memoryIdempotencyStore();
    const a = idempotent({ store, clock, lease: 60_000 });
    const b = idempotent({ store, clock, maxWait: 2000 });
    const gate = deferred<string>();
    const first = a.execute(() => gate.promise, { key: 'k' });
    await once(a, 'claim');
    const second = b.execute(() => 'b ran', { key: 'k' }).catch((e: unknown) => e);
    await once(b, 'duplicate');
    await clock.advance(1999);
    let settled = false;
    void second.then(() => (settled = true));
    await clock.flush();
    expect(settled).toBe(false);
    await clock.advance(1100);
    const err = await second;
    expect(isIdempotencyInProgressError(err)).toBe(true);
    expect((err as { retryAfter: number }).retryAfter).toBeGreaterThan(50_000);
    gate.resolve('a');
    await first;
  });

  it('a waiting duplicate stops when its caller aborts', async () => {
    const clock = virtualClock();
    const store = memoryIdempotencyStore();
    const a = idempotent({ store, clock });
    const b = idempotent({ store, clock });
    const gate = deferred<string>();
    const first = a.execute(() => gate.promise, { key: 'k' });
    await once(a, 'claim');
    const ac = new AbortController();
    const second = b.execute(() => 'b', { key: 'k', signal: ac.signal }).catch((e: unknown) => e);
    await once(b, 'duplicate');
    ac.abort(new Error('caller gave up'));
    expect(await second).toMatchObject({ message: 'caller gave up' });
    gate.resolve('a');
    await first;
  });

  it('renews the lease while fn runs, and clears its timer afterwards', async () => {
    const clock = virtualClock();
    const store = memoryIdempotencyStore();
    const a = idempotent({ store, clock, lease: 3000 });
    const b = idempotent({ store, clock, onDuplicate: 'reject' });
    const gate = deferred<string>();
    const first = a.execute(() => gate.promise, { key: 'k' });
    await once(a, 'claim');
    await clock.advance(20_000); // far beyond one lease
    const err = await b.execute(() => 'b', { key: 'k' }).catch((e: unknown) => e);
    expect(isIdempotencyInProgressError(err)).toBe(true);
    gate.resolve('a');
    expect(await first).toBe('a');
    expect(clock.pending).toBe(0);
  });

  it('a holder that lost its lease gets IdempotencyLeaseLostError and its result is not stored', async () => {
    const clock = virtualClock();
    const inner = memoryIdempotencyStore();
    const store: IdempotencyStore = { ...bind(inner), renew: async () => false };
    const a = idempotent({ store, clock, lease: 3000 });
    const lost = vi.fn();
    a.on('lease-lost', lost);
    const gate = deferred<string>();
    const first = a.execute(() => gate.promise, { key: 'k' }).catch((e: unknown) => e);
    await once(a, 'claim');
    await clock.advance(1000);
    expect(lost).toHaveBeenCalledTimes(1);
    gate.resolve('late');
    const err = await first;
    expect(isIdempotencyLeaseLostError(err)).toBe(true);
    expect((await inner.get('k', clock.now()))?.status).toBe('in-progress');
  });

  it('aborts the signal fn sees when the lease is lost, with IdempotencyLeaseLostError', async () => {
    const clock = virtualClock();
    const inner = memoryIdempotencyStore();
    const store: IdempotencyStore = { ...bind(inner), renew: async () => false };
    const a = idempotent({ store, clock, lease: 3000 });
    let seen: unknown;
    const first = a
      .execute(
        ({ signal }) =>
          new Promise((_, reject) =>
            signal.addEventListener('abort', () => {
              seen = signal.reason;
              reject(new Error('tool call cancelled'));
            }),
          ),
        { key: 'k' },
      )
      .catch((e: unknown) => e);
    await once(a, 'claim');
    await clock.advance(1000); // the first renewal finds the claim gone
    const err = await first;
    expect(isIdempotencyLeaseLostError(seen)).toBe(true);
    expect(err).toBe(seen); // the lease error, not fn's own rejection
    expect((await inner.get('k', clock.now()))?.status).toBe('in-progress'); // nothing stored or released
    expect(clock.pending).toBe(0);
  });

  it('a caller abort before the lease is lost keeps the caller’s reason on the signal', async () => {
    const clock = virtualClock();
    const inner = memoryIdempotencyStore();
    const store: IdempotencyStore = { ...bind(inner), renew: async () => false };
    const a = idempotent({ store, clock, lease: 3000 });
    const ac = new AbortController();
    const gate = deferred<string>();
    let signal: AbortSignal | undefined;
    const first = a
      .execute(
        (ctx) => {
          signal = ctx.signal;
          return gate.promise;
        },
        { key: 'k', signal: ac.signal },
      )
      .catch((e: unknown) => e);
    await once(a, 'claim');
    ac.abort('stop');
    await clock.advance(1000);
    expect(signal?.reason).toBe('stop');
    gate.reject('stop');
    expect(await first).toBe('stop');
  });

  it('refuses to store when the claim was taken over meanwhile', async () => {
    const clock = virtualClock();
    const inner = memoryIdempotencyStore();
    // Renewals fail silently (store hiccups), so the lease lapses and another holder takes over.
    const store: IdempotencyStore = { ...bind(inner), renew: async () => Promise.reject(new Error('blip')) };
    const a = idempotent({ store, clock, lease: 3000 });
    const gate = deferred<string>();
    const first = a.execute(() => gate.promise, { key: 'k' }).catch((e: unknown) => e);
    await once(a, 'claim');
    await clock.advance(3000);
    const other = await inner.claim('k', { fingerprint: undefined, lease: 3000, now: clock.now() });
    expect(other.claimed).toBe(true);
    gate.resolve('stale');
    expect(isIdempotencyLeaseLostError(await first)).toBe(true);
    expect((await inner.get('k', clock.now()))?.result).toBeUndefined();
    expect(clock.pending).toBe(0);
  });

  it("takes over a crashed holder's key once its lease lapses", async () => {
    const clock = virtualClock();
    const store = memoryIdempotencyStore();
    const crashed = await store.claim('k', { fingerprint: undefined, lease: 5000, now: clock.now() });
    expect(crashed.claimed).toBe(true);
    const policy = idempotent({ store, clock, fingerprint: false });
    const fn = vi.fn(() => 'mine');
    const p = policy.execute(fn, { key: 'k' });
    await clock.advance(4999);
    expect(fn).not.toHaveBeenCalled();
    await clock.advance(1);
    expect(await p).toBe('mine');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('refuses a result that is not JSON-serialisable, and releases the key', async () => {
    const store = memoryIdempotencyStore();
    const policy = idempotent({ store });
    for (const [i, bad] of [() => 1, 10n, { n: Number.NaN }, Symbol('s')].entries()) {
      const err = await policy.execute(() => ({ bad }), { key: `k${i}` }).catch((e: unknown) => e);
      expect(isIdempotencyNotSerializableError(err)).toBe(true);
      expect(err).toMatchObject({ what: 'result', key: `k${i}` });
      expect(await store.get(`k${i}`, Date.now())).toBeUndefined();
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const err = await policy.execute(() => cyclic, { key: 'cyc' }).catch((e: unknown) => e);
    expect(isIdempotencyNotSerializableError(err)).toBe(true);
  });

  it('refuses a payload that cannot be fingerprinted', async () => {
    const err = await idempotent()
      .execute(() => 1, { key: 'k', data: { n: 1n } })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_IDEMPOTENCY_NOT_SERIALIZABLE', what: 'fingerprint' });
  });

  it('fingerprints what `fingerprint` picks, or nothing when false', async () => {
    const picky = idempotent({ fingerprint: (ctx) => ctx.data.args });
    await picky.execute(() => 1, { key: 'k', data: { args: { a: 1 }, traceId: 'x' } });
    expect(await picky.execute(() => 2, { key: 'k', data: { args: { a: 1 }, traceId: 'y' } })).toBe(1);
    const err = await picky.execute(() => 2, { key: 'k', data: { args: { a: 2 } } }).catch((e: unknown) => e);
    expect(isIdempotencyKeyReusedError(err)).toBe(true);
    const off = idempotent({ fingerprint: false });
    await off.execute(() => 1, { key: 'k', data: { a: 1 } });
    expect(await off.execute(() => 2, { key: 'k', data: { a: 2 } })).toBe(1);
  });

  it('fails fast when the store fails, without running fn', async () => {
    const down = new Error('connection refused');
    const store: IdempotencyStore = { ...bind(memoryIdempotencyStore()), claim: () => Promise.reject(down) };
    const fn = vi.fn();
    await expect(idempotent({ store }).execute(fn, { key: 'k' })).rejects.toBe(down);
    expect(fn).not.toHaveBeenCalled();
  });

  it("keeps the user's error when the store fails while recording it", async () => {
    const store: IdempotencyStore = {
      ...bind(memoryIdempotencyStore()),
      release: () => Promise.reject(new Error('store down')),
    };
    await expect(
      idempotent({ store }).execute(
        () => {
          throw new Error('user error');
        },
        { key: 'k' },
      ),
    ).rejects.toThrow('user error');
  });

  it('emits claim, complete, release and replay events', async () => {
    const policy = idempotent();
    const seen: string[] = [];
    policy.on('*', (e) => seen.push(`${e.type}:${(e as { key: string }).key}`));
    await policy.execute(() => 1, { key: 'a' });
    await policy.execute(() => 1, { key: 'a' });
    await policy
      .execute(
        () => {
          throw new Error('x');
        },
        { key: 'b' },
      )
      .catch(() => {});
    expect(seen).toEqual(['claim:a', 'complete:a', 'replay:a', 'claim:b', 'release:b']);
  });

  it('composes with other policies and sees ctx.key', async () => {
    const policy = Policy.wrap(idempotent(), Policy.noop);
    expect(await policy.execute((ctx) => ctx.key, { key: 'kk' })).toBe('kk');
  });

  it('validates its options', () => {
    expect(() => idempotent({ ttl: 0 })).toThrow(/ttl/);
    expect(() => idempotent({ lease: -1 })).toThrow(/lease/);
    expect(() => idempotent({ maxWait: Number.NaN })).toThrow(/maxWait/);
    expect(() => idempotent({ onDuplicate: 'nope' as never })).toThrow(/onDuplicate/);
    expect(() => idempotent({ onMissingKey: 'skip' as never })).toThrow(/onMissingKey/);
    expect(() => idempotent({ cacheErrors: 1 as never })).toThrow(/cacheErrors/);
    expect(() => idempotent({ fingerprint: 'x' as never })).toThrow(/fingerprint/);
    expect(() => idempotent({ store: {} as never })).toThrow(/store/);
    expect(() => idempotent([] as never)).toThrow(/options/);
  });
});

function bind(s: IdempotencyStore): IdempotencyStore {
  return {
    claim: s.claim.bind(s),
    complete: s.complete.bind(s),
    renew: s.renew.bind(s),
    release: s.release.bind(s),
    get: s.get.bind(s),
  };
}
