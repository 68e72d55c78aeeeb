// What `run`, `redrive` and a waiting caller get once a saga is in a terminal status.
import { BreakwaterError, TimeoutError } from '../core/errors.js';
import { type CompensationOutcome, fromStoredError, SagaFailedError } from './errors.js';
import type { SagaState } from './state.js';

/** The abort reason of a cancelled saga. @internal */
export function cancelled(id: string): BreakwaterError {
  return new BreakwaterError('ERR_SAGA_CANCELLED', `Saga ${id} was cancelled`);
}

/**
 * Returns the result of a completed saga, or throws its {@link SagaFailedError}. Errors seen by this
 * process are reported as the original objects; after a resume they are rebuilt from the log.
 * @internal
 */
export function sagaOutcome(
  state: SagaState,
  live:
    | { readonly errors: ReadonlyMap<string, unknown>; readonly compensationErrors: ReadonlyMap<string, unknown> }
    | undefined,
  timeoutMs: number,
): unknown {
  if (state.status === 'completed') return state.result;
  const f = state.failure;
  const step = f?.step;
  const cause =
    (step === undefined ? undefined : live?.errors.get(step)) ??
    (f?.error !== undefined
      ? fromStoredError(f.error)
      : f?.reason === 'cancelled'
        ? cancelled(state.id)
        : new TimeoutError(timeoutMs));
  const compensations: CompensationOutcome[] = state.compensations.map((c) =>
    c.status === 'compensated'
      ? c
      : {
          step: c.step,
          status: 'failed',
          error: live?.compensationErrors.get(c.step) ?? fromStoredError(c.error as never),
        },
  );
  throw new SagaFailedError(
    {
      sagaId: state.id,
      step,
      reason: f?.reason ?? 'step-failed',
      status: state.status as 'compensated' | 'compensation-failed' | 'failed',
      compensations,
    },
    { cause },
  );
}
