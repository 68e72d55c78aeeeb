// The saga's log: one event stream per instance. Every transition is appended with the version the
// driver last saw as expected version, so a process that lost its lease, or two resumers racing,
// get a conflict instead of both acting.
import { BreakwaterError } from '../core/errors.js';
import type { EventStore } from '../event-store/index.js';
import { evolveSaga, type SagaLogEvent, type SagaState } from './state.js';

/**
 * The part of an event store the orchestrator uses. Any `breakwater/event-store` store fits.
 *
 * @example
 * ```ts
 * import { memoryEventStore } from 'breakwater/event-store';
 * import { type SagaStore, sagaOrchestrator } from 'breakwater/saga';
 *
 * const store: SagaStore = memoryEventStore(); // or a SQLite or PostgreSQL event store
 * const sagas = sagaOrchestrator({ store });
 * ```
 */
export type SagaStore = Pick<EventStore, 'append' | 'read' | 'streams'>;

/** Raised inside a driver when another process took the saga over. @internal */
export class LeaseLostError extends BreakwaterError {
  constructor(sagaId: string) {
    super('ERR_SAGA_LEASE_LOST', `Saga ${sagaId} was taken over by another process`);
  }
}

const isConflict = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === 'ERR_CONCURRENCY';

/** Reads a saga's stream and folds it. @internal */
export async function loadSaga(store: SagaStore, stream: string): Promise<SagaState | undefined> {
  let state: SagaState | undefined;
  let version = 0;
  for await (const e of store.read(stream)) {
    version++;
    const next = evolveSaga(state, e as unknown as SagaLogEvent);
    // Keep the version in step with the stream even if foreign events precede `saga.started`.
    state = next === undefined ? undefined : { ...next, version };
  }
  return state;
}

/**
 * Appends `events` to a new saga stream; resolves `undefined` if the stream already exists.
 * @internal
 */
export async function createSaga(
  store: SagaStore,
  stream: string,
  events: readonly SagaLogEvent[],
): Promise<SagaState | undefined> {
  try {
    await store.append(stream, events as never, { expectedVersion: 'no-stream' });
  } catch (e) {
    if (isConflict(e)) return undefined;
    throw e;
  }
  let state: SagaState | undefined;
  for (const e of events) state = evolveSaga(state, e);
  return state;
}

/**
 * One process's handle on a saga it drives: the folded state, serialized appends, conflict
 * handling and the lease. @internal
 */
export class SagaLog {
  readonly store: SagaStore;
  readonly stream: string;
  readonly owner: string;
  state: SagaState;
  /** Set when another process's claim was seen: every later append throws. */
  lost = false;
  #tail: Promise<unknown> = Promise.resolve();
  readonly #onAppend: (events: readonly SagaLogEvent[], state: SagaState) => void;
  readonly #onReload: (state: SagaState) => void;

  constructor(
    store: SagaStore,
    stream: string,
    owner: string,
    state: SagaState,
    hooks: {
      readonly onAppend: (events: readonly SagaLogEvent[], state: SagaState) => void;
      readonly onReload: (state: SagaState) => void;
    },
  ) {
    this.store = store;
    this.stream = stream;
    this.owner = owner;
    this.state = state;
    this.#onAppend = hooks.onAppend;
    this.#onReload = hooks.onReload;
  }

  /**
   * Appends one or more transitions, in order with every other append of this log. On a conflict
   * the stream is reloaded: if the lease is still ours the facts are appended again at the new
   * version; if someone else claimed the saga, {@link LeaseLostError}.
   */
  append(...events: SagaLogEvent[]): Promise<SagaState> {
    const run = this.#tail.then(() => this.#append(events));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #append(events: readonly SagaLogEvent[]): Promise<SagaState> {
    for (;;) {
      if (this.lost) throw new LeaseLostError(this.state.id);
      try {
        await this.store.append(this.stream, events as never, { expectedVersion: this.state.version });
      } catch (e) {
        if (!isConflict(e)) throw e;
        await this.reload();
        continue;
      }
      let s: SagaState = this.state;
      for (const e of events) s = evolveSaga(s, e) as SagaState;
      this.state = s;
      this.#onAppend(events, s);
      return s;
    }
  }

  /** Rereads the stream (after a conflict): notes a cancellation or a takeover by another process. */
  async reload(): Promise<SagaState> {
    const fresh = await loadSaga(this.store, this.stream);
    if (fresh === undefined) throw new BreakwaterError('ERR_SAGA_STATE', `Saga ${this.state.id} has lost its log`);
    this.state = fresh;
    if (fresh.lease?.owner !== this.owner) this.lost = true;
    this.#onReload(fresh);
    return fresh;
  }
}
