/**
 * A successful branch, as selection sees it.
 *
 * @example
 * ```ts
 * import { scatterGather, type BranchValue } from 'breakwater/messaging';
 *
 * // Of the answers in, take the one of the earliest-declared (preferred) model.
 * const preferred = (successes: readonly BranchValue<string>[]): string =>
 *   successes.reduce((a, b) => (b.index < a.index ? b : a)).value;
 * const ask = scatterGather<string, string>({ handlers: { large: askLarge, small: askSmall }, select: preferred });
 * ```
 */
export interface BranchValue<R> {
  /** The branch's name. */
  readonly name: string;
  /** What the branch returned. */
  readonly value: R;
  /** The branch's position in `handlers` (declaration order). */
  readonly index: number;
}

/**
 * The normalisation `'vote'` uses by default: strings are trimmed, lower-cased and have runs of
 * whitespace collapsed; other values are compared by `JSON.stringify` (primitives as they are).
 *
 * @example
 * ```ts
 * defaultNormalize('  Paris ') === defaultNormalize('paris'); // true
 * ```
 */
export function defaultNormalize(value: unknown): unknown {
  if (typeof value === 'string') return value.trim().toLowerCase().replace(/\s+/g, ' ');
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return value;
}

const byScoreThenOrder = <R>(a: { s: number; v: BranchValue<R> }, b: { s: number; v: BranchValue<R> }): number =>
  b.s - a.s || a.v.index - b.v.index;

/**
 * The value with the highest score; ties go to the earlier branch in declaration order. Pure.
 * @internal
 */
export function selectBest<R>(values: readonly BranchValue<R>[], score: (value: R) => number): BranchValue<R> {
  const scored = values.map((v) => ({ s: score(v.value), v }));
  scored.sort(byScoreThenOrder);
  return (scored[0] as { v: BranchValue<R> }).v;
}

/**
 * Majority vote over normalised values: the largest group wins; ties go to the group with the
 * higher best score, then to the group whose earliest member comes first in declaration order.
 * The winning group's value is its best-scored member (ties: earliest). Pure.
 * @internal
 */
export function selectVote<R>(
  values: readonly BranchValue<R>[],
  normalize: (value: R) => unknown,
  score: ((value: R) => number) | undefined,
): BranchValue<R> {
  const groups = new Map<unknown, { s: number; v: BranchValue<R> }[]>();
  for (const v of values) {
    const k = normalize(v.value);
    const s = score === undefined ? 0 : score(v.value);
    const g = groups.get(k);
    if (g === undefined) groups.set(k, [{ s, v }]);
    else g.push({ s, v });
  }
  let best: { s: number; v: BranchValue<R> }[] | undefined;
  let bestTop: { s: number; v: BranchValue<R> } | undefined;
  let bestFirst = 0;
  for (const g of groups.values()) {
    g.sort(byScoreThenOrder);
    const top = g[0] as { s: number; v: BranchValue<R> };
    const first = Math.min(...g.map((m) => m.v.index));
    if (
      best === undefined ||
      bestTop === undefined ||
      g.length > best.length ||
      (g.length === best.length && (top.s > bestTop.s || (top.s === bestTop.s && first < bestFirst)))
    ) {
      best = g;
      bestTop = top;
      bestFirst = first;
    }
  }
  return (bestTop as { v: BranchValue<R> }).v;
}
