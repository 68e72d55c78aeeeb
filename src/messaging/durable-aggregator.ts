import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import { checkFunction, checkNumber, checkObject, checkOneOf } from '../core/validate.js';
import type { Completion, CompletionRules, GroupView, LatePolicy } from './aggregator.js';
import type { AggregatorStore, GroupUpdate, StoredGroup } from './aggregator-store.js';
import { type CompletedBy, checkRules, dueAt, timedCompletion } from './completion.js';
import { AggregatorClosedError, LateMessageError } from './errors.js';

/**
 * What a durable aggregator's `combine` and `onComplete` are told about a completed group.
 *
 * @example
 * ```ts
 * import { durableAggregator, type DurableCompletion } from 'breakwater/messaging';
 * import { redisAggregatorStore } from 'breakwater/messaging/redis';
 *
 * // An effect outside the store cannot join its transaction: it dedupes on the completion's name.
 * const notify = (results: readonly ToolResult[], g: DurableCompletion<ToolResult>) =>
 *   webhook.post({ id: `${g.key}#${g.generation}`, results, completedBy: g.completedBy });
 * const results = durableAggregator({
 *   store: redisAggregatorStore(redis),
 *   correlate: (r: ToolResult) => r.taskId,
 *   complete: { size: 3 },
 *   onComplete: notify,
 * });
 * ```
 */
export interface DurableCompletion<M> extends Completion<M, string> {
  /**
   * Which group of the key this was (1 for the first): `${key}#${generation}` names one completion,
   * for an `onComplete` whose effect cannot join the store's transaction and dedupes instead.
   */
  readonly generation: number;
}

/**
 * Options for {@link durableAggregator}.
 *
 * @example
 * ```ts
 * import { durableAggregator, type DurableAggregatorOptions } from 'breakwater/messaging';
 * import { postgresAggregatorStore, type PgClientLike } from 'breakwater/messaging/postgres';
 *
 * const options: DurableAggregatorOptions<ToolResult, readonly ToolResult[], PgClientLike> = {
 *   store: postgresAggregatorStore(pool),
 *   correlate: (r) => r.taskId,
 *   id: (r) => r.callId, // a redelivered result is not added twice
 *   complete: { size: 3, deadline: 60_000 },
 *   onComplete: (results, { key }, tx) =>
 *     tx.query('INSERT INTO answers (task, results) VALUES ($1, $2)', [key, JSON.stringify(results)]),
 *   sweepInterval: 5_000,
 * };
 * const results = durableAggregator(options);
 * ```
 */
export interface DurableAggregatorOptions<M, R, Tx> {
  /** Where groups live: `memoryAggregatorStore()`, `postgresAggregatorStore(pool)`, `redisAggregatorStore(client)`. */
  readonly store: AggregatorStore<Tx>;
  /** The correlation key of a message (a string: it is a database key). */
  readonly correlate: (message: M) => string;
  /**
   * The id of a message. When set, a message whose id the key's group (open, or the last one
   * completed) already took is not added again: `add` returns `'duplicate'`. This makes `add` safe
   * under at-least-once delivery (a broker's redelivery after a crash).
   * @defaultValue none (no deduplication)
   */
  readonly id?: ((message: M) => string) | undefined;
  /** The completion rules (as for `aggregator`); `timeout` and `deadline` are checked by the sweep. */
  readonly complete: CompletionRules<M, string>;
  /**
   * Turns a completed group into a result.
   * @defaultValue the messages array
   */
  readonly combine?: ((messages: readonly M[], group: DurableCompletion<M>) => R) | undefined;
  /**
   * Receives each result, while the group's key is held and before the completion is stored: on
   * PostgreSQL inside the store's transaction (`tx` is its client: write your result with it and both
   * commit together). If it throws (or rejects), nothing is stored: the group stays open, `add`
   * rejects with the error (a broker redelivers the message) and a timed completion is tried again
   * by the next sweep.
   */
  readonly onComplete?: ((result: R, group: DurableCompletion<M>, tx: Tx) => unknown) | undefined;
  /**
   * A message for a key whose group completed: `'drop'` (`add` returns `'dropped'`), `'reject'`
   * (`add` rejects with {@link LateMessageError}), or `'new-group'`.
   * @defaultValue 'new-group'
   */
  readonly late?: LatePolicy | undefined;
  /**
   * How many closed markers the store keeps (oldest deleted first, by the sweep). A key whose marker
   * is gone opens a new group whatever `late` says.
   * @defaultValue 10000
   */
  readonly closedKeys?: number | undefined;
  /**
   * Serialises a message for the store.
   * @defaultValue `JSON.stringify`
   */
  readonly serialize?: ((message: M) => string) | undefined;
  /**
   * Reads a message back from the store.
   * @defaultValue `JSON.parse`
   */
  readonly deserialize?: ((text: string) => M) | undefined;
  /**
   * How often (ms) the store is swept for groups whose `timeout` or `deadline` passed, whichever
   * process opened them. A group this process touched is also checked when it falls due. The first
   * sweep runs at once: groups whose time passed while every process was down complete on start.
   * @defaultValue 1000
   */
  readonly sweepInterval?: number | undefined;
  /**
   * Receives failures of timed completions (a store error, an `onComplete` that threw).
   * @defaultValue report as an unhandled promise rejection
   */
  readonly onError?: ((error: unknown) => void) | undefined;
  /**
   * The clock for times, timeouts and deadlines (every process of a fleet must agree on it).
   * @defaultValue `systemClock`
   */
  readonly clock?: Clock | undefined;
}

/**
 * What {@link DurableAggregator.add} did with a message.
 *
 * @example
 * ```ts
 * import { durableAggregator, type DurableAddResult } from 'breakwater/messaging';
 *
 * const results = durableAggregator({
 *   store,
 *   correlate: (r: ToolResult) => r.taskId,
 *   id: (r) => r.callId,
 *   complete: { size: 3 },
 *   late: 'drop',
 * });
 * const outcome: DurableAddResult = await results.add(toolResult);
 * if (outcome === 'duplicate') log.debug(`redelivery of ${toolResult.callId}`); // its group already took this id
 * else if (outcome === 'dropped') log.debug(`late for ${toolResult.taskId}`); // its group completed (late: 'drop')
 * msg.ack(); // 'added', 'completed', 'duplicate' and 'dropped' are all done with the message
 * ```
 */
export type DurableAddResult = 'added' | 'completed' | 'dropped' | 'duplicate';

/**
 * An aggregator built by {@link durableAggregator}.
 *
 * @example
 * ```ts
 * import { durableAggregator, type DurableAggregator } from 'breakwater/messaging';
 * import { postgresAggregatorStore } from 'breakwater/messaging/postgres';
 *
 * const results: DurableAggregator<ToolResult> = durableAggregator({
 *   store: postgresAggregatorStore(pool),
 *   correlate: (r: ToolResult) => r.taskId,
 *   complete: { size: 3, timeout: 30_000 },
 * });
 * await results.add(toolResult);
 * gauge.set(await results.openGroups());
 * process.on('SIGTERM', () => void results.close()); // open groups stay in the store for the other workers
 * ```
 */
export interface DurableAggregator<M> {
  /**
   * Adds a message to its group under the key's lock; completes the group when `size` or
   * `predicate` holds (or when a timed rule passed before this message: the group completes
   * without it, and the message is then late).
   *
   * @throws LateMessageError with `late: 'reject'` for a key whose group completed.
   * @throws AggregatorClosedError after `close()`.
   * @throws whatever `onComplete`, the store or `serialize` throws (nothing is stored then).
   */
  add(message: M): Promise<DurableAddResult>;
  /** Completes the open group of `key` now (`completedBy: 'forced'`); false when there is none. */
  complete(key: string): Promise<boolean>;
  /** Completes every open group whose `timeout` or `deadline` passed; returns how many. */
  sweep(): Promise<number>;
  /** Number of open groups in the store. */
  openGroups(): Promise<number>;
  /**
   * Stops the sweep and waits for running operations. Open groups stay in the store for the other
   * processes (or the next start). Further calls reject with {@link AggregatorClosedError}.
   */
  close(): Promise<void>;
}

const SWEEP_BATCH = 100;
const MAX_DELAY = 2_147_483_647;

const unhandled = (error: unknown): void => {
  void Promise.reject(error);
};

/**
 * Builds an aggregator whose groups live in a store shared by a fleet: one writer per correlation
 * key (a row lock, or a Redis lock with a fencing token), groups survive restarts, a group whose
 * timeout or deadline passed while every process was down completes on start with `completedBy`
 * saying why, and each group completes exactly once across processes (`onComplete` runs under the
 * key's lock and the completion is stored only if it succeeds). Late messages are handled as by
 * `aggregator`, and with an `id` option a redelivered message is not added twice.
 *
 * @throws TypeError / RangeError on invalid options (naming the option), or when `complete` sets no rule.
 * @example
 * ```ts
 * const results = durableAggregator({
 *   store: postgresAggregatorStore(pool),
 *   correlate: (r: ToolResult) => r.taskId,
 *   id: (r) => r.callId,
 *   complete: { predicate: (g) => g.messages.length === g.messages[0]?.of, deadline: 60_000 },
 *   onComplete: (results, { key, completedBy }, tx) =>
 *     tx.query('INSERT INTO answers (task, results, by) VALUES ($1, $2, $3)', [key, JSON.stringify(results), completedBy]),
 *   late: 'drop',
 * });
 * await results.add(toolResult);
 * ```
 */
export function durableAggregator<M, R = readonly M[], Tx = any>(
  options: DurableAggregatorOptions<M, R, Tx>,
): DurableAggregator<M> {
  checkObject('options', options);
  if (options === undefined) throw new TypeError('Expected `options` to be an object, got undefined');
  const store = options.store;
  if (store === null || typeof store !== 'object' || typeof store.withGroup !== 'function') {
    throw new TypeError('Expected `store` to be an aggregator store (with `withGroup`, `due`, …)');
  }
  checkFunction('correlate', options.correlate, false);
  checkFunction('id', options.id);
  const { size, timed, predicate } = checkRules(options.complete);
  checkFunction('combine', options.combine);
  checkFunction('onComplete', options.onComplete);
  checkFunction('onError', options.onError);
  checkFunction('serialize', options.serialize);
  checkFunction('deserialize', options.deserialize);
  const late = checkOneOf('late', options.late ?? 'new-group', ['drop', 'reject', 'new-group']);
  const keep = checkNumber('closedKeys', options.closedKeys ?? 10_000, 0, { integer: true });
  const interval = checkNumber('sweepInterval', options.sweepInterval ?? 1000, 1);
  const clock = options.clock ?? systemClock;
  const { correlate, combine, onComplete } = options;
  const idOf = options.id;
  const serialize = options.serialize ?? JSON.stringify;
  const deserialize = options.deserialize ?? (JSON.parse as (text: string) => M);
  const onError = options.onError ?? unhandled;
  const hasTimed = timed.timeout !== undefined || timed.deadline !== undefined;

  let closed = false;
  const running = new Set<Promise<unknown>>();
  let timer: TimerHandle;
  let timerAt = Number.POSITIVE_INFINITY;
  let sweeping: Promise<number> | undefined;

  const track = <T>(p: Promise<T>): Promise<T> => {
    running.add(p);
    const done = (): void => {
      running.delete(p);
    };
    p.then(done, done);
    return p;
  };

  // Completes `g` (open) under the key's lock: onComplete first, then the closed marker.
  const finish = async (
    key: string,
    g: StoredGroup,
    messages: M[],
    by: CompletedBy,
    tx: Tx,
    now: number,
  ): Promise<StoredGroup> => {
    const info: DurableCompletion<M> = {
      key,
      messages,
      firstAt: g.firstAt,
      lastAt: g.lastAt,
      completedBy: by,
      completedAt: now,
      generation: g.generation,
    };
    const result = combine === undefined ? (messages as unknown as R) : combine(messages, info);
    await onComplete?.(result, info, tx);
    // The closed marker answers late messages, recognises redeliveries by id and keeps the generation.
    // An open group's ids start with those of the group completed before it (see `addLocked`): the
    // marker keeps only this group's own, one per message.
    return {
      status: 'closed',
      generation: g.generation,
      messages: [],
      ids: g.ids.length > g.messages.length ? g.ids.slice(g.ids.length - g.messages.length) : g.ids,
      firstAt: g.firstAt,
      lastAt: g.lastAt,
      dueAt: undefined,
      closedAt: now,
      completedBy: by,
    };
  };

  const openGroup = (g: StoredGroup): StoredGroup => ({ ...g, dueAt: dueAt(g, timed) });

  // Wakes the sweep early for a group this process saw fall due sooner than the next sweep.
  const wake = (at: number | undefined): void => {
    if (closed || at === undefined || at >= timerAt) return;
    if (timer !== undefined) clock.clearTimeout(timer);
    timerAt = at;
    timer = clock.setTimeout(tick, Math.min(Math.max(0, at - clock.now()), MAX_DELAY));
    clock.unref?.(timer);
  };

  const tick = (): void => {
    timer = undefined;
    timerAt = Number.POSITIVE_INFINITY;
    if (closed) return;
    sweep().then(
      () => undefined,
      (e: unknown) => onError(e),
    );
    wake(clock.now() + interval);
  };

  const sweepOnce = async (): Promise<number> => {
    let n = 0;
    // Keys tried in this sweep that are still due (their onComplete failed): each is tried once per
    // sweep, and the batch grows by their number, so a full batch of failing groups cannot make the
    // sweep fetch and retry the same keys forever. The next sweep tries them again.
    const tried = new Set<string>();
    for (;;) {
      const limit = SWEEP_BATCH + tried.size;
      const keys = await store.due(clock.now(), limit);
      let fresh = 0;
      for (const key of keys) {
        if (closed) return n;
        if (tried.has(key)) continue;
        fresh++;
        try {
          if (await completeDue(key)) n++;
          else tried.add(key);
        } catch (error) {
          tried.add(key);
          onError(error);
        }
      }
      if (keys.length < limit || fresh === 0) break;
    }
    await store.trim(keep);
    return n;
  };

  const sweep = (): Promise<number> => {
    if (closed) return Promise.reject(new AggregatorClosedError());
    if (sweeping !== undefined) return sweeping;
    const p = track(sweepOnce()).finally(() => {
      sweeping = undefined;
    });
    sweeping = p;
    return p;
  };

  const completeDue = (key: string): Promise<boolean> =>
    store.withGroup(key, async (g, tx): Promise<GroupUpdate<boolean>> => {
      if (g === undefined || g.status !== 'open') return { value: false };
      const now = clock.now();
      const by = timedCompletion(g, timed, now);
      if (by === undefined) return { value: false };
      return { write: await finish(key, g, g.messages.map(deserialize), by, tx, now), value: true };
    });

  const addLocked = async (
    key: string,
    text: string,
    message: M,
    id: string | undefined,
    g: StoredGroup | undefined,
    tx: Tx,
  ): Promise<GroupUpdate<DurableAddResult | 'late'>> => {
    const now = clock.now();
    let write: StoredGroup | undefined;
    let current = g;
    if (current !== undefined && current.status === 'open') {
      if (id !== undefined && current.ids.includes(id)) return { value: 'duplicate' };
      // Its time passed before this message came (no sweep ran yet): it completes without it.
      const by = hasTimed ? timedCompletion(current, timed, now) : undefined;
      if (by !== undefined) {
        write = await finish(key, current, current.messages.map(deserialize), by, tx, now);
        current = write;
      }
    }
    let generation = 1;
    if (current !== undefined && current.status === 'closed') {
      if (id !== undefined && current.ids.includes(id)) return { write, value: 'duplicate' };
      if (late === 'drop') return { write, value: 'dropped' };
      if (late === 'reject') {
        // A completion stored above must not be lost with the rejection.
        if (write !== undefined) return { write, value: 'late' };
        throw new LateMessageError(key);
      }
      generation = current.generation + 1;
    }
    const base =
      current !== undefined && current.status === 'open'
        ? current
        : {
            status: 'open' as const,
            generation,
            messages: [] as string[],
            // The next group (late: 'new-group') keeps the ids of the one completed before it, so that
            // a redelivery of that group's message is still recognised while this one is open.
            ids: id !== undefined && current !== undefined ? current.ids : ([] as string[]),
            firstAt: now,
            lastAt: now,
            dueAt: undefined,
            closedAt: undefined,
            completedBy: undefined,
          };
    const next: StoredGroup = openGroup({
      ...base,
      messages: [...base.messages, text],
      ids: id === undefined ? base.ids : [...base.ids, id],
      lastAt: now,
    });
    if (size !== undefined && next.messages.length >= size) {
      const messages = next.messages.map(deserialize);
      messages[messages.length - 1] = message;
      return { write: await finish(key, next, messages, 'size', tx, now), value: 'completed' };
    }
    if (predicate !== undefined) {
      const messages = next.messages.map(deserialize);
      messages[messages.length - 1] = message;
      const view: GroupView<M, string> = { key, messages, firstAt: next.firstAt, lastAt: next.lastAt };
      if (predicate(view))
        return { write: await finish(key, next, messages, 'predicate', tx, now), value: 'completed' };
    }
    return { write: next, value: 'added' };
  };

  // The first sweep at once: groups whose time passed while no process ran complete on start.
  timerAt = -1;
  timer = clock.setTimeout(tick, 0);
  clock.unref?.(timer);

  return {
    add(message) {
      if (closed) return Promise.reject(new AggregatorClosedError());
      let key: string;
      let text: string;
      let id: string | undefined;
      try {
        key = correlate(message);
        if (typeof key !== 'string') throw new TypeError('Expected `correlate(message)` to return a string');
        id = idOf?.(message);
        if (id !== undefined && typeof id !== 'string')
          throw new TypeError('Expected `id(message)` to return a string');
        text = serialize(message);
      } catch (error) {
        return Promise.reject(error);
      }
      return track(
        store
          .withGroup(key, async (g, tx) => {
            const u = await addLocked(key, text, message, id, g, tx);
            if (u.write?.status === 'open') wake(u.write.dueAt);
            return u;
          })
          .then((r) => {
            if (r === 'late') throw new LateMessageError(key);
            return r;
          }),
      );
    },
    complete(key) {
      if (closed) return Promise.reject(new AggregatorClosedError());
      return track(
        store.withGroup(key, async (g, tx): Promise<GroupUpdate<boolean>> => {
          if (g === undefined || g.status !== 'open') return { value: false };
          const now = clock.now();
          return { write: await finish(key, g, g.messages.map(deserialize), 'forced', tx, now), value: true };
        }),
      );
    },
    sweep,
    openGroups() {
      if (closed) return Promise.reject(new AggregatorClosedError());
      return store.count();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
