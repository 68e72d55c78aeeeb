import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projection, rebuild, startProjection } from '../../src/event-store/index.js';
import { sqliteEventStore } from '../../src/event-store/sqlite/index.js';
import { buildChild } from './build-child.js';

const dir = mkdtempSync(join(tmpdir(), 'bw-es-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  child.dispose();
});
let child: { file: string; env: NodeJS.ProcessEnv; dispose: () => void };
beforeAll(async () => {
  child = await buildChild('test/event-store/fixtures/sqlite-appender-child.ts');
});

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [child.file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: child.env });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += String(d)));
    c.stderr.on('data', (d) => (err += String(d)));
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('sqlite across processes and connections', () => {
  it('8 concurrent appender processes with expected versions: one wins each version, no gaps or duplicates', async () => {
    const file = join(dir, 'hot.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    const store = sqliteEventStore(db);
    const outs = await Promise.all(Array.from({ length: 8 }, (_, w) => run([file, String(w), '6'])));
    expect(outs.every((o) => o.includes('conflicts'))).toBe(true);
    const events = await collect(store.read('hot'));
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: 48 }, (_, i) => i + 1));
    const pairs = new Set(events.map((e) => JSON.stringify(e.data)));
    expect(pairs.size).toBe(48);
    expect(await store.version('hot')).toBe(48);
    db.close();
  }, 60_000);

  it('a subscription on one connection sees appends made through another', async () => {
    const file = join(dir, 'sub.db');
    const a = sqliteEventStore(new Database(file));
    const b = sqliteEventStore(new Database(file));
    const seen: unknown[] = [];
    const sub = a.subscribe({ handler: (e) => void seen.push(e.data), pollInterval: 5 });
    await b.append('s', [{ type: 'E', data: 1 }]);
    const end = Date.now() + 5000;
    while (seen.length < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    await sub.close();
    expect(seen).toEqual([1]);
    a.client.close();
    b.client.close();
  });

  it('async projection: read model and checkpoint in one transaction, one lease holder, resumable', async () => {
    const file = join(dir, 'proj.db');
    const db1 = new Database(file);
    const db2 = new Database(file);
    db1.pragma('busy_timeout = 5000');
    db2.pragma('busy_timeout = 5000');
    const s1 = sqliteEventStore(db1);
    const s2 = sqliteEventStore(db2);
    db1.exec('CREATE TABLE rm (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, n INTEGER NOT NULL CHECK (n <> 13))');
    let failOn13 = true;
    const p = projection({
      name: 'rm',
      handles: {
        E: (e, ctx) => {
          const n = (e.data as { n: number }).n;
          (ctx.client as Database.Database)
            .prepare('INSERT INTO rm (event_id, n) VALUES (?, ?)')
            .run(e.id, failOn13 ? n : n === 13 ? 1013 : n);
        },
      },
      truncate: (ctx) => void (ctx.client as Database.Database).exec('DELETE FROM rm'),
    });
    await s1.append(
      'a',
      Array.from({ length: 30 }, (_, i) => ({ type: 'E', data: { n: i } })),
    );
    const noRetry = { execute: (fn: () => unknown) => Promise.resolve().then(fn) } as never;
    const r1 = startProjection({ store: s1, projection: p, batchSize: 10, pollInterval: 5, policy: noRetry });
    const r2 = startProjection({ store: s2, projection: p, batchSize: 10, pollInterval: 5, leaseMs: 60_000 });
    // The batch holding n = 13 fails: its writes roll back with the checkpoint, the earlier batch stays.
    await expect(r1.done).rejects.toThrow(/kept failing/);
    expect((db1.prepare('SELECT count(*) AS c FROM rm').get() as { c: number }).c).toBe(10);
    failOn13 = false;
    await r2.caughtUp();
    await new Promise((r) => setTimeout(r, 20));
    expect(r2.active).toBe(true);
    const rows = db1.prepare('SELECT event_id, n FROM rm ORDER BY seq').all();
    expect(rows).toHaveLength(30);
    await r2.close();
    expect(await rebuild({ store: s1, projection: p })).toBe(30);
    expect(db1.prepare('SELECT event_id, n FROM rm ORDER BY seq').all()).toEqual(rows);
    db1.close();
    db2.close();
  });
});
