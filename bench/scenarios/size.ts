/** Scenario 12: gzip size of tree-shaken single imports, breakwater and peers. */
import { bundleSize, bundleSource } from '../lib/bundle.js';
import type { Cell, Row } from '../lib/types.js';

interface SizeSpec {
  readonly id: string;
  readonly title: string;
  readonly budget: number;
  readonly entries: Record<string, { code: string; platform?: 'node' }>;
}

/** Entries per row; the breakwater entry is the budgeted one. */
export const SIZES: readonly SizeSpec[] = [
  {
    id: '12a',
    title: 'gzip size of `{ retry }`',
    budget: 1200,
    entries: {
      breakwater: { code: "export { retry } from 'breakwater/retry';" },
      cockatiel: { code: "export { retry, handleAll } from 'cockatiel';" },
      'p-retry': { code: "export { default } from 'p-retry';" },
    },
  },
  {
    id: '12b',
    title: 'gzip size of `{ circuitBreaker }`',
    budget: 2000,
    entries: {
      breakwater: { code: "export { circuitBreaker } from 'breakwater/breaker';" },
      cockatiel: { code: "export { circuitBreaker, handleAll, ConsecutiveBreaker } from 'cockatiel';" },
      opossum: { code: "export { default } from 'opossum';", platform: 'node' },
    },
  },
  {
    id: '12c',
    title: 'gzip size of `{ Policy }` (core)',
    budget: 1000,
    entries: {
      breakwater: { code: "export { Policy } from 'breakwater';" },
      cockatiel: { code: "export { wrap } from 'cockatiel';" },
    },
  },
  {
    id: '12d',
    title: 'gzip size of `{ timeout }`',
    budget: 2000,
    entries: {
      breakwater: { code: "export { timeout } from 'breakwater/timeout';" },
      cockatiel: { code: "export { timeout, TimeoutStrategy } from 'cockatiel';" },
    },
  },
  {
    id: '12e',
    title: 'gzip size of `{ bulkhead }`',
    budget: 2000,
    entries: {
      breakwater: { code: "export { bulkhead } from 'breakwater/bulkhead';" },
      cockatiel: { code: "export { bulkhead } from 'cockatiel';" },
      'p-limit': { code: "export { default } from 'p-limit';" },
      'p-queue': { code: "export { default } from 'p-queue';" },
    },
  },
  {
    id: '12f',
    title: 'gzip size of `{ fallback }`',
    budget: 2000,
    entries: {
      breakwater: { code: "export { fallback } from 'breakwater/fallback';" },
      cockatiel: { code: "export { fallback, handleAll } from 'cockatiel';" },
    },
  },
];

/** Runs scenario 12. */
export async function runSizes(log: (s: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const source = bundleSource();
  for (const spec of SIZES) {
    const cells: Cell[] = [];
    for (const [lib, e] of Object.entries(spec.entries)) {
      try {
        const s = await bundleSize(e.code, e.platform === undefined ? {} : { platform: e.platform });
        cells.push({ lib, value: s.gzip, note: `${s.min} B minified` });
        log(`  ${spec.id} ${lib}: ${s.gzip} B gzip (${s.min} B min)`);
      } catch (error) {
        cells.push({ lib, value: Number.NaN, note: `not bundled: ${(error as Error).message.split('\n')[0]}` });
        log(`  ${spec.id} ${lib}: n/a`);
      }
    }
    rows.push({
      id: spec.id,
      title: spec.title,
      unit: 'B gzip',
      baseline: `esbuild --minify, gzip -9, breakwater from ${source}`,
      target: { text: `≤ ${(spec.budget / 1000).toFixed(1)} kB`, max: spec.budget },
      cells,
    });
  }
  return rows;
}
