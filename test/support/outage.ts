// Shared pieces of the database-outage fault tests: a PostgreSQL pool reached through a TCP proxy
// (stop the proxy = every connection cut and new ones refused; start it = the server is back), the
// process-level crash watch, and small waiting helpers. The shared server itself is never touched.
import pg from 'pg';
import { tcpProxy } from '../idempotency/support/proxy.js';
import { PG, PG_URL } from './servers.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms until it holds, or throws naming what did not happen within `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 8000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await sleep(10);
  }
}

/** Settles within `ms`, or rejects saying what hung. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** 'pending' unless `p` has settled. */
export async function state(p: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  const pending = {};
  return Promise.race([p, Promise.resolve(pending)]).then(
    (v) => (v === pending ? 'pending' : 'resolved'),
    () => 'rejected',
  );
}

/** A pool through a stoppable proxy, and the crashes (uncaught errors, unhandled rejections) seen meanwhile. */
export interface Outage {
  readonly proxy: Awaited<ReturnType<typeof tcpProxy>>;
  readonly pool: pg.Pool;
  /** An 'error' event nobody listens to, or a rejection nobody handles, would crash a real process. */
  readonly crashes: unknown[];
  /** Clients of the proxied pool currently checked out (0 once everything is released). */
  checkedOut(): number;
  /** Restarts the proxy if a test left it stopped, ends the pool, closes the proxy, stops the watch. */
  close(): Promise<void>;
}

/** Opens an {@link Outage} harness (call `close()` in `afterEach`). */
export async function outage(): Promise<Outage> {
  const crashes: unknown[] = [];
  const onCrash = (e: unknown) => void crashes.push(e);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  const proxy = await tcpProxy(PG.port, PG.host);
  const through = new URL(PG_URL); // same user and database, through the proxy
  through.hostname = '127.0.0.1';
  through.port = String(proxy.port);
  const pool = new pg.Pool({
    connectionString: through.href,
    connectionTimeoutMillis: 1000,
    max: 4,
  });
  pool.on('error', () => {}); // idle clients cut by the proxy: the pool's own concern
  return {
    proxy,
    pool,
    crashes,
    checkedOut: () => pool.totalCount - pool.idleCount,
    async close() {
      await proxy.start().catch(() => undefined);
      await within(pool.end(), 5000, 'ending the proxied pool').catch(() => undefined);
      await proxy.close();
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    },
  };
}
