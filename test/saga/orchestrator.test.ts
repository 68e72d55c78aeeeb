import { describe, expect, it } from 'vitest';
import { memoryEventStore } from '../../src/event-store/index.js';
import {
  defineSaga,
  isSagaFailedError,
  type SagaEvent,
  type SagaFailedError,
  type SagaLogEvent,
  sagaOrchestrator,
} from '../../src/saga/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { recorder, recStep, testRetry, tripSaga } from './helpers.js';

function setup(extra: Partial<Parameters<typeof sagaOrchestrator>[0]> = {}) {
  const clock = virtualClock({ start: 1000 });
  const store = memoryEventStore({ clock });
  const orch = sagaOrchestrator({ store, clock, compensationRetries: 0, ...extra });
  return { clock, store, orch };
}

async function logTypes(store: ReturnType<typeof memoryEventStore>, id: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of store.read(`saga-${id}`)) out.push(e.type);
  return out;
}

/** Advances virtual time in small steps until `p` settles. */
async function drain<T>(clock: ReturnType<typeof virtualClock>, p: Promise<T>): Promise<T> {
  let done = false;
  const watched = p.finally(() => {
    done = true;
  });
  for (let i = 0; i < 1000 && !done; i++) await clock.advance(50);
  return watched;
}

async function failure(p: Promise<unknown>): Promise<SagaFailedError> {
  try {
    await p;
  } catch (e) {
    if (isSagaFailedError(e)) return e;
    throw e;
  }
  throw new Error('expected the saga to fail');
}

describe('sagaOrchestrator: forward path', () => {
  it('runs steps in order, passes results and keys, resolves with the saga result', async () => {
    const { orch, store } = setup();
    const seen: unknown[] = [];
    const saga = defineSaga({
      name: 'book',
      steps: [
        { name: 'seat', run: (input: { n: number }, ctx) => ({ seat: input.n, key: ctx.key, attempt: ctx.attempt }) },
        {
          name: 'charge',
          run: async (_input, ctx) => {
            seen.push(ctx.results, ctx.sagaId, ctx.signal.aborted);
            // The transition is in the log before the step acts.
            const types = await logTypes(store, 'b1');
            return types.at(-1);
          },
        },
      ],
      result: (input, r) => ({ input, ...r }),
    });
    const result = await orch.run(saga, { n: 7 }, { id: 'b1' });
    expect(result).toEqual({
      input: { n: 7 },
      seat: { seat: 7, key: 'b1:seat', attempt: 1 },
      charge: 'saga.step-started',
    });
    expect(seen).toEqual([{ seat: { seat: 7, key: 'b1:seat', attempt: 1 } }, 'b1', false]);
    expect(await logTypes(store, 'b1')).toEqual([
      'saga.started',
      'saga.claimed',
      'saga.step-started',
      'saga.step-succeeded',
      'saga.step-started',
      'saga.step-succeeded',
      'saga.completed',
    ]);
    const st = await orch.status('b1');
    expect(st?.status).toBe('completed');
    expect(st?.lease).toBeUndefined();
    expect(await orch.status('nope')).toBeUndefined();
  });

  it('runs a parallel group concurrently', async () => {
    const { orch } = setup();
    let running = 0;
    let peak = 0;
    const slow = (name: string) => ({
      name,
      run: async () => {
        running++;
        peak = Math.max(peak, running);
        for (let i = 0; i < 300 && running < 3; i++) await Promise.resolve();
        running--;
        return name;
      },
    });
    const { parallel } = await import('../../src/saga/index.js');
    const saga = defineSaga({ name: 'p', steps: [parallel([slow('x'), slow('y'), slow('z')])] });
    expect(await orch.run(saga, null, { id: 'p1' })).toEqual({ x: 'x', y: 'y', z: 'z' });
    expect(peak).toBe(3);
  });

  it('emits an event for every transition, and a throwing listener changes nothing', async () => {
    const { orch } = setup();
    const rec = recorder();
    const events: SagaEvent[] = [];
    const off = orch.on('*', (e) => events.push(e));
    orch.on('step-succeeded', () => {
      throw new Error('listener bug');
    });
    const onlyDone: string[] = [];
    orch.on('completed', (e) => onlyDone.push(e.sagaId));
    await orch.run(tripSaga(rec), 1, { id: 'e1' });
    expect(events[0]).toMatchObject({ type: 'started', kind: 'saga', name: 'trip', sagaId: 'e1', step: undefined });
    expect(events.filter((e) => e.type === 'step-succeeded').map((e) => e.step)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(events.at(-1)?.type).toBe('completed');
    expect(onlyDone).toEqual(['e1']);
    off();
    await orch.run(tripSaga(rec), 1, { id: 'e2' });
    expect(events.at(-1)?.sagaId).toBe('e1');
  });

  it('runs each step under its policy; ctx.attempt counts attempts and each attempt is logged', async () => {
    const { orch, store } = setup();
    const rec = recorder();
    rec.failRun.set('a', 2);
    const saga = tripSaga(rec, { a: { policy: testRetry(3) } });
    const result = (await orch.run(saga, 1, { id: 'r1' })) as Record<string, { attempt: number }>;
    expect(result.a?.attempt).toBe(3);
    expect((await logTypes(store, 'r1')).filter((t) => t === 'saga.step-started').length).toBe(3 + 4);
    expect((await orch.status('r1'))?.steps.a?.attempts).toBe(3);
  });
});

describe('sagaOrchestrator: compensation', () => {
  it('compensates completed steps in reverse order, parallel groups together, and reports each', async () => {
    const { orch } = setup();
    const rec = recorder();
    rec.failRun.set('d', 1);
    const e = await failure(orch.run(tripSaga(rec), 1, { id: 'c1' }));
    expect(rec.calls).toEqual([
      'run:a',
      'run:b',
      'run:c',
      'run:d',
      // b and c start their compensations together, before a.
      'undo:b',
      'undo:c',
      'undo:a',
    ]);
    expect(e.code).toBe('ERR_SAGA_FAILED');
    expect(e.step).toBe('d');
    expect(e.reason).toBe('step-failed');
    expect(e.status).toBe('compensated');
    expect((e.cause as Error).message).toBe('d failed');
    expect(e.compensations).toEqual([
      { step: 'b', status: 'compensated' },
      { step: 'c', status: 'compensated' },
      { step: 'a', status: 'compensated' },
    ]);
    const st = await orch.status('c1');
    expect(st?.status).toBe('compensated');
    expect(st?.failure?.error?.message).toBe('d failed');
  });

  it('lets the other steps of a parallel group settle, and compensates the ones that completed', async () => {
    const { orch } = setup();
    const rec = recorder();
    rec.failRun.set('b', 1);
    const e = await failure(orch.run(tripSaga(rec), 1, { id: 'c2' }));
    expect(rec.calls).toEqual(['run:a', 'run:b', 'run:c', 'undo:c', 'undo:a']);
    expect(e.step).toBe('b');
  });

  it('skips steps without compensate', async () => {
    const { orch } = setup();
    const rec = recorder();
    rec.failRun.set('c', 1);
    const saga = tripSaga(rec, { a: { compensate: undefined } });
    const e = await failure(orch.run(saga, 1, { id: 'c3' }));
    expect(rec.calls.filter((c) => c.startsWith('undo'))).toEqual(['undo:b']);
    expect(e.compensations.map((c) => c.step)).toEqual(['b']);
  });

  it('retries a compensation under the built-in retry, then under a given policy', async () => {
    const { orch, clock } = setup({ compensationRetries: 2, compensationDelay: 100 });
    const rec = recorder();
    rec.failRun.set('c', 1);
    rec.failCompensate.set('a', 2);
    const e = await drain(clock, failure(orch.run(tripSaga(rec), 1, { id: 'c4' })));
    expect(clock.now()).toBeGreaterThanOrEqual(1300);
    expect(e.status).toBe('compensated');
    expect(rec.calls.filter((c) => c === 'undo:a').length).toBe(3);

    const rec2 = recorder();
    rec2.failRun.set('c', 1);
    rec2.failCompensate.set('b', 1);
    const e2 = await failure(orch.run(tripSaga(rec2, { b: { compensatePolicy: testRetry(1) } }), 1, { id: 'c5' }));
    expect(e2.status).toBe('compensated');
    const { orch: o3 } = setup({ compensationPolicy: testRetry(1) });
    const rec3 = recorder();
    rec3.failRun.set('c', 1);
    rec3.failCompensate.set('b', 1);
    expect((await failure(o3.run(tripSaga(rec3), 1, { id: 'c6' }))).status).toBe('compensated');
  });

  it('stops at a compensation that still fails: compensation-failed, listed, until redrive', async () => {
    const { orch, store } = setup();
    const rec = recorder();
    rec.failRun.set('e', 1);
    rec.failCompensate.set('b', 1);
    const e = await failure(orch.run(tripSaga(rec), 1, { id: 'f1' }));
    expect(e.status).toBe('compensation-failed');
    expect(e.compensations).toEqual([
      { step: 'd', status: 'compensated' },
      { step: 'b', status: 'failed', error: expect.objectContaining({ message: 'undo b failed' }) },
      { step: 'c', status: 'compensated' },
    ]);
    // a is not compensated while its later stage is stuck.
    expect(rec.calls).not.toContain('undo:a');
    expect((await orch.list({ status: 'compensation-failed' })).map((s) => s.id)).toEqual(['f1']);
    expect((await orch.list({ status: ['completed', 'running'] })).length).toBe(0);
    expect((await orch.list()).length).toBe(1);

    // Another process (no live errors) redrives: only b is retried, then a.
    const other = sagaOrchestrator({ store, clock: virtualClock({ start: 1000 }), sagas: [tripSaga(rec)] });
    rec.calls.length = 0;
    const e2 = await failure(other.redrive('f1'));
    expect(rec.calls).toEqual(['undo:b', 'undo:a']);
    expect(e2.status).toBe('compensated');
    expect((e2.cause as Error).message).toBe('e failed');
    expect((await orch.status('f1'))?.status).toBe('compensated');
    await expect(orch.redrive('f1')).rejects.toMatchObject({ code: 'ERR_SAGA_STATE' });
    await expect(orch.redrive('none')).rejects.toMatchObject({ code: 'ERR_SAGA_UNKNOWN' });
  });

  it('redrive needs the definition', async () => {
    const { store, clock } = setup();
    const rec = recorder();
    rec.failRun.set('b', 1);
    rec.failCompensate.set('a', 1);
    const o1 = sagaOrchestrator({ store, clock, compensationRetries: 0 });
    await failure(o1.run(tripSaga(rec), 1, { id: 'f2' }));
    const o2 = sagaOrchestrator({ store, clock });
    await expect(o2.redrive('f2')).rejects.toMatchObject({ code: 'ERR_SAGA_UNKNOWN' });
  });
});

describe('sagaOrchestrator: pivot', () => {
  it('after a pivot a failure does not compensate: failed, then redrive goes forward', async () => {
    const { orch } = setup();
    const rec = recorder();
    rec.failRun.set('d', 1);
    const saga = tripSaga(rec, { c: {}, b: {} });
    const pivoted = defineSaga({
      name: 'piv',
      steps: [...saga.stages.flatMap((s) => (s.parallel ? [] : s.steps)).slice(0, 1), pivotStep(rec), ...tail(rec)],
    });
    const e = await failure(orch.run(pivoted, 1, { id: 'v1' }));
    expect(e.status).toBe('failed');
    expect(e.step).toBe('d');
    expect(rec.calls.some((c) => c.startsWith('undo'))).toBe(false);
    expect((await orch.status('v1'))?.pivotPassed).toBe(true);
    rec.calls.length = 0;
    const result = (await orch.redrive('v1')) as Record<string, unknown>;
    expect(rec.calls).toEqual(['run:d', 'run:e']);
    expect(Object.keys(result)).toEqual(['a', 'p', 'd', 'e']);
  });

  it('a failing pivot compensates what came before it', async () => {
    const { orch } = setup();
    const rec = recorder();
    rec.failRun.set('p', 1);
    const saga = defineSaga({ name: 'piv2', steps: [recStep(rec, 'a'), pivotStep(rec), ...tail(rec)] });
    const e = await failure(orch.run(saga, 1, { id: 'v2' }));
    expect(e.status).toBe('compensated');
    expect(rec.calls).toEqual(['run:a', 'run:p', 'undo:a']);
  });
});

function pivotStep(rec: ReturnType<typeof recorder>) {
  return { ...recStep(rec, 'p'), compensate: undefined, pivot: true };
}
function tail(rec: ReturnType<typeof recorder>) {
  return [recStep(rec, 'd'), recStep(rec, 'e')];
}

describe('sagaOrchestrator: deduplicated start', () => {
  it('run with an existing id returns the existing outcome, without running anything again', async () => {
    const { orch, store, clock } = setup();
    const rec = recorder();
    const saga = tripSaga(rec);
    const [r1, r2] = await Promise.all([orch.run(saga, 1, { id: 'd1' }), orch.run(saga, 2, { id: 'd1' })]);
    expect(r2).toEqual(r1);
    expect(rec.calls.filter((c) => c === 'run:a').length).toBe(1);
    // Another orchestrator on the same store.
    const other = sagaOrchestrator({ store, clock });
    expect(await other.run(saga, 3, { id: 'd1' })).toEqual(r1);
    expect(rec.calls.filter((c) => c === 'run:a').length).toBe(1);
    // A failed one rejects again with the same failure.
    rec.failRun.set('a', 1);
    await failure(orch.run(saga, 1, { id: 'd2' }));
    const again = await failure(other.run(saga, 1, { id: 'd2' }));
    expect(again.step).toBe('a');
    expect((again.cause as Error).message).toBe('a failed');
  });

  it('waits for an instance another process is driving', async () => {
    const { store, clock } = setup();
    const rec = recorder();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const saga = defineSaga({ name: 'w', steps: [{ ...recStep(rec, 'a'), run: () => gate.then(() => 'done') }] });
    const o1 = sagaOrchestrator({ store, clock, lease: 10_000 });
    const o2 = sagaOrchestrator({ store, clock, pollInterval: 50 });
    const p1 = o1.run(saga, 1, { id: 'w1' });
    await clock.flush();
    let done = false;
    const p2 = o2.run(saga, 1, { id: 'w1' }).then((v) => {
      done = true;
      return v;
    });
    await clock.advance(200);
    expect(done).toBe(false);
    release();
    await p1;
    await clock.advance(50);
    expect(await p2).toEqual({ a: 'done' });
  });

  it('validates options and ids', () => {
    const { store } = setup();
    expect(() => sagaOrchestrator(undefined as never)).toThrow(TypeError);
    expect(() => sagaOrchestrator({ store: null as never })).toThrow(/`store`/);
    expect(() => sagaOrchestrator({ store, lease: 0 })).toThrow(/`lease`/);
    expect(() => sagaOrchestrator({ store, compensationRetries: 1.5 })).toThrow(/compensationRetries/);
    expect(() => sagaOrchestrator({ store, sagas: [{} as never] })).toThrow(/defineSaga/);
    const orch = sagaOrchestrator({ store });
    expect(() => orch.status('')).toThrow(/`id`/);
    return expect(orch.run(tripSaga(recorder()), 1, {} as never)).rejects.toThrow(/`id`/);
  });
});

describe('sagaOrchestrator: timeouts and cancellation', () => {
  it('a step timeout fails the step with a TimeoutError and compensates', async () => {
    const { orch, clock } = setup();
    const rec = recorder();
    let signal: AbortSignal | undefined;
    const saga = tripSaga(rec, {
      d: {
        timeout: 500,
        run: (_i, ctx) => {
          signal = ctx.signal;
          return new Promise(() => {});
        },
      },
    });
    const e = await drain(clock, failure(orch.run(saga, 1, { id: 't1' })));
    expect(clock.now()).toBeGreaterThanOrEqual(1500);
    expect(e.step).toBe('d');
    expect((e.cause as { code: string }).code).toBe('ERR_TIMEOUT');
    expect(signal?.aborted).toBe(true);
    expect(e.status).toBe('compensated');
  });

  it('the saga timeout aborts the running step and compensates what was done', async () => {
    const clock = virtualClock({ start: 0 });
    const store = memoryEventStore({ clock });
    const orch = sagaOrchestrator({ store, clock, compensationRetries: 0 });
    const rec = recorder();
    const base = tripSaga(rec);
    let signal: AbortSignal | undefined;
    const saga = defineSaga({
      name: 'tt',
      timeout: 1000,
      steps: [
        recStep(rec, 'a'),
        {
          name: 'slow',
          run: (_i: unknown, ctx) =>
            new Promise((_, reject) => {
              signal = ctx.signal;
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            }),
        },
      ],
    });
    expect(base.name).toBe('trip');
    const out = failure(orch.run(saga, 1, { id: 't2' }));
    await clock.advance(999);
    expect(signal?.aborted).toBe(false);
    await clock.advance(1);
    const e = await out;
    expect(e.reason).toBe('timeout');
    expect(e.status).toBe('compensated');
    expect(rec.calls).toEqual(['run:a', 'undo:a']);
    expect((await orch.status('t2'))?.deadline).toBe(1000);
  });

  it('cancel aborts the step signal and compensates', async () => {
    const { orch } = setup();
    const rec = recorder();
    let started!: () => void;
    const isStarted = new Promise<void>((r) => {
      started = r;
    });
    const saga = tripSaga(rec, {
      c: {
        run: (_i, ctx) =>
          new Promise((_, reject) => {
            started();
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
          }),
      },
    });
    const out = failure(orch.run(saga, 1, { id: 'x1' }));
    await isStarted;
    const st = await orch.cancel('x1');
    expect(st?.status).toBe('compensated');
    const e = await out;
    expect(e.reason).toBe('cancelled');
    expect(rec.calls).toEqual(['run:a', 'run:b', 'undo:b', 'undo:a']);
    // Cancelling a finished saga changes nothing.
    expect((await orch.cancel('x1'))?.status).toBe('compensated');
    expect(await orch.cancel('unknown')).toBeUndefined();
  });

  it('a cancel from another process is noticed at the next append (lease renewal) and compensates', async () => {
    const clock = virtualClock({ start: 0 });
    const store = memoryEventStore({ clock });
    const rec = recorder();
    let aborted: unknown;
    const saga = tripSaga(rec, {
      b: {
        run: (_i, ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener('abort', () => {
              aborted = ctx.signal.reason;
              reject(ctx.signal.reason);
            }),
          ),
      },
    });
    const a = sagaOrchestrator({ store, clock, lease: 3000, compensationRetries: 0 });
    const b = sagaOrchestrator({ store, clock, lease: 3000 });
    const out = failure(a.run(saga, 1, { id: 'x2' }));
    await clock.flush();
    const st = await b.cancel('x2');
    expect(st?.status).toBe('running');
    expect(st?.cancelRequested).toBe(true);
    await clock.advance(1000);
    const e = await out;
    expect((aborted as { code: string }).code).toBe('ERR_SAGA_CANCELLED');
    expect(e.reason).toBe('cancelled');
    expect(e.status).toBe('compensated');
    expect(rec.calls).toEqual(['run:a', 'run:c', 'undo:c', 'undo:a']);
  });

  it('cancel of an abandoned saga compensates it here', async () => {
    const { store, clock } = setup();
    const rec = recorder();
    const saga = tripSaga(rec);
    await store.append('saga-x3', [
      ev({ type: 'saga.started', data: { id: 'x3', saga: 'trip', input: 1, at: 0 } }),
      ev({ type: 'saga.step-started', data: { step: 'a', attempt: 1 } }),
      ev({ type: 'saga.step-succeeded', data: { step: 'a', result: { step: 'a' } } }),
    ]);
    const orch = sagaOrchestrator({ store, clock, sagas: [saga] });
    const st = await orch.cancel('x3');
    expect(st?.status).toBe('compensated');
    expect(rec.calls).toEqual(['undo:a']);
  });
});

function ev(e: SagaLogEvent): never {
  return e as never;
}

describe('sagaOrchestrator: resume', () => {
  it('does not re-run completed steps, re-runs a step with no outcome with the same key', async () => {
    const { store, clock } = setup();
    const rec = recorder();
    await store.append('saga-r1', [
      ev({ type: 'saga.started', data: { id: 'r1', saga: 'trip', input: 5, at: 0 } }),
      ev({ type: 'saga.claimed', data: { owner: 'dead', until: 500 } }),
      ev({ type: 'saga.step-started', data: { step: 'a', attempt: 1 } }),
      ev({ type: 'saga.step-succeeded', data: { step: 'a', result: { step: 'a' } } }),
      ev({ type: 'saga.step-started', data: { step: 'b', attempt: 1 } }),
      ev({ type: 'saga.step-started', data: { step: 'c', attempt: 1 } }),
      ev({ type: 'saga.step-succeeded', data: { step: 'c', result: { step: 'c' } } }),
    ]);
    const orch = sagaOrchestrator({ store, clock, sagas: [tripSaga(rec)] });
    const states = await orch.resume();
    expect(states.map((s) => s.status)).toEqual(['completed']);
    expect(rec.calls).toEqual(['run:b', 'run:d', 'run:e']);
    expect(rec.keys[0]).toBe('r1:b');
    const result = states[0]?.result as Record<string, { attempt: number }>;
    expect(result.b?.attempt).toBe(2);
    expect(await orch.resume()).toEqual([]);
    expect((await orch.resume('r1'))?.status).toBe('completed');
    expect(await orch.resume('none')).toBeUndefined();
  });

  it('a compensating saga keeps compensating', async () => {
    const { store, clock } = setup();
    const rec = recorder();
    await store.append('saga-r2', [
      ev({ type: 'saga.started', data: { id: 'r2', saga: 'trip', input: 5, at: 0 } }),
      ev({ type: 'saga.step-started', data: { step: 'a', attempt: 1 } }),
      ev({ type: 'saga.step-succeeded', data: { step: 'a', result: { step: 'a' } } }),
      ev({ type: 'saga.step-started', data: { step: 'b', attempt: 1 } }),
      ev({ type: 'saga.step-succeeded', data: { step: 'b', result: { step: 'b' } } }),
      ev({ type: 'saga.step-started', data: { step: 'c', attempt: 1 } }),
      ev({ type: 'saga.step-failed', data: { step: 'c', error: { name: 'Error', message: 'boom' } } }),
      ev({ type: 'saga.compensating', data: { reason: 'step-failed', step: 'c' } }),
      ev({ type: 'saga.step-compensating', data: { step: 'b' } }),
    ]);
    const orch = sagaOrchestrator({ store, clock, sagas: [tripSaga(rec)] });
    expect((await orch.resume('r2'))?.status).toBe('compensated');
    expect(rec.calls).toEqual(['undo:b', 'undo:a']);
  });

  it('a sibling whose outcome was lost is settled before compensating its group', async () => {
    const { store, clock } = setup();
    const rec = recorder();
    await store.append('saga-r3', [
      ev({ type: 'saga.started', data: { id: 'r3', saga: 'trip', input: 5, at: 0 } }),
      ev({ type: 'saga.step-started', data: { step: 'a', attempt: 1 } }),
      ev({ type: 'saga.step-succeeded', data: { step: 'a', result: { step: 'a' } } }),
      ev({ type: 'saga.step-started', data: { step: 'b', attempt: 1 } }),
      ev({ type: 'saga.step-started', data: { step: 'c', attempt: 1 } }),
      ev({ type: 'saga.step-failed', data: { step: 'b', error: { name: 'Error', message: 'boom', code: 'X' } } }),
    ]);
    const orch = sagaOrchestrator({ store, clock, sagas: [tripSaga(rec)] });
    const st = await orch.resume('r3');
    expect(st?.status).toBe('compensated');
    expect(rec.calls).toEqual(['run:c', 'undo:c', 'undo:a']);
    const e = await failure(orch.run(tripSaga(rec), 5, { id: 'r3' }));
    expect((e.cause as { code: string }).code).toBe('X');
  });

  it('skips a saga whose lease another live process holds, takes it once the lease lapses', async () => {
    const { store, clock } = setup();
    const rec = recorder();
    await store.append('saga-l1', [
      ev({ type: 'saga.started', data: { id: 'l1', saga: 'trip', input: 5, at: 1000 } }),
      ev({ type: 'saga.claimed', data: { owner: 'other', until: 2000 } }),
    ]);
    await store.append('saga-l2', [ev({ type: 'saga.started', data: { id: 'l2', saga: 'unknown', input: 5, at: 0 } })]);
    const orch = sagaOrchestrator({ store, clock, sagas: [tripSaga(rec)] });
    expect(await orch.resume()).toEqual([]);
    expect((await orch.resume('l1'))?.status).toBe('running');
    expect(rec.calls).toEqual([]);
    await clock.advance(1000);
    expect((await orch.resume()).map((s) => s.id)).toEqual(['l1']);
    expect(rec.calls.length).toBe(5);
    expect((await orch.status('l2'))?.status).toBe('running');
  });

  it('two orchestrators resuming at once never run a step twice', async () => {
    const { store, clock } = setup();
    const rec = recorder();
    await store.append('saga-k1', [ev({ type: 'saga.started', data: { id: 'k1', saga: 'trip', input: 5, at: 0 } })]);
    const o1 = sagaOrchestrator({ store, clock, sagas: [tripSaga(rec)] });
    const o2 = sagaOrchestrator({ store, clock, sagas: [tripSaga(rec)] });
    const [s1, s2] = await Promise.all([o1.resume(), o2.resume()]);
    expect(s1.length + s2.length).toBe(1);
    expect(rec.calls.sort()).toEqual(['run:a', 'run:b', 'run:c', 'run:d', 'run:e']);
  });

  it('a driver that lost its lease stops acting', async () => {
    const clock = virtualClock({ start: 0 });
    const store = memoryEventStore({ clock });
    const rec = recorder();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const saga = tripSaga(rec, { b: { run: () => gate.then(() => ({ step: 'b' })) } });
    const o1 = sagaOrchestrator({ store, clock, lease: 300 });
    const o2 = sagaOrchestrator({ store, clock, lease: 300, sagas: [saga] });
    let settled = false;
    const p1 = o1.run(saga, 1, { id: 'lost' }).finally(() => {
      settled = true;
    });
    await clock.flush();
    // o1 stalls (its renewals are not running: simulate a paused process by taking over the lease).
    await store.append('saga-lost', [ev({ type: 'saga.claimed', data: { owner: 'o2-manual', until: 10_000 } })]);
    release();
    await clock.advance(100);
    expect(settled).toBe(false);
    expect((await o2.status('lost'))?.steps.b?.status).toBe('running');
    expect(rec.calls).toEqual(['run:a', 'run:c']);
    // Once the other holder's lease lapses, o1 (still waiting for the outcome) takes the saga back.
    await clock.advance(10_000);
    await clock.advance(1000);
    expect(await p1).toMatchObject({ b: { step: 'b' } });
    expect(rec.calls.filter((c) => c === 'run:c').length).toBe(1);
  });
});

describe('sagaOrchestrator: edge cases', () => {
  it('a log that cannot be written stops the saga (resumable), it is not taken for a step failure', async () => {
    const { store, clock } = setup();
    let broken = true;
    const flaky = {
      append: ((stream, events, options) => {
        if (broken && events.some((e) => e.type === 'saga.step-started' && (e.data as { step: string }).step === 'b')) {
          return Promise.reject(new Error('disk full'));
        }
        return store.append(stream, events, options);
      }) as typeof store.append,
      read: store.read.bind(store),
      streams: store.streams.bind(store),
    };
    const rec = recorder();
    const orch = sagaOrchestrator({ store: flaky, clock, lease: 1000 });
    await expect(orch.run(tripSaga(rec, { b: { policy: testRetry(0) } }), 1, { id: 'w' })).rejects.toThrow('disk full');
    expect((await orch.status('w'))?.status).toBe('running');
    broken = false;
    await clock.advance(1000);
    expect((await orch.resume('w'))?.status).toBe('completed');
    expect(rec.calls.filter((c) => c === 'run:b').length).toBe(1);
  });

  it('a step that settles within its timeout keeps its result or its error', async () => {
    const { orch } = setup();
    const rec = recorder();
    rec.failRun.set('c', 1);
    const saga = tripSaga(rec, { a: { timeout: 1000 }, c: { timeout: 1000 } });
    const e = await failure(orch.run(saga, 1, { id: 'tt1' }));
    expect((e.cause as Error).message).toBe('c failed');
    expect(rec.calls).toEqual(['run:a', 'run:b', 'run:c', 'undo:b', 'undo:a']);
    const sync = defineSaga({
      name: 'sync',
      steps: [
        {
          name: 'boom',
          timeout: 10,
          run: () => {
            throw new Error('sync boom');
          },
        },
      ],
    });
    expect(((await failure(orch.run(sync, 1, { id: 'tt2' }))).cause as Error).message).toBe('sync boom');
    const sync2 = defineSaga({
      name: 'sync2',
      steps: [
        {
          name: 'boom',
          run: () => {
            throw new Error('sync boom 2');
          },
        },
      ],
    });
    expect(((await failure(orch.run(sync2, 1, { id: 'tt3' }))).cause as Error).message).toBe('sync boom 2');
  });

  it('a timeout after the pivot leaves the saga failed; redrive finishes it forward', async () => {
    const clock = virtualClock({ start: 0 });
    const store = memoryEventStore({ clock });
    const orch = sagaOrchestrator({ store, clock });
    let slow = true;
    const saga = defineSaga({
      name: 'pt',
      timeout: 100,
      steps: [
        { name: 'pay', pivot: true, run: () => 'paid' },
        {
          name: 'ship',
          run: (_i: unknown, ctx) =>
            slow
              ? new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))
              : 'shipped',
        },
      ],
    });
    const out = failure(orch.run(saga, 1, { id: 'pt1' }));
    await clock.advance(100);
    const e = await out;
    expect([e.status, e.reason, (e.cause as { code: string }).code]).toEqual(['failed', 'timeout', 'ERR_TIMEOUT']);
    slow = false;
    expect(await orch.redrive('pt1')).toEqual({ pay: 'paid', ship: 'shipped' });
  });

  it('a saga cancelled before its lease is taken reports the cancellation', async () => {
    const { store, clock } = setup();
    const rec = recorder();
    await store.append('saga-cc', [
      ev({ type: 'saga.started', data: { id: 'cc', saga: 'trip', input: 1, at: 0 } }),
      ev({ type: 'saga.cancel-requested', data: { at: 0 } }),
    ]);
    const orch = sagaOrchestrator({ store, clock, sagas: [tripSaga(rec)] });
    const e = await failure(orch.run(tripSaga(rec), 1, { id: 'cc' }));
    expect([e.reason, e.status, (e.cause as { code: string }).code]).toEqual([
      'cancelled',
      'compensated',
      'ERR_SAGA_CANCELLED',
    ]);
    expect(rec.calls).toEqual([]);
  });

  it('two processes redriving at once: one drives, the other gets the same outcome', async () => {
    const { store, clock } = setup();
    const rec = recorder();
    rec.failRun.set('c', 1);
    rec.failCompensate.set('b', 1);
    const o1 = sagaOrchestrator({ store, clock, compensationRetries: 0, sagas: [tripSaga(rec)] });
    const o2 = sagaOrchestrator({ store, clock, compensationRetries: 0, sagas: [tripSaga(rec)] });
    expect((await failure(o1.run(tripSaga(rec), 1, { id: 'rr' }))).status).toBe('compensation-failed');
    rec.calls.length = 0;
    const [e1, e2, e3] = await Promise.all([
      failure(o1.redrive('rr')),
      failure(o2.redrive('rr')),
      failure(o1.redrive('rr')),
    ]);
    expect([e1.status, e2.status, e3.status]).toEqual(['compensated', 'compensated', 'compensated']);
    expect(rec.calls).toEqual(['undo:b', 'undo:a']);
  });

  it('a store that refuses the first append rejects run with its error', async () => {
    const { store, clock } = setup();
    const down = {
      append: () => Promise.reject(new Error('connection refused')),
      read: store.read.bind(store),
      streams: store.streams.bind(store),
    } as never;
    const orch = sagaOrchestrator({ store: down, clock });
    await expect(orch.run(tripSaga(recorder()), 1, { id: 'down' })).rejects.toThrow('connection refused');
  });

  it('the saga timeout also ends a step that has its own, longer timeout and ignores its signal', async () => {
    const clock = virtualClock({ start: 0 });
    const store = memoryEventStore({ clock });
    const orch = sagaOrchestrator({ store, clock, compensationRetries: 0 });
    const rec = recorder();
    const saga = defineSaga({
      name: 'tt3',
      timeout: 100,
      steps: [recStep(rec, 'a'), { name: 'deaf', timeout: 10_000, run: () => new Promise(() => {}) }],
    });
    const out = failure(orch.run(saga, 1, { id: 'tt3' }));
    await clock.advance(100);
    const e = await out;
    expect([e.reason, e.status]).toEqual(['timeout', 'compensated']);
    expect(rec.calls).toEqual(['run:a', 'undo:a']);
  });
});
