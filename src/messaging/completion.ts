import { checkFunction, checkNumber, checkObject } from '../core/validate.js';

/**
 * How an aggregator group completed.
 *
 * @example
 * ```ts
 * import { aggregator, type CompletedBy } from 'breakwater/messaging';
 *
 * const why: Record<CompletedBy, string> = {
 *   size: 'all parts arrived', predicate: 'the final part arrived', timeout: 'no part for 2 s',
 *   deadline: '10 s since the first part', forced: 'complete() or maxGroups', close: 'close()',
 * };
 * const parts = aggregator({
 *   correlate: (p: Part) => p.taskId,
 *   complete: { size: 3, timeout: 2_000, deadline: 10_000, predicate: (g) => g.messages.some((p) => p.final) },
 *   onComplete: (ps, { key, completedBy }) => log.info(`${key}: ${ps.length} parts, ${why[completedBy]}`),
 * });
 * ```
 */
export type CompletedBy = 'size' | 'timeout' | 'deadline' | 'predicate' | 'forced' | 'close';

/** The time fields of a group that the timed completion rules look at. @internal */
export interface GroupTimes {
  readonly firstAt: number;
  readonly lastAt: number;
}

/** Finite timed rules (an infinite or missing one is `undefined`). @internal */
export interface TimedRules {
  readonly timeout: number | undefined;
  readonly deadline: number | undefined;
}

/**
 * When the next timed rule falls due for a group: the earlier of `lastAt + timeout` (inactivity)
 * and `firstAt + deadline`, or `undefined` when neither rule is set. Pure.
 * @internal
 */
export function dueAt(group: GroupTimes, rules: TimedRules): number | undefined {
  const t = rules.timeout === undefined ? undefined : group.lastAt + rules.timeout;
  const d = rules.deadline === undefined ? undefined : group.firstAt + rules.deadline;
  if (t === undefined) return d;
  if (d === undefined) return t;
  return Math.min(t, d);
}

/**
 * Which timed rule completes a group at `now`, if any. When both are due, `'deadline'` wins
 * (it is the hard bound). Pure.
 * @internal
 */
export function timedCompletion(group: GroupTimes, rules: TimedRules, now: number): CompletedBy | undefined {
  if (rules.deadline !== undefined && now >= group.firstAt + rules.deadline) return 'deadline';
  if (rules.timeout !== undefined && now >= group.lastAt + rules.timeout) return 'timeout';
  return undefined;
}

const finite = (name: string, v: number | undefined): number | undefined =>
  v === undefined || checkNumber(name, v, 0, { exclusiveMin: true }) === Number.POSITIVE_INFINITY ? undefined : v;

/** An aggregator's `complete` option, validated: what both aggregators run on. @internal */
export interface CheckedRules<P> {
  readonly size: number | undefined;
  readonly timed: TimedRules;
  readonly predicate: P | undefined;
}

/**
 * Validates an aggregator's `complete` option (an object with at least one rule; `size` an integer
 * ≥ 1, the timed rules > 0 where `Infinity` means unset, `predicate` a function).
 * @internal
 */
export function checkRules<P>(
  rules:
    | {
        readonly size?: number | undefined;
        readonly timeout?: number | undefined;
        readonly deadline?: number | undefined;
        readonly predicate?: P | undefined;
      }
    | undefined,
): CheckedRules<P> {
  checkObject('complete', rules);
  if (rules === undefined) throw new TypeError('Expected `complete` to be an object, got undefined');
  const size = rules.size === undefined ? undefined : checkNumber('complete.size', rules.size, 1, { integer: true });
  const timed: TimedRules = {
    timeout: finite('complete.timeout', rules.timeout),
    deadline: finite('complete.deadline', rules.deadline),
  };
  checkFunction('complete.predicate', rules.predicate);
  const predicate = rules.predicate;
  if (size === undefined && timed.timeout === undefined && timed.deadline === undefined && predicate === undefined) {
    throw new TypeError('Expected `complete` to set at least one of `size`, `timeout`, `deadline`, `predicate`');
  }
  return { size, timed, predicate };
}
