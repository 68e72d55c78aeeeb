// Executing one step or one compensation for a driver, recording each transition in the saga log.
import type { Clock } from '../core/clock.js';
import type { Policy } from '../core/policy.js';
import type { SagaStep } from './definition.js';
import { toStoredError } from './errors.js';
import { LeaseLostError, type SagaLog } from './log.js';
import type { SagaState } from './state.js';
import { callOwned, callWithLimit, retryLoop } from './step-runner.js';

/** One process driving one saga. @internal */
export interface Drive {
  readonly log: SagaLog;
  /** Aborts the steps' signals: timeout, cancellation, takeover. */
  readonly forward: AbortController;
  /** Aborts the compensations' signals: takeover only. */
  readonly compensation: AbortController;
  /** Errors of failed steps as thrown (richer than the log's copies). */
  readonly errors: Map<string, unknown>;
  readonly compensationErrors: Map<string, unknown>;
  done: Promise<SagaState>;
}

/** How compensations are retried when their step sets no `compensatePolicy`. @internal */
export interface CompensationSettings {
  readonly policy: Policy<any> | undefined;
  readonly retries: number;
  readonly delay: number;
  readonly clock: Clock;
}

/** The results of the steps that completed, by step name. @internal */
export function resultsOf(state: SagaState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, st] of Object.entries(state.steps)) if ('result' in st) out[name] = st.result;
  return out;
}

/** Marks a failure to write the log from inside a step's policy, so it is not taken for the step's failure. */
class LogWriteFailed {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

/** Runs one step under its policy and time limit, recording its start and outcome. @internal */
export async function runStep(step: SagaStep, drive: Drive, clock: Clock): Promise<void> {
  const { log } = drive;
  const sagaId = log.state.id;
  const key = `${sagaId}:${step.name}`;
  let result: unknown;
  try {
    const task = async (pctx: { readonly signal: AbortSignal }): Promise<unknown> => {
      const attempt = (log.state.steps[step.name]?.attempts ?? 0) + 1;
      try {
        await log.append({ type: 'saga.step-started', data: { step: step.name, attempt } });
      } catch (e) {
        throw new LogWriteFailed(e);
      }
      const base = { sagaId, key, attempt, results: resultsOf(log.state) };
      return callWithLimit((ctx) => step.run(log.state.input, ctx), base, pctx.signal, step.timeout, clock);
    };
    result = await (step.policy === undefined
      ? task({ signal: drive.forward.signal })
      : step.policy.execute(task, { signal: drive.forward.signal, key }));
  } catch (e) {
    if (e instanceof LeaseLostError || log.lost) throw e;
    // The log could not be written: stop driving (the saga stays resumable) rather than record a failure.
    if (e instanceof LogWriteFailed) throw e.error;
    drive.errors.set(step.name, e);
    await log.append({ type: 'saga.step-failed', data: { step: step.name, error: toStoredError(e) } });
    return;
  }
  await log.append({
    type: 'saga.step-succeeded',
    data: step.pivot === true ? { step: step.name, result, pivot: true } : { step: step.name, result },
  });
}

/** Runs one compensation under its policy, recording its start and outcome. @internal */
export async function compensateStep(step: SagaStep, drive: Drive, settings: CompensationSettings): Promise<void> {
  const { log } = drive;
  const sagaId = log.state.id;
  const key = `${sagaId}:${step.name}`;
  const compensate = step.compensate as NonNullable<SagaStep['compensate']>;
  await log.append({ type: 'saga.step-compensating', data: { step: step.name } });
  const result = log.state.steps[step.name]?.result;
  const signal = drive.compensation.signal;
  const call = (attempt: number, s: AbortSignal): Promise<unknown> =>
    callOwned(
      (ctx) => compensate(log.state.input, result, ctx),
      { sagaId, key, attempt, results: resultsOf(log.state) },
      s,
    );
  const policy = step.compensatePolicy ?? settings.policy;
  try {
    await (policy === undefined
      ? retryLoop((attempt) => call(attempt, signal), settings.retries, settings.delay, settings.clock, signal)
      : policy.execute((pctx) => call(pctx.attempt, pctx.signal), { signal, key }));
  } catch (e) {
    if (e instanceof LeaseLostError || log.lost) throw e;
    drive.compensationErrors.set(step.name, e);
    await log.append({ type: 'saga.step-compensation-failed', data: { step: step.name, error: toStoredError(e) } });
    return;
  }
  drive.compensationErrors.delete(step.name);
  await log.append({ type: 'saga.step-compensated', data: { step: step.name } });
}
