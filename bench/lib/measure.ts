/**
 * The timing harness. Every subject is measured in batches of sequential `await run()` calls,
 * and each batch is paired with a batch of the scenario's baseline measured right before or
 * after it (the order alternates by round). The per-round ratio subject/baseline cancels most of
 * the drift of a shared, noisy machine; we report the median ratio over rounds and its spread.
 */
import { type Summary, summarize } from './stats.js';

/** A thing to call repeatedly; one call = one awaited operation. */
export type Run = () => Promise<unknown>;

/** Tuning for {@link compare}. */
export interface MeasureOptions {
  /** Rounds per subject (each round = one baseline batch + one subject batch). */
  readonly rounds: number;
  /** Target duration of one batch in milliseconds; batch sizes are calibrated to it. */
  readonly batchMs: number;
}

/** Per-call time of one subject and its ratio to the paired baseline. */
export interface Timing {
  /** Ratio subject / baseline per round. */
  readonly ratio: Summary;
  /** Subject nanoseconds per call. */
  readonly ns: Summary;
  /** Baseline nanoseconds per call (measured next to this subject). */
  readonly baselineNs: Summary;
}

/**
 * The clock of the harness. `cpu` (default): CPU time of this process (user + system, every
 * thread, so GC and compiler threads are charged) from `process.cpuUsage()`; time the scheduler
 * gives to other processes on a shared machine is not charged. `wall`: `process.hrtime`.
 */
export type ClockKind = 'cpu' | 'wall';
let clockKind: ClockKind = 'cpu';

/** Selects the clock of every later measurement. */
export function useClock(kind: ClockKind): void {
  clockKind = kind;
}

/** The current reading of the selected clock, in nanoseconds. */
export function now(): number {
  if (clockKind === 'wall') return Number(process.hrtime.bigint());
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** Mean nanoseconds per call of `n` sequential awaited calls. */
export async function timeBatch(run: Run, n: number): Promise<number> {
  const t0 = now();
  for (let i = 0; i < n; i++) await run();
  return (now() - t0) / n;
}

/** Finds a batch size whose batch takes about `ms` milliseconds (also warms the JIT). */
export async function calibrate(run: Run, ms: number): Promise<number> {
  let n = 16;
  for (;;) {
    const ns = await timeBatch(run, n);
    const total = (ns * n) / 1e6;
    if (total >= ms / 4 || n >= 1 << 22) {
      return Math.max(16, Math.min(1 << 22, Math.round((ms * 1e6) / Math.max(ns, 1))));
    }
    n *= 4;
  }
}

/** Measures `subject` against `baseline`, interleaved, over `rounds` rounds. */
export async function compare(baseline: Run, subject: Run, options: MeasureOptions): Promise<Timing> {
  const nb = await calibrate(baseline, options.batchMs);
  const ns = await calibrate(subject, options.batchMs);
  // One more warm-up batch of each at full size.
  await timeBatch(baseline, nb);
  await timeBatch(subject, ns);
  const ratios: number[] = [];
  const subj: number[] = [];
  const base: number[] = [];
  for (let r = 0; r < options.rounds; r++) {
    let b: number;
    let s: number;
    if (r % 2 === 0) {
      b = await timeBatch(baseline, nb);
      s = await timeBatch(subject, ns);
    } else {
      s = await timeBatch(subject, ns);
      b = await timeBatch(baseline, nb);
    }
    ratios.push(s / b);
    subj.push(s);
    base.push(b);
  }
  return { ratio: summarize(ratios), ns: summarize(subj), baselineNs: summarize(base) };
}

/** Median wall time (ms) of `runOnce` over `rounds` rounds, after `warmup` unmeasured runs. */
export async function wallTime(runOnce: () => Promise<unknown>, rounds: number, warmup = 3): Promise<Summary> {
  for (let i = 0; i < warmup; i++) await runOnce();
  const xs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = now();
    await runOnce();
    xs.push((now() - t0) / 1e6);
  }
  return summarize(xs);
}
