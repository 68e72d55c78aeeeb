/** The result model shared by the scenarios and the report. */

/** One subject's number in a row. */
export interface Cell {
  /** Library label: `breakwater`, `cockatiel`, `opossum`, …, or `floor`. */
  readonly lib: string;
  /** The value (a ratio, ms, bytes, … per the row's unit); NaN when unavailable. */
  readonly value: number;
  /** Spread over rounds, when measured in rounds. */
  readonly min?: number | undefined;
  readonly max?: number | undefined;
  /** Absolute per-call time in ns (for ratio rows). */
  readonly ns?: number | undefined;
  /** Why the value is missing or qualified. */
  readonly note?: string | undefined;
}

/** How a row's target is checked against breakwater's value. */
export interface Target {
  /** As printed, e.g. `≤ 1.5×`. */
  readonly text: string;
  /** Met when breakwater's value ≤ max. */
  readonly max?: number | undefined;
  /** Met when breakwater's value ≤ this lib's value in the same row. */
  readonly vsLib?: string | undefined;
}

/** Units of a row. */
export type Unit = 'ratio' | 'ms' | 'B' | 'timers' | 'B gzip';

/** One line of the report. */
export interface Row {
  /** Scenario number 1–12 with a variant letter, e.g. `2b`. */
  readonly id: string;
  readonly title: string;
  readonly unit: Unit;
  /** What the ratios are relative to (ratio rows), or the reference value. */
  readonly baseline: string;
  readonly target?: Target | undefined;
  readonly cells: readonly Cell[];
}

/** Result of comparing breakwater's value to a row's target. */
export function targetMet(row: Row): boolean | undefined {
  const t = row.target;
  const bw = row.cells.find((c) => c.lib === 'breakwater');
  if (t === undefined || bw === undefined || Number.isNaN(bw.value)) return undefined;
  if (t.max !== undefined) return bw.value <= t.max;
  if (t.vsLib !== undefined) {
    const other = row.cells.find((c) => c.lib === t.vsLib);
    if (other === undefined || Number.isNaN(other.value)) return undefined;
    return bw.value <= other.value;
  }
  return undefined;
}
