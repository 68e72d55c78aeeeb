/**
 * Every subject of the suite, by policy kind and library. A subject is built with the user
 * function bound in (so no adapter closure is created per call) and returns `run()`, one
 * awaited operation.
 */
import { floorConsecutiveBreaker, floorWindowBreaker } from '../floors/breaker.js';
import { floorBulkhead } from '../floors/bulkhead.js';
import { floorPipeline } from '../floors/pipeline.js';
import { floorRetry } from '../floors/retry.js';
import { floorAggressiveTimeout, floorCooperativeTimeout } from '../floors/timeout.js';
import type { Libs } from '../lib/libs.js';

/** What the user function does: resolve, read the signal and resolve, or fail 3 times then resolve. */
export type Work = 'ignore' | 'read' | 'fail3';

/** A constructed subject. */
export interface Instance {
  readonly run: () => Promise<unknown>;
  readonly dispose?: (() => void) | undefined;
  /** Resolves to a complaint when the subject is not in the state the scenario needs. */
  readonly check?: (() => Promise<string | undefined>) | undefined;
}

/** A subject factory; `undefined` when the library (or the breakwater module) is missing. */
export type Factory = (libs: Libs, work: Work) => Instance | undefined;

/** The policy kinds under test. */
export type Kind =
  | 'retry'
  | 'breaker-consecutive'
  | 'breaker-window'
  | 'timeout-cooperative'
  | 'timeout-aggressive'
  | 'bulkhead'
  | 'bulkhead-100'
  | 'pipeline'
  | 'breaker-open';

const BREAK_MS = 60_000;
let TIMEOUT_MS = 1000;

/** Sets the timeout of every timeout subject built afterwards (the exit-time scenario uses 60 s). */
export function setTimeoutMs(ms: number): void {
  TIMEOUT_MS = ms;
}
const failure = new Error('planned failure');

/** A function that ignores its argument and resolves. */
export async function ignore(): Promise<number> {
  return 1;
}

/** A function that reads `ctx.signal` and resolves. */
export async function readCtx(ctx: { readonly signal: AbortSignal }): Promise<number> {
  return ctx.signal.aborted ? 0 : 1;
}

/** A function that reads its signal argument and resolves. */
export async function readSignal(signal: AbortSignal | undefined): Promise<number> {
  return signal?.aborted ? 0 : 1;
}

/** A fresh function that fails (with a pre-built error) 3 times, then resolves, and so on. */
export function failThrice(): () => Promise<number> {
  let n = 0;
  return async () => {
    if (++n % 4 !== 0) throw failure;
    return 1;
  };
}

/** An always-failing function, to trip breakers. */
export async function fail(): Promise<never> {
  throw failure;
}

/** The function for a library that passes a `{ signal }` context. */
function ctxWork(work: Work): (ctx: { readonly signal: AbortSignal }) => Promise<number> {
  if (work === 'read') return readCtx;
  if (work === 'fail3') return failThrice();
  return ignore;
}

/** The function for a floor (it passes its signal as the argument). */
function sigWork(work: Work): (signal: AbortSignal | undefined) => Promise<number> {
  if (work === 'read') return readSignal;
  if (work === 'fail3') return failThrice();
  return ignore;
}

const noop = (): void => {};

/** The breakwater policy for `kind`, or undefined while its module is missing. */
export function bwPolicy(libs: Libs, kind: Kind): import('../lib/libs.js').BwPolicy | undefined {
  const b = libs.bw;
  switch (kind) {
    case 'retry':
      if (b.retry === undefined) return undefined;
      return b.retry({ maxRetries: 3, ...(b.constant !== undefined ? { backoff: b.constant(0) } : {}) });
    case 'breaker-consecutive':
    case 'breaker-open':
      if (b.circuitBreaker === undefined || b.consecutive === undefined) return undefined;
      return b.circuitBreaker({ strategy: b.consecutive(5), breakDuration: BREAK_MS });
    case 'breaker-window':
      if (b.circuitBreaker === undefined || b.failureRate === undefined) return undefined;
      return b.circuitBreaker({
        strategy: b.failureRate({ threshold: 0.5, minThroughput: 20, window: 30_000 }),
        breakDuration: BREAK_MS,
      });
    case 'timeout-cooperative':
      return b.timeout?.({ after: TIMEOUT_MS, strategy: 'cooperative' });
    case 'timeout-aggressive':
      return b.timeout?.({ after: TIMEOUT_MS, strategy: 'aggressive' });
    case 'bulkhead':
      return b.bulkhead?.({ limit: 10, queue: 10 });
    case 'bulkhead-100':
      return b.bulkhead?.({ limit: 100, queue: 10_000 });
    case 'pipeline': {
      const layers = [
        bwPolicy(libs, 'timeout-cooperative'),
        bwPolicy(libs, 'retry'),
        bwPolicy(libs, 'breaker-consecutive'),
        bwPolicy(libs, 'bulkhead'),
      ];
      if (layers.some((l) => l === undefined)) return undefined;
      return b.Policy.wrap(...(layers as import('../lib/libs.js').BwPolicy[]));
    }
  }
}

/** The cockatiel policy for `kind`. */
export function cockatielPolicy(libs: Libs, kind: Kind): import('cockatiel').IPolicy<any> {
  const c = libs.cockatiel;
  switch (kind) {
    case 'retry':
      return c.retry(c.handleAll, { maxAttempts: 3, backoff: new c.ConstantBackoff(0) });
    case 'breaker-consecutive':
    case 'breaker-open':
      return c.circuitBreaker(c.handleAll, { halfOpenAfter: BREAK_MS, breaker: new c.ConsecutiveBreaker(5) });
    case 'breaker-window':
      return c.circuitBreaker(c.handleAll, {
        halfOpenAfter: BREAK_MS,
        breaker: new c.SamplingBreaker({ threshold: 0.5, duration: 30_000, minimumRps: 1 }),
      });
    case 'timeout-cooperative':
      return c.timeout(TIMEOUT_MS, c.TimeoutStrategy.Cooperative);
    case 'timeout-aggressive':
      return c.timeout(TIMEOUT_MS, c.TimeoutStrategy.Aggressive);
    case 'bulkhead':
      return c.bulkhead(10, 10);
    case 'bulkhead-100':
      return c.bulkhead(100, 10_000);
    case 'pipeline':
      return c.wrap(
        cockatielPolicy(libs, 'timeout-cooperative'),
        cockatielPolicy(libs, 'retry'),
        cockatielPolicy(libs, 'breaker-consecutive'),
        cockatielPolicy(libs, 'bulkhead'),
      );
  }
}

/** Trips a breaker-like `execute` with 5 failures (enough for consecutive(5)). */
function trip(exec: (fn: () => Promise<unknown>) => Promise<unknown>): Promise<void> {
  let p: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < 5; i++) p = p.then(() => exec(fail).then(noop, noop));
  return p.then(noop);
}

/** A check that `exec(ignore)` rejects (the breaker really is open). */
function rejects(exec: (fn: () => Promise<unknown>) => Promise<unknown>): () => Promise<string | undefined> {
  return () =>
    exec(ignore).then(
      () => 'the breaker did not reject: it is not open',
      () => undefined,
    );
}

/** Subject factories: kind → library → factory. */
export const CATALOG: Record<Kind, Record<string, Factory>> = {
  retry: {
    breakwater: (libs, work) => bw(libs, 'retry', work),
    cockatiel: (libs, work) => cockatiel(libs, 'retry', work),
    'p-retry': (libs, work) => {
      const fn = ctxWork(work) as () => Promise<number>;
      const opts = { retries: 3, minTimeout: 0, maxTimeout: 0, randomize: false };
      return { run: () => libs.pRetry(fn, opts) };
    },
    floor: (_libs, work) => floor(floorRetry(3), work),
  },
  'breaker-consecutive': {
    breakwater: (libs, work) => bw(libs, 'breaker-consecutive', work),
    cockatiel: (libs, work) => cockatiel(libs, 'breaker-consecutive', work),
    floor: (_libs, work) => floor(floorConsecutiveBreaker(5, BREAK_MS), work),
  },
  'breaker-window': {
    breakwater: (libs, work) => bw(libs, 'breaker-window', work),
    cockatiel: (libs, work) => cockatiel(libs, 'breaker-window', work),
    opossum: (libs, work) =>
      opossum(libs, work, {
        timeout: false,
        errorThresholdPercentage: 50,
        volumeThreshold: 20,
        rollingCountTimeout: 30_000,
      }),
    floor: (_libs, work) => floor(floorWindowBreaker(0.5, 20, 30_000, BREAK_MS), work),
  },
  'breaker-open': {
    breakwater: (libs) => {
      const p = bwPolicy(libs, 'breaker-open');
      if (p === undefined) return undefined;
      const exec = (fn: () => Promise<unknown>) => p.execute(fn);
      void trip(exec);
      return { run: () => p.execute(ignore).then(noop, noop), check: rejects(exec) };
    },
    cockatiel: (libs) => {
      const p = cockatielPolicy(libs, 'breaker-open');
      const exec = (fn: () => Promise<unknown>) => p.execute(fn);
      void trip(exec);
      return { run: () => p.execute(ignore).then(noop, noop), check: rejects(exec) };
    },
    opossum: (libs) => {
      const o = new libs.Opossum((f: () => Promise<unknown>) => f(), { timeout: false, resetTimeout: BREAK_MS });
      o.open();
      return {
        run: () => o.fire(ignore).then(noop, noop),
        dispose: () => o.shutdown(),
        check: rejects((fn) => o.fire(fn)),
      };
    },
    floor: () => {
      const p = floorConsecutiveBreaker(5, BREAK_MS);
      const exec = (fn: () => Promise<unknown>) => p.execute(fn);
      void trip(exec);
      return { run: () => p.execute(ignore).then(noop, noop), check: rejects(exec) };
    },
  },
  'timeout-cooperative': {
    breakwater: (libs, work) => bw(libs, 'timeout-cooperative', work),
    cockatiel: (libs, work) => cockatiel(libs, 'timeout-cooperative', work),
    floor: (_libs, work) => floor(floorCooperativeTimeout(TIMEOUT_MS), work),
  },
  'timeout-aggressive': {
    breakwater: (libs, work) => bw(libs, 'timeout-aggressive', work),
    cockatiel: (libs, work) => cockatiel(libs, 'timeout-aggressive', work),
    floor: (_libs, work) => floor(floorAggressiveTimeout(TIMEOUT_MS), work),
  },
  bulkhead: {
    breakwater: (libs, work) => bw(libs, 'bulkhead', work),
    cockatiel: (libs, work) => cockatiel(libs, 'bulkhead', work),
    'p-limit': (libs, work) => {
      const limit = libs.pLimit(10);
      const fn = ctxWork(work) as () => Promise<number>;
      return { run: () => limit(fn) };
    },
    'p-queue': (libs, work) => {
      const q = new libs.PQueue({ concurrency: 10 });
      const fn = ctxWork(work) as () => Promise<number>;
      return { run: () => q.add(fn) };
    },
    floor: (_libs, work) => floor(floorBulkhead(10, 10), work),
  },
  'bulkhead-100': {
    breakwater: (libs, work) => bw(libs, 'bulkhead-100', work),
    cockatiel: (libs, work) => cockatiel(libs, 'bulkhead-100', work),
    'p-limit': (libs, work) => {
      const limit = libs.pLimit(100);
      const fn = ctxWork(work) as () => Promise<number>;
      return { run: () => limit(fn) };
    },
    'p-queue': (libs, work) => {
      const q = new libs.PQueue({ concurrency: 100 });
      const fn = ctxWork(work) as () => Promise<number>;
      return { run: () => q.add(fn) };
    },
    floor: (_libs, work) => floor(floorBulkhead(100, 10_000), work),
  },
  pipeline: {
    breakwater: (libs, work) => bw(libs, 'pipeline', work),
    cockatiel: (libs, work) => cockatiel(libs, 'pipeline', work),
    'p-retry+opossum+p-limit': (libs, work) => {
      const limit = libs.pLimit(10);
      const fn = ctxWork(work) as () => Promise<number>;
      const o = new libs.Opossum(() => limit(fn), { timeout: TIMEOUT_MS, resetTimeout: BREAK_MS });
      const opts = { retries: 3, minTimeout: 0, maxTimeout: 0, randomize: false };
      const attempt = () => o.fire();
      return { run: () => libs.pRetry(attempt, opts), dispose: () => o.shutdown() };
    },
    floor: (_libs, work) => floor(floorPipeline(TIMEOUT_MS), work),
  },
};

function bw(libs: Libs, kind: Kind, work: Work): Instance | undefined {
  const p = bwPolicy(libs, kind);
  if (p === undefined) return undefined;
  const fn = ctxWork(work);
  return { run: () => p.execute(fn) };
}

function cockatiel(libs: Libs, kind: Kind, work: Work): Instance {
  const p = cockatielPolicy(libs, kind);
  const fn = ctxWork(work);
  return { run: () => p.execute(fn) };
}

function opossum(libs: Libs, work: Work, options: Record<string, unknown>): Instance {
  const fn = ctxWork(work) as () => Promise<number>;
  const o = new libs.Opossum(fn, { resetTimeout: BREAK_MS, ...options });
  return { run: () => o.fire(), dispose: () => o.shutdown() };
}

function floor(p: import('../floors/types.js').FloorPolicy, work: Work): Instance {
  const fn = sigWork(work);
  return { run: () => p.execute(fn) };
}
