/** Scenarios 1–7: per-call cost as a ratio to a bare `await fn()` measured interleaved. */

import type { Libs } from '../lib/libs.js';
import { compare, type MeasureOptions, type Run } from '../lib/measure.js';
import type { Row, Target } from '../lib/types.js';
import { CATALOG, failThrice, ignore, type Kind, readCtx, type Work } from './catalog.js';

interface SpeedSpec {
  readonly id: string;
  readonly title: string;
  readonly kind: Kind;
  readonly work: Work;
  readonly baseline: string;
  /** Builds the baseline run; defaults to a bare `await fn()`. */
  readonly makeBaseline: () => Run;
  readonly target?: Target;
  /** Libraries to measure (defaults to every one in the catalog for `kind`). */
  readonly libs?: readonly string[];
  /** Hand-made subjects instead of the catalog's (the reference rows). */
  readonly custom?: Record<string, () => Run>;
}

const passOk = (v: unknown): unknown => v;
const passErr = (e: unknown): never => {
  throw e;
};

/** What the simplest possible wrappers cost: the floor under any policy's per-call ratio. */
export const REFERENCE: readonly SpeedSpec[] = [
  {
    id: 'R1',
    title: 'reference: `async` pass-through wrapper, `return await fn()`',
    kind: 'retry',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: () => ignore,
    custom: { floor: () => async () => await ignore() },
  },
  {
    id: 'R2',
    title: 'reference: `.then(ok, err)` pass-through wrapper',
    kind: 'retry',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: () => ignore,
    custom: { floor: () => () => ignore().then(passOk, passErr) },
  },
  {
    id: 'R2′',
    title: 'reference: `.then(ok, err)` with per-call handlers (a closure over the call’s state)',
    kind: 'retry',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: () => ignore,
    custom: {
      floor: () => () => {
        const call = { settled: false };
        return ignore().then(
          (v) => {
            call.settled = true;
            return v;
          },
          (e: unknown) => {
            call.settled = true;
            throw e;
          },
        );
      },
    },
  },
  {
    id: 'R3',
    title: 'reference: one `Date.now()` read, then `fn()`',
    kind: 'retry',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: () => ignore,
    custom: {
      floor: () => () => {
        Date.now();
        return ignore();
      },
    },
  },
];

const bare = (): Run => ignore;
const fixedCtx = { signal: new AbortController().signal };
const bareReading = (): Run => () => readCtx(fixedCtx);
/** The hand loop for scenario 7: the same failing function, retried by a bare loop. */
const handLoop = (): Run => {
  const fn = failThrice();
  return async () => {
    for (;;) {
      try {
        return await fn();
      } catch {}
    }
  };
};

/** The ratio scenarios, in report order. */
export const SPEED: readonly SpeedSpec[] = [
  {
    id: '1',
    title: 'retry, success path',
    kind: 'retry',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: bare,
    target: { text: '≤ 1.5×', max: 1.5 },
  },
  {
    id: '2a',
    title: 'breaker closed, consecutive(5)',
    kind: 'breaker-consecutive',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: bare,
    target: { text: '≤ 1.5×', max: 1.5 },
  },
  {
    id: '2b',
    title: 'breaker closed, time window (failure rate)',
    kind: 'breaker-window',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: bare,
    target: { text: '≤ 2×', max: 2 },
  },
  {
    id: '3a',
    title: 'timeout not firing, cooperative, fn ignores signal',
    kind: 'timeout-cooperative',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: bare,
    target: { text: '≤ 3×', max: 3 },
  },
  {
    id: '3b',
    title: 'timeout not firing, aggressive, fn ignores signal',
    kind: 'timeout-aggressive',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: bare,
    target: { text: '≤ 3×', max: 3 },
  },
  {
    id: '3c',
    title: 'timeout not firing, cooperative, fn reads signal',
    kind: 'timeout-cooperative',
    work: 'read',
    baseline: '`await fn(ctx)`',
    makeBaseline: bareReading,
    target: { text: '≤ floor', vsLib: 'floor' },
  },
  {
    id: '3d',
    title: 'timeout not firing, aggressive, fn reads signal',
    kind: 'timeout-aggressive',
    work: 'read',
    baseline: '`await fn(ctx)`',
    makeBaseline: bareReading,
    target: { text: '≤ floor', vsLib: 'floor' },
  },
  {
    id: '4',
    title: 'bulkhead uncontended (limit 10)',
    kind: 'bulkhead',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: bare,
    target: { text: '≤ 1.5×', max: 1.5 },
  },
  {
    id: '5',
    title: 'pipeline timeout + retry + breaker + bulkhead, fn ignores signal',
    kind: 'pipeline',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: bare,
    target: { text: '≤ 5×', max: 5 },
  },
  {
    id: '6',
    title: 'breaker open, fail fast',
    kind: 'breaker-open',
    work: 'ignore',
    baseline: '`await fn()`',
    makeBaseline: bare,
  },
  {
    id: '7',
    title: 'retry, 3 immediate failures then success, zero delay',
    kind: 'retry',
    work: 'fail3',
    baseline: 'hand loop',
    makeBaseline: handLoop,
    target: { text: '≤ 1.5×', max: 1.5 },
    libs: ['breakwater', 'cockatiel', 'p-retry'],
  },
];

/** Runs one ratio scenario for every available subject. */
export async function runSpeed(
  spec: SpeedSpec,
  libs: Libs,
  options: MeasureOptions,
  log: (s: string) => void,
): Promise<Row> {
  const factories = CATALOG[spec.kind];
  const custom = spec.custom;
  const names = custom !== undefined ? Object.keys(custom) : (spec.libs ?? Object.keys(factories));
  const cells = [];
  for (const lib of names) {
    const own = custom?.[lib];
    const inst =
      own !== undefined ? { run: own(), check: undefined, dispose: undefined } : factories[lib]?.(libs, spec.work);
    if (inst === undefined) {
      cells.push({ lib, value: Number.NaN, note: 'module not available' });
      continue;
    }
    // Let a breaker's tripping calls settle before measuring.
    await new Promise((r) => setTimeout(r, 5));
    try {
      const complaint = await inst.check?.();
      if (complaint !== undefined) throw new Error(complaint);
      const t = await compare(spec.makeBaseline(), inst.run, options);
      cells.push({ lib, value: t.ratio.median, min: t.ratio.min, max: t.ratio.max, ns: t.ns.median });
      log(
        `  ${spec.id} ${lib}: ${t.ratio.median.toFixed(2)}× (${t.ratio.min.toFixed(2)}–${t.ratio.max.toFixed(2)}), ${t.ns.median.toFixed(0)} ns/call vs ${t.baselineNs.median.toFixed(0)} ns`,
      );
    } catch (error) {
      cells.push({ lib, value: Number.NaN, note: `failed: ${(error as Error).message}` });
      log(`  ${spec.id} ${lib}: FAILED ${(error as Error).message}`);
    } finally {
      inst.dispose?.();
    }
  }
  return { id: spec.id, title: spec.title, unit: 'ratio', baseline: spec.baseline, target: spec.target, cells };
}
