import type { CompletedBy } from './completion.js';

/**
 * One correlation key's group as a {@link AggregatorStore} keeps it: an open group with its
 * (serialised) messages, or the closed marker a completed group leaves behind (its message ids,
 * for deduplication and late messages).
 *
 * @example
 * ```ts
 * import { memoryAggregatorStore, type StoredGroup } from 'breakwater/messaging';
 *
 * const store = memoryAggregatorStore(); // the store your durable aggregator uses
 * // Look at a key's group: no `write`, so the store leaves it as it is.
 * const group: StoredGroup | undefined = await store.withGroup('task-7', async (g) => ({ value: g }));
 * if (group?.status === 'open') log.info(`${group.messages.length} results, due at ${group.dueAt}`);
 * else if (group?.status === 'closed') log.info(`completed by ${group.completedBy} at ${group.closedAt}`);
 * ```
 */
export interface StoredGroup {
  /** `'open'` while it collects messages; `'closed'` once completed. */
  readonly status: 'open' | 'closed';
  /** 1 for the first group of a key, one more for each later group of the same key. */
  readonly generation: number;
  /** The serialised messages, in arrival order (empty once closed). */
  readonly messages: readonly string[];
  /** The ids of the messages the group took (when the aggregator has an `id` option). */
  readonly ids: readonly string[];
  /** Clock time of the first message. */
  readonly firstAt: number;
  /** Clock time of the latest message. */
  readonly lastAt: number;
  /** Open: when a timed rule falls due (`undefined` when none is set). Closed: `undefined`. */
  readonly dueAt: number | undefined;
  /** Closed: clock time of completion. */
  readonly closedAt: number | undefined;
  /** Closed: how it completed. */
  readonly completedBy: CompletedBy | undefined;
}

/**
 * What the function given to {@link AggregatorStore.withGroup} asks the store to keep: `write` a
 * group (replacing the key's), `null` to delete the key, `undefined` to leave it as it is.
 *
 * @example
 * ```ts
 * import { memoryAggregatorStore, type GroupUpdate } from 'breakwater/messaging';
 *
 * const store = memoryAggregatorStore();
 * // An admin action: delete a stuck open group (`write: null`), and say whether there was one.
 * const removed = await store.withGroup('task-7', async (g): Promise<GroupUpdate<boolean>> =>
 *   g?.status === 'open' ? { write: null, value: true } : { value: false },
 * );
 * ```
 */
export interface GroupUpdate<T> {
  readonly write?: StoredGroup | null | undefined;
  /** Returned by `withGroup`. */
  readonly value: T;
}

/**
 * Where a {@link durableAggregator} keeps its groups. Every implementation (memory, PostgreSQL,
 * Redis) passes one conformance suite:
 * - `withGroup` gives one writer per key, across processes: `fn` runs while no other `withGroup` of
 *   the same key (in this process or another) runs, sees the last committed state of the key, and
 *   its `write` is stored only if `fn` resolves (a rejection stores nothing). `Tx` is what the store
 *   hands `fn` besides the group: on PostgreSQL the client inside the transaction, so writes of
 *   your own commit (or roll back) with the group.
 * - `due(now, limit)` lists keys of open groups with `dueAt ≤ now`, earliest due first.
 * - `trim(keep)` deletes closed markers beyond the `keep` most recently closed.
 *
 * @example
 * ```ts
 * import { durableAggregator, memoryAggregatorStore, type AggregatorStore } from 'breakwater/messaging';
 *
 * // Any store, with the time each key's group is held measured.
 * const timed = <Tx>(inner: AggregatorStore<Tx>): AggregatorStore<Tx> => ({
 *   withGroup: (key, fn) => {
 *     const start = Date.now();
 *     return inner.withGroup(key, fn).finally(() => metrics.heldMs.observe(Date.now() - start));
 *   },
 *   due: (now, limit) => inner.due(now, limit),
 *   count: () => inner.count(),
 *   trim: (keep) => inner.trim(keep),
 * });
 * const results = durableAggregator({
 *   store: timed(memoryAggregatorStore()),
 *   correlate: (r: ToolResult) => r.taskId,
 *   complete: { size: 3 },
 * });
 * ```
 */
export interface AggregatorStore<Tx = undefined> {
  /** Runs `fn` with the key's group held exclusively and stores its `write` atomically. */
  withGroup<T>(key: string, fn: (group: StoredGroup | undefined, tx: Tx) => Promise<GroupUpdate<T>>): Promise<T>;
  /** Keys of open groups due at `now`, earliest first, at most `limit`. */
  due(now: number, limit: number): Promise<string[]>;
  /** Number of open groups. */
  count(): Promise<number>;
  /** Deletes the closed markers beyond the `keep` most recently closed; returns how many went. */
  trim(keep: number): Promise<number>;
}

/**
 * An in-memory {@link AggregatorStore}: the async store interface over a `Map`, with one queue per
 * key for the exclusive section. For tests of durable-aggregator code, and for one process that
 * wants the store's semantics (deduplication by id, `onComplete` inside the key's lock) without a
 * database. Groups do not survive a restart.
 *
 * @example
 * ```ts
 * const agg = durableAggregator({ store: memoryAggregatorStore(), correlate: (m: Part) => m.taskId, complete: { size: 3 } });
 * await agg.add(part);
 * ```
 */
export function memoryAggregatorStore(): AggregatorStore {
  const groups = new Map<string, StoredGroup>();
  const queues = new Map<string, Promise<unknown>>();
  return {
    withGroup<T>(key: string, fn: (group: StoredGroup | undefined, tx: undefined) => Promise<GroupUpdate<T>>) {
      const prev = queues.get(key) ?? Promise.resolve();
      const run = prev.then(async () => {
        const u = await fn(groups.get(key), undefined);
        if (u.write === null) groups.delete(key);
        else if (u.write !== undefined) {
          // Closed markers stay in closing order (oldest first) for `trim`.
          if (u.write.status === 'closed') groups.delete(key);
          groups.set(key, u.write);
        }
        return u.value;
      });
      const tail = run.then(
        () => undefined,
        () => undefined,
      );
      queues.set(key, tail);
      void tail.then(() => {
        if (queues.get(key) === tail) queues.delete(key);
      });
      return run;
    },
    async due(now, limit) {
      const out: { key: string; at: number }[] = [];
      for (const [key, g] of groups)
        if (g.status === 'open' && g.dueAt !== undefined && g.dueAt <= now) out.push({ key, at: g.dueAt });
      out.sort((a, b) => a.at - b.at);
      return out.slice(0, limit).map((e) => e.key);
    },
    async count() {
      let n = 0;
      for (const g of groups.values()) if (g.status === 'open') n++;
      return n;
    },
    async trim(keep) {
      const closed: string[] = [];
      for (const [key, g] of groups) if (g.status === 'closed') closed.push(key);
      const drop = closed.length - keep;
      for (let i = 0; i < drop; i++) groups.delete(closed[i] as string);
      return Math.max(0, drop);
    },
  };
}
