import type { Clock } from '../core/clock.js';
import type { Listener, PolicyEventBase, Unsubscribe } from '../core/events.js';
import type { Policy } from '../core/policy.js';
import type { Saga } from './definition.js';
import type { SagaStore } from './log.js';
import type { SagaIndex, sagaIndex } from './saga-index.js';
import type { SagaLogEvent, SagaState, SagaStatus } from './state.js';

/**
 * The name of an orchestrator event: the log event type without its `saga.` prefix.
 *
 * @example
 * ```ts
 * import { sagaOrchestrator, type SagaEventType } from 'breakwater/saga';
 *
 * const sagas = sagaOrchestrator({ store });
 * const alarming: readonly SagaEventType[] = ['step-compensation-failed', 'compensation-failed', 'failed'];
 * for (const type of alarming) sagas.on(type, (e) => pager.alert(`${e.name} ${e.sagaId}: ${e.type}`, e.data));
 * ```
 */
export type SagaEventType = SagaLogEvent['type'] extends `saga.${infer T}` ? T : never;

/**
 * What an orchestrator listener receives for every transition appended to a saga's log.
 *
 * @example
 * ```ts
 * import { type SagaEvent, sagaOrchestrator } from 'breakwater/saga';
 *
 * const sagas = sagaOrchestrator({ store });
 * sagas.on('step-failed', (e: SagaEvent) => console.warn(`${e.name} ${e.sagaId}: step ${e.step} failed`, e.data));
 * ```
 */
export interface SagaEvent extends PolicyEventBase {
  readonly type: SagaEventType;
  readonly kind: 'saga';
  /** The saga definition's name. */
  readonly name: string;
  /** The saga instance id. */
  readonly sagaId: string;
  /** The step concerned, for step and compensation events. */
  readonly step: string | undefined;
  /** The log event's data (result, stored error, lease, …). */
  readonly data: unknown;
}

/**
 * Options of {@link sagaOrchestrator}.
 *
 * @example
 * ```ts
 * import { sagaOrchestrator, type SagaOrchestratorOptions } from 'breakwater/saga';
 *
 * const options: SagaOrchestratorOptions = {
 *   store: sqliteEventStore(new Database('sagas.db')),
 *   sagas: [bookTrip],
 *   lease: 60_000,
 *   owner: process.env.HOSTNAME,
 *   compensationRetries: 5,
 * };
 * const sagas = sagaOrchestrator(options);
 * await sagas.resume(); // at startup: finish what a crashed process left
 * ```
 */
export interface SagaOrchestratorOptions {
  /** Where saga logs live: any `breakwater/event-store` store (memory, SQLite, PostgreSQL). */
  readonly store: SagaStore;
  /** Source of time for leases, deadlines and retry delays. @defaultValue `systemClock` */
  readonly clock?: Clock | undefined;
  /** Saga definitions `resume` may meet in the store (`run` registers its saga too). @defaultValue `[]` */
  readonly sagas?: readonly Saga[] | undefined;
  /**
   * How long a claim on a saga lasts, in ms; renewed every third of it while this process drives
   * the saga. Another process takes over a saga whose lease has lapsed.
   * @defaultValue 30_000
   */
  readonly lease?: number | undefined;
  /** This process's identity in leases. @defaultValue a random UUID */
  readonly owner?: string | undefined;
  /** Prefix of saga stream names (stream = prefix + saga id). @defaultValue `'saga-'` */
  readonly streamPrefix?: string | undefined;
  /** The policy every compensation runs under, unless its step sets `compensatePolicy`. @defaultValue a built-in retry */
  readonly compensationPolicy?: Policy<any> | undefined;
  /** Retries of the built-in compensation retry. @defaultValue 3 */
  readonly compensationRetries?: number | undefined;
  /** First delay of the built-in compensation retry, in ms, doubling each retry. @defaultValue 100 */
  readonly compensationDelay?: number | undefined;
  /** How often `run` rechecks a saga another process is driving, in ms. @defaultValue 500 */
  readonly pollInterval?: number | undefined;
  /**
   * A status index ({@link sagaIndex}) registered on `store` as an inline projection: `list({ status })`
   * and `resume()` then read it instead of folding every saga stream. `store` must be a breakwater
   * event store (memory, SQLite or PostgreSQL).
   * @defaultValue none: `list` and `resume` fold every saga stream
   */
  readonly index?: SagaIndex | undefined;
}

/**
 * Options of {@link SagaOrchestrator.list}.
 *
 * @example
 * ```ts
 * import { type ListOptions, sagaOrchestrator } from 'breakwater/saga';
 *
 * const sagas = sagaOrchestrator({ store });
 * const stuck: ListOptions = { status: ['compensation-failed', 'failed'] };
 * for (const s of await sagas.list(stuck)) console.log(s.id, s.saga, s.status, s.failure?.reason);
 * ```
 */
export interface ListOptions {
  /** Only sagas in this status (or these statuses). @defaultValue every status */
  readonly status?: SagaStatus | readonly SagaStatus[] | undefined;
}

/**
 * Runs sagas durably over an event store; built by {@link sagaOrchestrator}.
 *
 * @example
 * ```ts
 * import { type SagaOrchestrator, sagaOrchestrator } from 'breakwater/saga';
 *
 * const sagas: SagaOrchestrator = sagaOrchestrator({ store, sagas: [bookTrip] });
 * await sagas.resume(); // drive what a crashed process left unfinished
 * for (const s of await sagas.list({ status: 'compensation-failed' })) {
 *   await sagas.redrive(s.id).catch((e) => console.error(`redrive of ${s.id} failed`, e));
 * }
 * ```
 */
export interface SagaOrchestrator {
  /**
   * Starts saga instance `id` and resolves with its result, or rejects with a {@link SagaFailedError}.
   * If instance `id` already exists, no second one starts: resolves (or rejects) with its outcome,
   * waiting for it if needed.
   */
  run<I, R>(saga: Saga<I, R>, input: I, options: { readonly id: string }): Promise<R>;
  /**
   * Picks up unfinished sagas whose lease is free (every one, or instance `id`) and drives them to a
   * terminal status; resolves with their final states. Completed steps are not re-run; a step with
   * no recorded outcome is re-run with the same key; a compensating saga keeps compensating.
   */
  resume(): Promise<SagaState[]>;
  /** Like `resume()` for one instance: resolves with its state afterwards (`undefined` if unknown). */
  resume(id: string): Promise<SagaState | undefined>;
  /** The saga's state as folded from its log, or `undefined` if there is no such saga. */
  status(id: string): Promise<SagaState | undefined>;
  /** Every saga in the store (optionally by status). */
  list(options?: ListOptions): Promise<SagaState[]>;
  /**
   * Retries a saga left `compensation-failed` (its failed compensations) or `failed` after a pivot
   * (forward from the failed step). Resolves or rejects like `run`.
   */
  redrive<R = unknown>(id: string): Promise<R>;
  /**
   * Cancels a running saga: its step signals abort and what was done is compensated. Resolves with
   * the state afterwards (the process driving it notices within a third of the lease).
   */
  cancel(id: string): Promise<SagaState | undefined>;
  /** Makes a saga definition known to `resume`. */
  register(saga: Saga): void;
  /** Listens to every transition (`'*'`) or one type; returns an unsubscribe. */
  on<K extends SagaEventType | '*'>(
    type: K,
    listener: Listener<K extends '*' ? SagaEvent : SagaEvent & { type: K }>,
  ): Unsubscribe;
}
