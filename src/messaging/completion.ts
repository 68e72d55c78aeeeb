/** How an aggregator group completed. */
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
