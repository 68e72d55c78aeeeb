// Event store benchmark: append throughput (batches of 1 and 100) and readAll throughput on
// PostgreSQL and SQLite, beside Emmett's PostgreSQL store on the same database in the same run.
// Run: npx tsx bench/event-store.ts   (PG_URL overrides postgres://postgres@127.0.0.1:5432/test)
// Bounded: every case runs for a fixed number of operations; the whole run takes well under 90 s.
import { dumbo } from '@event-driven-io/dumbo';
import { getPostgreSQLEventStore, readMessagesBatch } from '@event-driven-io/emmett-postgresql';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { EventStore } from '../src/event-store/index.js';
import { postgresEventStore } from '../src/event-store/postgres/index.js';
import { sqliteEventStore } from '../src/event-store/sqlite/index.js';

const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CONCURRENCY = 4;
const SINGLE_APPENDS = 400;
const BATCH_APPENDS = 24;
const READ_EVENTS = 2400;
const run = Math.random().toString(36).slice(2, 8);
const payload = (i: number) => ({
  orderId: `o-${i}`,
  amount: i * 1.5,
  note: 'benchmark "payload" ✓',
  items: [1, 2, 3],
});

type Appender = (stream: string, events: { type: string; data: unknown }[]) => Promise<unknown>;

/** Runs `total` appends of `size` events, `CONCURRENCY` at a time on distinct streams; events per second. */
async function appendRate(append: Appender, prefix: string, total: number, size: number): Promise<number> {
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let i = 0; i < total / CONCURRENCY; i++) {
        const events = Array.from({ length: size }, (_, j) => ({ type: 'OrderPlaced', data: payload(i * size + j) }));
        await append(`${prefix}-${w}-${i % 10}`, events);
      }
    }),
  );
  return (total * size * 1000) / (performance.now() - start);
}

async function readRate(read: () => Promise<number>): Promise<number> {
  const start = performance.now();
  const n = await read();
  if (n < READ_EVENTS) throw new Error(`read only ${n} events`);
  return (n * 1000) / (performance.now() - start);
}

async function ourReadAll(store: EventStore, after: number): Promise<number> {
  let n = 0;
  for await (const _ of store.readAll({ after, limit: READ_EVENTS })) n++;
  return n;
}

async function main(): Promise<void> {
  const deadline = setTimeout(() => {
    console.error('benchmark exceeded 90 s; aborting');
    process.exit(2);
  }, 90_000);
  deadline.unref();
  const pool = new pg.Pool({ connectionString: PG_URL, max: CONCURRENCY + 2 });
  const schema = `bw_es_bench_${run}`;
  const ours = postgresEventStore(pool, { schema });
  await ours.migrate();
  const emmett = getPostgreSQLEventStore(PG_URL);
  await emmett.schema.migrate();
  const emmettPool = dumbo({ connectionString: PG_URL });
  const db = new Database(':memory:');
  db.pragma('journal_mode = WAL');
  const lite = sqliteEventStore(db);

  const bw: Appender = (s, e) => ours.append(s, e);
  const em: Appender = (s, e) => emmett.appendToStream(s, e as never);
  const sq: Appender = (s, e) => lite.append(s, e);
  // Warm up connections, prepared statements and JIT.
  await appendRate(bw, `warm-${run}`, 40, 1);
  await appendRate(em, `warm-${run}`, 40, 1);
  await appendRate(sq, `warm-${run}`, 40, 1);

  const best = { bw1: 0, em1: 0, sq1: 0, bw100: 0, em100: 0, sq100: 0, bwRead: 0, emRead: 0, sqRead: 0 };
  for (let round = 0; round < 2; round++) {
    // Interleave the libraries so drift on a shared machine hits both alike.
    best.em1 = Math.max(best.em1, await appendRate(em, `bench-${run}-e${round}`, SINGLE_APPENDS, 1));
    best.bw1 = Math.max(best.bw1, await appendRate(bw, `bench-${run}-b${round}`, SINGLE_APPENDS, 1));
    best.sq1 = Math.max(best.sq1, await appendRate(sq, `bench-${run}-s${round}`, SINGLE_APPENDS, 1));
    best.bw100 = Math.max(best.bw100, await appendRate(bw, `bench-${run}-bb${round}`, BATCH_APPENDS, 100));
    best.em100 = Math.max(best.em100, await appendRate(em, `bench-${run}-eb${round}`, BATCH_APPENDS, 100));
    best.sq100 = Math.max(best.sq100, await appendRate(sq, `bench-${run}-sb${round}`, BATCH_APPENDS, 100));
  }
  for (let round = 0; round < 3; round++) {
    best.bwRead = Math.max(best.bwRead, await readRate(() => ourReadAll(ours, 0)));
    best.emRead = Math.max(
      best.emRead,
      await readRate(async () => {
        let after = 0n;
        let n = 0;
        while (n < READ_EVENTS) {
          const r = await readMessagesBatch(emmettPool.execute, { after, batchSize: 500 });
          n += r.messages.length;
          after = r.currentGlobalPosition;
          if (!r.areMessagesLeft) break;
        }
        return n;
      }),
    );
    best.sqRead = Math.max(best.sqRead, await readRate(() => ourReadAll(lite, 0)));
  }

  const f = (x: number) => Math.round(x).toLocaleString('en-US');
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  console.log(`\n### Event store throughput (events/s, best of 2 rounds, ${CONCURRENCY} concurrent writers)\n`);
  console.log('| case | breakwater PG | Emmett PG | breakwater / Emmett | breakwater SQLite |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(
    `| append, batch of 1 | ${f(best.bw1)} | ${f(best.em1)} | ${ratio(best.bw1, best.em1)} | ${f(best.sq1)} |`,
  );
  console.log(
    `| append, batch of 100 | ${f(best.bw100)} | ${f(best.em100)} | ${ratio(best.bw100, best.em100)} | ${f(best.sq100)} |`,
  );
  console.log(
    `| readAll | ${f(best.bwRead)} | ${f(best.emRead)} | ${ratio(best.bwRead, best.emRead)} | ${f(best.sqRead)} |`,
  );
  console.log('\nEmmett 0.42 has no SQLite store on better-sqlite3, so SQLite has no Emmett column.');

  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.query(`DELETE FROM emt_messages WHERE stream_id LIKE $1 OR stream_id LIKE $2`, [
    `bench-${run}-%`,
    `warm-${run}-%`,
  ]);
  await pool.query(`DELETE FROM emt_streams WHERE stream_id LIKE $1 OR stream_id LIKE $2`, [
    `bench-${run}-%`,
    `warm-${run}-%`,
  ]);
  await emmett.close();
  await emmettPool.close();
  await pool.end();
  db.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
