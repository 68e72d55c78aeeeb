import { type Clock, systemClock, type TimerHandle } from '../core/clock.js';
import { checkFunction, checkNumber, checkObject, checkOneOf } from '../core/validate.js';
import { type CompletedBy, checkRules, dueAt, timedCompletion } from './completion.js';
import { AggregatorClosedError, LateMessageError } from './errors.js';

/**
 * An open group, as `complete.predicate` sees it.
 *
 * @example
 * ```ts
 * import { aggregator, type GroupView } from 'breakwater/messaging';
 *
 * // Complete once the chunk marked `last` arrived and every chunk before it too.
 * const allIn = (g: GroupView<Chunk, string>): boolean => {
 *   const last = g.messages.find((c) => c.last);
 *   return last !== undefined && g.messages.length === last.seq + 1;
 * };
 * const streams = aggregator({ correlate: (c: Chunk) => c.streamId, complete: { predicate: allIn, timeout: 30_000 } });
 * ```
 */
export interface GroupView<M, K> {
  /** The correlation key. */
  readonly key: K;
  /** The messages so far, in arrival order. */
  readonly messages: readonly M[];
  /** Clock time of the first message. */
  readonly firstAt: number;
  /** Clock time of the latest message. */
  readonly lastAt: number;
}

/**
 * What `combine` and `onComplete` are told about a completed group.
 *
 * @example
 * ```ts
 * import { aggregator, type Completion } from 'breakwater/messaging';
 *
 * const report = (text: string, g: Completion<Part, string>): void =>
 *   log.info(`${g.key}: ${g.messages.length} parts in ${g.completedAt - g.firstAt} ms (${g.completedBy})`);
 * const answers = aggregator({
 *   correlate: (p: Part) => p.taskId,
 *   complete: { size: 3, deadline: 5_000 },
 *   combine: (parts) => parts.map((p) => p.text).join('\n'),
 *   onComplete: report,
 * });
 * ```
 */
export interface Completion<M, K> extends GroupView<M, K> {
  /** The rule (or action) that completed the group. */
  readonly completedBy: CompletedBy;
  /** Clock time of completion. */
  readonly completedAt: number;
}

/**
 * When a group completes; the first rule that holds wins. At least one is required.
 *
 * @example
 * ```ts
 * import { aggregator, type CompletionRules } from 'breakwater/messaging';
 *
 * const rules: CompletionRules<ToolResult, string> = {
 *   size: 5, // all five tools answered
 *   timeout: 2_000, // or none answered for 2 s
 *   deadline: 10_000, // or 10 s after the first answer, whatever arrives
 *   predicate: (g) => g.messages.some((r) => r.error !== undefined), // or one failed
 * };
 * const results = aggregator({ correlate: (r: ToolResult) => r.taskId, complete: rules });
 * ```
 */
export interface CompletionRules<M, K> {
  /** Complete when the group holds this many messages. */
  readonly size?: number | undefined;
  /** Complete after this many ms without a new message for the group (inactivity). */
  readonly timeout?: number | undefined;
  /** Complete this many ms after the group's first message, whatever arrives. */
  readonly deadline?: number | undefined;
  /** Complete when this returns true, checked after each message (after `size`). */
  readonly predicate?: ((group: GroupView<M, K>) => boolean) | undefined;
}

/**
 * What to do with a message whose key already completed.
 *
 * @example
 * ```ts
 * import { aggregator, isLateMessageError, type LatePolicy } from 'breakwater/messaging';
 *
 * const late: LatePolicy = 'reject'; // 'drop': add() returns 'dropped'; 'new-group': the key starts over
 * const votes = aggregator({ correlate: (v: Vote) => v.pollId, complete: { deadline: 60_000 }, late });
 * try {
 *   votes.add(vote);
 * } catch (e) {
 *   if (isLateMessageError(e)) await tell(vote.voter, 'The poll has closed.');
 * }
 * ```
 */
export type LatePolicy = 'drop' | 'reject' | 'new-group';

/**
 * Options for {@link aggregator}.
 *
 * @example
 * ```ts
 * import { aggregator, type AggregatorOptions } from 'breakwater/messaging';
 *
 * const options: AggregatorOptions<Part, string, string> = {
 *   correlate: (p) => p.taskId,
 *   complete: { size: 3, deadline: 5_000 },
 *   combine: (parts) => parts.map((p) => p.text).join('\n'),
 *   onComplete: (text, { key }) => reply(key, text),
 *   onError: (error, { key }) => log.error(`task ${key}`, error),
 *   maxGroups: 1_000, // one more completes the oldest (completedBy: 'forced')
 *   onClose: 'discard',
 * };
 * const answers = aggregator(options);
 * ```
 */
export interface AggregatorOptions<M, K, R> {
  /** The correlation key of a message (compared with `SameValueZero`, like `Map` keys). */
  readonly correlate: (message: M) => K;
  /** The completion rules. */
  readonly complete: CompletionRules<M, K>;
  /**
   * Turns a completed group into a result.
   * @defaultValue the messages array
   */
  readonly combine?: ((messages: readonly M[], group: Completion<M, K>) => R) | undefined;
  /** Receives each result; may be async (a rejection goes to `onError`). */
  readonly onComplete?: ((result: R, group: Completion<M, K>) => unknown) | undefined;
  /**
   * A message for a key that already completed: `'drop'` (`add` returns `'dropped'`), `'reject'`
   * (`add` throws {@link LateMessageError}), or `'new-group'`.
   * @defaultValue 'new-group'
   */
  readonly late?: LatePolicy | undefined;
  /**
   * How many completed keys are remembered for `late: 'drop' | 'reject'` (oldest forgotten first).
   * @defaultValue 10000
   */
  readonly closedKeys?: number | undefined;
  /**
   * Most open groups; opening one more completes the oldest with `completedBy: 'forced'`.
   * @defaultValue Infinity
   */
  readonly maxGroups?: number | undefined;
  /**
   * What `close()` does with open groups: complete them (`completedBy: 'close'`) or discard them.
   * @defaultValue 'complete'
   */
  readonly onClose?: 'complete' | 'discard' | undefined;
  /**
   * Receives errors thrown (or rejected) by `combine` and `onComplete`.
   * @defaultValue report as an unhandled promise rejection
   */
  readonly onError?: ((error: unknown, group: Completion<M, K>) => void) | undefined;
  /**
   * The clock for timeouts and deadlines.
   * @defaultValue `systemClock`
   */
  readonly clock?: Clock | undefined;
}

/**
 * What {@link Aggregator.add} did with a message.
 *
 * @example
 * ```ts
 * import { aggregator, type AddResult } from 'breakwater/messaging';
 *
 * const answers = aggregator({ correlate: (p: Part) => p.taskId, complete: { size: 3 }, late: 'drop', onComplete });
 * const result: AddResult = answers.add(part);
 * switch (result) {
 *   case 'added': break; // its group waits for more
 *   case 'completed': metrics.tasks.inc(); break; // this part completed the group: `onComplete` was called
 *   case 'dropped': log.debug(`late part for ${part.taskId}`); // its group had completed (late: 'drop')
 * }
 * ```
 */
export type AddResult = 'added' | 'completed' | 'dropped';

/**
 * An aggregator built by {@link aggregator}.
 *
 * @example
 * ```ts
 * import { aggregator, type Aggregator } from 'breakwater/messaging';
 *
 * const answers: Aggregator<Part, string> = aggregator({ correlate: (p: Part) => p.taskId, complete: { size: 3 } });
 * answers.add(part);
 * if (userCancelled) answers.complete(part.taskId); // completedBy: 'forced', with the parts so far
 * gauge.set(answers.openGroups);
 * process.on('SIGTERM', () => answers.close()); // completes the open groups (onClose: 'complete')
 * ```
 */
export interface Aggregator<M, K> {
  /**
   * Adds a message to its group; completes the group when `size` or `predicate` holds.
   *
   * @throws LateMessageError with `late: 'reject'` for a key that already completed.
   * @throws AggregatorClosedError after `close()`.
   */
  add(message: M): AddResult;
  /** Completes the group of `key` now (`completedBy: 'forced'`); false when there is none. */
  complete(key: K): boolean;
  /** Completes every open group (`completedBy: 'forced'`); returns how many. */
  completeAll(): number;
  /** Completes or discards open groups (by `onClose`), clears every timer, refuses further messages. */
  close(): void;
  /** Number of open groups. */
  readonly openGroups: number;
}

class Group<M, K> implements GroupView<M, K> {
  readonly key: K;
  readonly messages: M[] = [];
  readonly firstAt: number;
  lastAt: number;
  timer: TimerHandle = undefined;
  open = true;

  constructor(key: K, now: number) {
    this.key = key;
    this.firstAt = now;
    this.lastAt = now;
  }
}

// Timers longer than this overflow the platform's 32-bit delay; they are re-armed when they fire.
const MAX_DELAY = 2_147_483_647;

const unhandled = (error: unknown): void => {
  void Promise.reject(error);
};

/**
 * Builds an aggregator: correlates messages by key and completes each group on the first of
 * `size`, inactivity `timeout`, absolute `deadline`, `predicate`, or a forced completion; the
 * result says how it completed. Late messages, open groups and remembered keys are bounded.
 *
 * @throws TypeError / RangeError on invalid options (naming the option), or when `complete` sets no rule.
 * @example
 * ```ts
 * // Collect the partial answers of one agent task; give up waiting 5 s after the first.
 * const answers = aggregator<Part, string, string>({
 *   correlate: (p) => p.taskId,
 *   complete: { size: 3, deadline: 5_000, predicate: (g) => g.messages.some((p) => p.final) },
 *   combine: (parts) => parts.map((p) => p.text).join('\n'),
 *   onComplete: (text, { key, completedBy }) => reply(key, text, completedBy),
 *   late: 'drop',
 *   maxGroups: 1_000,
 * });
 * answers.add(part);
 * ```
 */
export function aggregator<M, K, R = readonly M[]>(options: AggregatorOptions<M, K, R>): Aggregator<M, K> {
  checkObject('options', options);
  if (options === undefined) throw new TypeError('Expected `options` to be an object, got undefined');
  checkFunction('correlate', options.correlate, false);
  const { size, timed, predicate } = checkRules(options.complete);
  checkFunction('combine', options.combine);
  checkFunction('onComplete', options.onComplete);
  checkFunction('onError', options.onError);
  const late = checkOneOf('late', options.late ?? 'new-group', ['drop', 'reject', 'new-group']);
  const capacity = checkNumber('closedKeys', options.closedKeys ?? 10_000, 0, { integer: true });
  const maxGroups = checkNumber('maxGroups', options.maxGroups ?? Number.POSITIVE_INFINITY, 1, { integer: true });
  const onClose = checkOneOf('onClose', options.onClose ?? 'complete', ['complete', 'discard']);
  const clock = options.clock ?? systemClock;
  const { correlate, combine, onComplete } = options;
  const onError = options.onError ?? unhandled;

  const groups = new Map<K, Group<M, K>>();
  const closedKeys = new Set<K>();
  const remember = late !== 'new-group' && capacity > 0;
  let closed = false;

  const arm = (g: Group<M, K>, due: number): void => {
    g.timer = clock.setTimeout(() => onTimer(g), Math.min(Math.max(0, due - clock.now()), MAX_DELAY));
  };

  // A timer armed for the group's first due time; later messages only move `lastAt`, and the timer
  // re-arms itself when it finds the group not yet due (one timer call per group, not per message).
  const onTimer = (g: Group<M, K>): void => {
    g.timer = undefined;
    if (!g.open) return;
    const by = timedCompletion(g, timed, clock.now());
    if (by !== undefined) finish(g, by);
    else arm(g, dueAt(g, timed) as number);
  };

  const finish = (g: Group<M, K>, completedBy: CompletedBy): void => {
    g.open = false;
    groups.delete(g.key);
    if (g.timer !== undefined) {
      clock.clearTimeout(g.timer);
      g.timer = undefined;
    }
    if (remember) {
      closedKeys.delete(g.key);
      closedKeys.add(g.key);
      if (closedKeys.size > capacity) closedKeys.delete(closedKeys.values().next().value as K);
    }
    const info: Completion<M, K> = {
      key: g.key,
      messages: g.messages,
      firstAt: g.firstAt,
      lastAt: g.lastAt,
      completedBy,
      completedAt: clock.now(),
    };
    try {
      const result = combine === undefined ? (g.messages as unknown as R) : combine(g.messages, info);
      const r = onComplete?.(result, info);
      if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
        (r as PromiseLike<unknown>).then(undefined, (e: unknown) => onError(e, info));
      }
    } catch (error) {
      onError(error, info);
    }
  };

  return {
    add(message) {
      if (closed) throw new AggregatorClosedError();
      const key = correlate(message);
      let g = groups.get(key);
      if (g === undefined) {
        if (remember && closedKeys.has(key)) {
          if (late === 'drop') return 'dropped';
          throw new LateMessageError(key);
        }
        if (groups.size >= maxGroups) finish(groups.values().next().value as Group<M, K>, 'forced');
        g = new Group<M, K>(key, clock.now());
        groups.set(key, g);
        const due = dueAt(g, timed);
        if (due !== undefined) arm(g, due);
      } else g.lastAt = clock.now();
      g.messages.push(message);
      if (size !== undefined && g.messages.length >= size) {
        finish(g, 'size');
        return 'completed';
      }
      if (predicate?.(g) === true) {
        finish(g, 'predicate');
        return 'completed';
      }
      return 'added';
    },
    complete(key) {
      const g = groups.get(key);
      if (g === undefined) return false;
      finish(g, 'forced');
      return true;
    },
    completeAll() {
      let n = 0;
      for (const g of [...groups.values()]) {
        if (!g.open) continue;
        finish(g, 'forced');
        n++;
      }
      return n;
    },
    close() {
      if (closed) return;
      closed = true;
      for (const g of [...groups.values()]) {
        if (!g.open) continue;
        if (onClose === 'complete') finish(g, 'close');
        else {
          g.open = false;
          if (g.timer !== undefined) clock.clearTimeout(g.timer);
          g.timer = undefined;
        }
      }
      groups.clear();
      closedKeys.clear();
    },
    get openGroups() {
      return groups.size;
    },
  };
}
