/**
 * The portable suite's runner: plain async test functions and a few assertions, no test framework,
 * so that one esbuild bundle of `test/runtimes/portable/*.ts` runs unchanged in Node, Bun, Deno and
 * a browser page. It uses nothing but the language and `queueMicrotask`-level globals; in particular
 * no Node global, so the browser run proves the library needs none either.
 */

/** One registered test. */
interface Case {
  readonly name: string;
  readonly fn: () => unknown;
}

/** What one run of the suite reports. */
export interface SuiteReport {
  readonly runtime: string;
  readonly version: string;
  readonly passed: number;
  readonly failed: number;
  readonly failures: readonly { readonly name: string; readonly error: string }[];
}

const cases: Case[] = [];
let prefix = '';

/** Registers a test; `fn` may be async. */
export function test(name: string, fn: () => unknown): void {
  cases.push({ name: prefix === '' ? name : `${prefix} › ${name}`, fn });
}

/** Registers the tests `body` declares under a common name. */
export function describe(name: string, body: () => void): void {
  const outer = prefix;
  prefix = outer === '' ? name : `${outer} › ${name}`;
  try {
    body();
  } finally {
    prefix = outer;
  }
}

/** An assertion that failed. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

/** Fails unless `cond` is truthy. */
export function ok(cond: unknown, message = 'expected a truthy value'): asserts cond {
  if (!cond) throw new AssertionError(message);
}

/** Fails unless `actual === expected` (`Object.is`). */
export function equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T {
  if (!Object.is(actual, expected)) {
    throw new AssertionError(`${message ? `${message}: ` : ''}expected ${show(expected)}, got ${show(actual)}`);
  }
}

function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) {
      return false;
    }
  }
  return true;
}

/** Fails unless `actual` and `expected` are structurally equal (plain objects and arrays). */
export function deepEqual<T>(actual: unknown, expected: T, message?: string): asserts actual is T {
  if (!same(actual, expected)) {
    throw new AssertionError(`${message ? `${message}: ` : ''}expected ${show(expected)}, got ${show(actual)}`);
  }
}

/**
 * Awaits `p`, fails if it resolves, and returns what it rejected with; `check` (a predicate or the
 * exact value expected) must hold for it.
 */
export async function rejects(p: PromiseLike<unknown>, check?: (error: unknown) => boolean): Promise<unknown> {
  let value: unknown;
  try {
    value = await p;
  } catch (error) {
    if (check !== undefined && !check(error)) throw new AssertionError(`rejected with an unexpected ${show(error)}`);
    return error;
  }
  throw new AssertionError(`expected a rejection, resolved with ${show(value)}`);
}

/** Lets pending promise reactions run (`n` microtask turns). */
export async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

/** The runtime this bundle runs in and its version, read from the globals each one defines. */
export function runtime(): { runtime: string; version: string } {
  const g = globalThis as {
    Bun?: { version: string };
    Deno?: { version: { deno: string } };
    process?: { versions?: { node?: string } };
    navigator?: { userAgent?: string };
  };
  if (g.Bun !== undefined) return { runtime: 'bun', version: g.Bun.version };
  if (g.Deno !== undefined) return { runtime: 'deno', version: g.Deno.version.deno };
  if (g.process?.versions?.node !== undefined) return { runtime: 'node', version: g.process.versions.node };
  const ua = g.navigator?.userAgent ?? '';
  const m = /(?:HeadlessChrome|Chrome|Chromium)\/([\d.]+)/.exec(ua);
  return { runtime: 'chromium', version: m?.[1] ?? ua };
}

/** Runs every registered test, one after another, and reports. */
export async function run(): Promise<SuiteReport> {
  let passed = 0;
  const failures: { name: string; error: string }[] = [];
  for (const c of cases) {
    try {
      await c.fn();
      passed++;
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : show(error);
      failures.push({ name: c.name, error: text });
    }
  }
  return { ...runtime(), passed, failed: failures.length, failures };
}
