/**
 * `npm run test:runtimes`: runs the portable suite (test/runtimes/portable/*.ts, every file picked
 * up by a glob) in every runtime users run — this machine's Node, the Node versions, Bun and Deno
 * pinned in test/runtimes/runtimes.json, and headless Chromium — and prints one line per runtime:
 * `node 24.22.3: 57 passed, 0 failed`.
 *
 * The suite is bundled once per platform with esbuild against the built `dist/` (when it is at
 * least as new as `src/`, as after `npm run build`; else straight from `src/`, which the header
 * says). The server-side bundle is built for esbuild's `neutral` platform and the page bundle for
 * `browser`, so a Node built-in imported anywhere in the library fails the build, and a Node global
 * used anywhere fails the run in the browser (and in Deno, which has no `process` or `Buffer`
 * global by default in a plain module).
 *
 * A runtime that cannot be installed is skipped with the reason locally, and is a failure under
 * `CI=true`. Flags: `--only=node24,bun,chromium` (ids from runtimes.json, plus `node` for this
 * machine's Node and `chromium`), `--src` (bundle src/ even when dist/ is fresh).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import type { SuiteReport } from '../test/runtimes/harness.js';
import { evaluateInPage } from './lib/chromium.js';
import { cacheDir, ensureChromium, ensureRuntime, pinned, type RuntimeSpec } from './lib/runtimes.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PORTABLE = path.join(ROOT, 'test/runtimes/portable');
const CI = process.env.CI === 'true';
const args = process.argv.slice(2);
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',')
  .filter((s) => s !== '');
const forceSrc = args.includes('--src');
const MARK = 'BREAKWATER_SUITE ';
const t0 = performance.now();

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

const distFresh = (): boolean => {
  const entry = path.join(ROOT, 'dist/index.js');
  return existsSync(entry) && statSync(entry).mtimeMs >= newestMtime(path.join(ROOT, 'src'));
};

/** The suite imports `src/<module>/index.js`; with a fresh build, those resolve to `dist/` instead. */
const toDist: Plugin = {
  name: 'portable-suite-to-dist',
  setup(b) {
    b.onResolve({ filter: /\/src\/.*index\.js$/ }, (a) => {
      if (!a.importer.startsWith(path.join(ROOT, 'test/runtimes'))) return undefined;
      const abs = path.resolve(a.resolveDir, a.path);
      const rel = path.relative(path.join(ROOT, 'src'), abs);
      if (rel.startsWith('..')) return undefined;
      return { path: path.join(ROOT, 'dist', rel) };
    });
  },
};

/** package.json says `sideEffects: false`; the test files' side effect (registering tests) is the point. */
const testsHaveEffects: Plugin = {
  name: 'portable-tests-have-side-effects',
  setup(b) {
    b.onResolve({ filter: /portable\/[^/]+\.ts$/ }, (a) => ({
      path: path.resolve(a.resolveDir, a.path),
      sideEffects: true,
    }));
  },
};

async function bundle(dir: string, useDist: boolean): Promise<{ server: string; page: string }> {
  const files = readdirSync(PORTABLE)
    .filter((f) => f.endsWith('.ts'))
    .sort();
  if (files.length === 0) throw new Error(`no portable tests in ${PORTABLE}`);
  const entry = [
    `import { run } from ${JSON.stringify(path.join(ROOT, 'test/runtimes/harness.ts'))};`,
    ...files.map((f) => `import ${JSON.stringify(path.join(PORTABLE, f))};`),
    // The page reads the promise; the other runtimes print one line that this script parses.
    `globalThis.__breakwaterSuite = run().then((r) => { console.log(${JSON.stringify(MARK)} + JSON.stringify(r)); return r; });`,
  ].join('\n');
  const common = {
    stdin: { contents: entry, resolveDir: ROOT, loader: 'ts' as const, sourcefile: 'portable-suite.ts' },
    bundle: true,
    target: 'es2022',
    logLevel: 'silent' as const,
    plugins: useDist ? [testsHaveEffects, toDist] : [testsHaveEffects],
  };
  const server = path.join(dir, 'suite.mjs');
  const page = path.join(dir, 'suite.js');
  // `neutral`: no Node built-in resolves, so one imported by the library fails here.
  await build({ ...common, platform: 'neutral', format: 'esm', outfile: server });
  await build({ ...common, platform: 'browser', format: 'iife', outfile: page });
  writeFileSync(
    path.join(dir, 'index.html'),
    '<!doctype html><meta charset="utf-8"><title>breakwater portable suite</title><script src="suite.js"></script>\n',
  );
  return { server, page: path.join(dir, 'index.html') };
}

/** One runtime's outcome. */
interface Outcome {
  readonly name: string;
  readonly report?: SuiteReport | undefined;
  readonly skipped?: string | undefined;
  readonly error?: string | undefined;
}

function runProcess(cmd: string, argv: readonly string[], env: NodeJS.ProcessEnv): Promise<SuiteReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: os.tmpdir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(MARK));
      if (line === undefined) {
        reject(new Error(`exited with ${code ?? signal} and no result: ${(err || out).trim().slice(-1500)}`));
        return;
      }
      resolve(JSON.parse(line.slice(MARK.length)) as SuiteReport);
    });
  });
}

function line(o: Outcome): string {
  if (o.report !== undefined) {
    const r = o.report;
    const head = `${r.runtime} ${r.version}: ${r.passed} passed, ${r.failed} failed`;
    return [head, ...r.failures.map((f) => `    ✗ ${f.name}\n      ${f.error}`)].join('\n');
  }
  if (o.skipped !== undefined) return `${o.name}: ${CI ? 'FAILED' : 'skipped'} (${o.skipped})`;
  return `${o.name}: FAILED (${o.error})`;
}

async function main(): Promise<number> {
  const { runtimes } = pinned();
  const wanted = (id: string): boolean => only === undefined || only.includes(id);
  const useDist = !forceSrc && distFresh();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'breakwater-runtimes-'));
  const outcomes: Outcome[] = [];
  const log = (s: string): void => console.log(`  ${s}`);
  try {
    console.log(
      `portable suite (${readdirSync(PORTABLE).filter((f) => f.endsWith('.ts')).length} files) against ${
        useDist ? 'dist/' : forceSrc ? 'src/ (--src)' : 'src/ (no fresh dist/: run `npm run build` to test the build)'
      }; runtimes cached in ${cacheDir()}`,
    );
    let files: { server: string; page: string };
    try {
      files = await bundle(dir, useDist);
    } catch (error) {
      // esbuild's errors name the file and the import (a Node built-in in src/, a missing module).
      const errors = (error as { errors?: { text: string; location?: { file: string; line: number } | null }[] })
        .errors;
      const what = errors?.map((e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`);
      console.log(`the portable suite does not bundle: ${what?.join('; ') ?? (error as Error).message}`);
      outcomes.push({ name: 'bundle', error: 'the portable suite does not bundle' });
      summary(outcomes);
      return 1;
    }
    const { server, page } = files;

    // Install what is missing in parallel (downloads), then run one runtime after another.
    const extra = runtimes.filter((r) => wanted(r.id));
    const installs = new Map<string, Promise<string>>(extra.map((r) => [r.id, ensureRuntime(r, log)]));
    const browser = wanted('chromium') ? ensureChromium(log) : undefined;
    for (const p of [...installs.values(), browser]) p?.catch(() => undefined);

    const report = (o: Outcome): void => {
      outcomes.push(o);
      console.log(line(o));
    };
    const env = { ...process.env, NO_COLOR: '1' };
    if (wanted('node')) {
      try {
        report({ name: 'node', report: await runProcess(process.execPath, [server], env) });
      } catch (error) {
        report({ name: `node ${process.versions.node}`, error: (error as Error).message });
      }
    }
    for (const spec of extra) {
      const name = `${spec.label} ${spec.version}`;
      let bin: string;
      try {
        bin = await (installs.get(spec.id) as Promise<string>);
      } catch (error) {
        report({ name, skipped: `cannot install ${spec.package}@${spec.version}: ${(error as Error).message}` });
        continue;
      }
      try {
        report({ name, report: await runProcess(bin, runArgs(spec, server), runEnv(spec, env)) });
      } catch (error) {
        report({ name, error: (error as Error).message });
      }
    }
    if (browser !== undefined) {
      let bin: string;
      try {
        bin = await browser;
      } catch (error) {
        report({ name: 'chromium', skipped: `cannot install: ${(error as Error).message}` });
        return summary(outcomes);
      }
      try {
        const r = await evaluateInPage(bin, pathToFileURL(page).href, 'globalThis.__breakwaterSuite');
        if (r.value === undefined || r.value === null) {
          throw new Error(`the suite did not start in the page: ${[...r.exceptions, ...r.console].join(' | ')}`);
        }
        report({
          name: 'chromium',
          report: { ...(r.value as SuiteReport), version: r.version || (r.value as SuiteReport).version },
        });
      } catch (error) {
        report({ name: 'chromium', error: (error as Error).message });
      }
    }
    return summary(outcomes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runArgs(spec: RuntimeSpec, file: string): string[] {
  if (spec.label === 'deno') return ['run', '--no-prompt', '--no-config', file];
  return [file];
}

function runEnv(spec: RuntimeSpec, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (spec.label === 'deno') {
    return { ...env, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: path.join(cacheDir(), 'deno-dir'), NO_COLOR: '1' };
  }
  return env;
}

function summary(outcomes: readonly Outcome[]): number {
  const failed = outcomes.filter((o) => o.error !== undefined || (o.report?.failed ?? 0) > 0).length;
  const skipped = outcomes.filter((o) => o.skipped !== undefined).length;
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `${outcomes.length - failed - skipped} runtimes passed, ${failed} failed, ${skipped} ${CI ? 'could not be installed (a failure under CI=true)' : 'skipped'} in ${s} s`,
  );
  // For CI's closing "N passed, N failed" line (read with vitest's JSON reports by .ci/run).
  const passedTests = outcomes.reduce((n, o) => n + (o.report?.passed ?? 0), 0);
  const failedTests =
    outcomes.reduce((n, o) => n + (o.report?.failed ?? 0) + (o.error !== undefined ? 1 : 0), 0) + (CI ? skipped : 0);
  mkdirSync(path.join(ROOT, '.reports'), { recursive: true });
  writeFileSync(
    path.join(ROOT, '.reports/runtimes.json'),
    JSON.stringify({ numPassedTests: passedTests, numFailedTests: failedTests, numFailedTestSuites: 0, outcomes }),
  );
  return failed > 0 || (CI && skipped > 0) ? 1 : 0;
}

process.exitCode = await main();
