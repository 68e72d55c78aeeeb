// Projections (the query side): one definition, run inline (in the append's transaction) or async
// (a checkpointed processor holding a lock, resumable, rebuildable).
import type { Policy } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject } from '../core/validate.js';
import { ProjectionError } from './errors.js';
import { backendOf, type ProjectionLock } from './internal.js';
import { retryWithBackoff } from './subscription.js';
import type { Event, EventStore, InlineProjection, ProjectionContext, StoredEvent } from './types.js';

/**
 * How a projection applies one event.
 *
 * @example
 * ```ts
 * import { type Event, type ProjectionHandler, projection } from 'breakwater/event-store';
 * import type { PoolClient } from 'pg';
 *
 * type ModelReplied = Event<'ModelReplied', { model: string; cost: number }>;
 * const onReply: ProjectionHandler<ModelReplied> = async (e, { client }) => {
 *   await (client as PoolClient).query('INSERT INTO replies (id, model) VALUES ($1, $2)', [e.id, e.data.model]);
 * };
 * const replies = projection<ModelReplied>({ name: 'replies', handles: { ModelReplied: onReply } });
 * ```
 */
export type ProjectionHandler<E extends Event = Event> = (
  event: StoredEvent<E>,
  ctx: ProjectionContext,
) => void | PromiseLike<void>;

/**
 * Per event type, how the projection applies it.
 *
 * @example
 * ```ts
 * import { type Event, type ProjectionHandlers, projection } from 'breakwater/event-store';
 *
 * type AgentEvent = Event<'ToolCalled', { tool: string }> | Event<'ModelReplied', { model: string; cost: number }>;
 * const tools = new Set<string>();
 * const handles: ProjectionHandlers<AgentEvent> = {
 *   ToolCalled: (e) => void tools.add(e.data.tool), // e.data is { tool: string }
 * };
 * const usedTools = projection<AgentEvent>({ name: 'used-tools', handles }); // reads only ToolCalled
 * ```
 */
export type ProjectionHandlers<E extends Event = Event> = string extends E['type']
  ? { readonly [type: string]: ProjectionHandler<E> | undefined }
  : { readonly [K in E['type']]?: ProjectionHandler<Extract<E, { type: K }>> | undefined };

/**
 * What {@link projection} takes.
 *
 * @example
 * ```ts
 * import { type ProjectionDefinition, projection } from 'breakwater/event-store';
 *
 * const definition: ProjectionDefinition<ModelReplied> = {
 *   name: 'model-costs',
 *   handles: { ModelReplied: (e, { client }) => upsertCost(client, e.data.model, e.data.cost) },
 *   truncate: ({ client }) => truncateCosts(client), // before a rebuild
 * };
 * const costs = projection(definition);
 * ```
 */
export interface ProjectionDefinition<E extends Event = Event> {
  /** Unique name; also the checkpoint and lock key of the async runner. */
  readonly name: string;
  /** Handlers by event type; other types are not read. */
  readonly handles: ProjectionHandlers<E>;
  /** Empties the read model before a rebuild (in the same transaction as the checkpoint reset). */
  readonly truncate?: ((ctx: ProjectionContext) => void | PromiseLike<void>) | undefined;
}

/**
 * A projection, usable inline (`inline: [p]` on a store) or async ({@link startProjection}).
 *
 * @example
 * ```ts
 * import { memoryEventStore, type Projection, projection, startProjection } from 'breakwater/event-store';
 *
 * const costs: Projection<ModelReplied> = projection<ModelReplied>({
 *   name: 'model-costs',
 *   handles: { ModelReplied: (e) => void totals.set(e.data.model, (totals.get(e.data.model) ?? 0) + e.data.cost) },
 * });
 * const store = memoryEventStore({ inline: [costs] }); // inline: in each append's transaction
 * // or async, behind the writes: startProjection({ store, projection: costs })
 * ```
 */
export interface Projection<E extends Event = Event> extends InlineProjection {
  /** The handlers. */
  readonly handles: ProjectionHandlers<E>;
  /** See {@link ProjectionDefinition.truncate}. */
  readonly truncate: ((ctx: ProjectionContext) => void | PromiseLike<void>) | undefined;
}

/**
 * Defines a projection: a read model built from events by per-type handlers.
 *
 * @throws TypeError when the name or a handler is missing or wrong.
 * @example
 * ```ts
 * const costs = new Map<string, number>();
 * const costPerModel = projection<AgentEvent>({
 *   name: 'cost-per-model',
 *   handles: { ModelReplied: (e) => void costs.set(e.data.model, (costs.get(e.data.model) ?? 0) + e.data.cost) },
 * });
 * ```
 */
export function projection<E extends Event = Event>(definition: ProjectionDefinition<E>): Projection<E> {
  checkObject('definition', definition);
  if (typeof definition.name !== 'string' || definition.name.length === 0) {
    throw new TypeError('Expected `name` to be a non-empty string');
  }
  checkObject('handles', definition.handles);
  const handles = definition.handles as unknown as Record<string, (e: StoredEvent, ctx: ProjectionContext) => unknown>;
  const types = Object.keys(handles);
  for (const t of types) checkFunction(`handles.${t}`, handles[t], false);
  checkFunction('truncate', definition.truncate);
  return {
    name: definition.name,
    types,
    handles: definition.handles,
    truncate: definition.truncate,
    async apply(events: readonly StoredEvent[], ctx: ProjectionContext): Promise<void> {
      for (const event of events) await handles[event.type]?.(event, ctx);
    },
  };
}

/**
 * Options of {@link startProjection}.
 *
 * @example
 * ```ts
 * import { type StartProjectionOptions, startProjection } from 'breakwater/event-store';
 *
 * const options: StartProjectionOptions<ModelReplied> = {
 *   store,
 *   projection: costs,
 *   batchSize: 500,
 *   pollInterval: 1_000,
 *   signal: shutdown.signal,
 * };
 * const runner = startProjection(options);
 * ```
 */
export interface StartProjectionOptions<E extends Event = Event> {
  /** The store to read from; checkpoints and the lock live in it. */
  readonly store: EventStore;
  /** The projection. */
  readonly projection: Projection<E>;
  /** Events per batch (one transaction each on SQL stores). @defaultValue `100` */
  readonly batchSize?: number | undefined;
  /** Poll interval for events from other processes, and for retrying a held lock. @defaultValue `250` ms */
  readonly pollInterval?: number | undefined;
  /** Lease duration on SQLite and memory (renewed every batch). @defaultValue `30_000` ms */
  readonly leaseMs?: number | undefined;
  /**
   * Runs each batch, taking the lock again first when it was lost with its connection.
   * @defaultValue retry up to 5 times with exponential backoff from 100 ms
   */
  readonly policy?: Policy | undefined;
  /** Stops the projection when aborted. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * A running async projection.
 *
 * @example
 * ```ts
 * import { type ProjectionRunner, startProjection } from 'breakwater/event-store';
 *
 * const runner: ProjectionRunner = startProjection({ store, projection: costs });
 * runner.done.catch((e) => console.error('projection stopped', e)); // a ProjectionError when a batch keeps failing
 * await runner.caughtUp();
 * console.log(`active: ${runner.active}, applied ${runner.processed} events`);
 * await runner.close();
 * ```
 */
export interface ProjectionRunner {
  /** True while this instance holds the projection's lock (others wait as standbys). */
  readonly active: boolean;
  /** Events applied by this instance. */
  readonly processed: number;
  /** Resolves once this instance has applied every event committed when it last looked. */
  caughtUp(): Promise<void>;
  /** Resolves when stopped by `close`/abort; rejects with a `ProjectionError` when a batch keeps failing. */
  readonly done: Promise<void>;
  /** Stops after the batch in flight and releases the lock. */
  close(): Promise<void>;
}

class Stop {}

/**
 * Runs a projection asynchronously: batches after its checkpoint, applied and checkpointed in one
 * transaction on SQL stores (exactly-once effect for a read model in the same database; at least
 * once elsewhere), resuming after a restart. One instance per projection name runs at a time
 * (PostgreSQL advisory lock; lease row on SQLite); the others wait.
 *
 * @throws TypeError for a bad option.
 * @example
 * ```ts
 * const runner = startProjection({ store, projection: costPerModel });
 * await runner.caughtUp();
 * await runner.close();
 * ```
 */
export function startProjection<E extends Event = Event>(options: StartProjectionOptions<E>): ProjectionRunner {
  checkObject('options', options);
  const backend = backendOf(options.store);
  const proj = options.projection as unknown as Projection;
  if (proj === null || typeof proj !== 'object' || typeof proj.apply !== 'function') {
    throw new TypeError('Expected `projection` to be made by projection()');
  }
  const batchSize = checkNumber('batchSize', options.batchSize ?? 100, 1, { integer: true, max: 10_000 });
  const pollInterval = checkNumber('pollInterval', options.pollInterval ?? 250, 1);
  const leaseMs = checkNumber('leaseMs', options.leaseMs ?? 30_000, 1);
  const owner = globalThis.crypto.randomUUID();
  const stop = new AbortController();
  const external = options.signal;
  const onAbort = (): void => stop.abort(new Stop());
  external?.addEventListener('abort', onAbort, { once: true });
  if (external?.aborted) stop.abort(new Stop());
  let active = false;
  let processed = 0;
  let waiters: (() => void)[] = [];
  const apply = async (events: readonly StoredEvent[], ctx: ProjectionContext): Promise<void> => {
    await proj.apply(events, ctx);
    processed += events.length;
  };
  let lock: ProjectionLock | undefined;
  // Gives a lost lock back (closing its dead connection) so that the next attempt queues for it again.
  const drop = async (): Promise<void> => {
    const held = lock;
    lock = undefined;
    active = false;
    await held?.release();
  };
  // One attempt: take the lock unless held (undefined: another instance has it), then one batch. A
  // failure that also lost the lock (its connection died, and the server released the lock with it)
  // drops the lock, so a retry takes it again rather than retrying on a dead connection.
  const attempt = async (): Promise<number | undefined> => {
    lock ??= await backend.lockProjection(proj.name, owner, leaseMs);
    active = lock !== undefined;
    if (lock === undefined) return undefined;
    try {
      return await backend.runBatch(proj.name, owner, batchSize, proj.types, apply);
    } catch (error) {
      if (!(await lock.renew())) await drop();
      throw error;
    }
  };

  const run = async (): Promise<void> => {
    try {
      // Asked for at once, so runners started together queue for the lock in start order; if this
      // first try fails, the attempts below retry it under the policy.
      if (!stop.signal.aborted) lock = await backend.lockProjection(proj.name, owner, leaseMs).catch(() => undefined);
      while (!stop.signal.aborted) {
        const generation = backend.generation();
        let n: number | undefined;
        try {
          n =
            options.policy === undefined
              ? await retryWithBackoff(attempt, backend.clock, stop.signal)
              : await options.policy.execute(attempt, { signal: stop.signal });
        } catch (error) {
          if (stop.signal.aborted) return;
          throw new ProjectionError(proj.name, 'Projection batch kept failing', { cause: error });
        }
        if (n === undefined) {
          await backend.clock.sleep(pollInterval, stop.signal).catch(() => undefined);
          continue;
        }
        if (n < batchSize) {
          const ws = waiters;
          waiters = [];
          for (const w of ws) w();
          await backend.wait(pollInterval, stop.signal, generation);
          if (!(await lock?.renew())) await drop();
        }
      }
    } finally {
      active = false;
      await lock?.release();
      external?.removeEventListener('abort', onAbort);
      for (const w of waiters) w();
    }
  };
  const done = run();
  done.catch(() => undefined);
  return {
    get active() {
      return active;
    },
    get processed() {
      return processed;
    },
    caughtUp: () =>
      new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        done.then(resolve, reject);
      }),
    done,
    close() {
      stop.abort(new Stop());
      return done.catch(() => undefined);
    },
  };
}

/**
 * Options of {@link rebuild}.
 *
 * @example
 * ```ts
 * import { type RebuildOptions, rebuild } from 'breakwater/event-store';
 *
 * const options: RebuildOptions<ModelReplied> = { store, projection: costs, batchSize: 1_000 };
 * await runner.close(); // the rebuild takes the projection's lock
 * const replayed = await rebuild(options);
 * ```
 */
export interface RebuildOptions<E extends Event = Event> {
  /** The store. */
  readonly store: EventStore;
  /** The projection; its `truncate` empties the read model first. */
  readonly projection: Projection<E>;
  /** Events per batch. @defaultValue `500` */
  readonly batchSize?: number | undefined;
}

/**
 * Rebuilds a projection: truncates its read model and resets its checkpoint in one transaction,
 * then replays every event up to now. Stop the projection's runners first: the rebuild takes its
 * lock. If the rebuild dies midway, a later `startProjection` continues from where it stopped.
 *
 * @returns the number of events replayed.
 * @throws ProjectionError when another instance holds the projection's lock.
 * @example
 * ```ts
 * await runner.close();
 * await rebuild({ store, projection: costPerModel });
 * ```
 */
export async function rebuild<E extends Event = Event>(options: RebuildOptions<E>): Promise<number> {
  checkObject('options', options);
  const backend = backendOf(options.store);
  const proj = options.projection as unknown as Projection;
  const batchSize = checkNumber('batchSize', options.batchSize ?? 500, 1, { integer: true, max: 10_000 });
  const owner = globalThis.crypto.randomUUID();
  const lock = await backend.lockProjection(proj.name, owner, 300_000);
  if (lock === undefined)
    throw new ProjectionError(proj.name, 'Projection is running elsewhere; stop it before a rebuild');
  try {
    await backend.resetProjection(proj.name, owner, async (ctx) => {
      await proj.truncate?.(ctx);
    });
    let total = 0;
    for (;;) {
      const n = await backend.runBatch(proj.name, owner, batchSize, proj.types, async (events, ctx) => {
        await proj.apply(events, ctx);
      });
      total += n;
      if (n < batchSize) return total;
      await lock.renew();
    }
  } finally {
    await lock.release();
  }
}
