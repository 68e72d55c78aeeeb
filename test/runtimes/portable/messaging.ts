import {
  aggregator,
  filter,
  isNoRouteError,
  recipientList,
  router,
  scatterGather,
} from '../../../src/messaging/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { deepEqual, describe, equal, ok, rejects, test } from '../harness.js';

describe('messaging', () => {
  test('router: the first matching route handles the message', async () => {
    const r = router<number, string>({
      routes: [
        { name: 'neg', when: (n) => n < 0, to: () => 'neg' },
        { name: 'small', when: async (n) => n < 10, to: (n) => `small ${n}` },
      ],
    });
    const res = await r.route(3);
    equal(res.route, 'small');
    equal(res.value, 'small 3');
  });

  test('router: no route → NoRouteError, or otherwise', async () => {
    const r = router<number, string>({ routes: [{ name: 'neg', when: (n) => n < 0, to: () => 'neg' }] });
    await rejects(r.route(5), isNoRouteError);
    const o = router<number, string>({ routes: [], otherwise: () => 'fallback' });
    equal((await o.route(5)).value, 'fallback');
  });

  test('recipient list: every matching route receives the message', async () => {
    const list = recipientList<number, string>({
      routes: [
        { name: 'even', when: (n) => n % 2 === 0, to: () => 'even' },
        { name: 'pos', when: (n) => n > 0, to: () => 'pos' },
        { name: 'neg', when: (n) => n < 0, to: () => 'neg' },
      ],
    });
    const res = await list.route(4);
    deepEqual(
      res.map((x) => x.name),
      ['even', 'pos'],
    );
  });

  test('filter: accepts, drops, or diverts', async () => {
    const f = filter<string, string>((s) => s.length > 2);
    equal((await f.check('hello')).accepted, true);
    const dropped = await f.check('no');
    equal(dropped.accepted, false);
    const diverted = await filter<string, string>((s) => s.length > 2, { onReject: () => 'too short' }).check('no');
    equal(diverted.value, 'too short');
  });

  test('aggregator: completes a group on size and says so', () => {
    const done: { key: string; by: string; value: unknown }[] = [];
    const agg = aggregator<{ k: string; v: number }, string, number[]>({
      correlate: (m) => m.k,
      complete: { size: 2 },
      combine: (ms) => ms.map((m) => m.v),
      onComplete: (value, g) => done.push({ key: g.key, by: g.completedBy, value }),
    });
    equal(agg.add({ k: 'a', v: 1 }), 'added');
    equal(agg.add({ k: 'b', v: 9 }), 'added');
    equal(agg.add({ k: 'a', v: 2 }), 'completed');
    deepEqual(done, [{ key: 'a', by: 'size', value: [1, 2] }]);
    agg.close();
  });

  test('aggregator: completes on inactivity timeout on the injected clock', async () => {
    const clock = virtualClock();
    const by: string[] = [];
    const agg = aggregator<number, string>({
      correlate: () => 'k',
      complete: { timeout: 1000 },
      onComplete: (_v, g) => by.push(g.completedBy),
      clock,
    });
    agg.add(1);
    await clock.advance(999);
    deepEqual(by, []);
    await clock.advance(1);
    deepEqual(by, ['timeout']);
    agg.close();
    equal(clock.pending, 0);
  });

  test('scatter-gather: first success wins and the losers are cancelled', async () => {
    const clock = virtualClock();
    const sg = scatterGather<string, string>({
      handlers: {
        fast: (_q, { signal }) => clock.sleep(10, signal).then(() => 'fast'),
        slow: (_q, { signal }) => clock.sleep(1000, signal).then(() => 'slow'),
      },
      gather: 'first',
      clock,
    });
    const p = sg.execute('q');
    await clock.advance(10);
    const r = await p;
    equal(r.value, 'fast');
    const slow = r.branches.find((b) => b.name === 'slow');
    equal(slow?.status, 'cancelled');
  });

  test('scatter-gather: a quorum with a majority vote', async () => {
    const sg = scatterGather<string, string>({
      handlers: { a: () => 'yes', b: () => 'no', c: () => 'yes' },
      gather: 'all',
      select: 'vote',
    });
    const r = await sg.execute('q');
    equal(r.value, 'yes');
    ok(r.branches.every((b) => b.status === 'ok'));
  });
});
