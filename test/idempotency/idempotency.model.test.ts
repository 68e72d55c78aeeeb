// Model-based test of the record state machine: in-progress → completed | released | expired,
// against a deliberately simple model, on the memory store (and SQLite) driven by a virtual clock.
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fingerprintOf, type IdempotencyStore, memoryIdempotencyStore } from '../../src/idempotency/index.js';
import { sqliteIdempotencyStore } from '../../src/idempotency/sqlite/index.js';
import { type VirtualClock, virtualClock } from '../../src/testing/index.js';

const KEY = 'k';

interface Model {
  /** Tokens handed out by successful claims, oldest first. */
  tokens: string[];
  rec:
    | { status: 'in-progress' | 'completed'; token: number; leaseUntil: number; expiresAt: number; result?: string }
    | undefined;
}

interface Real {
  readonly store: IdempotencyStore;
  readonly clock: VirtualClock;
}

type Cmd = fc.AsyncCommand<Model, Real>;

const live = (m: Model, now: number) => (m.rec !== undefined && m.rec.expiresAt > now ? m.rec : undefined);
const owns = (m: Model, token: number, now: number) => {
  const r = live(m, now);
  return r !== undefined && r.status === 'in-progress' && r.token === token && r.leaseUntil > now;
};

class Claim implements Cmd {
  readonly lease: number;
  constructor(lease: number) {
    this.lease = lease;
  }
  check = () => true;
  async run(m: Model, r: Real) {
    const now = r.clock.now();
    const res = await r.store.claim(KEY, { fingerprint: undefined, lease: this.lease, now });
    const current = live(m, now);
    expect(res.claimed).toBe(current === undefined);
    if (res.claimed) {
      expect(m.tokens).not.toContain(res.token); // a new fencing token every time
      m.tokens.push(res.token);
      m.rec = {
        status: 'in-progress',
        token: m.tokens.length - 1,
        leaseUntil: now + this.lease,
        expiresAt: now + this.lease,
      };
    } else {
      expect(res.record.status).toBe(current?.status);
      expect(res.record.token).toBe(m.tokens[current!.token]);
      expect(res.record.result).toBe(current?.result);
    }
  }
  toString = () => `claim(${this.lease})`;
}

class Complete implements Cmd {
  readonly pick: number;
  readonly ttl: number;
  constructor(pick: number, ttl: number) {
    this.pick = pick;
    this.ttl = ttl;
  }
  check = (m: Readonly<Model>) => m.tokens.length > 0;
  async run(m: Model, r: Real) {
    const now = r.clock.now();
    const t = this.pick % m.tokens.length;
    const expected = owns(m, t, now);
    const result = `{"ok":true,"value":${m.tokens.length * 1000 + t}}`;
    expect(await r.store.complete(KEY, m.tokens[t]!, result, this.ttl, now)).toBe(expected);
    if (expected)
      m.rec = { status: 'completed', token: t, leaseUntil: m.rec!.leaseUntil, expiresAt: now + this.ttl, result };
  }
  toString = () => `complete(#${this.pick}, ${this.ttl})`;
}

class Renew implements Cmd {
  readonly pick: number;
  readonly lease: number;
  constructor(pick: number, lease: number) {
    this.pick = pick;
    this.lease = lease;
  }
  check = (m: Readonly<Model>) => m.tokens.length > 0;
  async run(m: Model, r: Real) {
    const now = r.clock.now();
    const t = this.pick % m.tokens.length;
    const expected = owns(m, t, now);
    expect(await r.store.renew(KEY, m.tokens[t]!, this.lease, now)).toBe(expected);
    if (expected) m.rec = { ...m.rec!, leaseUntil: now + this.lease, expiresAt: now + this.lease };
  }
  toString = () => `renew(#${this.pick}, ${this.lease})`;
}

class Release implements Cmd {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check = (m: Readonly<Model>) => m.tokens.length > 0;
  async run(m: Model, r: Real) {
    const now = r.clock.now();
    const t = this.pick % m.tokens.length;
    const expected = owns(m, t, now);
    expect(await r.store.release(KEY, m.tokens[t]!, now)).toBe(expected);
    if (expected) m.rec = undefined;
  }
  toString = () => `release(#${this.pick})`;
}

class Advance implements Cmd {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check = () => true;
  async run(_m: Model, r: Real) {
    await r.clock.advance(this.ms);
  }
  toString = () => `advance(${this.ms})`;
}

class Get implements Cmd {
  check = () => true;
  async run(m: Model, r: Real) {
    const now = r.clock.now();
    const got = await r.store.get(KEY, now);
    const current = live(m, now);
    expect(got?.status).toBe(current?.status);
    if (current !== undefined) {
      expect(got?.token).toBe(m.tokens[current.token]);
      expect(got?.expiresAt).toBe(current.expiresAt);
      // A completed record is never overwritten: its result is the one its completer stored.
      expect(got?.result).toBe(current.result);
    }
  }
  toString = () => 'get';
}

const commands = fc.commands(
  [
    fc.integer({ min: 1, max: 50 }).map((l) => new Claim(l)),
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 100 })).map(([p, t]) => new Complete(p, t)),
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 50 })).map(([p, l]) => new Renew(p, l)),
    fc.nat().map((p) => new Release(p)),
    fc.integer({ min: 0, max: 60 }).map((ms) => new Advance(ms)),
    fc.constant(new Get()),
  ],
  { maxCommands: 40 },
);

describe('idempotency record state machine (model-based)', () => {
  const stores: [string, () => IdempotencyStore][] = [
    ['memory', () => memoryIdempotencyStore()],
    ['sqlite', () => sqliteIdempotencyStore(new Database(':memory:'))],
  ];
  for (const [name, make] of stores) {
    it(`${name} store follows the model`, async () => {
      await fc.assert(
        fc.asyncProperty(commands, async (cmds) => {
          const setup = () => ({
            model: { tokens: [], rec: undefined } as Model,
            real: { store: make(), clock: virtualClock({ start: 1000 }) },
          });
          await fc.asyncModelRun(setup, cmds);
        }),
        { numRuns: 100 },
      );
    });
  }
});

describe('fingerprintOf', () => {
  it('is the same for equal payloads whatever the key order, and differs for different payloads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue(), async (obj, other) => {
        const shuffled = Object.fromEntries(Object.entries(obj).reverse());
        expect(await fingerprintOf(shuffled, 'k')).toBe(await fingerprintOf(obj, 'k'));
        const a = JSON.stringify(obj);
        const b = JSON.stringify(other);
        if (a !== b && typeof other === 'object' && other !== null && !Array.isArray(other)) return;
        if (a !== b) expect(await fingerprintOf(other, 'k')).not.toBe(await fingerprintOf(obj, 'k'));
      }),
      { numRuns: 50 },
    );
    expect(await fingerprintOf({ a: 1 }, 'k')).toMatch(/^[0-9a-f]{64}$/);
    expect(await fingerprintOf(undefined, 'k')).not.toBe(await fingerprintOf(null, 'k'));
  });
});
