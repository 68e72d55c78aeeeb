import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isConcurrencyError, isCorruptEventError } from '../../src/event-store/index.js';
import { sqliteEventStore } from '../../src/event-store/sqlite/index.js';
import { conformance } from './conformance.js';

conformance('sqlite', async () => {
  const db = new Database(':memory:');
  return { store: sqliteEventStore(db), close: async () => void db.close() };
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('sqliteEventStore', () => {
  it('rejects a bad db or prefix', () => {
    expect(() => sqliteEventStore({} as never)).toThrow(/Database/);
    const db = new Database(':memory:');
    expect(() => sqliteEventStore(db, { tablePrefix: 'x; DROP' })).toThrow(/tablePrefix/);
    db.close();
  });

  it('migrate is idempotent and keeps data', async () => {
    const db = new Database(':memory:');
    const store = sqliteEventStore(db, { tablePrefix: 'es_' });
    await store.append('s', [{ type: 'A', data: 1 }]);
    store.migrate();
    const again = sqliteEventStore(db, { tablePrefix: 'es_' });
    expect(await again.version('s')).toBe(1);
    db.close();
  });

  it('gives a clear error for malformed stored rows', async () => {
    const db = new Database(':memory:');
    const store = sqliteEventStore(db);
    await store.append('s', [
      { type: 'A', data: { ok: true } },
      { type: 'B', data: 2 },
    ]);
    db.prepare(`UPDATE bw_events SET data = '{not json' WHERE version = 1`).run();
    const e = await collect(store.read('s')).catch((x: unknown) => x);
    expect(isCorruptEventError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'ERR_CORRUPT_EVENT', position: 1 });
    expect((e as Error).message).toMatch(/data is not valid JSON/);
    expect((e as Error).message).not.toMatch(/not json/);
    db.prepare(`UPDATE bw_events SET data = '1', metadata = '[1]' WHERE version = 1`).run();
    await expect(collect(store.readAll())).rejects.toThrow(/metadata is not an object/);
    db.prepare(`UPDATE bw_events SET metadata = '{}', type = '' WHERE version = 1`).run();
    await expect(collect(store.readAll())).rejects.toThrow(/bad type/);
    db.close();
  });

  it("appends join the caller's own transaction", async () => {
    const db = new Database(':memory:');
    const store = sqliteEventStore(db);
    db.exec('CREATE TABLE orders (id TEXT PRIMARY KEY)');
    db.exec('BEGIN');
    await store.append('order-1', [{ type: 'Placed', data: {} }]);
    db.prepare('INSERT INTO orders VALUES (?)').run('order-1');
    db.exec('ROLLBACK');
    expect(await store.version('order-1')).toBe(0);
    expect(db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 0 });
    db.exec('BEGIN');
    const e = await store
      .append('order-1', [{ type: 'Placed', data: {} }], { expectedVersion: 'exists' })
      .catch((x: unknown) => x);
    expect(isConcurrencyError(e)).toBe(true);
    db.prepare('INSERT INTO orders VALUES (?)').run('order-2');
    db.exec('COMMIT');
    expect(db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 1 });
    db.close();
  });

  it('a transaction exposes the database to write read models in the same commit', async () => {
    const db = new Database(':memory:');
    const store = sqliteEventStore(db);
    db.exec('CREATE TABLE rm (k TEXT PRIMARY KEY, v INTEGER)');
    await expect(
      store.transaction(async (tx) => {
        await tx.append('s', [{ type: 'A', data: 1 }]);
        (tx.client as Database.Database).prepare('INSERT INTO rm VALUES (?, ?)').run('a', 1);
        throw new Error('nope');
      }),
    ).rejects.toThrow('nope');
    expect(await store.version('s')).toBe(0);
    expect(db.prepare('SELECT count(*) AS n FROM rm').get()).toEqual({ n: 0 });
    db.close();
  });
});
