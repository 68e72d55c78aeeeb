import type { Saga } from './definition.js';
import type { SagaFailureReason } from './errors.js';
import type { SagaState } from './state.js';

/**
 * What the orchestrator must do next for a saga instance; computed by {@link nextAction}.
 *
 * @example
 * ```ts
 * import { nextAction, type SagaAction } from 'breakwater/saga';
 *
 * const action: SagaAction = nextAction(bookTrip, state, Date.now());
 * switch (action.kind) {
 *   case 'run': console.log(`next: stage ${action.stage}`, action.steps); break;
 *   case 'compensate': console.log(`undo: stage ${action.stage}`, action.steps); break;
 *   case 'compensate-from': case 'fail': console.log(`stop: ${action.reason}`, action.step); break;
 *   default: console.log(action.kind);
 * }
 * ```
 */
export type SagaAction =
  /** Nothing: the saga is in a terminal status. */
  | { readonly kind: 'done' }
  /** Run these steps (all of one stage) concurrently. */
  | { readonly kind: 'run'; readonly stage: number; readonly steps: readonly string[] }
  /** Every step succeeded: record completion. */
  | { readonly kind: 'complete' }
  /** Stop going forward and compensate. */
  | {
      readonly kind: 'compensate-from';
      readonly reason: SagaFailureReason;
      readonly step?: string | undefined;
    }
  /** Stop going forward without compensating (a pivot has completed). */
  | { readonly kind: 'fail'; readonly reason: SagaFailureReason; readonly step?: string | undefined }
  /** Run these compensations (all of one stage) concurrently. */
  | { readonly kind: 'compensate'; readonly stage: number; readonly steps: readonly string[] }
  /** Every compensation succeeded: record the saga as compensated. */
  | { readonly kind: 'finish-compensated' }
  /** A compensation still fails: record `compensation-failed` and wait for a redrive. */
  | { readonly kind: 'stall' };

/**
 * The compensation plan: stages in reverse order, each with the steps still to compensate (completed
 * steps that have a `compensate`, in definition order). Steps of a parallel group stay together.
 *
 * @example
 * ```ts
 * compensationPlan(saga, state); // [{ stage: 2, steps: ['c'] }, { stage: 0, steps: ['a', 'b'] }]
 * ```
 */
export function compensationPlan(
  saga: Saga,
  state: SagaState,
): { readonly stage: number; readonly steps: readonly string[]; readonly failed: readonly string[] }[] {
  const plan: { stage: number; steps: string[]; failed: string[] }[] = [];
  for (let i = saga.stages.length - 1; i >= 0; i--) {
    const steps: string[] = [];
    const failed: string[] = [];
    for (const step of (saga.stages[i] as Saga['stages'][number]).steps) {
      if (step.compensate === undefined) continue;
      const st = state.steps[step.name]?.status;
      if (st === 'succeeded' || st === 'compensating') steps.push(step.name);
      else if (st === 'compensation-failed') failed.push(step.name);
    }
    if (steps.length > 0 || failed.length > 0) plan.push({ stage: i, steps, failed });
  }
  return plan;
}

/**
 * Decides the next action for a saga from its definition, its folded state and the time. Pure, so
 * that a resumed orchestrator decides exactly what the crashed one would have.
 *
 * @example
 * ```ts
 * const action = nextAction(saga, state, clock.now());
 * ```
 */
export function nextAction(saga: Saga, state: SagaState, now: number): SagaAction {
  switch (state.status) {
    case 'running':
      return forward(saga, state, now);
    case 'compensating': {
      const next = compensationPlan(saga, state)[0];
      if (next === undefined) return { kind: 'finish-compensated' };
      if (next.steps.length > 0) return { kind: 'compensate', stage: next.stage, steps: next.steps };
      return { kind: 'stall' };
    }
    default:
      return { kind: 'done' };
  }
}

function stop(state: SagaState, reason: SagaFailureReason, step?: string): SagaAction {
  return state.pivotPassed ? { kind: 'fail', reason, step } : { kind: 'compensate-from', reason, step };
}

function forward(saga: Saga, state: SagaState, now: number): SagaAction {
  if (state.cancelRequested) return stop(state, 'cancelled');
  if (state.deadline !== undefined && now >= state.deadline) return stop(state, 'timeout');
  for (let i = 0; i < saga.stages.length; i++) {
    const stage = saga.stages[i] as Saga['stages'][number];
    const todo: string[] = [];
    const unsettled: string[] = [];
    let failed: string | undefined;
    for (const step of stage.steps) {
      const st = state.steps[step.name]?.status;
      if (st === 'failed') failed ??= step.name;
      else if (st !== 'succeeded') todo.push(step.name);
      if (st === 'running') unsettled.push(step.name);
    }
    if (failed !== undefined) {
      // A step of the group failed, but a sibling's outcome was lost in a crash: settle it first
      // (same idempotency key), so that it is compensated if it did complete.
      return unsettled.length > 0 ? { kind: 'run', stage: i, steps: unsettled } : stop(state, 'step-failed', failed);
    }
    if (todo.length > 0) return { kind: 'run', stage: i, steps: todo };
  }
  return { kind: 'complete' };
}
