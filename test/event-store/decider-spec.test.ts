import { describe, expect, it } from 'vitest';
import { type Event, projection } from '../../src/event-store/index.js';
import { deciderSpec, projectionSpec } from '../../src/testing/decider-spec.js';

type E = Event<'Added', { n: number }>;
const decider = {
  initialState: { total: 0 },
  evolve: (s: { total: number }, e: E) => ({ total: s.total + e.data.n }),
  decide: async (c: { n: number }, s: { total: number }): Promise<E[]> => {
    if (c.n < 0) throw new RangeError('negative');
    if (c.n === 0 || s.total > 100) return [];
    return [{ type: 'Added', data: { n: c.n } }];
  },
};

describe('deciderSpec', () => {
  const spec = deciderSpec(decider);
  it('passes on the expected events, state, nothing and errors', async () => {
    await spec
      .given([{ type: 'Added', data: { n: 1 } }])
      .when({ n: 2 })
      .thenEvents([{ type: 'Added', data: { n: 2 } }]);
    await spec
      .given()
      .when({ n: 2 })
      .thenEvents({ type: 'Added', data: { n: 2 } });
    await spec
      .given([{ type: 'Added', data: { n: 1 } }])
      .when({ n: 2 })
      .thenState({ total: 3 });
    await spec
      .given([{ type: 'Added', data: { n: 101 } }])
      .when({ n: 2 })
      .thenNothingHappened();
    await spec.given().when({ n: -1 }).thenThrows();
    await spec
      .given()
      .when({ n: -1 })
      .thenThrows(/negative/);
    await spec.given().when({ n: -1 }).thenThrows(RangeError);
    await spec
      .given()
      .when({ n: -1 })
      .thenThrows((e) => e instanceof RangeError);
  });
  it('fails with a diff-able assertion error otherwise', async () => {
    const e = await spec
      .given()
      .when({ n: 2 })
      .thenEvents([{ type: 'Added', data: { n: 3 } }])
      .catch((x: unknown) => x);
    expect(e).toMatchObject({
      name: 'AssertionError',
      expected: [{ type: 'Added', data: { n: 3 } }],
      actual: [{ type: 'Added', data: { n: 2 } }],
    });
    await expect(spec.given().when({ n: 2 }).thenNothingHappened()).rejects.toThrow(/no events/);
    await expect(spec.given().when({ n: 2 }).thenThrows()).rejects.toThrow(/rejected/);
    await expect(spec.given().when({ n: -1 }).thenThrows(/other/)).rejects.toThrow(/unexpected/);
    await expect(spec.given().when({ n: -1 }).thenThrows(TypeError)).rejects.toThrow(/unexpected/);
    await expect(spec.given().when({ n: 1 }).thenState({ total: 2 })).rejects.toThrow(/State differs/);
    await expect(
      spec
        .given()
        .when({ n: 1 })
        .thenEvents([{ type: 'Added', data: { n: 1 }, metadata: { a: 1 } }]),
    ).rejects.toThrow(/other events/);
    expect(() => deciderSpec({} as never)).toThrow(/decider/);
  });
});

describe('projectionSpec', () => {
  it('feeds given and when events and runs the assertion', async () => {
    const totals = new Map<string, number>();
    const p = projection<E>({
      name: 't',
      handles: {
        Added: (e) => {
          if (e.data.n < 0) throw new Error('negative');
          totals.set(e.stream, (totals.get(e.stream) ?? 0) + e.data.n + e.version * 1000);
        },
      },
    });
    await projectionSpec(p)
      .given([
        { type: 'Added', data: { n: 1 } },
        { type: 'Other', data: 0 },
      ])
      .when([{ type: 'Added', data: { n: 2 }, stream: 'x' }])
      .thenReadModel(() => {
        expect(totals.get('spec')).toBe(1001);
        expect(totals.get('x')).toBe(1002);
      });
    totals.clear();
    await projectionSpec(p)
      .given([{ type: 'Added', data: { n: 5 } }])
      .thenReadModel(() => expect(totals.get('spec')).toBe(1005));
    await projectionSpec(p)
      .given()
      .when([{ type: 'Added', data: { n: -1 } }])
      .thenThrows(/negative/);
    await expect(
      projectionSpec(p)
        .given()
        .when([{ type: 'Added', data: { n: -1 } }])
        .thenThrows(/x/),
    ).rejects.toThrow(/unexpected/);
    await expect(projectionSpec(p).given().when([]).thenThrows()).rejects.toThrow(/throw/);
    expect(() => projectionSpec({} as never)).toThrow(/projection/);
  });
});
