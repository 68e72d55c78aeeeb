// Fault test: the database under the saga log becomes unreachable mid-saga and comes back (a
// "server restart"). The shared server is never touched: the orchestrators' event store connects
// through a TCP proxy; stopping the proxy cuts every connection through it and refuses new ones,
// starting it again is the server coming back. Checks are made on a direct (non-proxied) pool.
//
// The steps call an in-memory "downstream service" that logs every call and applies each effect once
// per idempotency key (`ctx.key`, `${ctx.key}:undo`), as docs/saga.md recommends. What the guide
// promises under an outage: the run either completes once the database is back, or rejects with the
// storage error (never a `SagaFailedError`), the saga stays resumable, and `resume()` finishes it;
// a step (or compensation) whose outcome could not be recorded runs again with the same key.
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type PostgresEventStore, postgresEventStore } from '../../src/event-store/postgres/index.js';
import {
  defineSaga,
  foldSaga,
  isSagaFailedError,
  parallel,
  type Saga,
  type SagaLogEvent,
  type SagaOrchestrator,
  type SagaOrchestratorOptions,
  type SagaState,
  type SagaStep,
  sagaOrchestrator,
} from '../../src/saga/index.js';
import { newPool, pgStore } from '../event-store/pg-helpers.js';
import { deferred } from '../support/deferred.js';
import { type Outage, outage, sleep, state, until, within } from '../support/outage.js';
import { HAS } from '../support/servers.js';

const OUTAGE_MS = 1500;

/** The rejection of `p` (fails the test if it resolves). */
async function rejection(p: Promise<unknown>, ms: number, what: string): Promise<unknown> {
  return within(
    p.then(
      (v) => {
        throw new Error(`${what} resolved with ${JSON.stringify(v)}`);
      },
      (e: unknown) => e,
    ),
    ms,
    what,
  );
}

/**
 * The downstream service the steps call: every call is logged (with the orchestrator that made it);
 * effects are applied once per idempotency key. Calls can be held at a gate or made to fail.
 */
function service() {
  const calls: { driver: string; key: string }[] = [];
  const effects: string[] = [];
  const running = new Map<string, number>();
  let overlaps = 0;
  const gates = new Map<string, ReturnType<typeof deferred<void>>>();
  const entered = new Set<string>();
  /** Operation name (`b`, `a:undo`) → how many more calls fail (Infinity: all). */
  const failures = new Map<string, number>();
  return {
    calls,
    effects,
    entered,
    failures,
    get overlaps() {
      return overlaps;
    },
    /** Holds the next calls of `op` until `open(op)`. */
    gate(op: string): void {
      gates.set(op, deferred<void>());
    },
    open(op: string): void {
      gates.get(op)?.resolve();
      gates.delete(op);
    },
    keysCalled: (key: string) => calls.filter((c) => c.key === key).length,
    async call(driver: string, key: string, op: string): Promise<void> {
      calls.push({ driver, key });
      const n = (running.get(key) ?? 0) + 1;
      if (n > 1) overlaps++; // two executions of one step at the same time: two drivers
      running.set(key, n);
      try {
        const gate = gates.get(op);
        if (gate !== undefined) {
          entered.add(op);
          await gate.promise;
        }
        const left = failures.get(op) ?? 0;
        if (left > 0) {
          failures.set(op, left - 1);
          throw new Error(`${op} declined`);
        }
        if (!effects.includes(key)) effects.push(key);
      } finally {
        running.set(key, (running.get(key) ?? 1) - 1);
      }
    },
  };
}
type Service = ReturnType<typeof service>;

/** A step whose action and compensation go through the service with the step's idempotency keys. */
function step(svc: Service, driver: string, name: string): SagaStep<{ trip: number }> {
  return {
    name,
    run: async (_input, ctx) => {
      await svc.call(driver, ctx.key, name);
      return { step: name, key: ctx.key };
    },
    compensate: async (_input, result: { step: string }, ctx) => {
      if (result.step !== name) throw new Error('wrong result');
      await svc.call(driver, `${ctx.key}:undo`, `${name}:undo`);
    },
  };
}

/** a → b → c → d; every orchestrator gets its own copy of the definition (same name), tagged `driver`. */
function tripSaga(svc: Service, driver: string): Saga<{ trip: number }> {
  return defineSaga({ name: 'outage-trip', steps: ['a', 'b', 'c', 'd'].map((n) => step(svc, driver, n)) });
}

/** a → (b ‖ c) → d */
function parallelSaga(svc: Service, driver: string): Saga<{ trip: number }> {
  const s = (n: string) => step(svc, driver, n);
  return defineSaga({ name: 'outage-parallel', steps: [s('a'), parallel([s('b'), s('c')]), s('d')] });
}

describe.skipIf(!HAS.postgres)('saga orchestrator over PostgreSQL: database outage and recovery', () => {
  let direct: pg.Pool;
  let proxied: pg.Pool;
  let net: Outage;
  let proxy: Outage['proxy'];
  let checkStore: PostgresEventStore;
  let store: PostgresEventStore;
  let drop: () => Promise<void>;
  let crashes: unknown[];

  beforeEach(async () => {
    direct = newPool(4);
    net = await outage();
    ({ proxy, pool: proxied, crashes } = net);
    const schema = `bw_saga_outage_${Math.random().toString(36).slice(2, 10)}`;
    ({ store: checkStore, drop } = await pgStore(direct, { schema }));
    store = postgresEventStore(proxied, { schema });
  });

  afterEach(async () => {
    await net.close();
    await drop();
    await direct.end();
  });

  const orchestrator = (owner: string, extra: Partial<SagaOrchestratorOptions> = {}): SagaOrchestrator =>
    sagaOrchestrator({ store, owner, lease: 3000, pollInterval: 100, compensationDelay: 10, ...extra });

  /** The saga's log, read directly (not through the proxy). */
  const log = async (id: string): Promise<SagaLogEvent[]> => {
    const out: SagaLogEvent[] = [];
    for await (const e of checkStore.read(`saga-${id}`)) out.push(e as unknown as SagaLogEvent);
    return out;
  };
  const types = async (id: string) => (await log(id)).map((e) => e.type);
  const count = (xs: readonly string[], x: string) => xs.filter((y) => y === x).length;
  /** What was recorded for step `name` (or any step) of type `type`. */
  const recorded = (events: readonly SagaLogEvent[], type: SagaLogEvent['type'], name?: string) =>
    events.filter((e) => e.type === type && (name === undefined || (e.data as { step?: string }).step === name)).length;
  const claimsBy = (events: readonly SagaLogEvent[], owner: string) =>
    events.filter((e) => e.type === 'saga.claimed' && e.data.owner === owner).length;
  /** `status(id)` (through the given orchestrator) agrees with a fold of the log read directly. */
  const consistent = async (o: SagaOrchestrator, id: string): Promise<SagaState> => {
    const s = (await o.status(id)) as SagaState;
    expect(s).toEqual(foldSaga(await log(id)));
    return s;
  };
  /** No client checked out of the proxied pool (nothing leaked by the store or the orchestrator). */
  const checkedOut = () => net.checkedOut();
  const key = (id: string, op: string) => `${id}:${op}`;

  it('a step in flight during the outage: the run completes once the database is back, each effect once', async () => {
    const svc = service();
    const o = orchestrator('A');
    svc.gate('b');
    const run = o.run(tripSaga(svc, 'A'), { trip: 1 }, { id: 't1' });
    await until(() => svc.entered.has('b'), 5000, 'step b in flight');

    await proxy.stop();
    await sleep(OUTAGE_MS);
    expect(await state(run)).toBe('pending'); // nothing to write while b runs: the run waits
    await proxy.start();
    svc.open('b');

    const result = await within(run, 5000, 'the run after recovery');
    expect(Object.keys(result as object).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(svc.effects).toEqual(['a', 'b', 'c', 'd'].map((n) => key('t1', n)));
    expect(svc.calls.map((c) => c.key)).toEqual(svc.effects); // each step called exactly once
    expect(svc.overlaps).toBe(0);
    const s = await consistent(o, 't1');
    expect(s.status).toBe('completed');
    const events = await log('t1');
    for (const n of ['a', 'b', 'c', 'd']) {
      expect([n, recorded(events, 'saga.step-started', n), recorded(events, 'saga.step-succeeded', n)]).toEqual([
        n,
        1,
        1,
      ]);
    }
    expect(events.some((e) => e.type.includes('compensat'))).toBe(false);
    expect(events.at(-1)?.type).toBe('saga.completed');
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  });

  it('a step that finishes while the log is unwritable: run rejects with the storage error, resume() completes it', async () => {
    const svc = service();
    const o = orchestrator('A');
    svc.gate('b');
    const run = o.run(tripSaga(svc, 'A'), { trip: 1 }, { id: 't2' });
    await until(() => svc.entered.has('b'), 5000, 'step b in flight');

    await proxy.stop();
    svc.open('b'); // b's effect is applied, but its outcome cannot be recorded
    const error = await rejection(run, 3000, 'the run during the outage');
    // A storage outage is not a step failure: no SagaFailedError, no compensation.
    expect(isSagaFailedError(error)).toBe(false);
    expect(error).toBeInstanceOf(Error);
    await expect(o.status('t2')).rejects.toThrow(); // still down
    await sleep(OUTAGE_MS - 500);
    await proxy.start();

    const before = await consistent(o, 't2');
    expect(before.status).toBe('running');
    expect(before.steps.b?.status).toBe('running'); // started, outcome not recorded

    const after = await within(o.resume('t2'), 5000, 'resume after recovery');
    expect(after?.status).toBe('completed');
    // b ran again with the same key (at least once, as documented); its effect exists once.
    expect(svc.effects).toEqual(['a', 'b', 'c', 'd'].map((n) => key('t2', n)));
    expect(svc.keysCalled(key('t2', 'b'))).toBe(2);
    for (const n of ['a', 'c', 'd']) expect([n, svc.keysCalled(key('t2', n))]).toEqual([n, 1]);
    expect(svc.calls.some((c) => c.key.endsWith(':undo'))).toBe(false);
    expect(svc.overlaps).toBe(0);
    const s = await consistent(o, 't2');
    expect(s.status).toBe('completed');
    expect(s.steps.b?.attempts).toBe(2);
    const events = await log('t2');
    expect(events.some((e) => e.type.includes('compensat'))).toBe(false);
    // A second run of the same id starts nothing: it returns the finished instance's result.
    expect(await o.run(tripSaga(svc, 'A'), { trip: 1 }, { id: 't2' })).toEqual(s.result);
    expect(svc.calls).toHaveLength(5);
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  });

  it('a restarted process (new orchestrator, new owner) takes the saga over once the old lease lapses', async () => {
    const svc = service();
    const lease = 1000;
    const a = orchestrator('A', { lease });
    svc.gate('c');
    const run = a.run(tripSaga(svc, 'A'), { trip: 1 }, { id: 't3' });
    await until(() => svc.entered.has('c'), 5000, 'step c in flight');
    await proxy.stop();
    svc.open('c');
    const error = await rejection(run, 3000, 'the run during the outage');
    expect(isSagaFailedError(error)).toBe(false);
    await sleep(500);
    await proxy.start();
    const failedAt = Date.now();

    // "Process A" is gone; B starts with the same definitions.
    const b = orchestrator('B', { lease, sagas: [tripSaga(svc, 'B')] });
    const held = (await log('t3')).filter((e) => e.type === 'saga.claimed').at(-1) as SagaLogEvent & {
      type: 'saga.claimed';
    };
    expect(held.data.owner).toBe('A');
    if (held.data.until > Date.now() + 100) {
      // A's lease still holds: B does not drive the saga.
      const s = await b.resume('t3');
      expect(s?.status).toBe('running');
      expect(svc.calls.filter((c) => c.driver === 'B')).toEqual([]);
    }
    await until(() => Date.now() > held.data.until, 3000, "A's lease lapses");
    const done = await within(b.resume(), 5000, 'resume() by B');
    expect(done.map((s) => [s.id, s.status])).toEqual([['t3', 'completed']]);
    expect(svc.effects).toEqual(['a', 'b', 'c', 'd'].map((n) => key('t3', n)));
    expect(svc.calls.filter((c) => c.driver === 'B').map((c) => c.key)).toEqual([key('t3', 'c'), key('t3', 'd')]);
    expect(svc.overlaps).toBe(0);
    const events = await log('t3');
    // A, whose run failed, wrote nothing after it stopped driving (no lingering lease renewals).
    const lastByA = events.map((e) => (e.type === 'saga.claimed' ? e.data.owner : '')).lastIndexOf('A');
    const firstByB = events.findIndex((e) => e.type === 'saga.claimed' && e.data.owner === 'B');
    expect(lastByA).toBeLessThan(firstByB);
    expect((await consistent(b, 't3')).status).toBe('completed');
    expect(Date.now() - failedAt).toBeLessThan(5000);
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  });

  it('at most one driver: a second orchestrator cannot take over after the outage while the first still drives', async () => {
    const svc = service();
    const a = orchestrator('A'); // lease 3 s, renewed every second; the outage is shorter than the lease
    svc.gate('b');
    const run = a.run(tripSaga(svc, 'A'), { trip: 1 }, { id: 't4' });
    await until(() => svc.entered.has('b'), 5000, 'step b in flight');
    await proxy.stop();
    await sleep(OUTAGE_MS);
    await proxy.start();

    // Another process keeps trying to pick the saga up, and waits on it like a duplicate request.
    const b = orchestrator('B', { sagas: [tripSaga(svc, 'B')] });
    const waiting = b.run(tripSaga(svc, 'B'), { trip: 1 }, { id: 't4' });
    let polling = true;
    const poller = (async () => {
      while (polling) {
        await b.resume('t4');
        await sleep(100);
      }
    })();
    await sleep(3500); // b still in flight, longer than a lease: A must keep its lease renewed
    expect(svc.calls.filter((c) => c.driver === 'B')).toEqual([]);
    svc.open('b');
    const result = await within(run, 5000, "A's run");
    expect(await within(waiting, 3000, "B's waiting run")).toEqual(result);
    polling = false;
    await poller;

    expect(svc.calls.filter((c) => c.driver === 'B')).toEqual([]);
    expect(svc.calls.map((c) => c.key)).toEqual(['a', 'b', 'c', 'd'].map((n) => key('t4', n)));
    expect(svc.overlaps).toBe(0);
    const events = await log('t4');
    expect(claimsBy(events, 'B')).toBe(0);
    expect(claimsBy(events, 'A')).toBeGreaterThan(1); // renewed after the outage
    expect((await consistent(a, 't4')).status).toBe('completed');
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  }, 15_000);

  it('a parallel group: the drive stops only once a sibling in flight settled; a resume never runs it twice', async () => {
    const svc = service();
    const o = orchestrator('A');
    svc.gate('b');
    svc.gate('c');
    const run = o.run(parallelSaga(svc, 'A'), { trip: 1 }, { id: 't5' });
    await until(() => svc.entered.has('b') && svc.entered.has('c'), 5000, 'b and c in flight');
    await proxy.stop();
    svc.open('b'); // b finishes during the outage (its outcome is lost); c is still running
    await sleep(300);
    await proxy.start();
    // This process is asked to resume the saga while c still runs: it must not start c a second time.
    const resumed = o.resume('t5').catch((e: unknown) => e);
    await sleep(300);
    expect(svc.keysCalled(key('t5', 'c'))).toBe(1);
    expect(await state(run)).toBe('pending'); // the drive waits for c
    svc.open('c');
    const error = await rejection(run, 3000, 'the run cut by the outage');
    expect(isSagaFailedError(error)).toBe(false);
    expect(error).toBeInstanceOf(Error);
    await resumed;
    const before = await consistent(o, 't5');
    expect(before.status).toBe('running');
    expect(before.steps.b?.status).toBe('running');
    expect(before.steps.c?.status).toBe('succeeded'); // recorded once the log was back

    expect((await within(o.resume('t5'), 5000, 'resume'))?.status).toBe('completed');
    expect(svc.overlaps).toBe(0);
    expect(svc.effects).toEqual(['a', 'b', 'c', 'd'].map((n) => key('t5', n)));
    expect(svc.keysCalled(key('t5', 'b'))).toBe(2); // outcome lost: re-run with its key
    expect(svc.keysCalled(key('t5', 'c'))).toBe(1);
    const events = await log('t5');
    expect(recorded(events, 'saga.step-succeeded', 'c')).toBe(1);
    expect(events.some((e) => e.type.includes('compensat'))).toBe(false);
    expect((await consistent(o, 't5')).status).toBe('completed');
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  });

  it('an outage during compensation: after recovery the saga ends compensated, each compensation applied once', async () => {
    const svc = service();
    const o = orchestrator('A');
    svc.failures.set('c', Number.POSITIVE_INFINITY); // c fails: b then a are compensated
    svc.gate('b:undo');
    const run = o.run(tripSaga(svc, 'A'), { trip: 1 }, { id: 't6' });
    await until(() => svc.entered.has('b:undo'), 5000, "b's compensation in flight");
    await proxy.stop();
    svc.open('b:undo'); // b is undone downstream, but that cannot be recorded
    const error = await rejection(run, 3000, 'the run during the outage');
    expect(isSagaFailedError(error)).toBe(false);
    expect(svc.keysCalled(key('t6', 'a:undo'))).toBe(0); // a is not undone before b's undo is recorded
    await sleep(OUTAGE_MS - 500);
    await proxy.start();

    const before = await consistent(o, 't6');
    expect(before.status).toBe('compensating');
    expect(before.steps.b?.status).toBe('compensating');
    const after = await within(o.resume('t6'), 5000, 'resume after recovery');
    expect(after?.status).toBe('compensated');
    expect(svc.effects).toEqual([key('t6', 'a'), key('t6', 'b'), key('t6', 'b:undo'), key('t6', 'a:undo')]);
    expect(svc.keysCalled(key('t6', 'b:undo'))).toBe(2); // re-run with the same key, applied once
    expect(svc.keysCalled(key('t6', 'a:undo'))).toBe(1);
    expect(svc.keysCalled(key('t6', 'd'))).toBe(0);
    expect(svc.overlaps).toBe(0);
    const s = await consistent(o, 't6');
    expect(s.compensations.map((c) => [c.step, c.status])).toEqual([
      ['b', 'compensated'],
      ['a', 'compensated'],
    ]);
    expect(s.failure?.step).toBe('c');
    // The instance's outcome, for a duplicate request: the step failure, compensated.
    const again = await rejection(o.run(tripSaga(svc, 'A'), { trip: 1 }, { id: 't6' }), 3000, 'a second run');
    expect(isSagaFailedError(again) && again.status).toBe('compensated');
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  });

  it('compensation-failed, then a redrive cut by the outage: resume after recovery ends compensated', async () => {
    const svc = service();
    const o = orchestrator('A', { compensationRetries: 0 });
    svc.failures.set('c', Number.POSITIVE_INFINITY);
    svc.failures.set('b:undo', 1); // b's undo fails once: the saga stops in compensation-failed
    const first = await rejection(o.run(tripSaga(svc, 'A'), { trip: 1 }, { id: 't7' }), 5000, 'the first run');
    expect(isSagaFailedError(first) && first.status).toBe('compensation-failed');
    expect((await o.list({ status: 'compensation-failed' })).map((s) => s.id)).toEqual(['t7']);

    // The redrive is cut while b's undo is in flight.
    svc.gate('b:undo');
    const redrive = o.redrive('t7');
    await until(() => svc.entered.has('b:undo'), 5000, "b's undo in flight again");
    await proxy.stop();
    svc.open('b:undo');
    const error = await rejection(redrive, 3000, 'the redrive during the outage');
    expect(isSagaFailedError(error)).toBe(false);
    await sleep(OUTAGE_MS - 500);
    await proxy.start();
    expect((await consistent(o, 't7')).status).toBe('compensating');

    const after = await within(o.resume('t7'), 5000, 'resume after recovery');
    expect(after?.status).toBe('compensated');
    expect(svc.effects).toEqual([key('t7', 'a'), key('t7', 'b'), key('t7', 'b:undo'), key('t7', 'a:undo')]);
    expect(svc.keysCalled(key('t7', 'a:undo'))).toBe(1);
    expect(svc.overlaps).toBe(0);
    const s = await consistent(o, 't7');
    expect(s.compensations.map((c) => [c.step, c.status])).toEqual([
      ['b', 'failed'],
      ['b', 'compensated'],
      ['a', 'compensated'],
    ]);
    expect(await o.list({ status: 'compensation-failed' })).toEqual([]);
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  });

  it('an outage at the start: run rejects without a crash, and the saga is created at most once', async () => {
    const svc = service();
    const o = orchestrator('A');
    await proxy.stop();
    const error = await rejection(o.run(tripSaga(svc, 'A'), { trip: 1 }, { id: 't8' }), 3000, 'run while down');
    expect(isSagaFailedError(error)).toBe(false);
    await expect(o.resume()).rejects.toThrow();
    await expect(o.list()).rejects.toThrow();
    await proxy.start();
    expect(await types('t8')).toEqual([]);
    expect(await within(o.resume(), 3000, 'resume() with nothing to do')).toEqual([]);
    await within(o.run(tripSaga(svc, 'A'), { trip: 1 }, { id: 't8' }), 5000, 'run after recovery');
    const t = await types('t8');
    expect(count(t, 'saga.started')).toBe(1);
    expect(svc.calls.map((c) => c.key)).toEqual(['a', 'b', 'c', 'd'].map((n) => key('t8', n)));
    expect(checkedOut()).toBe(0);
    expect(crashes).toEqual([]);
  });
});
