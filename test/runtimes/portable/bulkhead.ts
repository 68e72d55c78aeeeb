import { bulkhead, isBulkheadRejectedError } from '../../../src/bulkhead/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { deepEqual, describe, equal, rejects, test, turns } from '../harness.js';

interface Gate {
  readonly promise: Promise<string>;
  open(v: string): void;
}
const gate = (): Gate => {
  let open: (v: string) => void = () => undefined;
  const promise = new Promise<string>((r) => {
    open = r;
  });
  return { promise, open };
};

describe('bulkhead', () => {
  test('runs up to limit, queues up to queue, rejects the rest', async () => {
    const b = bulkhead({ limit: 1, queue: 1 });
    const g = gate();
    const first = b.execute(() => g.promise);
    const second = b.execute(() => 'second');
    equal(b.active, 1);
    equal(b.queued, 1);
    await rejects(
      b.execute(() => 'third'),
      isBulkheadRejectedError,
    );
    g.open('first');
    equal(await first, 'first');
    equal(await second, 'second');
    equal(b.active, 0);
    equal(b.queued, 0);
  });

  test('serves the queue in FIFO order', async () => {
    const b = bulkhead({ limit: 1, queue: 10 });
    const order: number[] = [];
    const g = gate();
    const head = b.execute(() => g.promise);
    const rest = [1, 2, 3, 4].map((i) => b.execute(() => order.push(i)));
    g.open('x');
    await Promise.all([head, ...rest]);
    deepEqual(order, [1, 2, 3, 4]);
  });

  test('an aborted waiter leaves the queue at once with the caller reason', async () => {
    const b = bulkhead({ limit: 1, queue: 1 });
    const g = gate();
    const head = b.execute(() => g.promise);
    const c = new AbortController();
    const reason = new Error('gone');
    let ran = false;
    const waiting = b.execute(
      () => {
        ran = true;
      },
      { signal: c.signal },
    );
    c.abort(reason);
    equal(await rejects(waiting), reason);
    equal(b.queued, 0);
    // Its place is free again.
    const next = b.execute(() => 'next');
    g.open('head');
    await head;
    equal(await next, 'next');
    equal(ran, false);
  });

  test('a queue timeout rejects the waiter', async () => {
    const clock = virtualClock();
    const b = bulkhead({ limit: 1, queue: 1, queueTimeout: 100, clock });
    const g = gate();
    const head = b.execute(() => g.promise);
    const waiting = b.execute(() => 'late');
    await clock.advance(100);
    await rejects(waiting, isBulkheadRejectedError);
    g.open('ok');
    await head;
    equal(clock.pending, 0);
  });

  test('10,000 queued calls all complete, with at most `limit` running', async () => {
    const b = bulkhead({ limit: 100, queue: 10_000 });
    let running = 0;
    let peak = 0;
    const calls = Array.from({ length: 10_000 }, () =>
      b.execute(async () => {
        running++;
        peak = Math.max(peak, running);
        await turns(1);
        running--;
      }),
    );
    await Promise.all(calls);
    equal(peak, 100);
    equal(b.active, 0);
  });

  test('a slot is released when fn throws', async () => {
    const b = bulkhead({ limit: 1 });
    await rejects(b.execute(() => Promise.reject(new Error('x'))));
    equal(b.active, 0);
    equal(await b.execute(() => 'free'), 'free');
  });
});
