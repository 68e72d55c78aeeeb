// Async projections on PostgreSQL: a session advisory lock per projection, and batches whose
// read-model writes and checkpoint commit in one transaction on the lock's connection.
import type { Pool, PoolClient } from 'pg';
import type { Clock } from '../../core/clock.js';
import type { Cursor, Page, ProjectionLock, StoreBackend } from '../internal.js';
import type { Queryable } from './postgres.js';

type PageFn = (q: Queryable, after: Cursor, limit: number, types: readonly string[] | undefined) => Promise<Page>;

// A checked-out pg client emits 'error' when its connection drops (pg-pool listens only while it is
// idle in the pool); unheard, that event crashes the process. The failure shows on the next query.
const ignore = (): void => undefined;

/** @internal */
export function pgProjectionBackend(
  pool: Pool,
  s: string,
  clock: Clock,
  readPage: PageFn,
): Pick<StoreBackend, 'lockProjection' | 'runBatch' | 'resetProjection'> {
  const locked = new Map<string, PoolClient>();
  const lockClient = (owner: string): PoolClient => {
    const c = locked.get(owner);
    if (c === undefined) throw new Error('Projection lock lost');
    return c;
  };
  return {
    // One active instance per projection: a session-level advisory lock, held by a dedicated
    // connection for as long as the projection runs and released by the server if the process dies.
    lockProjection: async (name, owner) => {
      const c = await pool.connect();
      c.on('error', ignore);
      try {
        const r = await c.query('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [`${s}:${name}`]);
        if ((r.rows[0] as { ok: boolean }).ok !== true) {
          c.off('error', ignore);
          c.release();
          return undefined;
        }
      } catch (error) {
        c.off('error', ignore);
        c.release(error as Error);
        throw error;
      }
      locked.set(owner, c);
      const lock: ProjectionLock = {
        renew: async () => {
          if (locked.get(owner) !== c) return false;
          return c.query('SELECT 1').then(
            () => true,
            () => false,
          );
        },
        release: async () => {
          if (locked.get(owner) !== c) return;
          locked.delete(owner);
          try {
            await c.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`${s}:${name}`]);
            c.off('error', ignore);
            c.release();
          } catch (error) {
            // The connection is gone, and the server released the lock with its session.
            c.off('error', ignore);
            c.release(error as Error);
          }
        },
      };
      return lock;
    },
    runBatch: async (name, owner, limit, types, apply) => {
      const c = lockClient(owner);
      await c.query('BEGIN');
      try {
        const r = await c.query(`SELECT position, tx::text AS tx FROM ${s}.bw_checkpoints WHERE name = $1`, [name]);
        const row = r.rows[0] as { position: string; tx: string } | undefined;
        const from: Cursor =
          row === undefined ? { tx: '0', position: 0 } : { tx: row.tx, position: Number(row.position) };
        const page = await readPage(c, from, limit, types);
        if (page.events.length > 0) {
          await apply(page.events, { client: c });
          await c.query(
            `INSERT INTO ${s}.bw_checkpoints (name, position, tx, updated_at) VALUES ($1, $2, $3::xid8, $4)
             ON CONFLICT (name) DO UPDATE SET position = excluded.position, tx = excluded.tx, updated_at = excluded.updated_at`,
            [name, page.next.position, page.next.tx, clock.now()],
          );
        }
        await c.query('COMMIT');
        return page.events.length;
      } catch (error) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    },
    resetProjection: async (name, owner, truncate) => {
      const c = lockClient(owner);
      await c.query('BEGIN');
      try {
        await truncate({ client: c });
        await c.query(`DELETE FROM ${s}.bw_checkpoints WHERE name = $1`, [name]);
        await c.query('COMMIT');
      } catch (error) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    },
  };
}
