import { type Clock, systemClock } from '../core/clock.js';
import { BreakwaterError, TimeoutError } from '../core/errors.js';
import { Emitter, type Listener, type Unsubscribe } from '../core/events.js';
import { checkNumber, checkObject } from '../core/validate.js';
import type { EventStore } from '../event-store/index.js';
import type { Saga, SagaStep } from './definition.js';
import { type CompensationSettings, compensateStep, type Drive, resultsOf, runStep } from './executor.js';
import { createSaga, LeaseLostError, loadSaga, SagaLog, type SagaStore } from './log.js';
import type {
  ListOptions,
  SagaEvent,
  SagaEventType,
  SagaOrchestrator,
  SagaOrchestratorOptions,
} from './orchestrator-types.js';
import { cancelled, sagaOutcome } from './outcome.js';
import { nextAction } from './planner.js';
import type { SagaIndex } from './saga-index.js';
import { isTerminalStatus, type SagaLogEvent, type SagaState } from './state.js';

/** The statuses `resume()` acts on. */
const UNSETTLED: ReadonlySet<string> = /*#__PURE__*/ new Set(['running', 'compensating']);

const sagaState = (code: string, message: string): BreakwaterError => new BreakwaterError(code, message);

function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return c?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

class Orchestrator implements SagaOrchestrator {
  readonly #store: SagaStore;
  readonly #clock: Clock;
  readonly #lease: number;
  readonly #owner: string;
  readonly #prefix: string;
  readonly #compensation: CompensationSettings;
  readonly #poll: number;
  readonly #sagas = new Map<string, Saga>();
  readonly #active = new Map<string, Drive>();
  readonly #runs = new Map<string, Promise<unknown>>();
  readonly #claims = new Map<string, Promise<Drive | undefined>>();
  readonly #events = new Emitter<SagaEvent>();
  readonly #index: SagaIndex | undefined;

  constructor(o: SagaOrchestratorOptions) {
    this.#store = o.store;
    this.#clock = o.clock ?? systemClock;
    this.#lease = checkNumber('lease', o.lease ?? 30_000, 0, { exclusiveMin: true });
    this.#owner = o.owner ?? randomId();
    this.#prefix = o.streamPrefix ?? 'saga-';
    this.#compensation = {
      policy: o.compensationPolicy,
      retries: checkNumber('compensationRetries', o.compensationRetries ?? 3, 0, { integer: true }),
      delay: checkNumber('compensationDelay', o.compensationDelay ?? 100, 0),
      clock: this.#clock,
    };
    this.#poll = checkNumber('pollInterval', o.pollInterval ?? 500, 0, { exclusiveMin: true });
    for (const s of o.sagas ?? []) this.register(s);
    const index = o.index;
    if (index !== undefined && (typeof index !== 'object' || typeof index?.entries !== 'function')) {
      throw new TypeError('Expected `index` to be made by sagaIndex()');
    }
    if (index !== undefined && !(o.store as Partial<EventStore>).transaction) {
      throw new TypeError('Expected `store` to be a breakwater event store when `index` is given');
    }
    this.#index = index;
  }

  register(saga: Saga): void {
    if (typeof saga !== 'object' || saga === null || !Array.isArray(saga.stages)) {
      throw new TypeError('Expected a saga built by `defineSaga`');
    }
    this.#sagas.set(saga.name, saga);
  }

  on(type: string, listener: Listener<any>): Unsubscribe {
    return this.#events.on(type, listener);
  }

  run<I, R>(saga: Saga<I, R>, input: I, options: { readonly id: string }): Promise<R> {
    try {
      this.register(saga);
      const id = checkId(options?.id);
      // Concurrent runs of one id in this process share one start.
      const pending = this.#runs.get(id);
      if (pending !== undefined) return pending as Promise<R>;
      const p = this.#run(saga, input, id).finally(() => this.#runs.delete(id));
      this.#runs.set(id, p);
      return p;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async #run<I, R>(saga: Saga<I, R>, input: I, id: string): Promise<R> {
    const active = this.#active.get(id);
    if (active !== undefined) return this.#finish(active) as Promise<R>;
    if (this.#index !== undefined) await this.#index.setup(this.#store as EventStore);
    const now = this.#clock.now();
    const events: SagaLogEvent[] = [
      {
        type: 'saga.started',
        data: {
          id,
          saga: saga.name,
          input,
          ...(saga.timeout === undefined ? {} : { deadline: now + saga.timeout }),
          at: now,
        },
      },
      { type: 'saga.claimed', data: { owner: this.#owner, until: now + this.#lease } },
    ];
    const created = await createSaga(this.#store, this.#stream(id), events);
    if (created === undefined) return this.#awaitOutcome(id) as Promise<R>;
    this.#emit(events, created);
    return this.#finish(this.#start(saga, created)) as Promise<R>;
  }

  resume(): Promise<SagaState[]>;
  resume(id: string): Promise<SagaState | undefined>;
  async resume(id?: string): Promise<SagaState[] | SagaState | undefined> {
    if (id !== undefined) return this.#resumeOne(checkId(id));
    const pending: Promise<SagaState | undefined>[] = [];
    for await (const stream of this.#candidates(UNSETTLED)) {
      pending.push(this.#resumeOne(stream.slice(this.#prefix.length), true));
    }
    const states = await Promise.all(pending);
    return states.filter((s): s is SagaState => s !== undefined);
  }

  async #resumeOne(id: string, onlyDriven = false): Promise<SagaState | undefined> {
    const active = this.#active.get(id);
    if (active !== undefined) return active.done;
    const state = await this.status(id);
    if (state === undefined) return undefined;
    const drive = await this.#claim(state);
    if (drive === undefined) return onlyDriven ? undefined : state;
    return drive.done;
  }

  status(id: string): Promise<SagaState | undefined> {
    return loadSaga(this.#store, this.#stream(checkId(id)));
  }

  async list(options?: ListOptions): Promise<SagaState[]> {
    checkObject('options', options);
    const want = options?.status;
    const statuses = want === undefined ? undefined : new Set<string>(typeof want === 'string' ? [want] : want);
    const out: SagaState[] = [];
    for await (const stream of this.#candidates(statuses)) {
      const s = await loadSaga(this.#store, stream);
      if (s !== undefined && (statuses === undefined || statuses.has(s.status))) out.push(s);
    }
    return out;
  }

  /**
   * The saga streams that may be in `statuses`: from the index when there is one (one query), else
   * every stream with the prefix (each then folded by the caller).
   */
  async *#candidates(statuses: ReadonlySet<string> | undefined): AsyncIterable<string> {
    if (this.#index !== undefined) {
      for (const e of await this.#index.entries(this.#store as EventStore, this.#prefix, statuses)) yield e.stream;
      return;
    }
    for await (const { stream } of this.#store.streams({ prefix: this.#prefix })) yield stream;
  }

  redrive<R = unknown>(id: string): Promise<R> {
    try {
      checkId(id);
    } catch (e) {
      return Promise.reject(e);
    }
    // A redrive and a run of the same id in this process share one outcome.
    const pending = this.#runs.get(id);
    if (pending !== undefined) return pending as Promise<R>;
    const p = this.#redrive(id).finally(() => this.#runs.delete(id));
    this.#runs.set(id, p);
    return p as Promise<R>;
  }

  async #redrive(id: string): Promise<unknown> {
    const active = this.#active.get(id);
    if (active !== undefined) return this.#finish(active);
    const state = await this.status(id);
    if (state === undefined) throw sagaState('ERR_SAGA_UNKNOWN', `No saga with id ${id}`);
    if (state.status !== 'compensation-failed' && state.status !== 'failed') {
      throw sagaState('ERR_SAGA_STATE', `Saga ${id} is ${state.status}; only failed sagas can be redriven`);
    }
    const saga = this.#sagas.get(state.saga);
    if (saga === undefined) throw sagaState('ERR_SAGA_UNKNOWN', `Saga definition "${state.saga}" is not registered`);
    const now = this.#clock.now();
    const log = this.#log(state);
    try {
      await log.append(
        { type: 'saga.redriven', data: { at: now } },
        { type: 'saga.claimed', data: { owner: this.#owner, until: now + this.#lease } },
      );
    } catch (e) {
      if (!(e instanceof LeaseLostError)) throw e;
      return this.#awaitOutcome(id);
    }
    return this.#finish(this.#start(saga, log));
  }

  async cancel(id: string): Promise<SagaState | undefined> {
    const at = this.#clock.now();
    const active = this.#active.get(checkId(id));
    if (active !== undefined) {
      const s = active.log.state;
      if (!isTerminalStatus(s.status) && !s.cancelRequested) {
        await active.log.append({ type: 'saga.cancel-requested', data: { at } }).catch(() => undefined);
        active.forward.abort(cancelled(id));
      }
      return active.done;
    }
    const state = await this.status(id);
    if (state === undefined || isTerminalStatus(state.status)) return state;
    if (!state.cancelRequested) {
      const event: SagaLogEvent = { type: 'saga.cancel-requested', data: { at } };
      await this.#store.append(this.#stream(id), [event as never], { expectedVersion: 'exists' });
      this.#emit([event], state);
    }
    return this.#resumeOne(id);
  }

  #stream(id: string): string {
    return this.#prefix + id;
  }

  #emit(events: readonly SagaLogEvent[], state: SagaState): void {
    if (this.#events.count === 0) return;
    for (const e of events) {
      const type = e.type.slice(5) as SagaEventType;
      if (!this.#events.has(type)) continue;
      const step = (e.data as { step?: string }).step;
      this.#events.emit({ type, kind: 'saga', name: state.saga, sagaId: state.id, step, data: e.data });
    }
  }

  #log(state: SagaState): SagaLog {
    let drive: Drive | undefined;
    const log = new SagaLog(this.#store, this.#stream(state.id), this.#owner, state, {
      onAppend: (events, s) => this.#emit(events, s),
      onReload: (s) => {
        drive ??= this.#active.get(s.id);
        if (drive === undefined || drive.log !== log) return;
        if (log.lost) {
          const e = new LeaseLostError(s.id);
          drive.forward.abort(e);
          drive.compensation.abort(e);
        } else if (s.cancelRequested) drive.forward.abort(cancelled(s.id));
      },
    });
    return log;
  }

  /** Claims a saga whose lease is free and starts driving it; `undefined` when it is held or unknown. */
  #claim(state: SagaState): Promise<Drive | undefined> {
    const pending = this.#claims.get(state.id);
    if (pending !== undefined) return pending;
    const p = this.#claimNow(state).finally(() => this.#claims.delete(state.id));
    this.#claims.set(state.id, p);
    return p;
  }

  async #claimNow(state: SagaState): Promise<Drive | undefined> {
    if (isTerminalStatus(state.status)) return undefined;
    const saga = this.#sagas.get(state.saga);
    if (saga === undefined) return undefined;
    const now = this.#clock.now();
    if (state.lease !== undefined && state.lease.owner !== this.#owner && state.lease.until > now) return undefined;
    const log = this.#log(state);
    try {
      await log.append({ type: 'saga.claimed', data: { owner: this.#owner, until: now + this.#lease } });
    } catch (e) {
      if (e instanceof LeaseLostError) return undefined;
      throw e;
    }
    const again = this.#active.get(state.id);
    if (again !== undefined) return again;
    return this.#start(saga, log);
  }

  /** Waits for the outcome of a saga this process did not start: drives it if its lease is free. */
  async #awaitOutcome(id: string): Promise<unknown> {
    for (;;) {
      const active = this.#active.get(id);
      if (active !== undefined) return this.#finish(active);
      const state = await this.status(id);
      if (state === undefined) throw sagaState('ERR_SAGA_STATE', `Saga ${id} has lost its log`);
      if (isTerminalStatus(state.status)) return this.#settle(state, undefined);
      const drive = await this.#claim(state);
      if (drive !== undefined) return this.#finish(drive);
      await this.#clock.sleep(this.#poll);
    }
  }

  #start(saga: Saga, stateOrLog: SagaState | SagaLog): Drive {
    const log = stateOrLog instanceof SagaLog ? stateOrLog : this.#log(stateOrLog);
    const drive: Drive = {
      log,
      forward: new AbortController(),
      compensation: new AbortController(),
      errors: new Map(),
      compensationErrors: new Map(),
      done: undefined as never,
    };
    this.#active.set(log.state.id, drive);
    drive.done = this.#drive(saga, drive).finally(() => {
      if (this.#active.get(log.state.id) === drive) this.#active.delete(log.state.id);
    });
    return drive;
  }

  async #drive(saga: Saga, drive: Drive): Promise<SagaState> {
    const { log } = drive;
    const clock = this.#clock;
    let renew: unknown;
    let driving = true;
    // A renewal that fails (storage unreachable) is tried again at the next tick, so the lease holds
    // again once the store is back; renewals stop when the drive ends or the saga was taken over.
    const scheduleRenew = (): void => {
      if (!driving || log.lost) return;
      renew = clock.setTimeout(() => {
        if (!driving || isTerminalStatus(log.state.status)) return;
        log
          .append({ type: 'saga.claimed', data: { owner: this.#owner, until: clock.now() + this.#lease } })
          .then(scheduleRenew, scheduleRenew);
      }, this.#lease / 3);
      clock.unref?.(renew);
    };
    scheduleRenew();
    let deadline: unknown;
    const d = log.state.deadline;
    if (d !== undefined && log.state.status === 'running') {
      deadline = clock.setTimeout(() => drive.forward.abort(new TimeoutError(saga.timeout ?? 0)), d - clock.now());
      clock.unref?.(deadline);
    }
    try {
      for (;;) {
        const state = log.state;
        if (state.cancelRequested && !drive.forward.signal.aborted) drive.forward.abort(cancelled(state.id));
        const action = nextAction(saga, state, clock.now());
        const at = clock.now();
        switch (action.kind) {
          case 'done':
            return state;
          case 'run':
            await settleAll(action.steps.map((n) => runStep(saga.steps.get(n) as SagaStep, drive, this.#clock)));
            break;
          case 'complete':
            await log.append({
              type: 'saga.completed',
              data: { result: saga.result(state.input, resultsOf(state)), at },
            });
            break;
          case 'compensate-from':
          case 'fail': {
            const step = action.step;
            const stored = state.failure?.error ?? (step === undefined ? undefined : state.steps[step]?.error);
            const data = { reason: action.reason, step, error: stored };
            await log.append(
              action.kind === 'fail'
                ? { type: 'saga.failed', data: { ...data, at } }
                : { type: 'saga.compensating', data },
            );
            break;
          }
          case 'compensate':
            await settleAll(
              action.steps.map((n) => compensateStep(saga.steps.get(n) as SagaStep, drive, this.#compensation)),
            );
            break;
          case 'finish-compensated':
            await log.append({ type: 'saga.compensated', data: { at } });
            break;
          case 'stall':
            await log.append({ type: 'saga.compensation-failed', data: { at } });
            break;
        }
      }
    } catch (e) {
      if (!(e instanceof LeaseLostError) && !log.lost) throw e;
      // Another process took the saga over: stop acting and report what the log says.
      drive.forward.abort(e);
      drive.compensation.abort(e);
      return log.state;
    } finally {
      driving = false;
      clock.clearTimeout(renew);
      if (deadline !== undefined) clock.clearTimeout(deadline);
    }
  }

  /** Waits for a drive; if this process lost the saga to another one, waits for that one's outcome. */
  async #finish(drive: Drive): Promise<unknown> {
    const state = await drive.done;
    if (!isTerminalStatus(state.status)) return this.#awaitOutcome(state.id);
    return this.#settle(state, drive);
  }

  #settle(state: SagaState, drive: Drive | undefined): unknown {
    return sagaOutcome(state, drive, this.#sagas.get(state.saga)?.timeout ?? 0);
  }
}

/**
 * Waits for every step (or compensation) of a stage, then rethrows the first failure to record one.
 * A drive that stops because the log cannot be written (or was taken over) thus ends only once
 * nothing it started is still running: a later resume never re-runs a step beside its first run.
 */
async function settleAll(tasks: readonly Promise<void>[]): Promise<void> {
  for (const r of await Promise.allSettled(tasks)) if (r.status === 'rejected') throw r.reason;
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('Expected the saga `id` to be a non-empty string');
  return id;
}

/**
 * Creates a saga orchestrator over an event store: runs sagas step by step, appends every transition
 * to the saga's stream before acting on it, compensates on failure, and resumes unfinished sagas
 * after a crash (in any process that has the same definitions).
 *
 * @throws TypeError / RangeError when an option is invalid (e.g. `lease` ≤ 0).
 * @example
 * ```ts
 * const sagas = sagaOrchestrator({ store: sqliteEventStore(db), sagas: [bookTrip] });
 * await sagas.resume(); // on startup: finish what a crashed process left
 * const ticket = await sagas.run(bookTrip, trip, { id: `trip-${trip.id}` });
 * ```
 */
export function sagaOrchestrator(options: SagaOrchestratorOptions): SagaOrchestrator {
  checkObject('options', options);
  if (options === undefined || typeof options.store !== 'object' || options.store === null) {
    throw new TypeError('Expected `store` to be an event store');
  }
  return new Orchestrator(options);
}
