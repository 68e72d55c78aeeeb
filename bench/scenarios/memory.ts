/**
 * Scenarios 9 and 10, run inside a child process started with `--expose-gc` (see ../lib/child.ts).
 *
 * 9. Heap per instance: `gc()` twice, read `heapUsed`, build 10,000 instances into a pre-sized
 *    array, `gc()` twice, read again; the difference / 10,000.
 * 10. Bytes allocated per call: the child runs with a 64 MB young generation
 *    (`--min-semi-space-size=64 --max-semi-space-size=64`) so that no scavenge happens during a
 *    batch; after warm-up and `gc()`, `heapUsed` before and after N sequential calls, / N. A
 *    `PerformanceObserver` on `gc` entries confirms no collection ran during the batch (else the
 *    batch is retried with a smaller N).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { floorConsecutiveBreaker, floorWindowBreaker } from '../floors/breaker.js';
import { floorBulkhead } from '../floors/bulkhead.js';
import { floorPipeline } from '../floors/pipeline.js';
import { floorRetry } from '../floors/retry.js';
import { floorCooperativeTimeout } from '../floors/timeout.js';
import type { Libs } from '../lib/libs.js';
import { bwPolicy, CATALOG, cockatielPolicy, ignore, type Kind } from './catalog.js';

/** Builds one instance (and how to dispose of it), or undefined when unavailable. */
type Maker = (libs: Libs) => (() => { dispose?: () => void } | object) | undefined;

/** Instance factories for scenario 9: row → library → maker. */
export const HEAP: Record<string, { title: string; target?: number; makers: Record<string, Maker> }> = {
  '9a': {
    title: 'heap per breaker instance, consecutive(5)',
    target: 400,
    makers: {
      breakwater: (libs) =>
        bwPolicy(libs, 'breaker-consecutive') ? () => bwPolicy(libs, 'breaker-consecutive') as object : undefined,
      cockatiel: (libs) => () => cockatielPolicy(libs, 'breaker-consecutive'),
      floor: () => () => floorConsecutiveBreaker(5, 60_000),
    },
  },
  '9b': {
    title: 'heap per breaker instance, time window (failure rate, 30 s)',
    target: 400,
    makers: {
      breakwater: (libs) =>
        bwPolicy(libs, 'breaker-window') ? () => bwPolicy(libs, 'breaker-window') as object : undefined,
      cockatiel: (libs) => () => cockatielPolicy(libs, 'breaker-window'),
      opossum: (libs) => () => {
        const o = new libs.Opossum(ignore, { timeout: false, rollingCountTimeout: 30_000 });
        return { o, dispose: () => o.shutdown() };
      },
      floor: () => () => floorWindowBreaker(0.5, 20, 30_000, 60_000),
    },
  },
  '9c': {
    title: 'heap per retry instance',
    makers: {
      breakwater: (libs) => (bwPolicy(libs, 'retry') ? () => bwPolicy(libs, 'retry') as object : undefined),
      cockatiel: (libs) => () => cockatielPolicy(libs, 'retry'),
      floor: () => () => floorRetry(3),
    },
  },
  '9d': {
    title: 'heap per timeout instance',
    makers: {
      breakwater: (libs) =>
        bwPolicy(libs, 'timeout-cooperative') ? () => bwPolicy(libs, 'timeout-cooperative') as object : undefined,
      cockatiel: (libs) => () => cockatielPolicy(libs, 'timeout-cooperative'),
      floor: () => () => floorCooperativeTimeout(1000),
    },
  },
  '9e': {
    title: 'heap per bulkhead instance',
    makers: {
      breakwater: (libs) => (bwPolicy(libs, 'bulkhead') ? () => bwPolicy(libs, 'bulkhead') as object : undefined),
      cockatiel: (libs) => () => cockatielPolicy(libs, 'bulkhead'),
      'p-limit': (libs) => () => libs.pLimit(10),
      'p-queue': (libs) => () => new libs.PQueue({ concurrency: 10 }),
      floor: () => () => floorBulkhead(10, 10),
    },
  },
  '9f': {
    title: 'heap per 4-layer pipeline instance',
    makers: {
      breakwater: (libs) => (bwPolicy(libs, 'pipeline') ? () => bwPolicy(libs, 'pipeline') as object : undefined),
      cockatiel: (libs) => () => cockatielPolicy(libs, 'pipeline'),
      floor: () => () => floorPipeline(),
    },
  },
};

const INSTANCES = 10_000;

function gcTwice(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  gc();
}

/** Heap bytes retained per instance built by `make` (child side). */
export function heapPerInstance(make: () => unknown): number {
  const keep: unknown[] = new Array(INSTANCES).fill(null);
  gcTwice();
  const h0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < INSTANCES; i++) keep[i] = make();
  gcTwice();
  const h1 = process.memoryUsage().heapUsed;
  for (const k of keep) (k as { dispose?: () => void }).dispose?.();
  keep.length = 0;
  return (h1 - h0) / INSTANCES;
}

/** Allocation rows for scenario 10: row → kind measured (every library in the catalog). */
export const ALLOC: Record<string, { title: string; kind: Kind | 'bare'; target?: number }> = {
  '10a': { title: 'bytes allocated per call, 4-layer pipeline', kind: 'pipeline', target: 1024 },
  '10b': { title: 'bytes allocated per call, retry (success)', kind: 'retry' },
  '10c': { title: 'bytes allocated per call, breaker closed (consecutive)', kind: 'breaker-consecutive' },
  '10d': { title: 'bytes allocated per call, timeout (cooperative, not firing)', kind: 'timeout-cooperative' },
  '10e': { title: 'bytes allocated per call, bulkhead (uncontended)', kind: 'bulkhead' },
};

const gcTimes: number[] = [];
let observer: PerformanceObserver | undefined;

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Bytes allocated per sequential awaited call of `run` (child side); NaN if every try saw a GC. */
export async function bytesPerCall(run: () => Promise<unknown>): Promise<{ bytes: number; n: number }> {
  if (observer === undefined) {
    observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcTimes.push(e.startTime, e.startTime + e.duration);
    });
    observer.observe({ entryTypes: ['gc'] });
  }
  for (let i = 0; i < 3000; i++) await run();
  for (let n = 4000; n >= 250; n = Math.floor(n / 2)) {
    gcTwice();
    const t0 = performance.now();
    const h0 = process.memoryUsage().heapUsed;
    for (let i = 0; i < n; i++) await run();
    const h1 = process.memoryUsage().heapUsed;
    const t1 = performance.now();
    await settle(20); // gc entries are delivered asynchronously
    const collected = gcTimes.some((t) => t >= t0 && t <= t1);
    if (!collected && h1 >= h0) return { bytes: (h1 - h0) / n, n };
  }
  return { bytes: Number.NaN, n: 0 };
}

/** Child side of scenarios 9 and 10: returns `{ heap: {row: {lib: B}}, alloc: {row: {lib: B}}, bare }`. */
export async function childMemory(libs: Libs): Promise<unknown> {
  const heap: Record<string, Record<string, number | null>> = {};
  for (const [row, spec] of Object.entries(HEAP)) {
    heap[row] = {};
    for (const [lib, maker] of Object.entries(spec.makers)) {
      const make = maker(libs);
      (heap[row] as Record<string, number | null>)[lib] = make === undefined ? null : heapPerInstance(make);
    }
  }
  const alloc: Record<string, Record<string, number | null>> = {};
  const bare = (await bytesPerCall(ignore)).bytes;
  for (const [row, spec] of Object.entries(ALLOC)) {
    alloc[row] = {};
    if (spec.kind === 'bare') continue;
    for (const [lib, make] of Object.entries(CATALOG[spec.kind])) {
      const inst = make(libs, 'ignore');
      (alloc[row] as Record<string, number | null>)[lib] =
        inst === undefined ? null : (await bytesPerCall(inst.run)).bytes;
      inst?.dispose?.();
    }
  }
  observer?.disconnect();
  return { heap, alloc, bare };
}
