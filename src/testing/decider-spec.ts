// Given/When/Then helpers for deciders and projections, independent of the test runner (the final
// step is `thenEvents`/`thenReadModel`, never `then`, so a spec is not a thenable). A failed
// expectation throws an `AssertionError`-named error with `expected`/`actual` (runners print a diff).
import type { Decider } from '../event-store/command-handler.js';
import { canonical } from '../event-store/internal.js';
import type { Projection } from '../event-store/projection.js';
import type { Event, NewEvent, ProjectionContext, StoredEvent } from '../event-store/types.js';

function fail(message: string, expected: unknown, actual: unknown): never {
  const error = new Error(message) as Error & { expected: unknown; actual: unknown; showDiff: boolean };
  error.name = 'AssertionError';
  error.expected = expected;
  error.actual = actual;
  error.showDiff = true;
  throw error;
}

const shape = (e: NewEvent | Event) =>
  e.metadata === undefined ? { type: e.type, data: e.data } : { type: e.type, data: e.data, metadata: e.metadata };

/**
 * What a decider spec checks after `when`.
 *
 * @example
 * ```ts
 * import { type DeciderThen, deciderSpec } from 'breakwater/testing';
 *
 * // A helper for several tests: adding `n` to a counter that already holds 1 (`counter`: see DeciderSpec).
 * const add = (n: number): DeciderThen<number, Added> =>
 *   deciderSpec(counter).given([{ type: 'Added', data: { n: 1 } }]).when({ type: 'add', n });
 * await add(2).thenEvents({ type: 'Added', data: { n: 2 } });
 * await add(2).thenState(3);
 * await add(-1).thenThrows(RangeError);
 * ```
 */
export interface DeciderThen<S, E extends Event> {
  /** The command produced exactly these events (type, data and metadata if given; ids ignored). */
  thenEvents(expected: NewEvent<E> | readonly NewEvent<E>[]): Promise<void>;
  /** The command produced no events. */
  thenNothingHappened(): Promise<void>;
  /** The command was rejected; `check` may test the error (a predicate, a RegExp on the message, or a class). */
  thenThrows(
    check?: ((error: unknown) => boolean) | RegExp | (abstract new (...args: never[]) => unknown),
  ): Promise<void>;
  /** The state after the given events and the new ones equals `expected`. */
  thenState(expected: S): Promise<void>;
}

/**
 * A decider spec after `given`.
 *
 * @example
 * ```ts
 * import { type DeciderWhen, deciderSpec } from 'breakwater/testing';
 *
 * // One history, several commands (`counter`: see DeciderSpec).
 * const fresh: DeciderWhen<number, Add, Added> = deciderSpec(counter).given();
 * await fresh.when({ type: 'add', n: 5 }).thenState(5);
 * await fresh.when({ type: 'add', n: -1 }).thenThrows(/negative/);
 * ```
 */
export interface DeciderWhen<S, C, E extends Event> {
  /** The command under test. */
  when(command: C): DeciderThen<S, E>;
}

/**
 * A decider spec.
 *
 * @example
 * ```ts
 * import type { Event } from 'breakwater/event-store';
 * import { type DeciderSpec, deciderSpec } from 'breakwater/testing';
 *
 * type Add = { type: 'add'; n: number };
 * type Added = Event<'Added', { n: number }>;
 * const spec: DeciderSpec<number, Add, Added> = deciderSpec<number, Add, Added>({
 *   initialState: 0,
 *   evolve: (total, e) => total + e.data.n,
 *   decide: ({ n }) => {
 *     if (n < 0) throw new RangeError('negative amount');
 *     return { type: 'Added', data: { n } };
 *   },
 * });
 * await spec.given([{ type: 'Added', data: { n: 1 } }]).when({ type: 'add', n: 2 }).thenState(3);
 * ```
 */
export interface DeciderSpec<S, C, E extends Event> {
  /** The stream's past events (none for a new stream). */
  given(events?: readonly E[]): DeciderWhen<S, C, E>;
}

/**
 * Given/When/Then for a decider: past events, a command, the expected new events (or error).
 *
 * @example
 * ```ts
 * const spec = deciderSpec(counter);
 * await spec.given([{ type: 'Added', data: { n: 1 } }]).when({ type: 'add', n: 2 }).thenEvents([{ type: 'Added', data: { n: 2 } }]);
 * await spec.given().when({ type: 'add', n: -1 }).thenThrows(/negative/);
 * ```
 */
export function deciderSpec<S, C, E extends Event = Event>(decider: Decider<S, C, E>): DeciderSpec<S, C, E> {
  if (
    decider === null ||
    typeof decider !== 'object' ||
    typeof decider.decide !== 'function' ||
    typeof decider.evolve !== 'function'
  ) {
    throw new TypeError('Expected `decider` to have `decide`, `evolve` and `initialState`');
  }
  const init = (): S =>
    typeof decider.initialState === 'function' ? (decider.initialState as () => S)() : decider.initialState;
  return {
    given(events = []) {
      return {
        when(command) {
          const run = async (): Promise<{ state: S; produced: readonly NewEvent<E>[] }> => {
            let state = init();
            for (const e of events) state = decider.evolve(state, e);
            const out = await decider.decide(command, state);
            return { state, produced: (Array.isArray(out) ? out : [out]) as readonly NewEvent<E>[] };
          };
          return {
            async thenEvents(expected) {
              const { produced } = await run();
              const want = (Array.isArray(expected) ? expected : [expected]) as readonly NewEvent<E>[];
              const a = produced.map((e, i) =>
                want[i]?.metadata === undefined ? { type: e.type, data: e.data } : shape(e),
              );
              const b = want.map(shape);
              if (canonical(a) !== canonical(b)) fail('Decider produced other events than expected', b, a);
            },
            async thenNothingHappened() {
              const { produced } = await run();
              if (produced.length > 0) fail('Expected no events', [], produced.map(shape));
            },
            async thenThrows(check) {
              let produced: readonly NewEvent<E>[];
              try {
                ({ produced } = await run());
              } catch (error) {
                if (check === undefined) return;
                const ok =
                  check instanceof RegExp
                    ? check.test(String((error as Error | undefined)?.message ?? error))
                    : 'prototype' in check && check.prototype !== undefined && error instanceof check
                      ? true
                      : !('prototype' in check && check.prototype !== undefined) &&
                        (check as (e: unknown) => boolean)(error);
                if (!ok) fail('Decider threw an unexpected error', String(check), error);
                return;
              }
              fail('Expected the command to be rejected', 'an error', produced.map(shape));
            },
            async thenState(expected) {
              const { state, produced } = await run();
              let next = state;
              for (const e of produced) next = decider.evolve(next, e);
              if (canonical(next) !== canonical(expected)) fail('State differs', expected, next);
            },
          };
        },
      };
    },
  };
}

/**
 * A projection spec after `given`.
 *
 * @example
 * ```ts
 * import { type ProjectionWhen, projectionSpec } from 'breakwater/testing';
 *
 * // `given` events, then more with `when`, or `thenReadModel` at once (`costPerModel`: see ProjectionSpec).
 * const spec: ProjectionWhen = projectionSpec(costPerModel).given([
 *   { type: 'ModelReplied', data: { model: 'a', cost: 2 } },
 * ]);
 * await spec
 *   .when([{ type: 'ModelReplied', data: { model: 'a', cost: 3 } }])
 *   .thenReadModel(() => expect(costs.get('a')).toBe(5));
 * ```
 */
export interface ProjectionWhen {
  /** Events applied after the given ones (optional; `then` may follow `given` directly). */
  when(events: readonly (Event & { readonly stream?: string })[]): ProjectionThen;
  /** See {@link ProjectionThen.thenReadModel}. */
  thenReadModel(assert: () => void | PromiseLike<void>): Promise<void>;
}

/**
 * What a projection spec checks.
 *
 * @example
 * ```ts
 * import { type ProjectionThen, projectionSpec } from 'breakwater/testing';
 *
 * // `balances` is a projection whose handler throws on an overdraft.
 * const overdraft: ProjectionThen = projectionSpec(balances)
 *   .given([{ type: 'Deposited', data: { account: 'a', amount: 10 } }])
 *   .when([{ type: 'Withdrawn', data: { account: 'a', amount: 20 } }]);
 * await overdraft.thenThrows(/overdraft/);
 * ```
 */
export interface ProjectionThen {
  /** Applies the events, then runs `assert` on your read model. */
  thenReadModel(assert: () => void | PromiseLike<void>): Promise<void>;
  /** Applying the events throws (optionally matching `pattern` against the message). */
  thenThrows(pattern?: RegExp): Promise<void>;
}

/**
 * A projection spec.
 *
 * @example
 * ```ts
 * import { type Event, projection } from 'breakwater/event-store';
 * import { type ProjectionSpec, projectionSpec } from 'breakwater/testing';
 *
 * const costs = new Map<string, number>();
 * const costPerModel = projection<Event<'ModelReplied', { model: string; cost: number }>>({
 *   name: 'cost-per-model',
 *   handles: { ModelReplied: (e) => void costs.set(e.data.model, (costs.get(e.data.model) ?? 0) + e.data.cost) },
 * });
 * const spec: ProjectionSpec = projectionSpec(costPerModel);
 * await spec
 *   .given([{ type: 'ModelReplied', data: { model: 'a', cost: 2 } }])
 *   .thenReadModel(() => expect(costs.get('a')).toBe(2));
 * ```
 */
export interface ProjectionSpec {
  /** Events already applied (stream `'spec'` unless an event names one). */
  given(events?: readonly (Event & { readonly stream?: string })[]): ProjectionWhen;
}

/**
 * Given/When/Then for a projection: feeds events (with generated ids, versions and positions) to
 * its handlers, then runs your assertion on the read model.
 *
 * @example
 * ```ts
 * await projectionSpec(costPerModel)
 *   .given([{ type: 'ModelReplied', data: { model: 'a', cost: 2 } }])
 *   .when([{ type: 'ModelReplied', data: { model: 'a', cost: 3 } }])
 *   .thenReadModel(() => expect(costs.get('a')).toBe(5));
 * ```
 */
export function projectionSpec<E extends Event = Event>(
  projection: Projection<E>,
  options?: { readonly context?: ProjectionContext | undefined },
): ProjectionSpec {
  if (projection === null || typeof projection !== 'object' || typeof projection.apply !== 'function') {
    throw new TypeError('Expected `projection` to be made by projection()');
  }
  const ctx: ProjectionContext = options?.context ?? { client: undefined };
  return {
    given(given = []) {
      const versions = new Map<string, number>();
      let position = 0;
      const stored = (events: readonly (Event & { readonly stream?: string })[]): StoredEvent[] =>
        events.map((e) => {
          const stream = e.stream ?? 'spec';
          const version = (versions.get(stream) ?? 0) + 1;
          versions.set(stream, version);
          position++;
          return { ...e, id: `spec-${position}`, stream, version, position, metadata: e.metadata ?? {}, timestamp: 0 };
        });
      const thenFor = (when: readonly (Event & { readonly stream?: string })[]): ProjectionThen => {
        const apply = async (): Promise<void> => {
          const all = stored([...given, ...when]);
          await projection.apply(
            all.filter((e) => projection.types.includes(e.type)),
            ctx,
          );
        };
        return {
          async thenReadModel(assert) {
            await apply();
            await assert();
          },
          async thenThrows(pattern) {
            try {
              await apply();
            } catch (error) {
              if (pattern !== undefined && !pattern.test(String((error as Error | undefined)?.message ?? error))) {
                fail('Projection threw an unexpected error', String(pattern), error);
              }
              return;
            }
            fail('Expected the projection to throw', 'an error', 'nothing');
          },
        };
      };
      return { when: thenFor, thenReadModel: (assert) => thenFor([]).thenReadModel(assert) };
    },
  };
}
