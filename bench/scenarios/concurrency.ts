/** Scenario 8: total wall time of 10,000 concurrent calls through a bulkhead of 100. */
import type { Libs } from '../lib/libs.js';
import { wallTime } from '../lib/measure.js';
import type { Cell, Row } from '../lib/types.js';
import { CATALOG, ignore } from './catalog.js';

const CALLS = 10_000;
/** Bursts before measuring: the queued path of every subject is compiled by then, not measured cold. */
const WARMUP = 10;

async function burst(run: () => Promise<unknown>): Promise<void> {
  const all: Promise<unknown>[] = new Array(CALLS);
  for (let i = 0; i < CALLS; i++) all[i] = run();
  await Promise.all(all);
}

/** Runs scenario 8; `rounds` bursts per subject, median wall time in ms. */
export async function runConcurrency(libs: Libs, rounds: number, log: (s: string) => void): Promise<Row> {
  const base = await wallTime(() => burst(ignore), rounds, WARMUP);
  log(`  8 baseline (no limit): ${base.median.toFixed(2)} ms`);
  const cells: Cell[] = [];
  for (const [lib, make] of Object.entries(CATALOG['bulkhead-100'])) {
    const inst = make(libs, 'ignore');
    if (inst === undefined) {
      cells.push({ lib, value: Number.NaN, note: 'module not available' });
      continue;
    }
    try {
      const t = await wallTime(() => burst(inst.run), rounds, WARMUP);
      cells.push({ lib, value: t.median, min: t.min, max: t.max });
      log(`  8 ${lib}: ${t.median.toFixed(2)} ms (${t.min.toFixed(2)}–${t.max.toFixed(2)})`);
    } catch (error) {
      cells.push({ lib, value: Number.NaN, note: `failed: ${(error as Error).message}` });
    } finally {
      inst.dispose?.();
    }
  }
  return {
    id: '8',
    title: '10,000 concurrent calls through bulkhead(100), total time of the burst',
    unit: 'ms',
    baseline: `${base.median.toFixed(1)} ms without a bulkhead`,
    target: { text: '≤ 10 ms', max: 10 },
    cells,
  };
}
