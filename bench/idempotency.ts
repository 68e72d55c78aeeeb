// Idempotency overhead per store and claim+complete throughput on Redis and PostgreSQL.
// Run: npx tsx bench/idempotency.ts   (prints a markdown table; about 20–40 s)
// Redis / PostgreSQL rows are skipped when the server does not answer (REDIS_URL, PG_URL).
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type IdempotencyStore, idempotent, memoryIdempotencyStore } from '../src/idempotency/index.js';
import { postgresIdempotencyStore } from '../src/idempotency/postgres/index.js';
import { redisIdempotencyStore } from '../src/idempotency/redis/index.js';
import { sqliteIdempotencyStore } from '../src/idempotency/sqlite/index.js';

const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CASE_MS = Number(process.env.BENCH_CASE_MS ?? 700);
const THROUGHPUT_MS = Number(process.env.BENCH_THROUGHPUT_MS ?? 2000);
const run = Math.random().toString(36).slice(2, 8);
let seq = 0;
const fresh = () => `bench:${run}:${seq++}`;
const payload = { tool: 'search', args: { q: 'breakwater', page: 1 } };
const work = async () => ({ ok: true, items: [1, 2, 3] });

/** Mean µs per sequential call of `body`, over about `ms` of wall time (after a short warm-up). */
async function perCall(body: () => Promise<unknown>, ms = CASE_MS): Promise<number> {
  for (let i = 0; i < 20; i++) await body();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 10; i++) await body();
    n += 10;
  }
  return ((performance.now() - t0) * 1000) / n;
}

interface Row {
  store: string;
  bare: number;
  first: number;
  replay: number;
  duplicate: number;
}

async function overhead(name: string, store: IdempotencyStore): Promise<Row> {
  const policy = idempotent({ store, ttl: 120_000 });
  const bare = await perCall(() => work());
  const first = await perCall(() => policy.execute(work, { key: fresh(), data: payload }));
  const replayKey = fresh();
  await policy.execute(work, { key: replayKey, data: payload });
  const replay = await perCall(() => policy.execute(work, { key: replayKey, data: payload }));
  // 1 leader + 15 in-process duplicates; the duplicates' share after subtracting one first call.
  const DUPS = 15;
  const group = await perCall(() => {
    const key = fresh();
    return Promise.all(Array.from({ length: DUPS + 1 }, () => policy.execute(work, { key, data: payload })));
  });
  const duplicate = Math.max(0, (group - first) / DUPS);
  return { store: name, bare, first: first - bare, replay: replay - bare, duplicate };
}

/** claim + complete operations per second with `concurrency` callers, straight on the store. */
async function throughput(store: IdempotencyStore, concurrency = 32, ms = THROUGHPUT_MS): Promise<number> {
  let done = 0;
  const end = performance.now() + ms;
  const lane = async () => {
    while (performance.now() < end) {
      const key = fresh();
      const now = Date.now();
      const c = await store.claim(key, { fingerprint: undefined, lease: 30_000, now });
      if (c.claimed) await store.complete(key, c.token, '{"ok":true,"value":1}', 120_000, now);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, lane));
  return (done * 1000) / (performance.now() - t0);
}

async function reachable(connect: () => Promise<unknown>): Promise<boolean> {
  try {
    await Promise.race([connect(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 1500))]);
    return true;
  } catch {
    return false;
  }
}

const rows: Row[] = [];
const tput: string[] = [];
const fmt = (us: number) => us.toFixed(us < 10 ? 2 : 1);

rows.push(await overhead('memory', memoryIdempotencyStore({ maxEntries: 1_000_000 })));
const sqlite = new Database(':memory:');
rows.push(await overhead('sqlite (:memory:)', sqliteIdempotencyStore(sqlite)));
sqlite.close();

const redis = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
redis.on('error', () => {});
if (await reachable(() => redis.connect())) {
  const prefix = `bw-idem-bench:${run}:`;
  const store = redisIdempotencyStore(redis, { prefix });
  rows.push(await overhead('redis', store));
  tput.push(`| redis | ${Math.round(await throughput(store)).toLocaleString('en')} |`);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
} else {
  redis.disconnect();
  tput.push('| redis | (not reachable) |');
}

const pool = new pg.Pool({ connectionString: PG_URL, max: 8, connectionTimeoutMillis: 1500 });
pool.on('error', () => {});
if (await reachable(() => pool.query('SELECT 1'))) {
  const table = `idem_bench_${run}`;
  const store = postgresIdempotencyStore(pool, { table });
  await store.migrate();
  try {
    rows.push(await overhead('postgres', store));
    tput.push(`| postgres | ${Math.round(await throughput(store)).toLocaleString('en')} |`);
  } finally {
    await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  }
} else {
  tput.push('| postgres | (not reachable) |');
}
await pool.end();

console.log(`\n### idempotent() overhead per call (µs, wall time, minus a bare \`await fn()\`)\n`);
console.log('| store | bare call | first call (claim + complete) | replay | in-process duplicate |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.store} | ${fmt(r.bare)} | ${fmt(r.first)} | ${fmt(r.replay)} | ${fmt(r.duplicate)} |`);
}
console.log(`\n### claim + complete throughput (32 concurrent callers, ${THROUGHPUT_MS} ms)\n`);
console.log('| store | ops/s |');
console.log('|---|---:|');
for (const t of tput) console.log(t);
console.log(`\nNode ${process.version}; numbers from a shared machine are indicative only.`);
