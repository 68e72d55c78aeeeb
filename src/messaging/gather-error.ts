import type { BranchOutcome, GatherCompletedBy } from './scatter-gather.js';

const BRAND: unique symbol = /*#__PURE__*/ Symbol.for('breakwater.error') as never;

/**
 * Thrown by a scatter-gather that cannot be satisfied (no success, or fewer than the quorum): an
 * `AggregateError` whose `errors` are the branch errors (a `TimeoutError` for each branch cut off
 * by the timeout), with every branch's outcome. Has `code` `ERR_GATHER_UNSATISFIED` and passes
 * `isBreakwaterError`.
 *
 * @example
 * ```ts
 * try { await sg.execute(req); }
 * catch (e) { if (isGatherError(e)) for (const b of e.branches) console.log(b.name, b.status); }
 * ```
 */
export class GatherError extends AggregateError {
  /** Always `'ERR_GATHER_UNSATISFIED'`. */
  readonly code: 'ERR_GATHER_UNSATISFIED' = 'ERR_GATHER_UNSATISFIED';
  /** The point at which the gather gave up. */
  readonly completedBy: GatherCompletedBy;
  /** Every branch's outcome, in `handlers` order. */
  readonly branches: readonly BranchOutcome<unknown>[];

  constructor(errors: readonly unknown[], completedBy: GatherCompletedBy, branches: readonly BranchOutcome<unknown>[]) {
    super(errors, 'The scatter-gather could not be satisfied');
    this.name = 'GatherError';
    this.completedBy = completedBy;
    this.branches = branches;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * True for a {@link GatherError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isGatherError(e)) console.log(e.errors.length, 'branches failed');
 * ```
 */
export function isGatherError(error: unknown): error is GatherError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { [BRAND]?: unknown })[BRAND] === true &&
    (error as { code?: unknown }).code === 'ERR_GATHER_UNSATISFIED'
  );
}
