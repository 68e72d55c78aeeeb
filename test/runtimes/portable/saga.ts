import { memoryEventStore } from '../../../src/event-store/index.js';
import { defineSaga, isSagaFailedError, sagaOrchestrator } from '../../../src/saga/index.js';
import { deepEqual, describe, equal, ok, test } from '../harness.js';

describe('saga (memory)', () => {
  test('runs steps in order and passes results and keys', async () => {
    const sagas = sagaOrchestrator({ store: memoryEventStore() });
    const saga = defineSaga({
      name: 'trip',
      steps: [
        { name: 'seat', run: (n: number, ctx) => ({ seat: n, key: ctx.key }) },
        { name: 'pay', run: (_n, ctx) => ctx.results.seat },
      ],
    });
    const out = (await sagas.run(saga, 7, { id: 't1' })) as Record<string, unknown>;
    deepEqual(out.pay, { seat: 7, key: 't1:seat' });
    equal((await sagas.status('t1'))?.status, 'completed');
  });

  test('a failing step compensates the completed ones in reverse order', async () => {
    const sagas = sagaOrchestrator({ store: memoryEventStore(), compensationRetries: 0 });
    const undone: string[] = [];
    const step = (name: string) => ({ name, run: () => name, compensate: () => void undone.push(name) });
    const saga = defineSaga({
      name: 'trip',
      steps: [
        step('a'),
        step('b'),
        {
          name: 'c',
          run: () => {
            throw new Error('no ticket');
          },
        },
      ],
    });
    let error: unknown;
    try {
      await sagas.run(saga, 1, { id: 't2' });
    } catch (e) {
      error = e;
    }
    ok(isSagaFailedError(error));
    equal(error.status, 'compensated');
    equal(error.step, 'c');
    deepEqual(undone, ['b', 'a']);
    equal((await sagas.status('t2'))?.status, 'compensated');
  });

  test('a saga id runs once: a second run with the same id resolves to the same result', async () => {
    const sagas = sagaOrchestrator({ store: memoryEventStore() });
    let runs = 0;
    const saga = defineSaga({ name: 's', steps: [{ name: 'x', run: () => ++runs }] });
    const a = await sagas.run(saga, null, { id: 'same' });
    const b = await sagas.run(saga, null, { id: 'same' });
    deepEqual(a, b);
    equal(runs, 1);
  });
});
