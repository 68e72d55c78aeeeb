// Crash tests with real processes: a child runs sagas against the SQLite / PostgreSQL event store
// and is kill -9'ed while each saga is frozen at a different crash point (after a transition is
// durable, or inside a step after its effect); two processes then resume concurrently. The fake
// external service dedupes by ctx.key, so each effect must exist exactly once, the end state must
// equal an uncrashed run, and no step may run twice except the one interrupted mid-way.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { HAS, PG_URL } from '../support/servers.js';
import type { RunnerConfig, Scenario, Target } from './fixtures/runner.js';

const RUNNER = join(import.meta.dirname, 'fixtures', 'runner.ts');

const SCENARIOS: (Scenario & { readonly rerun?: string })[] = [
  { id: 'base-happy', kind: 'happy' },
  { id: 'base-fail', kind: 'fail' },
  { id: 'h-claimed', kind: 'happy', crash: { after: 'claimed' } },
  { id: 'h-started-a', kind: 'happy', crash: { after: 'step-started', step: 'a' } },
  { id: 'h-inside-a', kind: 'happy', crash: { inside: 'a' } },
  { id: 'h-done-a', kind: 'happy', crash: { after: 'step-succeeded', step: 'a' } },
  { id: 'h-inside-c', kind: 'happy', crash: { inside: 'c' } },
  // c runs beside b: its outcome is not recorded once b's append froze, so c is re-run.
  { id: 'h-done-b', kind: 'happy', crash: { after: 'step-succeeded', step: 'b' }, rerun: 'c' },
  { id: 'h-started-d', kind: 'happy', crash: { after: 'step-started', step: 'd' } },
  { id: 'h-done-e', kind: 'happy', crash: { after: 'step-succeeded', step: 'e' } },
  { id: 'f-failed-d', kind: 'fail', crash: { after: 'step-failed', step: 'd' } },
  { id: 'f-compensating', kind: 'fail', crash: { after: 'compensating' } },
  { id: 'f-undo-b', kind: 'fail', crash: { after: 'step-compensating', step: 'b' } },
  { id: 'f-undone-c', kind: 'fail', crash: { after: 'step-compensated', step: 'c' } },
  { id: 'f-inside-undo-a', kind: 'fail', crash: { undoInside: 'a' } },
];

function start(config: RunnerConfig): { child: ChildProcess; line: (prefix: string) => Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', RUNNER, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: { prefix: string; resolve: (l: string) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const l = out.split('\n').find((x) => x.startsWith(w.prefix));
      if (l !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  };
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    check();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const line = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      waiters.push({ prefix, resolve });
      check();
      child.once('exit', (code, signal) => {
        setTimeout(() => reject(new Error(`runner exited (${code ?? signal}) before ${prefix}: ${err || out}`)), 10);
      });
    });
  return { child, line };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((r) =>
    child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r()),
  );
}

const expectedEffects = (kind: Scenario['kind']): string[] =>
  kind === 'happy' ? ['a', 'b', 'c', 'd', 'e'] : ['a', 'a:undo', 'b', 'b:undo', 'c', 'c:undo'];

async function crashAndResume(targets: readonly Target[]): Promise<void> {
  const base = { targets, lease: 500, delayMs: 10 };
  const crash = start({ ...base, role: 'crash', scenarios: SCENARIOS });
  await crash.line('FROZEN');
  crash.child.kill('SIGKILL');
  await exited(crash.child);
  expect(crash.child.signalCode).toBe('SIGKILL');

  // Two processes resume at once, racing for the same sagas.
  const r1 = start({ ...base, role: 'resume', scenarios: SCENARIOS });
  const r2 = start({ ...base, role: 'resume', scenarios: SCENARIOS });
  const [l1, l2] = await Promise.all([r1.line('DONE '), r2.line('DONE ')]);
  await Promise.all([exited(r1.child), exited(r2.child)]);
  for (const l of [l1, l2]) {
    const perTarget = JSON.parse(l.slice(5)) as { id: string; status: string }[][];
    expect(perTarget.length).toBe(targets.length);
    for (const states of perTarget) {
      const byId = new Map(states.map((s) => [s.id, s.status]));
      for (const s of SCENARIOS) {
        expect([s.id, byId.get(s.id)]).toEqual([s.id, s.kind === 'happy' ? 'completed' : 'compensated']);
      }
    }
  }
  for (const target of targets) checkService(target);
}

function checkService(target: Target): void {
  const service = new Database(target.serviceDb, { readonly: true });
  const effects = service.prepare('SELECT key FROM effects').all() as { key: string }[];
  const calls = service.prepare('SELECT key, count(*) AS n FROM calls GROUP BY key').all() as {
    key: string;
    n: number;
  }[];
  service.close();
  for (const s of SCENARIOS) {
    const mine = effects
      .map((e) => e.key)
      .filter((k) => k.startsWith(`${s.id}:`))
      .map((k) => k.slice(s.id.length + 1))
      .sort();
    // The same end state as an uncrashed run, each effect once.
    expect([target.store, s.id, mine]).toEqual([target.store, s.id, expectedEffects(s.kind)]);
    // No step (or compensation) ran twice, except the one the crash interrupted mid-way.
    const interrupted =
      s.crash !== undefined && 'inside' in s.crash
        ? `${s.id}:${s.crash.inside}`
        : s.crash !== undefined && 'undoInside' in s.crash
          ? `${s.id}:${s.crash.undoInside}:undo`
          : s.rerun !== undefined
            ? `${s.id}:${s.rerun}`
            : undefined;
    for (const c of calls.filter((x) => x.key.startsWith(`${s.id}:`))) {
      expect([target.store, c.key, c.n]).toEqual([target.store, c.key, c.key === interrupted ? 2 : 1]);
    }
  }
}

const dir = mkdtempSync(join(tmpdir(), 'bw-saga-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const schema = `bw_saga_crash_${process.pid}_${Math.floor(Math.random() * 1e6)}`;

describe('saga crash recovery with real processes', () => {
  afterAll(async () => {
    if (!HAS.postgres) return;
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });

  it(`kill -9 at every step boundary and inside steps, two concurrent resumers (SQLite${HAS.postgres ? ' and PostgreSQL' : ''})`, async () => {
    const targets: Target[] = [
      { store: 'sqlite', eventsDb: join(dir, 'events.db'), serviceDb: join(dir, 'service-sqlite.db') },
    ];
    if (HAS.postgres) targets.push({ store: 'postgres', pgUrl: PG_URL, schema, serviceDb: join(dir, 'service-pg.db') });
    await crashAndResume(targets);
  }, 40_000);
});
