import type { CompensationOutcome, SagaFailureReason, StoredError } from './errors.js';

/**
 * Where a saga instance is.
 *
 * @example
 * ```ts
 * import type { SagaStatus } from 'breakwater/saga';
 *
 * function needsOperator(status: SagaStatus): boolean {
 *   switch (status) {
 *     case 'failed': // stopped after the pivot: fix the cause, then redrive
 *     case 'compensation-failed': // a compensation kept failing: fix it, then redrive
 *       return true;
 *     default: // running, compensating, completed, compensated
 *       return false;
 *   }
 * }
 * ```
 */
export type SagaStatus = 'running' | 'compensating' | 'completed' | 'compensated' | 'failed' | 'compensation-failed';

/**
 * Where one step of a saga instance is.
 *
 * @example
 * ```ts
 * import { sagaOrchestrator, type StepStatus } from 'breakwater/saga';
 *
 * const state = await sagaOrchestrator({ store }).status('trip-42');
 * for (const [name, step] of Object.entries(state?.steps ?? {})) {
 *   const status: StepStatus = step.status;
 *   if (status === 'compensation-failed') console.error(`could not undo ${name}`, step.error);
 * }
 * ```
 */
export type StepStatus =
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'compensating'
  | 'compensated'
  | 'compensation-failed';

/**
 * Every event type the orchestrator writes to a saga's stream.
 *
 * @example
 * ```ts
 * import { memoryEventStore } from 'breakwater/event-store';
 * import type { SagaLogEvent } from 'breakwater/saga';
 *
 * const store = memoryEventStore();
 * for await (const e of store.read<SagaLogEvent>('saga-trip-42')) {
 *   if (e.type === 'saga.step-failed') console.log(e.data.step, e.data.error.message);
 *   else if (e.type === 'saga.completed') console.log('result', e.data.result);
 * }
 * ```
 */
export type SagaLogEvent =
  | {
      readonly type: 'saga.started';
      readonly data: {
        readonly id: string;
        readonly saga: string;
        readonly input: unknown;
        readonly deadline?: number | undefined;
        readonly at: number;
      };
    }
  | { readonly type: 'saga.claimed'; readonly data: { readonly owner: string; readonly until: number } }
  | { readonly type: 'saga.step-started'; readonly data: { readonly step: string; readonly attempt: number } }
  | {
      readonly type: 'saga.step-succeeded';
      readonly data: { readonly step: string; readonly result: unknown; readonly pivot?: boolean | undefined };
    }
  | { readonly type: 'saga.step-failed'; readonly data: { readonly step: string; readonly error: StoredError } }
  | { readonly type: 'saga.cancel-requested'; readonly data: { readonly at: number } }
  | {
      readonly type: 'saga.compensating';
      readonly data: {
        readonly reason: SagaFailureReason;
        readonly step?: string | undefined;
        readonly error?: StoredError | undefined;
      };
    }
  | { readonly type: 'saga.step-compensating'; readonly data: { readonly step: string } }
  | { readonly type: 'saga.step-compensated'; readonly data: { readonly step: string } }
  | {
      readonly type: 'saga.step-compensation-failed';
      readonly data: { readonly step: string; readonly error: StoredError };
    }
  | { readonly type: 'saga.completed'; readonly data: { readonly result: unknown; readonly at: number } }
  | { readonly type: 'saga.compensated'; readonly data: { readonly at: number } }
  | { readonly type: 'saga.compensation-failed'; readonly data: { readonly at: number } }
  | {
      readonly type: 'saga.failed';
      readonly data: {
        readonly reason: SagaFailureReason;
        readonly step?: string | undefined;
        readonly error?: StoredError | undefined;
        readonly at: number;
      };
    }
  | { readonly type: 'saga.redriven'; readonly data: { readonly at: number } };

/**
 * The type names of {@link SagaLogEvent}.
 *
 * @example
 * ```ts
 * import { memoryEventStore } from 'breakwater/event-store';
 * import type { SagaLogEventType } from 'breakwater/saga';
 *
 * const ends: SagaLogEventType[] = ['saga.completed', 'saga.compensated', 'saga.compensation-failed', 'saga.failed'];
 * const store = memoryEventStore();
 * store.subscribe({ types: ends, handler: (e) => metrics.increment(e.type) });
 * ```
 */
export type SagaLogEventType = SagaLogEvent['type'];

/**
 * Every saga log event type, e.g. to filter `readAll`.
 * @example
 * ```ts
 * for await (const e of store.readAll({ types: [...SAGA_EVENT_TYPES] })) console.log(e.stream, e.type);
 * ```
 */
export const SAGA_EVENT_TYPES: readonly SagaLogEventType[] = Object.freeze([
  'saga.started',
  'saga.claimed',
  'saga.step-started',
  'saga.step-succeeded',
  'saga.step-failed',
  'saga.cancel-requested',
  'saga.compensating',
  'saga.step-compensating',
  'saga.step-compensated',
  'saga.step-compensation-failed',
  'saga.completed',
  'saga.compensated',
  'saga.compensation-failed',
  'saga.failed',
  'saga.redriven',
]);

/**
 * One step of a saga instance, as folded from its log.
 *
 * @example
 * ```ts
 * import { sagaOrchestrator, type StepState } from 'breakwater/saga';
 *
 * const state = await sagaOrchestrator({ store }).status('trip-42');
 * const charge: StepState | undefined = state?.steps.charge;
 * if (charge?.status === 'succeeded') console.log('charged', charge.result, `after ${charge.attempts} attempt(s)`);
 * ```
 */
export interface StepState {
  readonly status: StepStatus;
  /** How many times `run` was started (across processes). */
  readonly attempts: number;
  /** The step's result, once it succeeded. */
  readonly result?: unknown;
  /** The step's (or its compensation's) last error. */
  readonly error?: StoredError | undefined;
}

/**
 * Why and where a saga stopped going forward.
 *
 * @example
 * ```ts
 * import { type SagaFailure, sagaOrchestrator } from 'breakwater/saga';
 *
 * const state = await sagaOrchestrator({ store }).status('trip-42');
 * const failure: SagaFailure | undefined = state?.failure;
 * if (failure !== undefined) {
 *   console.log(`stopped (${failure.reason}) at step ${failure.step ?? '-'}`, failure.error?.message);
 * }
 * ```
 */
export interface SagaFailure {
  readonly reason: SagaFailureReason;
  readonly step?: string | undefined;
  readonly error?: StoredError | undefined;
}

/**
 * A saga instance, as folded from its log: what `status(id)` returns.
 *
 * @example
 * ```ts
 * import { isTerminalStatus, type SagaState, sagaOrchestrator } from 'breakwater/saga';
 *
 * const state: SagaState | undefined = await sagaOrchestrator({ store }).status('trip-42');
 * if (state !== undefined && !isTerminalStatus(state.status)) {
 *   console.log(`${state.saga} ${state.status}, driven by ${state.lease?.owner ?? 'nobody'}`);
 *   console.log('started', new Date(state.startedAt), 'steps', Object.keys(state.steps));
 * }
 * ```
 */
export interface SagaState {
  readonly id: string;
  /** The saga definition's name. */
  readonly saga: string;
  readonly status: SagaStatus;
  readonly input: unknown;
  /** Clock time past which the saga compensates, if it has a timeout. */
  readonly deadline: number | undefined;
  /** The stream version this state was folded up to. */
  readonly version: number;
  /** Steps that have started at least once, by name. */
  readonly steps: Readonly<Record<string, StepState>>;
  /** Set once the saga stopped going forward. */
  readonly failure: SagaFailure | undefined;
  /** The saga's result, once completed. */
  readonly result?: unknown;
  /** Each compensation's outcome, in log order. */
  readonly compensations: readonly CompensationOutcome[];
  /** True once a pivot step has completed: the saga can no longer be compensated. */
  readonly pivotPassed: boolean;
  /** True once `cancel` was requested. */
  readonly cancelRequested: boolean;
  /** The process driving the saga and until when (`token` = version of its claim: a fencing token). */
  readonly lease: { readonly owner: string; readonly until: number; readonly token: number } | undefined;
  readonly startedAt: number;
  readonly updatedAt: number;
}

const TERMINAL: ReadonlySet<SagaStatus> = new Set(['completed', 'compensated', 'failed', 'compensation-failed']);

/**
 * True for a status in which nothing happens until an operator acts (`redrive`) or never again.
 *
 * @example
 * ```ts
 * if (isTerminalStatus(state.status)) console.log('done');
 * ```
 */
export function isTerminalStatus(status: SagaStatus): boolean {
  return TERMINAL.has(status);
}

const PENDING: StepState = { status: 'pending', attempts: 0 };

function withStep(state: SagaState, step: string, f: (s: StepState) => StepState): Readonly<Record<string, StepState>> {
  return { ...state.steps, [step]: f(state.steps[step] ?? PENDING) };
}

/**
 * Folds one log event into a saga state (`undefined` before `saga.started`). Pure: the same log
 * always gives the same state; events of unknown types only advance the version.
 *
 * @example
 * ```ts
 * let state: SagaState | undefined;
 * for (const e of events) state = evolveSaga(state, e);
 * ```
 */
export function evolveSaga(state: SagaState | undefined, event: SagaLogEvent): SagaState | undefined {
  if (event.type === 'saga.started') {
    if (state !== undefined) return { ...state, version: state.version + 1 };
    const d = event.data;
    return {
      id: d.id,
      saga: d.saga,
      status: 'running',
      input: d.input,
      deadline: d.deadline,
      version: 1,
      steps: {},
      failure: undefined,
      compensations: [],
      pivotPassed: false,
      cancelRequested: false,
      lease: undefined,
      startedAt: d.at,
      updatedAt: d.at,
    };
  }
  if (state === undefined) return undefined;
  const s: SagaState = { ...state, version: state.version + 1 };
  switch (event.type) {
    case 'saga.claimed':
      // A renewal that lands after the end (it was queued behind the last transition) holds nothing.
      if (TERMINAL.has(s.status)) return s;
      return { ...s, lease: { owner: event.data.owner, until: event.data.until, token: s.version } };
    case 'saga.step-started':
      return {
        ...s,
        steps: withStep(s, event.data.step, (p) => ({ status: 'running', attempts: p.attempts + 1 })),
      };
    case 'saga.step-succeeded':
      return {
        ...s,
        pivotPassed: s.pivotPassed || event.data.pivot === true,
        steps: withStep(s, event.data.step, (p) => ({
          status: 'succeeded',
          attempts: Math.max(1, p.attempts),
          result: event.data.result,
        })),
      };
    case 'saga.step-failed':
      return {
        ...s,
        steps: withStep(s, event.data.step, (p) => ({
          status: 'failed',
          attempts: p.attempts,
          error: event.data.error,
        })),
      };
    case 'saga.cancel-requested':
      return { ...s, cancelRequested: true, updatedAt: event.data.at };
    case 'saga.compensating':
      return {
        ...s,
        status: 'compensating',
        failure: { reason: event.data.reason, step: event.data.step, error: event.data.error },
      };
    case 'saga.step-compensating':
      return { ...s, steps: withStep(s, event.data.step, (p) => ({ ...p, status: 'compensating' })) };
    case 'saga.step-compensated':
      return {
        ...s,
        steps: withStep(s, event.data.step, (p) => ({ ...p, status: 'compensated', error: undefined })),
        compensations: [...s.compensations, { step: event.data.step, status: 'compensated' }],
      };
    case 'saga.step-compensation-failed':
      return {
        ...s,
        steps: withStep(s, event.data.step, (p) => ({ ...p, status: 'compensation-failed', error: event.data.error })),
        compensations: [...s.compensations, { step: event.data.step, status: 'failed', error: event.data.error }],
      };
    case 'saga.completed':
      return { ...s, status: 'completed', result: event.data.result, lease: undefined, updatedAt: event.data.at };
    case 'saga.compensated':
      return { ...s, status: 'compensated', lease: undefined, updatedAt: event.data.at };
    case 'saga.compensation-failed':
      return { ...s, status: 'compensation-failed', lease: undefined, updatedAt: event.data.at };
    case 'saga.failed':
      return {
        ...s,
        status: 'failed',
        lease: undefined,
        failure: { reason: event.data.reason, step: event.data.step, error: event.data.error },
        updatedAt: event.data.at,
      };
    case 'saga.redriven':
      return redriven(s, event.data.at);
    default:
      return s;
  }
}

function redriven(s: SagaState, at: number): SagaState {
  const steps: Record<string, StepState> = {};
  if (s.status === 'compensation-failed') {
    // Failed compensations are tried again; the ones that succeeded are not.
    for (const [name, st] of Object.entries(s.steps)) {
      steps[name] = st.status === 'compensation-failed' ? { ...st, status: 'succeeded' } : st;
    }
    return { ...s, status: 'compensating', steps, updatedAt: at };
  }
  if (s.status === 'failed') {
    // Forward again from the failed step (Step Functions redrive: completed steps are not re-run).
    for (const [name, st] of Object.entries(s.steps)) {
      steps[name] = st.status === 'failed' || st.status === 'running' ? { ...st, status: 'pending' } : st;
    }
    return {
      ...s,
      status: 'running',
      steps,
      failure: undefined,
      cancelRequested: false,
      deadline: undefined,
      updatedAt: at,
    };
  }
  return s;
}

/**
 * Folds a whole log (in stream order) into a saga state.
 *
 * @example
 * ```ts
 * const state = foldSaga(events); // undefined for an empty log
 * ```
 */
export function foldSaga(events: Iterable<SagaLogEvent>): SagaState | undefined {
  let state: SagaState | undefined;
  for (const e of events) state = evolveSaga(state, e);
  return state;
}
