import { describe, expect, it } from 'vitest';
import { fromStoredError, toStoredError } from '../../src/saga/errors.js';
import {
  compensationPlan,
  defineSaga,
  evolveSaga,
  foldSaga,
  isTerminalStatus,
  nextAction,
  parallel,
  SAGA_EVENT_TYPES,
  SagaFailedError,
  type SagaLogEvent,
} from '../../src/saga/index.js';

const s = (name: string, undo = true) => ({ name, run: () => name, ...(undo ? { compensate: () => {} } : {}) });
const saga = defineSaga({ name: 'x', steps: [s('a'), parallel([s('b'), s('c', false)]), s('d')] });
const started: SagaLogEvent = { type: 'saga.started', data: { id: '1', saga: 'x', input: 0, at: 5 } };
const ok = (step: string): SagaLogEvent[] => [
  { type: 'saga.step-started', data: { step, attempt: 1 } },
  { type: 'saga.step-succeeded', data: { step, result: step } },
];

describe('evolveSaga / foldSaga', () => {
  it('ignores events before saga.started and counts foreign events in the version', () => {
    expect(evolveSaga(undefined, ok('a')[0] as SagaLogEvent)).toBeUndefined();
    const st = foldSaga([started, { type: 'other', data: {} } as never, started]);
    expect(st?.version).toBe(3);
    expect(st?.status).toBe('running');
    expect(foldSaga([])).toBeUndefined();
  });

  it('folds a full failure path', () => {
    const st = foldSaga([
      started,
      { type: 'saga.claimed', data: { owner: 'p', until: 100 } },
      ...ok('a'),
      { type: 'saga.step-started', data: { step: 'b', attempt: 1 } },
      { type: 'saga.step-failed', data: { step: 'b', error: { name: 'Error', message: 'x' } } },
      { type: 'saga.compensating', data: { reason: 'step-failed', step: 'b' } },
      { type: 'saga.step-compensating', data: { step: 'a' } },
      { type: 'saga.step-compensation-failed', data: { step: 'a', error: { name: 'E', message: 'y' } } },
      { type: 'saga.compensation-failed', data: { at: 9 } },
    ]);
    expect(st?.lease).toBeUndefined();
    expect(st?.status).toBe('compensation-failed');
    expect(st?.steps.a).toMatchObject({ status: 'compensation-failed', attempts: 1, result: 'a' });
    expect(st?.compensations).toEqual([{ step: 'a', status: 'failed', error: { name: 'E', message: 'y' } }]);
    expect(st?.updatedAt).toBe(9);
    const again = evolveSaga(st, { type: 'saga.redriven', data: { at: 10 } });
    expect(again?.status).toBe('compensating');
    expect(again?.steps.a?.status).toBe('succeeded');
    // Redriving a saga that is not failed changes nothing but the version.
    const done = foldSaga([started, ...ok('a'), { type: 'saga.completed', data: { result: 1, at: 3 } }]);
    expect(evolveSaga(done, { type: 'saga.redriven', data: { at: 1 } })?.status).toBe('completed');
    // A lease renewal that lands after the end holds nothing.
    expect(evolveSaga(done, { type: 'saga.claimed', data: { owner: 'p', until: 1e9 } })?.lease).toBeUndefined();
  });

  it('redrive of a failed saga goes forward again, without deadline or cancellation', () => {
    const st = foldSaga([
      { ...started, data: { ...started.data, deadline: 50 } } as SagaLogEvent,
      { type: 'saga.step-started', data: { step: 'a', attempt: 1 } },
      { type: 'saga.step-succeeded', data: { step: 'a', result: 1, pivot: true } },
      { type: 'saga.cancel-requested', data: { at: 7 } },
      { type: 'saga.failed', data: { reason: 'cancelled', at: 8 } },
      { type: 'saga.redriven', data: { at: 9 } },
    ]);
    expect(st).toMatchObject({ status: 'running', cancelRequested: false, deadline: undefined, pivotPassed: true });
  });

  it('lists every event type and terminal statuses', () => {
    expect(SAGA_EVENT_TYPES.length).toBe(15);
    expect(
      ['completed', 'compensated', 'failed', 'compensation-failed'].every((x) => isTerminalStatus(x as never)),
    ).toBe(true);
    expect(isTerminalStatus('running') || isTerminalStatus('compensating')).toBe(false);
  });
});

describe('nextAction / compensationPlan', () => {
  it('runs the first unfinished stage, then completes', () => {
    const st0 = foldSaga([started]);
    expect(nextAction(saga, st0!, 0)).toEqual({ kind: 'run', stage: 0, steps: ['a'] });
    const st1 = foldSaga([started, ...ok('a'), ...ok('b')]);
    expect(nextAction(saga, st1!, 0)).toEqual({ kind: 'run', stage: 1, steps: ['c'] });
    const st2 = foldSaga([started, ...ok('a'), ...ok('b'), ...ok('c'), ...ok('d')]);
    expect(nextAction(saga, st2!, 0)).toEqual({ kind: 'complete' });
    expect(nextAction(saga, { ...st2!, status: 'completed' }, 0)).toEqual({ kind: 'done' });
  });

  it('stops for a deadline or a cancellation', () => {
    const st = foldSaga([{ ...started, data: { ...started.data, deadline: 10 } } as SagaLogEvent])!;
    expect(nextAction(saga, st, 9).kind).toBe('run');
    expect(nextAction(saga, st, 10)).toEqual({ kind: 'compensate-from', reason: 'timeout', step: undefined });
    expect(nextAction(saga, { ...st, cancelRequested: true }, 0)).toMatchObject({ reason: 'cancelled' });
    expect(nextAction(saga, { ...st, cancelRequested: true, pivotPassed: true }, 0)).toMatchObject({ kind: 'fail' });
  });

  it('plans compensations in reverse, groups together, skipping steps without compensate', () => {
    const st = foldSaga([
      started,
      ...ok('a'),
      ...ok('b'),
      ...ok('c'),
      { type: 'saga.step-started', data: { step: 'd', attempt: 1 } },
      { type: 'saga.step-failed', data: { step: 'd', error: { name: 'E', message: 'x' } } },
      { type: 'saga.compensating', data: { reason: 'step-failed', step: 'd' } },
    ])!;
    expect(compensationPlan(saga, st)).toEqual([
      { stage: 1, steps: ['b'], failed: [] },
      { stage: 0, steps: ['a'], failed: [] },
    ]);
    expect(nextAction(saga, st, 0)).toEqual({ kind: 'compensate', stage: 1, steps: ['b'] });
    const stuck = evolveSaga(st, {
      type: 'saga.step-compensation-failed',
      data: { step: 'b', error: { name: 'E', message: 'x' } },
    })!;
    expect(nextAction(saga, stuck, 0)).toEqual({ kind: 'stall' });
    const done = foldSaga([
      started,
      ...ok('a'),
      { type: 'saga.compensating', data: { reason: 'cancelled' } },
      { type: 'saga.step-compensated', data: { step: 'a' } },
    ])!;
    expect(nextAction(saga, done, 0)).toEqual({ kind: 'finish-compensated' });
  });
});

describe('errors', () => {
  it('stores and restores errors as plain data', () => {
    const e = Object.assign(new TypeError('bad'), { code: 'E_BAD' });
    expect(toStoredError(e)).toEqual({ name: 'TypeError', message: 'bad', code: 'E_BAD' });
    expect(toStoredError('oops')).toEqual({ name: 'NonError', message: 'oops' });
    expect(toStoredError(42)).toEqual({ name: 'NonError', message: 'A non-Error value was thrown' });
    const back = fromStoredError({ name: 'TypeError', message: 'bad', code: 'E_BAD' });
    expect([back.name, back.message, (back as { code?: string }).code]).toEqual(['TypeError', 'bad', 'E_BAD']);
    expect((fromStoredError({ name: 'E', message: 'm' }) as { code?: string }).code).toBeUndefined();
  });

  it('SagaFailedError names the step and status, never the payload', () => {
    const e = new SagaFailedError({
      sagaId: 's1',
      step: 'pay',
      reason: 'step-failed',
      status: 'compensated',
      compensations: [],
    });
    expect(e.message).toBe('Saga s1 failed at step "pay" (step-failed); status compensated');
    const t = new SagaFailedError({
      sagaId: 's1',
      step: undefined,
      reason: 'timeout',
      status: 'failed',
      compensations: [],
    });
    expect(t.message).toBe('Saga s1 failed at timeout; status failed');
  });
});
