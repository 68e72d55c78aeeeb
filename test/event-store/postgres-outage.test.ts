// Fault test: the database becomes unreachable mid-run and comes back (a "server restart"), seen by
// async projections and catch-up subscriptions. The shared server is never touched: the store under
// test connects through a TCP proxy; stopping the proxy cuts every connection through it and refuses
// new ones, starting it again is the server coming back. A writer on a direct (non-proxied) pool
// keeps appending during the outage.
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  isProjectionError,
  type Projection,
  projection,
  type StoredEvent,
  startProjection,
} from '../../src/event-store/index.js';
import { type PostgresEventStore, postgresEventStore } from '../../src/event-store/postgres/index.js';
import { constant, retry } from '../../src/retry/index.js';
import { deferred } from '../support/deferred.js';
import { type Outage, outage, sleep, state, until, within } from '../support/outage.js';
import { HAS } from '../support/servers.js';
import { newPool, pgStore } from './pg-helpers.js';

const OUTAGE_MS = 1500;

/** Appends one event every few ms until stopped. */
function startWriter(store: PostgresEventStore): { stop(): Promise<number> } {
  let stopped = false;
  let count = 0;
  const loop = (async () => {
    while (!stopped) {
      await store.append(`s${count % 4}`, [{ type: 'E', data: { i: count } }]);
      count++;
      await sleep(8);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return count;
    },
  };
}

describe.skipIf(!HAS.postgres)('postgres event store: database outage and recovery', () => {
  let direct: pg.Pool;
  let proxied: pg.Pool;
  let net: Outage;
  let proxy: Outage['proxy'];
  let schema: string;
  let writerStore: PostgresEventStore;
  let store: PostgresEventStore;
  let drop: () => Promise<void>;
  let cleanups: (() => Promise<unknown>)[];
  let crashes: unknown[];

  beforeEach(async () => {
    cleanups = [];
    direct = newPool(4);
    net = await outage();
    ({ proxy, pool: proxied, crashes } = net);
    ({ store: writerStore, schema, drop } = await pgStore(direct));
    await direct.query(`CREATE TABLE "${schema}".rm (seq bigserial, event_id text NOT NULL, pos bigint NOT NULL)`);
    store = postgresEventStore(proxied, { schema });
  });

  afterEach(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await net.close();
    await drop();
    await direct.end();
  });

  const rm = (name: string): Projection =>
    projection({
      name,
      handles: {
        E: async (e, ctx) => {
          await (ctx.client as pg.PoolClient).query(`INSERT INTO "${schema}".rm (event_id, pos) VALUES ($1, $2)`, [
            e.id,
            e.position,
          ]);
        },
      },
    });

  /** Every event in global order, read directly. */
  const history = async (): Promise<StoredEvent[]> => {
    const out: StoredEvent[] = [];
    for await (const e of writerStore.readAll()) out.push(e);
    return out;
  };
  /** Stops the writer; every event it wrote is in the store (none lost on the writer's side). */
  const stopWriting = async (w: { stop(): Promise<number> }): Promise<{ all: StoredEvent[]; last: number }> => {
    const written = await w.stop();
    const all = await history();
    expect(all).toHaveLength(written);
    return { all, last: (all[all.length - 1] as StoredEvent).position };
  };
  const rmRows = async () =>
    (await direct.query(`SELECT event_id, pos FROM "${schema}".rm ORDER BY seq`)).rows as {
      event_id: string;
      pos: string;
    }[];
  const rmCount = async () => Number((await direct.query(`SELECT count(*) AS n FROM "${schema}".rm`)).rows[0].n);
  const checkpoint = async (name: string) =>
    Number(
      (await direct.query(`SELECT position FROM "${schema}".bw_checkpoints WHERE name = $1`, [name])).rows[0]
        ?.position ?? 0,
    );
  /** No client checked out of the proxied pool (nothing leaked by the store). */
  const checkedOut = () => net.checkedOut();

  it('an async projection rides out the outage: every event applied exactly once, checkpoint at the end', async () => {
    const runner = startProjection({ store, projection: rm('outage'), batchSize: 10, pollInterval: 20 });
    cleanups.push(() => runner.close());
    const writer = startWriter(writerStore);
    cleanups.push(() => writer.stop());
    await until(async () => (await rmCount()) >= 20, 5000, 'projection started');
    expect(runner.active).toBe(true);

    await proxy.stop();
    const sawInactive = until(() => !runner.active, OUTAGE_MS, 'runner reports it lost the lock').then(
      () => true,
      () => false,
    );
    await sleep(OUTAGE_MS);
    expect(await sawInactive).toBe(true);
    expect(await state(runner.done)).toBe('pending');
    await proxy.start();

    await sleep(300);
    const { all, last } = await stopWriting(writer);
    await until(async () => (await checkpoint('outage')) === last, 8000, 'checkpoint reaches the last position');
    const rows = await rmRows();
    // Every event exactly once, in global order: nothing lost, nothing applied twice.
    expect(rows.map((r) => r.event_id)).toEqual(all.map((e) => e.id));
    expect(rows.map((r) => Number(r.pos))).toEqual(all.map((e) => e.position));
    expect(runner.active).toBe(true);
    expect(await state(runner.done)).toBe('pending');
    await within(runner.close(), 2000, 'close');
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  }, 15_000);

  it('a batch cut mid-transaction is rolled back and redone on a new connection, applied once', async () => {
    const { promise: gate, resolve: cut } = deferred<void>();
    let blocked = false;
    const p = projection({
      name: 'mid-batch',
      handles: {
        E: async (e, ctx) => {
          const client = ctx.client as pg.PoolClient;
          await client.query(`INSERT INTO "${schema}".rm (event_id, pos) VALUES ($1, $2)`, [e.id, e.position]);
          if ((e.data as { block?: boolean }).block === true && !blocked) {
            blocked = true;
            await gate; // the first time: the connection is cut here, mid-transaction
          }
        },
      },
    });
    const runner = startProjection({ store, projection: p, batchSize: 10, pollInterval: 20 });
    cleanups.push(() => runner.close());
    await writerStore.append('a', [
      { type: 'E', data: {} },
      { type: 'E', data: { block: true } },
      { type: 'E', data: {} },
    ]);
    await until(() => blocked, 5000, 'batch in flight');
    await proxy.stop();
    cut();
    await until(() => !runner.active, 2000, 'runner reports it lost the lock');
    await sleep(300);
    await proxy.start();
    await writerStore.append('b', [{ type: 'E', data: {} }]);
    const all = await history();
    await until(
      async () => (await checkpoint('mid-batch')) === (all[3] as StoredEvent).position,
      5000,
      'caught up after the outage',
    );
    expect((await rmRows()).map((r) => r.event_id)).toEqual(all.map((e) => e.id));
    expect(runner.active).toBe(true);
    expect(await state(runner.done)).toBe('pending');
    await within(runner.close(), 2000, 'close');
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  });

  it("a projection's failed attempts surface through its policy's events, and it recovers", async () => {
    const failures: unknown[] = [];
    // The recipe for outages longer than the default retries ride out: retry forever, capped backoff.
    const policy = retry({ maxRetries: Number.POSITIVE_INFINITY, backoff: constant(50) });
    policy.on('retry', (e) => void failures.push(e.error));
    const runner = startProjection({ store, projection: rm('reported'), batchSize: 10, pollInterval: 20, policy });
    cleanups.push(() => runner.close());
    await writerStore.append('a', [{ type: 'E', data: {} }]);
    await until(async () => (await rmCount()) === 1, 5000, 'first event applied');
    await proxy.stop();
    await writerStore.append('a', [{ type: 'E', data: {} }]);
    await until(() => failures.length >= 3, 3000, 'failures reported');
    expect(runner.active).toBe(false);
    await proxy.start();
    await writerStore.append('a', [{ type: 'E', data: {} }]);
    const all = await history();
    await until(
      async () => (await checkpoint('reported')) === (all[2] as StoredEvent).position,
      5000,
      'caught up after the outage',
    );
    expect((await rmRows()).map((r) => r.event_id)).toEqual(all.map((e) => e.id));
    expect(failures.every((e) => e instanceof Error)).toBe(true);
    expect(await state(runner.done)).toBe('pending');
    await within(runner.close(), 2000, 'close');
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  });

  it('an outage that outlasts the policy stops the runner with a ProjectionError (no crash, no leak)', async () => {
    const noRetry = { execute: (fn: () => unknown) => Promise.resolve().then(fn) } as never;
    const runner = startProjection({
      store,
      projection: rm('gives-up'),
      batchSize: 10,
      pollInterval: 20,
      policy: noRetry,
    });
    cleanups.push(() => runner.close());
    await writerStore.append('a', [{ type: 'E', data: {} }]);
    await until(async () => (await rmCount()) === 1, 5000, 'first event applied');
    await proxy.stop();
    const error = await within(
      runner.done.then(
        () => undefined,
        (e: unknown) => e,
      ),
      3000,
      'runner.done',
    );
    expect(isProjectionError(error)).toBe(true);
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(runner.active).toBe(false);
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  });

  it('a catch-up subscription rides out the outage: every event once, in global order, no gaps', async () => {
    const seen: StoredEvent[] = [];
    const sub = store.subscribe({ handler: (e) => void seen.push(e), batchSize: 10, pollInterval: 20 });
    cleanups.push(() => sub.close());
    const writer = startWriter(writerStore);
    cleanups.push(() => writer.stop());
    await until(() => seen.length >= 20, 5000, 'subscription started');

    await proxy.stop();
    await sleep(OUTAGE_MS);
    expect(await state(sub.done)).toBe('pending');
    await proxy.start();

    await sleep(300);
    const { all, last } = await stopWriting(writer);
    await until(() => sub.position === last, 8000, 'subscription reaches the last position');
    expect(seen.map((e) => e.id)).toEqual(all.map((e) => e.id));
    expect(seen.map((e) => e.position)).toEqual(all.map((e) => e.position));
    expect(await state(sub.done)).toBe('pending');
    await within(sub.close(), 2000, 'close');
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  }, 15_000);

  it('a transaction whose connection is cut rejects (no crash, nothing committed, connection not reused)', async () => {
    const { promise: gate, resolve: cut } = deferred<void>();
    const tx = store.transaction(async (t) => {
      await t.append('tx', [{ type: 'E', data: {} }]);
      await gate; // the connection is cut here, while the transaction is open and idle
      await t.append('tx', [{ type: 'E', data: {} }]);
    });
    await until(async () => checkedOut() === 1, 2000, 'transaction open');
    await sleep(50);
    await proxy.stop();
    cut();
    await expect(within(tx, 2000, 'the cut transaction')).rejects.toThrow();
    await proxy.start();
    expect(await writerStore.version('tx')).toBe(0);
    await store.append('tx', [{ type: 'E', data: {} }]);
    expect(await writerStore.version('tx')).toBe(1);
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  });

  it('close() while the database is unreachable stops a projection and a subscription promptly', async () => {
    const runner = startProjection({ store, projection: rm('closing'), batchSize: 10, pollInterval: 20 });
    cleanups.push(() => runner.close());
    const sub = store.subscribe({ handler: () => undefined, pollInterval: 20 });
    cleanups.push(() => sub.close());
    await writerStore.append('a', [{ type: 'E', data: {} }]);
    await until(async () => (await rmCount()) === 1 && sub.position !== undefined, 5000, 'both running');
    await proxy.stop();
    await sleep(400); // both are now failing and backing off
    const started = Date.now();
    await within(Promise.all([runner.close(), sub.close()]), 1000, 'close during the outage');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await state(runner.done)).toBe('resolved');
    expect(await state(sub.done)).toBe('resolved');
    expect(runner.active).toBe(false);
    expect(checkedOut()).toBe(0);
    // Nothing left behind: the pool ends at once, with every client back.
    await within(proxied.end(), 2000, 'ending the proxied pool');
    expect(proxied.totalCount).toBe(0);
    expect(crashes).toEqual([]);
  });
});
