import { type ChildProcess, spawn } from 'node:child_process';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isProjectionError,
  projection,
  rebuild,
  type StoredEvent,
  startProjection,
} from '../../src/event-store/index.js';
import { postgresEventStore } from '../../src/event-store/postgres/index.js';
import { HAS, PG_URL } from '../support/servers.js';
import { buildChild } from './build-child.js';
import { newPool, pgStore } from './pg-helpers.js';

async function until(cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const rmProjection = (schema: string, name: string, table = 'rm') =>
  projection({
    name,
    handles: {
      E: async (e, ctx) => {
        await (ctx.client as pg.PoolClient).query(`INSERT INTO "${schema}".${table} (event_id, n) VALUES ($1, $2)`, [
          e.id,
          (e.data as { n: number | string }).n,
        ]);
      },
    },
    truncate: async (ctx) => void (await (ctx.client as pg.PoolClient).query(`DELETE FROM "${schema}".${table}`)),
  });

describe.skipIf(!HAS.postgres)('postgres projections', () => {
  let pool: pg.Pool;
  beforeAll(() => {
    pool = newPool(12);
  });
  afterAll(async () => {
    await pool.end();
  });

  const rmRows = async (schema: string, table = 'rm') =>
    (await pool.query(`SELECT event_id, n FROM "${schema}".${table} ORDER BY seq`)).rows as {
      event_id: string;
      n: string;
    }[];

  it('gap safety: a late-committing transaction is neither skipped nor reordered', async () => {
    const { store, schema, drop } = await pgStore(pool);
    await pool.query(`CREATE TABLE "${schema}".rm (seq bigserial, event_id text NOT NULL, n text NOT NULL)`);
    const seen: StoredEvent[] = [];
    const sub = store.subscribe({ handler: (e) => void seen.push(e), pollInterval: 10 });
    const runner = startProjection({ store, projection: rmProjection(schema, 'gap'), pollInterval: 10 });
    const slow = await pool.connect();
    try {
      await store.append('a', [{ type: 'E', data: { n: 'A' } }]);
      await until(() => seen.length === 1);
      await slow.query('BEGIN');
      await store.withClient(slow).append('slow', [{ type: 'E', data: { n: 'S' } }]);
      await store.append('b', [{ type: 'E', data: { n: 'B' } }]);
      await store.append('c', [{ type: 'E', data: { n: 'C' } }]);
      // Later transactions committed, the slow one is open: nobody may move past it.
      await new Promise((r) => setTimeout(r, 300));
      expect(seen.map((e) => (e.data as { n: string }).n)).toEqual(['A']);
      expect((await collect(store.readAll())).map((e) => (e.data as { n: string }).n)).toEqual(['A']);
      await until(async () => (await rmRows(schema)).length === 1);
      await slow.query('COMMIT');
      await until(() => seen.length >= 4);
      await until(async () => (await rmRows(schema)).length >= 4);
      await new Promise((r) => setTimeout(r, 100));
      expect(seen.map((e) => (e.data as { n: string }).n)).toEqual(['A', 'S', 'B', 'C']);
      expect((await rmRows(schema)).map((r) => r.n)).toEqual(['A', 'S', 'B', 'C']);
      expect((await collect(store.readAll())).map((e) => (e.data as { n: string }).n)).toEqual(['A', 'S', 'B', 'C']);
    } finally {
      await slow.query('ROLLBACK').catch(() => undefined);
      slow.release();
      await sub.close();
      await runner.close();
      await drop();
    }
  });

  it('inline projection commits with the append, and rolls back with it', async () => {
    const { schema, drop } = await pgStore(pool);
    await pool.query(
      `CREATE TABLE "${schema}".rm (seq bigserial, event_id text NOT NULL, n text NOT NULL CHECK (n <> 'bad'))`,
    );
    const store = postgresEventStore(pool, { schema, inline: [rmProjection(schema, 'inline')] });
    try {
      await store.append('a', [
        { type: 'E', data: { n: 1 } },
        { type: 'X', data: {} },
      ]);
      await expect(store.append('a', [{ type: 'E', data: { n: 'bad' } }])).rejects.toThrow();
      expect(await store.version('a')).toBe(2);
      await store.transaction(async (tx) => {
        await tx.append('b', [{ type: 'E', data: { n: 2 } }]);
      });
      await store.append('c', [{ type: 'X', data: {} }]);
      expect((await rmRows(schema)).map((r) => r.n)).toEqual(['1', '2']);
    } finally {
      await drop();
    }
  });

  it('async projection: one active instance, resumes from its checkpoint, rebuild equals the live model', async () => {
    const { store, schema, drop } = await pgStore(pool);
    await pool.query(`CREATE TABLE "${schema}".rm (seq bigserial, event_id text NOT NULL, n text NOT NULL)`);
    const p = rmProjection(schema, 'rm');
    try {
      for (let i = 0; i < 5; i++)
        await store.append(
          `s${i}`,
          Array.from({ length: 30 }, (_, j) => ({ type: 'E', data: { n: i * 100 + j } })),
        );
      const r1 = startProjection({ store, projection: p, batchSize: 20, pollInterval: 10 });
      await until(() => r1.active);
      const r2 = startProjection({ store, projection: p, batchSize: 20, pollInterval: 10 });
      await r1.caughtUp();
      expect(r2.active).toBe(false);
      await expect(rebuild({ store, projection: p })).rejects.toSatisfy(isProjectionError);
      await r1.close();
      await store.append('late', [{ type: 'E', data: { n: 999 } }]);
      await until(() => r2.active);
      await r2.caughtUp();
      await r2.close();
      const live = await rmRows(schema);
      expect(live).toHaveLength(151);
      expect(new Set(live.map((r) => r.event_id)).size).toBe(151);
      expect(await rebuild({ store, projection: p, batchSize: 64 })).toBe(151);
      expect(await rmRows(schema)).toEqual(live);
    } finally {
      await drop();
    }
  });

  it('a failing batch rolls back and stops the runner; a failing truncate keeps the model', async () => {
    const { store, schema, drop } = await pgStore(pool);
    await pool.query(
      `CREATE TABLE "${schema}".rm (seq bigserial, event_id text NOT NULL, n text NOT NULL CHECK (n <> 'bad'))`,
    );
    try {
      await store.append('a', [{ type: 'E', data: { n: 'ok' } }]);
      await store.append('a', [{ type: 'E', data: { n: 'bad' } }]);
      const noRetry = { execute: (fn: () => unknown) => Promise.resolve().then(fn) } as never;
      const r = startProjection({ store, projection: rmProjection(schema, 'fails'), batchSize: 1, policy: noRetry });
      await expect(r.done).rejects.toSatisfy(isProjectionError);
      expect((await rmRows(schema)).map((x) => x.n)).toEqual(['ok']);
      const p = projection({
        name: 'fails',
        handles: { E: () => undefined },
        truncate: () => {
          throw new Error('no truncate');
        },
      });
      await expect(rebuild({ store, projection: p })).rejects.toThrow('no truncate');
      expect((await rmRows(schema)).map((x) => x.n)).toEqual(['ok']);
    } finally {
      await drop();
    }
  });

  it('crash: killing the projection process mid-batch, then restarting, equals a fresh rebuild', async () => {
    const { store, schema, drop } = await pgStore(pool);
    await pool.query(`CREATE TABLE "${schema}".rm (seq bigserial, event_id text NOT NULL, n text NOT NULL)`);
    await pool.query(`CREATE TABLE "${schema}".rm2 (seq bigserial, event_id text NOT NULL, n text NOT NULL)`);
    const children: ChildProcess[] = [];
    const built = await buildChild('test/event-store/fixtures/projection-child.ts');
    const start = () => {
      const child = spawn(process.execPath, [built.file, PG_URL, schema], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: built.env,
      });
      children.push(child);
      let out = '';
      child.stdout?.on('data', (d) => (out += String(d)));
      return { child, caughtUp: () => out.includes('caught-up') };
    };
    const checkpoint = async () =>
      Number(
        (await pool.query(`SELECT position FROM "${schema}".bw_checkpoints WHERE name = 'crash-rm'`)).rows[0]
          ?.position ?? 0,
      );
    try {
      for (let i = 0; i < 6; i++) {
        await store.append(
          `s${i}`,
          Array.from({ length: 50 }, (_, j) => ({ type: 'E', data: { n: i * 1000 + j } })),
        );
      }
      const first = start();
      await until(async () => (await checkpoint()) > 0, 30_000);
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
      const partial = (await rmRows(schema)).length;
      expect(partial).toBeLessThan(300);
      const second = start();
      await until(second.caughtUp, 30_000);
      second.child.kill('SIGKILL');
      await new Promise((r) => second.child.once('exit', r));
      const live = await rmRows(schema);
      expect(live).toHaveLength(300);
      await rebuild({ store, projection: rmProjection(schema, 'fresh', 'rm2') });
      const fresh = await rmRows(schema, 'rm2');
      expect(live.map((r) => [r.event_id, r.n])).toEqual(fresh.map((r) => [r.event_id, r.n]));
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      built.dispose();
      await drop();
    }
  }, 60_000);
});
