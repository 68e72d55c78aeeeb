// The test that matters: 3 worker processes share one durable JetStream consumer, feeding an
// aggregator backed by PostgreSQL and an idempotent side effect (a PostgreSQL row). Mid-run one
// worker is kill -9ed while it has messages in flight, and, later, every worker's NATS connection is
// cut through a TCP proxy and comes back. At the end: every message's effect happened exactly once,
// every group completed exactly once (by size, or by timeout for groups that lost a poison part),
// nothing is left pending or unacked on the consumer, and the dead-letter stream holds exactly the
// poison messages, each for the reason the test expects.
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { AckPolicy } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish } from '../../../src/messaging/nats/index.js';
import { tcpProxy } from '../../idempotency/support/proxy.js';
import { HAS, NATS, PG_URL } from '../../support/servers.js';
import { bundleWorker } from '../../support/worker-bundle.js';
import { type Bench, sleep, streamBench, until } from './support.js';

interface Line {
  readonly w: number;
  readonly t: string;
  readonly id?: string;
  readonly reason?: string;
  readonly op?: string;
  readonly error?: string;
}

interface Worker {
  readonly child: ChildProcess;
  readonly lines: Line[];
  readonly exit: Promise<number | null>;
}

const SRC = new URL('./fixtures/fleet-worker.ts', import.meta.url).pathname;
const CACHE = new URL('../../../node_modules/.cache/breakwater-nats/', import.meta.url).pathname;
const BUNDLE = `${CACHE}fleet-worker-${process.pid}.mjs`;

const GROUPS = 40;
const SIZE = 5;
const run = Math.random().toString(36).slice(2, 8);
const ns = `bw_fleet_${run}`;

let pool: pg.Pool | undefined;
let bench: Bench | undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  await bundleWorker(SRC, BUNDLE, ['pg', '@nats-io/*']);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (pool !== undefined) {
    for (const t of ['effects', 'done', 'idem', 'agg']) await pool.query(`DROP TABLE IF EXISTS "${ns}_${t}"`);
    await pool.end();
  }
  await bench?.close();
  rmSync(BUNDLE, { force: true });
});

async function stored(b: Bench, stream: string, seq: number) {
  const m = await b.jsm.streams.getMessage(stream, { seq });
  if (m === null) throw new Error(`no message ${seq} in ${stream}`);
  return m;
}

function start(config: Record<string, unknown>): Worker {
  const child = spawn(process.execPath, [BUNDLE, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const lines: Line[] = [];
  let buf = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let i = buf.indexOf('\n');
    while (i >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)) as Line);
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exit };
}

describe.skipIf(!HAS.nats || !HAS.postgres)('a fleet of JetStream workers (kill -9, connection cut)', () => {
  it('every effect once, every group once, nothing unacked but the dead letters, each for its reason', async () => {
    const db = new pg.Pool({ connectionString: PG_URL, max: 2 });
    pool = db;
    await db.query(`CREATE TABLE "${ns}_effects" (id TEXT NOT NULL, worker INT NOT NULL)`);
    await db.query(`CREATE TABLE "${ns}_done" (task TEXT NOT NULL, generation INT, by TEXT, ids TEXT, worker INT)`);
    const { postgresIdempotencyStore } = await import('../../../src/idempotency/postgres/index.js');
    const { postgresAggregatorStore } = await import('../../../src/messaging/postgres/index.js');
    await postgresIdempotencyStore(db, { table: `${ns}_idem` }).migrate();
    await postgresAggregatorStore(db, { table: `${ns}_agg` }).migrate();

    const b = await streamBench();
    bench = b;
    await b.jsm.consumers.add(b.stream, {
      durable_name: 'fleet',
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(1500), // a killed worker's messages come back after 1.5 s
      max_deliver: 10, // headroom above the workers' maxDeliver (4)
    });

    // 40 groups × 5 parts; in 5 groups one part is poison instead, so those groups can only
    // complete by timeout with 4 parts. Plus 2 payloads that do not decode and 1 part whose tool
    // always fails (dead-lettered after max_deliver).
    const good: { id: string; task: string }[] = [];
    const poisonIds: string[] = [];
    const bodies: { id: string; data: unknown }[] = [];
    for (let g = 0; g < GROUPS; g++) {
      for (let n = 0; n < SIZE; n++) {
        const id = `t${g}-p${n}`;
        const poison = g % 8 === 0 && n === 2;
        if (poison) poisonIds.push(id);
        else good.push({ id, task: `t${g}` });
        bodies.push({ id, data: { id, task: `t${g}`, n, ...(poison ? { poison: true } : {}) } });
      }
    }
    bodies.splice(37, 0, { id: 'garbled-1', data: 'not json {' });
    bodies.splice(121, 0, { id: 'garbled-2', data: '\u0000\u0001' });
    bodies.splice(80, 0, { id: 'flaky-1', data: { id: 'flaky-1', task: 'flaky', n: 0, flaky: true } });
    for (const m of bodies) await publish(b.js, `${b.subject}.parts`, m.data, { msgId: m.id });
    // A retried publish of the whole batch is deduped by Nats-Msg-Id.
    for (const m of bodies.slice(0, 20))
      expect((await publish(b.js, `${b.subject}.parts`, m.data, { msgId: m.id })).duplicate).toBe(true);

    const proxy = await tcpProxy(NATS.port, NATS.host);
    try {
      const config = (worker: number, delay: number) => ({
        worker,
        natsPort: proxy.port,
        pgUrl: PG_URL,
        stream: b.stream,
        consumer: 'fleet',
        dlq: b.dlq,
        ns,
        groupSize: SIZE,
        delay,
        concurrency: 3,
      });
      const victim = start(config(0, 40));
      const workers = [start(config(1, 25)), start(config(2, 25))];
      // kill -9 the victim mid-batch: once it has handled some messages and has more in flight.
      await until(() => victim.lines.filter((l) => l.t === 'handled').length >= 10, 20_000, 'victim handling');
      await until(
        () => {
          const s = victim.lines.filter((l) => l.t === 'start').length;
          const h = victim.lines.filter((l) => l.t === 'handled').length;
          return s > h;
        },
        5000,
        'victim with messages in flight',
      );
      victim.child.kill('SIGKILL');
      expect(await victim.exit).toBe(null);
      const victimHandled = victim.lines.filter((l) => l.t === 'handled').length;
      const victimStarted = new Set(victim.lines.filter((l) => l.t === 'start').map((l) => l.id));
      expect(victimHandled).toBeLessThan(good.length);

      // Later, cut every NATS connection for a moment (acks in flight are lost, pulls fail).
      const effects = async () => Number((await db.query(`SELECT count(*) AS n FROM "${ns}_effects"`)).rows[0].n);
      await until(async () => (await effects()) >= good.length / 2, 30_000, 'half of the effects');
      await proxy.stop();
      await sleep(800);
      await proxy.start();

      // Run to the end: every effect, every group, dead letters, nothing pending or unacked.
      await until(
        async () => {
          const [e, d, ci, dl] = await Promise.all([
            effects(),
            db.query(`SELECT count(*) AS n FROM "${ns}_done"`),
            b.jsm.consumers.info(b.stream, 'fleet'),
            b.jsm.streams.info(`${b.stream}_DLQ`),
          ]);
          return (
            e >= good.length &&
            Number(d.rows[0].n) >= GROUPS &&
            ci.num_pending === 0 &&
            ci.num_ack_pending === 0 &&
            dl.state.messages >= poisonIds.length + 3
          );
        },
        45_000,
        'the fleet to finish',
      );
      await sleep(300); // anything still to happen (a duplicate) would show now
      for (const w of workers) w.child.kill('SIGTERM');
      expect(await Promise.all(workers.map((w) => w.exit))).toEqual([0, 0]);
      const lines = [...victim.lines, ...workers.flatMap((w) => w.lines)];

      // 1. Every message's effect happened exactly once (no unique index: a duplicate would show).
      const rows = (await db.query(`SELECT id, count(*)::int AS n FROM "${ns}_effects" GROUP BY id`)).rows as {
        id: string;
        n: number;
      }[];
      expect(rows.filter((r) => r.n !== 1)).toEqual([]);
      expect(rows.map((r) => r.id).sort()).toEqual(good.map((g) => g.id).sort());

      // 2. Every group completed exactly once, with exactly its good parts, saying why.
      const done = (await db.query(`SELECT task, generation, by, ids FROM "${ns}_done"`)).rows as {
        task: string;
        generation: number;
        by: string;
        ids: string;
      }[];
      expect(done).toHaveLength(GROUPS);
      for (let g = 0; g < GROUPS; g++) {
        const mine = done.filter((d) => d.task === `t${g}`);
        expect(mine, `t${g}`).toHaveLength(1);
        const want = good
          .filter((x) => x.task === `t${g}`)
          .map((x) => x.id)
          .sort();
        expect(JSON.parse(mine[0]?.ids as string), `t${g}`).toEqual(want);
        expect(mine[0]?.by, `t${g}`).toBe(g % 8 === 0 ? 'timeout' : 'size');
        expect(mine[0]?.generation).toBe(1);
      }

      // 3. Nothing left unacked or pending on the consumer…
      const ci = await b.jsm.consumers.info(b.stream, 'fleet');
      expect([ci.num_pending, ci.num_ack_pending]).toEqual([0, 0]);
      // …and the crash and the cut did cause redeliveries (the faults were real).
      expect(ci.num_redelivered + ci.delivered.consumer_seq - ci.delivered.stream_seq).toBeGreaterThan(0);
      expect(victimStarted.size).toBeGreaterThan(victimHandled);
      for (const w of workers)
        expect(
          w.lines.some((l) => l.t === 'reconnect'),
          `worker ${w.lines[0]?.w}`,
        ).toBe(true);

      // 4. …except the dead letters: exactly the poison messages, each for its reason.
      const dlq = await b.jsm.streams.info(`${b.stream}_DLQ`);
      expect(dlq.state.messages).toBe(poisonIds.length + 3);
      const parked = new Map<string, { reason: string; code: string; count: string }>();
      for (let seq = 1; seq <= dlq.state.messages; seq++) {
        const m = await stored(b, `${b.stream}_DLQ`, seq);
        const original = await stored(b, b.stream, Number(m.header.get('Breakwater-Stream-Seq')));
        parked.set(original.header.get('Nats-Msg-Id'), {
          reason: m.header.get('Breakwater-Reason'),
          code: m.header.get('Breakwater-Error-Code'),
          count: m.header.get('Breakwater-Delivery-Count'),
        });
        expect(m.data).toEqual(original.data); // the original payload, as it was
      }
      for (const id of poisonIds)
        expect(parked.get(id), id).toMatchObject({ reason: 'terminal', code: 'ERR_TERMINAL_MESSAGE' });
      for (const id of ['garbled-1', 'garbled-2']) {
        expect(parked.get(id), id).toMatchObject({ reason: 'terminal', code: 'ERR_MESSAGE_DECODE' });
      }
      // The last delivery is the worker's `maxDeliver` (4; one more if the cut hit its dead-lettering).
      expect(parked.get('flaky-1')).toMatchObject({ reason: 'max-deliver', code: 'Error' });
      expect(Number(parked.get('flaky-1')?.count)).toBeGreaterThanOrEqual(4);
      expect(lines.filter((l) => l.t === 'agg-error')).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});
