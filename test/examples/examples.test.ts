// Every program in examples/ runs to completion: each one is started as its own process with tsx,
// as its header tells a reader to (`npx tsx examples/<file>.ts`), and must exit 0 without an
// unhandled rejection or a listener-leak warning. The demo (examples/demo/) is `npm run demo`.
// An example that needs PostgreSQL, Redis or NATS (it imports `pg`, `ioredis` or `@nats-io/…`) is
// skipped when that server does not answer, and fails the run under CI=true like the other server tests.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { HAS, type Servers } from '../support/servers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = `${ROOT}node_modules/.bin/tsx`;
const LIMIT = 30_000;

/** Files of examples/ that are modules other code imports, not programs (no run line, no main). */
const MODULES = ['in-flight-policy.ts'];

const files = readdirSync(`${ROOT}examples`).filter((f) => f.endsWith('.ts'));
const programs = files.filter((f) => !MODULES.includes(f));
const source = (file: string): string => readFileSync(`${ROOT}examples/${file}`, 'utf8');

/** The servers an example talks to, from the clients it imports. */
function needs(file: string): (keyof Servers)[] {
  const text = source(file);
  const imports = (pkg: RegExp): boolean => new RegExp(`from '${pkg.source}'`).test(text);
  return [
    ...(imports(/pg/) ? (['postgres'] as const) : []),
    ...(imports(/ioredis/) ? (['redis'] as const) : []),
    ...(imports(/@nats-io\/[\w-]+/) ? (['nats'] as const) : []),
  ];
}

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs one example as `tsx examples/<file>` and settles with how it ended (never rejects). */
function run(file: string): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      TSX,
      [`examples/${file}`],
      { cwd: ROOT, timeout: LIMIT, env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 8 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, signal: error?.signal ?? null, stdout, stderr, ms: Date.now() - started });
      },
    );
  });
}

describe('examples/', () => {
  test('finds the programs; the modules among them are what MODULES says', () => {
    expect(programs.length).toBeGreaterThan(15);
    for (const m of MODULES) {
      expect(files, `examples/${m} is gone: drop it from MODULES`).toContain(m);
      expect(source(m), `examples/${m} is run like a program`).not.toMatch(/npx tsx examples\//);
    }
    // A program tells its reader how to run it: the header names its own command.
    const unnamed = programs.filter((f) => !source(f).includes(`npx tsx examples/${f}`));
    expect(unnamed, 'no `npx tsx examples/<file>` line in the header').toEqual([]);
  });

  test('every program is named by a guide (docs/*.md), where its pattern is explained', () => {
    const docs = readdirSync(`${ROOT}docs`)
      .filter((f) => f.endsWith('.md'))
      .map((f) => readFileSync(`${ROOT}docs/${f}`, 'utf8'))
      .join('\n');
    expect(programs.filter((f) => !docs.includes(`examples/${f}`))).toEqual([]);
  });

  test('the server check reads the imports', () => {
    expect(needs('breaker-fleet-redis.ts')).toEqual(['redis']);
    expect(needs('event-store-transaction.ts')).toEqual(['postgres']);
    expect(needs('nats-tool-results.ts')).toEqual(['nats']);
    expect(needs('retry-llm-429.ts')).toEqual([]);
  });

  // Each example is its own process: they run side by side (up to vitest's maxConcurrency, 5).
  for (const file of programs) {
    const missing = needs(file).filter((s) => !HAS[s]);
    const name = missing.length > 0 ? `${file} (needs ${missing.join(', ')})` : file;
    test(name, { concurrent: true, skip: missing.length > 0, timeout: LIMIT + 10_000 }, async () => {
      const r = await run(file);
      const output = `--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
      expect(r.signal, `killed after ${r.ms} ms (limit ${LIMIT} ms)\n${output}`).toBeNull();
      expect(r.code, `exit code\n${output}`).toBe(0);
      expect(r.stderr, 'an unhandled rejection or error').not.toMatch(/Unhandled/i);
      expect(r.stderr, 'a listener leak').not.toMatch(/MaxListenersExceededWarning/);
      expect(r.stdout.trim(), 'an example prints what happens').not.toBe('');
    });
  }
});
