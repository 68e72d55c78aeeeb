/**
 * Saga orchestrator: distributed transactions by compensation, with a durable log in the event
 * store, per-step policies and idempotency keys, leases, and resume after a crash.
 *
 * @example
 * ```ts
 * import { defineSaga, sagaOrchestrator } from 'breakwater/saga';
 * import { memoryEventStore } from 'breakwater/event-store';
 *
 * const saga = defineSaga({
 *   name: 'book-trip',
 *   steps: [
 *     { name: 'reserve', run: (trip, { key }) => seats.reserve(trip, key), compensate: (trip, seat) => seats.release(seat) },
 *     { name: 'charge', run: (trip, { key }) => cards.charge(trip, key), compensate: (trip, charge) => cards.refund(charge) },
 *   ],
 * });
 * const sagas = sagaOrchestrator({ store: memoryEventStore() });
 * await sagas.run(saga, trip, { id: trip.id });
 * ```
 *
 * @module
 */
export {
  defineSaga,
  type ParallelSteps,
  parallel,
  type Saga,
  type SagaOptions,
  type SagaStage,
  type SagaStep,
  type StepContext,
} from './definition.js';
export {
  type CompensationOutcome,
  isSagaDefinitionError,
  isSagaFailedError,
  SagaDefinitionError,
  SagaFailedError,
  type SagaFailureReason,
  type StoredError,
} from './errors.js';
export type { SagaStore } from './log.js';
export { sagaOrchestrator } from './orchestrator.js';
export type {
  ListOptions,
  SagaEvent,
  SagaEventType,
  SagaOrchestrator,
  SagaOrchestratorOptions,
} from './orchestrator-types.js';
export { compensationPlan, nextAction, type SagaAction } from './planner.js';
export { type SagaIndex, type SagaIndexEntry, type SagaIndexOptions, sagaIndex } from './saga-index.js';
export {
  evolveSaga,
  foldSaga,
  isTerminalStatus,
  SAGA_EVENT_TYPES,
  type SagaFailure,
  type SagaLogEvent,
  type SagaLogEventType,
  type SagaState,
  type SagaStatus,
  type StepState,
  type StepStatus,
} from './state.js';
