import type { Policy } from '../core/policy.js';
import { checkFunction, checkNumber, checkObject } from '../core/validate.js';
import { SagaDefinitionError } from './errors.js';

/**
 * What a step's `run` and `compensate` are told about their call.
 *
 * @example
 * ```ts
 * import type { SagaStep, StepContext } from 'breakwater/saga';
 *
 * async function charge(trip: Trip, { key, attempt, signal }: StepContext) {
 *   if (attempt > 1) console.log(`charging trip ${trip.id} again (attempt ${attempt})`);
 *   return payments.charge({ amount: trip.price, idempotencyKey: key }, { signal }); // same key on every attempt
 * }
 * const chargeCard: SagaStep<Trip> = { name: 'charge', run: charge, compensate: (trip, c) => payments.refund(c.id) };
 * ```
 */
export interface StepContext {
  /** The saga instance id. */
  readonly sagaId: string;
  /**
   * `<sagaId>:<stepName>`: the same on every attempt and after a resume. Pass it downstream as an
   * idempotency key so a re-run step has its effect once.
   */
  readonly key: string;
  /** 1 on the first attempt; counts retries of the step's policy and re-runs after a crash. */
  readonly attempt: number;
  /** Aborts when the saga times out, is cancelled, or the step's own `timeout` passes. */
  readonly signal: AbortSignal;
  /** The results of the steps that completed before this one, by step name. */
  readonly results: Readonly<Record<string, unknown>>;
}

/**
 * One step of a saga.
 *
 * @example
 * ```ts
 * import { retry } from 'breakwater/retry';
 * import type { SagaStep } from 'breakwater/saga';
 *
 * const reserveSeat: SagaStep<Trip, { seatId: string }> = {
 *   name: 'reserve-seat',
 *   run: (trip, { key, signal }) => airline.reserve(trip.flight, { idempotencyKey: key, signal }),
 *   compensate: (trip, seat) => airline.release(seat.seatId),
 *   policy: retry({ maxRetries: 3 }),
 *   timeout: 10_000,
 * };
 * ```
 */
export interface SagaStep<I = any, R = any> {
  /** Unique within the saga; part of the step's idempotency key. */
  readonly name: string;
  /** Does the step's work. Its result is stored in the saga log, so it must be JSON-serializable. */
  run(input: I, ctx: StepContext): R | PromiseLike<R>;
  /** Undoes the step's work, given the result `run` returned. Not allowed on a pivot step. */
  compensate?: ((input: I, result: R, ctx: StepContext) => unknown) | undefined;
  /** The policy `run` executes under (e.g. a retry); its `ctx.attempt` is reflected in the step's. */
  readonly policy?: Policy<any> | undefined;
  /**
   * The policy `compensate` executes under.
   * @defaultValue the orchestrator's `compensationPolicy`
   */
  readonly compensatePolicy?: Policy<any> | undefined;
  /** A time limit for one execution of `run`, in milliseconds; past it the step fails with a `TimeoutError`. */
  readonly timeout?: number | undefined;
  /**
   * The point of no return: the step cannot be compensated, and once it has completed the saga only
   * goes forward (a later failure leaves the saga `failed`, for `redrive`, instead of compensating).
   * @defaultValue false
   */
  readonly pivot?: boolean | undefined;
}

/**
 * A group of steps that run concurrently; built by {@link parallel}.
 *
 * @example
 * ```ts
 * import { defineSaga, type ParallelSteps, parallel } from 'breakwater/saga';
 *
 * const bookings: ParallelSteps<Trip> = parallel([reserveSeat, reserveHotel]);
 * const bookTrip = defineSaga({ name: 'book-trip', steps: [bookings, chargeCard] });
 * ```
 */
export interface ParallelSteps<I = any> {
  readonly kind: 'parallel';
  readonly steps: readonly SagaStep<I>[];
}

/**
 * One stage of a saga after definition: a single step, or a parallel group.
 *
 * @example
 * ```ts
 * import type { SagaStage } from 'breakwater/saga';
 *
 * const label = (stage: SagaStage) => stage.steps.map((s) => s.name).join(stage.parallel ? ' | ' : '');
 * console.log(bookTrip.stages.map(label).join(' → ')); // reserve-seat | reserve-hotel → charge
 * ```
 */
export interface SagaStage {
  readonly parallel: boolean;
  readonly steps: readonly SagaStep[];
}

/**
 * Options of {@link defineSaga}.
 *
 * @example
 * ```ts
 * import { defineSaga, parallel, type SagaOptions } from 'breakwater/saga';
 *
 * const options: SagaOptions<Trip, { ticket: string }> = {
 *   name: 'book-trip',
 *   steps: [parallel([reserveSeat, reserveHotel]), chargeCard, issueTicket],
 *   timeout: 5 * 60_000,
 *   result: (trip, results) => ({ ticket: results['issue-ticket'] as string }),
 * };
 * const bookTrip = defineSaga(options);
 * ```
 */
export interface SagaOptions<I, R> {
  /** The saga type's name, stored with every instance so `resume` can find the definition. */
  readonly name: string;
  /** The steps in order; a {@link parallel} group runs its steps concurrently. */
  readonly steps: readonly (SagaStep<I> | ParallelSteps<I>)[];
  /** Time limit for the whole saga in milliseconds, from its start; past it the saga compensates. */
  readonly timeout?: number | undefined;
  /**
   * Builds the saga's result from its input and its steps' results.
   * @defaultValue the record of step results by step name
   */
  readonly result?: ((input: I, results: Readonly<Record<string, unknown>>) => R) | undefined;
}

/**
 * A validated saga definition, returned by {@link defineSaga}.
 *
 * @example
 * ```ts
 * import { defineSaga, type Saga, sagaOrchestrator } from 'breakwater/saga';
 *
 * const bookTrip: Saga<Trip> = defineSaga({ name: 'book-trip', steps: [reserveSeat, chargeCard] });
 * console.log(bookTrip.name, [...bookTrip.steps.keys()]); // book-trip ['reserve-seat', 'charge']
 * const sagas = sagaOrchestrator({ store, sagas: [bookTrip] }); // `resume` finds it by name
 * const results = await sagas.run(bookTrip, trip, { id: trip.id });
 * ```
 */
export interface Saga<I = any, R = any> {
  readonly name: string;
  /** The stages in order. */
  readonly stages: readonly SagaStage[];
  /** Every step by name. */
  readonly steps: ReadonlyMap<string, SagaStep<I>>;
  readonly timeout: number | undefined;
  /** Builds the saga result from the step results. */
  result(input: I, results: Readonly<Record<string, unknown>>): R;
}

function checkStep(step: unknown, where: string): SagaStep {
  if (typeof step !== 'object' || step === null || Array.isArray(step)) {
    throw new TypeError(`Expected ${where} to be a step object, got ${step === null ? 'null' : typeof step}`);
  }
  const s = step as SagaStep;
  if (typeof s.name !== 'string' || s.name.length === 0) {
    throw new TypeError(`Expected the \`name\` of ${where} to be a non-empty string`);
  }
  const label = `step "${s.name}"`;
  checkFunction(`${label}.run`, s.run, false);
  checkFunction(`${label}.compensate`, s.compensate);
  if (s.timeout !== undefined) checkNumber(`${label}.timeout`, s.timeout, 0, { exclusiveMin: true });
  for (const k of ['policy', 'compensatePolicy'] as const) {
    const p = s[k] as { layers?: unknown } | undefined;
    if (p !== undefined && (typeof p !== 'object' || p === null || !Array.isArray(p.layers))) {
      throw new TypeError(`Expected \`${label}.${k}\` to be a policy`);
    }
  }
  if (s.pivot !== undefined && typeof s.pivot !== 'boolean') {
    throw new TypeError(`Expected \`${label}.pivot\` to be a boolean`);
  }
  if (s.pivot === true && s.compensate !== undefined) {
    throw new SagaDefinitionError(`Saga step "${s.name}" is a pivot and cannot have a \`compensate\``);
  }
  return s;
}

/**
 * Groups steps that run concurrently. When one of them fails the others are left to settle, then
 * every step of the group that completed is compensated, together.
 *
 * @throws SagaDefinitionError when the group is empty or holds a pivot step.
 * @example
 * ```ts
 * const steps = [reserveSeat, parallel([chargeCard, reserveHotel]), issueTicket];
 * ```
 */
export function parallel<I = any>(steps: readonly SagaStep<I>[]): ParallelSteps<I> {
  if (!Array.isArray(steps)) throw new TypeError('Expected `parallel` to be given an array of steps');
  if (steps.length === 0) throw new SagaDefinitionError('A parallel group needs at least one step');
  const checked = steps.map((s, i) => checkStep(s, `parallel step ${i}`));
  for (const s of checked) {
    if (s.pivot === true) throw new SagaDefinitionError(`Pivot step "${s.name}" cannot be part of a parallel group`);
  }
  return Object.freeze({ kind: 'parallel' as const, steps: Object.freeze(checked) });
}

const defaultResult = (_input: unknown, results: Readonly<Record<string, unknown>>): any => results;

/**
 * Defines a saga: a named, ordered list of steps (and parallel groups), validated now so that a bad
 * definition fails at startup rather than halfway through a transaction.
 *
 * @throws SagaDefinitionError for no steps, duplicate step names, or a compensation on a pivot step.
 * @throws TypeError / RangeError for a missing `name`, a step without `run`, or a bad `timeout`.
 * @example
 * ```ts
 * const bookTrip = defineSaga({
 *   name: 'book-trip',
 *   steps: [
 *     { name: 'reserve-seat', run: (trip, { key }) => seats.reserve(trip, key), compensate: (trip, seat) => seats.release(seat) },
 *     { name: 'charge', run: (trip, { key }) => payments.charge(trip.card, trip.price, key), compensate: (t, c) => payments.refund(c) },
 *     { name: 'issue-ticket', pivot: true, run: (trip, { results }) => tickets.issue(results['reserve-seat']) },
 *   ],
 * });
 * ```
 */
export function defineSaga<I = any, R = Record<string, unknown>>(options: SagaOptions<I, R>): Saga<I, R> {
  checkObject('options', options);
  if (options === undefined) throw new TypeError('Expected `options` to be an object, got undefined');
  if (typeof options.name !== 'string' || options.name.length === 0) {
    throw new TypeError('Expected the saga `name` to be a non-empty string');
  }
  if (!Array.isArray(options.steps)) throw new TypeError(`Expected \`steps\` of saga "${options.name}" to be an array`);
  if (options.steps.length === 0) throw new SagaDefinitionError(`Saga "${options.name}" has no steps`);
  if (options.timeout !== undefined) checkNumber('timeout', options.timeout, 0, { exclusiveMin: true });
  checkFunction('result', options.result);

  const stages: SagaStage[] = [];
  const byName = new Map<string, SagaStep<I>>();
  options.steps.forEach((entry, i) => {
    const group = entry as Partial<ParallelSteps>;
    const stage: SagaStage =
      group !== null && typeof group === 'object' && group.kind === 'parallel' && Array.isArray(group.steps)
        ? { parallel: true, steps: group.steps }
        : { parallel: false, steps: [checkStep(entry, `step ${i}`)] };
    for (const s of stage.steps) {
      if (byName.has(s.name)) {
        throw new SagaDefinitionError(`Saga "${options.name}" has two steps named "${s.name}"`);
      }
      byName.set(s.name, s);
    }
    stages.push(Object.freeze(stage));
  });
  return Object.freeze({
    name: options.name,
    stages: Object.freeze(stages),
    steps: byName,
    timeout: options.timeout,
    result: options.result ?? defaultResult,
  });
}
