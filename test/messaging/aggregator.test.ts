import { describe, expect, it } from 'vitest';
import {
  AggregatorClosedError,
  aggregator,
  type Completion,
  isAggregatorClosedError,
  isLateMessageError,
  LateMessageError,
} from '../../src/messaging/index.js';
import { type VirtualClock, virtualClock } from '../../src/testing/index.js';

interface Part {
  readonly task: string;
  readonly text: string;
}
const part = (task: string, text = task): Part => ({ task, text });

const setup = (
  opts: Partial<Parameters<typeof aggregator<Part, string, string>>[0]> & { clock?: VirtualClock } = {},
) => {
  const clock = opts.clock ?? virtualClock();
  const done: { result: string; info: Completion<Part, string> }[] = [];
  const agg = aggregator<Part, string, string>({
    correlate: (p) => p.task,
    complete: { size: 3 },
    combine: (parts) => parts.map((p) => p.text).join('+'),
    onComplete: (result, info) => {
      done.push({ result, info });
    },
    clock,
    ...opts,
  });
  return { clock, done, agg };
};

describe('aggregator', () => {
  it('completes a group on size, with the messages and completedBy', () => {
    const { agg, done } = setup();
    expect(agg.add(part('a', '1'))).toBe('added');
    expect(agg.add(part('b', 'x'))).toBe('added');
    expect(agg.add(part('a', '2'))).toBe('added');
    expect(agg.add(part('a', '3'))).toBe('completed');
    expect(done).toHaveLength(1);
    expect(done[0]?.result).toBe('1+2+3');
    expect(done[0]?.info).toMatchObject({ key: 'a', completedBy: 'size', firstAt: 0, lastAt: 0, completedAt: 0 });
    expect(done[0]?.info.messages.map((m) => m.text)).toEqual(['1', '2', '3']);
    expect(agg.openGroups).toBe(1);
  });

  it('completes on predicate, checked after size', () => {
    const { agg, done } = setup({ complete: { size: 2, predicate: (g) => g.messages.some((m) => m.text === 'end') } });
    expect(agg.add(part('a', 'end'))).toBe('completed');
    expect(done[0]?.info.completedBy).toBe('predicate');
    agg.add(part('b', '1'));
    agg.add(part('b', 'end'));
    expect(done[1]?.info.completedBy).toBe('size');
  });

  it('completes on inactivity timeout, reset by every message', async () => {
    const { agg, done, clock } = setup({ complete: { timeout: 100 } });
    agg.add(part('a', '1'));
    await clock.advance(80);
    agg.add(part('a', '2'));
    await clock.advance(80);
    expect(done).toHaveLength(0);
    await clock.advance(20);
    expect(done[0]?.info).toMatchObject({ completedBy: 'timeout', completedAt: 180, firstAt: 0, lastAt: 80 });
    expect(done[0]?.result).toBe('1+2');
    expect(clock.pending).toBe(0);
  });

  it('completes on a deadline from the first message whatever arrives; deadline wins a tie', async () => {
    const { agg, done, clock } = setup({ complete: { timeout: 50, deadline: 100 } });
    agg.add(part('a'));
    for (let i = 0; i < 3; i++) {
      await clock.advance(25);
      agg.add(part('a'));
    }
    await clock.advance(25);
    expect(done[0]?.info).toMatchObject({ completedBy: 'deadline', completedAt: 100 });
    expect(done[0]?.info.messages).toHaveLength(4);
    // tie: timeout 60 after the message at 140 and deadline 100 after the first at 100 are both due at 200
    const tie = setup({ complete: { timeout: 60, deadline: 100 }, clock });
    tie.agg.add(part('b'));
    await clock.advance(40);
    tie.agg.add(part('b'));
    await clock.advance(59);
    expect(tie.done).toHaveLength(0);
    await clock.advance(1);
    expect(tie.done[0]?.info).toMatchObject({ key: 'b', completedBy: 'deadline', completedAt: 200 });
  });

  it('re-arms timers longer than the platform maximum', async () => {
    const { agg, done, clock } = setup({ complete: { deadline: 3_000_000_000 } });
    agg.add(part('a'));
    await clock.advance(2_147_483_647);
    expect(done).toHaveLength(0);
    expect(clock.pending).toBe(1);
    await clock.advance(3_000_000_000 - 2_147_483_647);
    expect(done[0]?.info.completedBy).toBe('deadline');
  });

  it('forces completion of one group or all', () => {
    const { agg, done, clock } = setup({ complete: { timeout: 1000 } });
    agg.add(part('a'));
    agg.add(part('b'));
    agg.add(part('c'));
    expect(agg.complete('a')).toBe(true);
    expect(agg.complete('a')).toBe(false);
    expect(agg.completeAll()).toBe(2);
    expect(done.map((d) => [d.info.key, d.info.completedBy])).toEqual([
      ['a', 'forced'],
      ['b', 'forced'],
      ['c', 'forced'],
    ]);
    expect(clock.pending).toBe(0);
  });

  it('bounds open groups: the oldest completes as forced', () => {
    const { agg, done } = setup({ maxGroups: 2 });
    agg.add(part('a'));
    agg.add(part('b'));
    agg.add(part('a'));
    agg.add(part('c'));
    expect(done.map((d) => [d.info.key, d.info.completedBy, d.result])).toEqual([['a', 'forced', 'a+a']]);
    expect(agg.openGroups).toBe(2);
  });

  it("late: 'new-group' (default) opens a new group for a completed key", () => {
    const { agg, done } = setup({ complete: { size: 1 } });
    agg.add(part('a', '1'));
    expect(agg.add(part('a', '2'))).toBe('completed');
    expect(done.map((d) => d.result)).toEqual(['1', '2']);
  });

  it("late: 'drop' and 'reject' for a completed key; closed keys are bounded", () => {
    const drop = setup({ complete: { size: 1 }, late: 'drop' });
    drop.agg.add(part('a'));
    expect(drop.agg.add(part('a'))).toBe('dropped');
    expect(drop.done).toHaveLength(1);

    const rej = setup({ complete: { size: 1 }, late: 'reject', closedKeys: 2 });
    rej.agg.add(part('a'));
    const e = (() => {
      try {
        rej.agg.add(part('a'));
      } catch (x) {
        return x;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(LateMessageError);
    expect(isLateMessageError(e)).toBe(true);
    expect((e as LateMessageError).key).toBe('a');
    expect((e as LateMessageError).code).toBe('ERR_LATE_MESSAGE');
    rej.agg.add(part('b'));
    rej.agg.add(part('c')); // 'a' is forgotten (capacity 2)
    expect(rej.agg.add(part('a'))).toBe('completed');
    expect(() => rej.agg.add(part('c'))).toThrow(LateMessageError);

    const none = setup({ complete: { size: 1 }, late: 'drop', closedKeys: 0 });
    none.agg.add(part('a'));
    expect(none.agg.add(part('a'))).toBe('completed');
  });

  it("close() completes open groups as 'close', leaves no timer, refuses more messages", async () => {
    const { agg, done, clock } = setup({ complete: { timeout: 100, deadline: 500 } });
    agg.add(part('a'));
    agg.add(part('b'));
    expect(clock.pending).toBe(2);
    agg.close();
    agg.close();
    expect(done.map((d) => [d.info.key, d.info.completedBy])).toEqual([
      ['a', 'close'],
      ['b', 'close'],
    ]);
    expect(clock.pending).toBe(0);
    expect(() => agg.add(part('a'))).toThrow(AggregatorClosedError);
    expect(isAggregatorClosedError(new AggregatorClosedError())).toBe(true);
    await clock.advance(1000);
    expect(done).toHaveLength(2);
  });

  it("close() with onClose: 'discard' drops open groups", () => {
    const { agg, done, clock } = setup({ complete: { timeout: 100 }, onClose: 'discard' });
    agg.add(part('a'));
    agg.close();
    expect(done).toHaveLength(0);
    expect(clock.pending).toBe(0);
    expect(agg.openGroups).toBe(0);
  });

  it('defaults combine to the messages array', () => {
    const got: unknown[] = [];
    const agg = aggregator<number, string>({
      correlate: () => 'k',
      complete: { size: 2 },
      onComplete: (r) => {
        got.push(r);
      },
    });
    agg.add(1);
    agg.add(2);
    expect(got).toEqual([[1, 2]]);
  });

  it('reports combine throws and onComplete rejections to onError, keeping state consistent', async () => {
    const errors: [unknown, string][] = [];
    const agg = aggregator<number, number, number>({
      correlate: (n) => n,
      complete: { size: 1 },
      combine: (ms) => {
        if (ms[0] === 1) throw new Error('combine');
        return ms[0] as number;
      },
      onComplete: async (r) => {
        if (r === 2) throw new Error('onComplete');
      },
      onError: (e, g) => errors.push([e, g.completedBy]),
    });
    expect(agg.add(1)).toBe('completed');
    agg.add(2);
    agg.add(3);
    await new Promise((r) => setTimeout(r, 0));
    expect(errors.map(([e, by]) => [(e as Error).message, by])).toEqual([
      ['combine', 'size'],
      ['onComplete', 'size'],
    ]);
    expect(agg.openGroups).toBe(0);
  });

  it('lets onComplete add messages re-entrantly', () => {
    const keys: string[] = [];
    const agg = aggregator<string, string>({
      correlate: (m) => m,
      complete: { size: 2 },
      onComplete: (_r, g) => {
        keys.push(g.key);
        if (g.key === 'a') agg.add('z');
      },
    });
    agg.add('a');
    agg.add('b');
    expect(agg.completeAll()).toBe(2);
    expect(keys).toEqual(['a', 'b']);
    expect(agg.openGroups).toBe(1);
  });

  it('a throwing predicate throws from add; the message stays and the group still times out', async () => {
    const { agg, done, clock } = setup({
      complete: {
        timeout: 10,
        predicate: () => {
          throw new Error('predicate');
        },
      },
    });
    expect(() => agg.add(part('a', '1'))).toThrow('predicate');
    expect(agg.openGroups).toBe(1);
    await clock.advance(10);
    expect(done[0]?.info).toMatchObject({ completedBy: 'timeout' });
    expect(done[0]?.result).toBe('1');
  });

  it('validates options, naming the option', () => {
    const correlate = (m: unknown) => m;
    expect(() => aggregator(undefined as never)).toThrow(TypeError);
    expect(() => aggregator({ correlate: 1 as never, complete: { size: 1 } })).toThrow('`correlate`');
    expect(() => aggregator({ correlate, complete: undefined as never })).toThrow('`complete`');
    expect(() => aggregator({ correlate, complete: {} })).toThrow('at least one');
    expect(() => aggregator({ correlate, complete: { size: 0 } })).toThrow('`complete.size`');
    expect(() => aggregator({ correlate, complete: { timeout: 0 } })).toThrow('`complete.timeout`');
    expect(() => aggregator({ correlate, complete: { deadline: -1 } })).toThrow('`complete.deadline`');
    expect(() => aggregator({ correlate, complete: { timeout: Number.POSITIVE_INFINITY } })).toThrow('at least one');
    expect(() => aggregator({ correlate, complete: { predicate: 1 as never } })).toThrow('`complete.predicate`');
    expect(() => aggregator({ correlate, complete: { size: 1 }, late: 'x' as never })).toThrow('`late`');
    expect(() => aggregator({ correlate, complete: { size: 1 }, maxGroups: 0 })).toThrow('`maxGroups`');
    expect(() => aggregator({ correlate, complete: { size: 1 }, closedKeys: 1.5 })).toThrow('`closedKeys`');
    expect(() => aggregator({ correlate, complete: { size: 1 }, onClose: 'x' as never })).toThrow('`onClose`');
    expect(() => aggregator({ correlate, complete: { size: 1 }, combine: 1 as never })).toThrow('`combine`');
  });
});
