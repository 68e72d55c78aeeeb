// The command side: a decider run with optimistic concurrency, reloading and retrying on conflict.
import type { Policy } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject } from '../core/validate.js';
import { ConcurrencyError, isConcurrencyError } from './errors.js';
import { checkExpected, checkStream, matches } from './internal.js';
import type {
  AppendResult,
  Event,
  EventMetadata,
  EventStore,
  ExpectedVersion,
  NewEvent,
  SnapshotOptions,
} from './types.js';

/**
 * A decider: pure functions from (command, state) to new events, and from (state, event) to the
 * next state.
 *
 * @example
 * ```ts
 * import { commandHandler, type Decider, type Event } from 'breakwater/event-store';
 *
 * type Spent = Event<'Spent', { amount: number }>;
 * const budget: Decider<{ spent: number }, { amount: number }, Spent> = {
 *   initialState: { spent: 0 },
 *   evolve: (s, e) => ({ spent: s.spent + e.data.amount }),
 *   decide: (cmd, s) => {
 *     if (s.spent + cmd.amount > 100) throw new RangeError('over budget'); // rejects the command
 *     return { type: 'Spent', data: { amount: cmd.amount } };
 *   },
 * };
 * const budgets = commandHandler({ store, decider: budget });
 * ```
 */
export interface Decider<S, C, E extends Event = Event> {
  /** The state of a stream with no events. A function is called for every load. */
  readonly initialState: S | (() => S);
  /** Folds one event into the state. */
  readonly evolve: (state: S, event: E) => S;
  /** Decides which events a command produces (none, one or many); throws to reject it. */
  readonly decide: (
    command: C,
    state: S,
  ) => NewEvent<E> | readonly NewEvent<E>[] | PromiseLike<NewEvent<E> | readonly NewEvent<E>[]>;
}

/**
 * Options of {@link commandHandler}.
 *
 * @example
 * ```ts
 * import {
 *   type CommandHandlerOptions,
 *   commandHandler,
 *   isConcurrencyError,
 *   memorySnapshotStore,
 * } from 'breakwater/event-store';
 * import { retry } from 'breakwater/retry';
 *
 * const options: CommandHandlerOptions<Budget, SpendCommand, Spent> = {
 *   store,
 *   decider: budget,
 *   retry: retry({ maxRetries: 5, handle: isConcurrencyError }),
 *   snapshots: { store: memorySnapshotStore(), every: 50 },
 * };
 * const budgets = commandHandler(options);
 * ```
 */
export interface CommandHandlerOptions<S, C, E extends Event = Event> {
  /** Where the streams live. */
  readonly store: EventStore;
  /** The decider. */
  readonly decider: Decider<S, C, E>;
  /**
   * What to do on a `ConcurrencyError`: a number of reload-and-retry rounds, or a Policy (e.g. a
   * `retry` that handles `isConcurrencyError`) that runs each load-decide-append round.
   * @defaultValue `3`
   */
  readonly retry?: number | Policy | undefined;
  /** Snapshots used when loading. @defaultValue none */
  readonly snapshots?: SnapshotOptions<S> | undefined;
}

/**
 * Options of one {@link CommandHandler.handle} call.
 *
 * @example
 * ```ts
 * import type { HandleOptions } from 'breakwater/event-store';
 *
 * // The user saw version 4: a ConcurrencyError if anything was appended since (not retried).
 * const options: HandleOptions = { expectedVersion: 4, metadata: { correlationId: request.id } };
 * await budgets.handle('budget-42', { amount: 10 }, options);
 * ```
 */
export interface HandleOptions {
  /** Expected version of the stream; a mismatch is never retried. @defaultValue the loaded version */
  readonly expectedVersion?: ExpectedVersion | undefined;
  /** Metadata merged into every new event (e.g. correlation ids). */
  readonly metadata?: EventMetadata | undefined;
}

/**
 * The result of handling a command.
 *
 * @example
 * ```ts
 * import type { HandleResult } from 'breakwater/event-store';
 *
 * const result: HandleResult<Budget, Spent> = await budgets.handle('budget-42', { amount: 10 });
 * const { state, version, events, positions } = result;
 * if (events.length === 0) console.log(`nothing decided; still at version ${version}`, state);
 * else console.log(`appended ${events.length} event(s) at positions ${positions.join(', ')}`);
 * ```
 */
export interface HandleResult<S, E extends Event = Event> {
  /** The state after the new events. */
  readonly state: S;
  /** The stream's version after the append (unchanged when no events were decided). */
  readonly version: number;
  /** The events decided. */
  readonly events: readonly NewEvent<E>[];
  /** Their global positions. */
  readonly positions: readonly number[];
}

/**
 * Runs commands against streams.
 *
 * @example
 * ```ts
 * import { type CommandHandler, commandHandler, memoryEventStore } from 'breakwater/event-store';
 *
 * const budgets: CommandHandler<Budget, SpendCommand, Spent> = commandHandler({ store: memoryEventStore(), decider });
 * async function spend(id: string, amount: number): Promise<number> {
 *   const { state } = await budgets.handle(`budget-${id}`, { amount }); // reloads and retries on a conflict
 *   return state.spent;
 * }
 * ```
 */
export interface CommandHandler<S, C, E extends Event = Event> {
  /** Loads `stream`, decides on `command`, appends the events at the loaded version; retries on conflict. */
  handle(stream: string, command: C, options?: HandleOptions): Promise<HandleResult<S, E>>;
}

/**
 * Builds a command handler for a decider: load (aggregate) → decide → append with the loaded
 * version as expected version; on `ConcurrencyError` reload and decide again.
 *
 * @throws TypeError for a bad option.
 * @example
 * ```ts
 * const handler = commandHandler({ store, decider: { initialState: { calls: 0 }, evolve, decide } });
 * const { state, version } = await handler.handle('agent-1', { type: 'CallTool', tool: 'search' });
 * ```
 */
export function commandHandler<S, C, E extends Event = Event>(
  options: CommandHandlerOptions<S, C, E>,
): CommandHandler<S, C, E> {
  checkObject('options', options);
  const { store, decider } = options;
  if (store === null || typeof store !== 'object' || typeof store.aggregate !== 'function') {
    throw new TypeError('Expected `store` to be an event store');
  }
  checkObject('decider', decider);
  checkFunction('decider.evolve', decider.evolve, false);
  checkFunction('decider.decide', decider.decide, false);
  const retry = options.retry ?? 3;
  const maxRetries = typeof retry === 'number' ? checkNumber('retry', retry, 0, { integer: true }) : 0;
  if (
    typeof retry !== 'number' &&
    (retry === null || typeof retry !== 'object' || typeof retry.execute !== 'function')
  ) {
    throw new TypeError('Expected `retry` to be a number or a Policy');
  }

  const attempt = async (stream: string, command: C, opts: HandleOptions | undefined): Promise<HandleResult<S, E>> => {
    const loaded = await store.aggregate<S, E>(stream, {
      initialState: decider.initialState,
      evolve: decider.evolve,
      snapshots: options.snapshots,
    });
    const explicit = opts?.expectedVersion === undefined ? undefined : checkExpected(opts.expectedVersion);
    if (explicit !== undefined && !matches(explicit, loaded.version)) {
      throw new ConcurrencyError(stream, explicit, loaded.version);
    }
    const decided = await decider.decide(command, loaded.state);
    const list = (Array.isArray(decided) ? decided : [decided]) as readonly NewEvent<E>[];
    if (list.length === 0) return { state: loaded.state, version: loaded.version, events: [], positions: [] };
    const meta = opts?.metadata;
    const events = meta === undefined ? list : list.map((e) => ({ ...e, metadata: { ...meta, ...e.metadata } }));
    const result: AppendResult = await store.append(stream, events, {
      expectedVersion: loaded.version === 0 ? 'no-stream' : loaded.version,
    });
    let state = loaded.state;
    for (const e of events) state = decider.evolve(state, e);
    return { state, version: result.version, events, positions: result.positions };
  };

  return {
    async handle(stream, command, opts) {
      checkStream(stream);
      if (typeof retry !== 'number') return retry.execute(() => attempt(stream, command, opts));
      for (let i = 0; ; i++) {
        try {
          return await attempt(stream, command, opts);
        } catch (error) {
          if (!isConcurrencyError(error) || i >= maxRetries || opts?.expectedVersion !== undefined) throw error;
        }
      }
    },
  };
}
