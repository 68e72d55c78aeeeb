// Core semantics every runtime must agree on: the pipeline, fallback, the caller's abort, events.

import { fallback } from '../../../src/fallback/index.js';
import { isTimeoutError, Policy } from '../../../src/index.js';
import { constant, retry } from '../../../src/retry/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { timeout } from '../../../src/timeout/index.js';
import { deepEqual, describe, equal, ok, rejects, test, turns } from '../harness.js';

describe('core', () => {
  test('Policy.noop runs the function and passes its value', async () => {
    equal(await Policy.noop.execute(() => 42), 42);
  });

  test('a synchronous throw becomes a rejection', async () => {
    const boom = new Error('boom');
    equal(
      await rejects(
        Policy.wrap(retry({ maxRetries: 0 })).execute(() => {
          throw boom;
        }),
      ),
      boom,
    );
  });

  test('wrap runs layers outermost first and exposes them in order', () => {
    const a = retry({ maxRetries: 1, name: 'a' });
    const b = timeout({ after: 1000, name: 'b' });
    const p = Policy.wrap(a, b);
    deepEqual(
      p.layers.map((l) => (l as { name?: string }).name),
      ['a', 'b'],
    );
  });

  test('wrap rejects a non-policy argument with a TypeError', () => {
    let error: unknown;
    try {
      Policy.wrap({} as never);
    } catch (e) {
      error = e;
    }
    ok(error instanceof TypeError);
  });

  test('executeOutcome never rejects', async () => {
    const r = await Policy.noop.executeOutcome(() => Promise.reject(new Error('x')));
    equal(r.ok, false);
    const s = await Policy.noop.executeOutcome(() => 'v');
    deepEqual(s, { ok: true, value: 'v' });
  });

  test('bind turns a function into a protected one', async () => {
    const add = Policy.wrap(retry({ maxRetries: 0 })).bind((a: number, b: number) => a + b);
    equal(await add(2, 3), 5);
  });

  test('ctx carries key, data and attempt', async () => {
    const seen = await Policy.noop.execute((ctx) => [ctx.key, ctx.data.x, ctx.attempt], {
      key: 'k',
      data: { x: 1 },
    });
    deepEqual(seen, ['k', 1, 1]);
  });

  test('each call sees its own signal', async () => {
    const signals: AbortSignal[] = [];
    const p = Policy.wrap(retry({ maxRetries: 0 }));
    await p.execute(({ signal }) => signals.push(signal));
    await p.execute(({ signal }) => signals.push(signal));
    ok(signals[0] !== signals[1]);
    equal(signals[0]?.aborted, false);
  });

  test('the caller signal: an aborted one rejects at once with its reason', async () => {
    const c = new AbortController();
    const reason = new Error('caller gave up');
    c.abort(reason);
    let ran = false;
    const e = await rejects(
      Policy.noop.execute(
        () => {
          ran = true;
        },
        { signal: c.signal },
      ),
    );
    equal(e, reason);
    equal(ran, false);
  });

  test('the caller signal: aborting mid-call aborts ctx.signal with the caller reason', async () => {
    const c = new AbortController();
    const reason = new Error('stop');
    const p = Policy.wrap(retry({ maxRetries: 3 })).execute(
      ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
      { signal: c.signal },
    );
    await turns();
    c.abort(reason);
    equal(await rejects(p), reason);
  });

  test('the caller abort under a timeout is never relabelled as a timeout', async () => {
    const clock = virtualClock();
    const c = new AbortController();
    const reason = new Error('user cancelled');
    const p = timeout({ after: 1000, clock }).execute(
      ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
      { signal: c.signal },
    );
    await clock.advance(10);
    c.abort(reason);
    const e = await rejects(p);
    equal(e, reason);
    equal(isTimeoutError(e), false);
  });

  test('a throwing listener never breaks the call; events carry kind and name', async () => {
    const p = retry({ maxRetries: 1, backoff: constant(0), name: 'r' });
    const kinds: string[] = [];
    p.on('retry', (e) => {
      kinds.push(`${e.kind}:${e.name}`);
      throw new Error('listener bug');
    });
    let n = 0;
    const v = await p.execute(() => {
      if (n++ === 0) throw new Error('once');
      return 'ok';
    });
    equal(v, 'ok');
    deepEqual(kinds, ['retry:r']);
  });
});

describe('fallback', () => {
  test('replaces an error with a value and receives the error', async () => {
    const boom = new Error('down');
    let seen: unknown;
    const v = await fallback({
      to: ({ error }) => {
        seen = error;
        return 'cached';
      },
    }).execute(() => Promise.reject(boom));
    equal(v, 'cached');
    equal(seen, boom);
  });

  test('handle decides which errors fall back', async () => {
    const f = fallback({ to: () => 'x', handle: (e) => (e as Error).message === 'soft' });
    equal(await f.execute(() => Promise.reject(new Error('soft'))), 'x');
    const hard = new Error('hard');
    equal(await rejects(f.execute(() => Promise.reject(hard))), hard);
  });

  test('handleResult replaces an unwanted result', async () => {
    const f = fallback({ to: ({ result }) => `replaced ${String(result)}`, handleResult: (r) => r === '' });
    equal(await f.execute(() => ''), 'replaced ');
    equal(await f.execute(() => 'fine'), 'fine');
  });

  test("the caller's abort does not fall back", async () => {
    const c = new AbortController();
    const reason = new Error('abort');
    const p = fallback({ to: () => 'fallback' }).execute(
      ({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      { signal: c.signal },
    );
    await turns();
    c.abort(reason);
    equal(await rejects(p), reason);
  });

  test('outside a timeout it answers when the call is too slow', async () => {
    const clock = virtualClock();
    const p = Policy.wrap(
      fallback({ to: ({ error }) => (isTimeoutError(error) ? 'small model' : 'other') }),
      timeout({ after: 100, clock }),
    ).execute(({ signal }) => clock.sleep(1000, signal).then(() => 'large model'));
    await clock.advance(100);
    equal(await p, 'small model');
  });
});
