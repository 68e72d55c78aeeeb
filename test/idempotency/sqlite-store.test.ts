import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { idempotent, isIdempotencyStoreUnavailableError } from '../../src/idempotency/index.js';
import { sqliteIdempotencyStore } from '../../src/idempotency/sqlite/index.js';
import { describeConformance } from './conformance.js';

describeConformance(
  'sqlite',
  async () => {
    const db = new Database(':memory:');
    const store = sqliteIdempotencyStore(db);
    return {
      store,
      corrupt: async (key) => {
        db.prepare(
          `INSERT INTO breakwater_idempotency (key, status, token, lease_until, expires_at) VALUES (?, 'weird', '', 0, 9e15)`,
        ).run(key);
      },
      close: async () => {
        db.close();
      },
    };
  },
  { durable: true },
);

describe('sqliteIdempotencyStore', () => {
  it("claims inside the caller's transaction: a rollback undoes the claim", async () => {
    const db = new Database(':memory:');
    const store = sqliteIdempotencyStore(db, { table: 'idem_tx' });
    db.exec('CREATE TABLE orders (id TEXT)');
    const tx = db.transaction(() => {
      void store.claim('k', { fingerprint: undefined, lease: 1000, now: 0 });
      db.prepare('INSERT INTO orders VALUES (?)').run('o1');
      throw new Error('rollback');
    });
    expect(() => tx()).toThrow('rollback');
    expect(await store.get('k', 1)).toBeUndefined();
    expect(db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 0 });
    db.close();
  });

  it('fails with IdempotencyStoreUnavailableError when the database is closed', async () => {
    const db = new Database(':memory:');
    const store = sqliteIdempotencyStore(db);
    db.close();
    const err = await idempotent({ store })
      .execute(() => 1, { key: 'k' })
      .catch((e: unknown) => e);
    expect(isIdempotencyStoreUnavailableError(err)).toBe(true);
    expect(err).toMatchObject({ store: 'sqlite' });
    expect((err as Error).cause).toBeInstanceOf(Error);
  });

  it('purges lapsed records', async () => {
    const db = new Database(':memory:');
    const store = sqliteIdempotencyStore(db);
    await store.claim('a', { fingerprint: undefined, lease: 10, now: 0 });
    await store.claim('b', { fingerprint: undefined, lease: 1000, now: 0 });
    expect(await store.purgeExpired(100)).toBe(1);
    expect(await store.get('b', 100)).toBeDefined();
    db.close();
  });

  it('validates its arguments', () => {
    expect(() => sqliteIdempotencyStore({} as never)).toThrow(/db/);
    expect(() => sqliteIdempotencyStore(new Database(':memory:'), { table: 'x; DROP' })).toThrow(/table/);
  });
});
