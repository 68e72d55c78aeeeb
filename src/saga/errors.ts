import { BreakwaterError, type BreakwaterErrorOptions, errorGuard } from '../core/errors.js';

/**
 * How one compensation ended, as reported by {@link SagaFailedError}.
 *
 * @example
 * ```ts
 * import { type CompensationOutcome, isSagaFailedError } from 'breakwater/saga';
 *
 * try {
 *   await sagas.run(bookTrip, trip, { id: trip.id });
 * } catch (e) {
 *   if (!isSagaFailedError(e)) throw e;
 *   const undoFailed: CompensationOutcome[] = e.compensations.filter((c) => c.status === 'failed');
 *   for (const { step, error } of undoFailed) console.error(`could not undo ${step}`, error);
 * }
 * ```
 */
export interface CompensationOutcome {
  /** The step whose compensation ran. */
  readonly step: string;
  /** `compensated` when the compensation succeeded, `failed` when it still failed after its retries. */
  readonly status: 'compensated' | 'failed';
  /** The compensation's last error, when it failed. */
  readonly error?: unknown;
}

/**
 * Why a saga stopped going forward.
 *
 * @example
 * ```ts
 * import { isSagaFailedError, type SagaFailureReason } from 'breakwater/saga';
 *
 * function explain(reason: SagaFailureReason): string {
 *   switch (reason) {
 *     case 'step-failed': return 'a step failed';
 *     case 'timeout': return 'the saga ran out of time';
 *     case 'cancelled': return 'the saga was cancelled';
 *   }
 * }
 * if (isSagaFailedError(e)) console.log(`${e.sagaId}: ${explain(e.reason)}, now ${e.status}`);
 * ```
 */
export type SagaFailureReason = 'step-failed' | 'timeout' | 'cancelled';

/**
 * A saga did not complete: a step failed (or the saga timed out or was cancelled) and the steps
 * done so far were compensated, or could not be (`status` says which).
 *
 * @example
 * ```ts
 * try { await sagas.run(bookTrip, input, { id }); }
 * catch (e) {
 *   if (isSagaFailedError(e)) console.log(e.step, e.status, e.compensations);
 * }
 * ```
 */
export class SagaFailedError extends BreakwaterError {
  /** The saga instance id. */
  readonly sagaId: string;
  /** The step that failed, if a step failed (not set for a timeout or cancellation between steps). */
  readonly step: string | undefined;
  /** Why the saga stopped going forward. */
  readonly reason: SagaFailureReason;
  /** The saga's final status: `compensated`, `compensation-failed` or `failed` (after a pivot). */
  readonly status: 'compensated' | 'compensation-failed' | 'failed';
  /** The outcome of each compensation, in the order they ran. */
  readonly compensations: readonly CompensationOutcome[];

  constructor(
    fields: {
      readonly sagaId: string;
      readonly step: string | undefined;
      readonly reason: SagaFailureReason;
      readonly status: 'compensated' | 'compensation-failed' | 'failed';
      readonly compensations: readonly CompensationOutcome[];
    },
    options?: BreakwaterErrorOptions,
  ) {
    const what = fields.step === undefined ? fields.reason : `step "${fields.step}" (${fields.reason})`;
    super('ERR_SAGA_FAILED', `Saga ${fields.sagaId} failed at ${what}; status ${fields.status}`, options);
    this.sagaId = fields.sagaId;
    this.step = fields.step;
    this.reason = fields.reason;
    this.status = fields.status;
    this.compensations = fields.compensations;
  }
}

/**
 * True for a {@link SagaFailedError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isSagaFailedError(e)) console.log(e.compensations);
 * ```
 */
export const isSagaFailedError: (error: unknown) => error is SagaFailedError =
  /*#__PURE__*/ errorGuard<SagaFailedError>('ERR_SAGA_FAILED');

/**
 * A saga definition is invalid (duplicate step names, no steps, a compensation on a pivot step, …).
 * Thrown by `defineSaga` and `parallel`, before anything runs.
 *
 * @example
 * ```ts
 * try { defineSaga({ name: 'x', steps: [] }); }
 * catch (e) { if (isSagaDefinitionError(e)) console.log(e.message); }
 * ```
 */
export class SagaDefinitionError extends BreakwaterError {
  constructor(message: string) {
    super('ERR_SAGA_DEFINITION', message);
  }
}

/**
 * True for a {@link SagaDefinitionError}, also from another copy of the package.
 *
 * @example
 * ```ts
 * if (isSagaDefinitionError(e)) console.log(e.message);
 * ```
 */
export const isSagaDefinitionError: (error: unknown) => error is SagaDefinitionError =
  /*#__PURE__*/ errorGuard<SagaDefinitionError>('ERR_SAGA_DEFINITION');

/**
 * An error as stored in the saga log: plain data, so it survives serialization.
 *
 * @example
 * ```ts
 * import { memoryEventStore } from 'breakwater/event-store';
 * import { sagaOrchestrator, type StoredError } from 'breakwater/saga';
 *
 * const sagas = sagaOrchestrator({ store: memoryEventStore() });
 * const state = await sagas.status('trip-42');
 * const error: StoredError | undefined = state?.failure?.error;
 * if (error !== undefined) console.log(`${error.name}: ${error.message}`, error.code ?? '');
 * ```
 */
export interface StoredError {
  readonly name: string;
  readonly message: string;
  readonly code?: string | undefined;
}

/** Turns any thrown value into a {@link StoredError}. @internal */
export function toStoredError(error: unknown): StoredError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string'
      ? { name: error.name, message: error.message, code }
      : { name: error.name, message: error.message };
  }
  return { name: 'NonError', message: typeof error === 'string' ? error : 'A non-Error value was thrown' };
}

/** Rebuilds an `Error` from a {@link StoredError} (after a resume, the original object is gone). @internal */
export function fromStoredError(stored: StoredError): Error {
  const e = new Error(stored.message);
  e.name = stored.name;
  if (stored.code !== undefined) Object.defineProperty(e, 'code', { value: stored.code, enumerable: true });
  return e;
}
