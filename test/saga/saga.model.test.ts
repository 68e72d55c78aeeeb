// Model-based tests: random sagas with failures injected in steps and compensations; the
// orchestrator's final status and compensations must match a deliberately simple model, also when
// the process "crashes" after any prefix of the log and another orchestrator resumes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryEventStore } from '../../src/event-store/index.js';
import {
  defineSaga,
  parallel,
  type Saga,
  type SagaStatus,
  type SagaStep,
  sagaOrchestrator,
} from '../../src/saga/index.js';
import { virtualClock } from '../../src/testing/index.js';

interface StepSpec {
  readonly name: string;
  readonly failRun: boolean;
  readonly failUndo: boolean;
  readonly hasUndo: boolean;
  readonly pivot: boolean;
}
type Shape = readonly (readonly StepSpec[])[];

const stepArb = fc.record({
  failRun: fc.integer({ min: 0, max: 2 }).map((n) => n === 0),
  failUndo: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
  hasUndo: fc.integer({ min: 0, max: 5 }).map((n) => n !== 0),
  pivot: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
});

/** 1–8 steps in stages of 1 (sequential) to 3 (parallel). */
const shapeArb: fc.Arbitrary<Shape> = fc
  .array(fc.array(stepArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 })
  .map((stages) => {
    let n = 0;
    const out: StepSpec[][] = [];
    for (const stage of stages) {
      const specs: StepSpec[] = [];
      for (const s of stage) {
        if (n >= 8) break;
        const parallelStage = stage.length > 1;
        const pivot = s.pivot && !parallelStage;
        specs.push({ name: `s${n++}`, failRun: s.failRun, failUndo: s.failUndo, hasUndo: s.hasUndo && !pivot, pivot });
      }
      if (specs.length > 0) out.push(specs);
    }
    return out;
  })
  // Keep failures rare enough that sagas also complete.
  .chain((shape) =>
    fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }).map((mask) => {
      let i = 0;
      return shape.map((stage) => stage.map((s) => ({ ...s, failRun: s.failRun && (mask[i++] as boolean) })));
    }),
  );

interface Expected {
  readonly status: SagaStatus;
  /** Compensations as they must happen: groups in order, steps within a group in any order. */
  readonly compensated: readonly (readonly string[])[];
}

/** The model: forward until the first stage with a failing step; undo completed steps in reverse. */
function model(shape: Shape): Expected {
  let pivotPassed = false;
  const completed: string[][] = [];
  for (const stage of shape) {
    const failing = stage.some((s) => s.failRun);
    completed.push(stage.filter((s) => !s.failRun).map((s) => s.name));
    if (failing) {
      if (pivotPassed) return { status: 'failed', compensated: [] };
      const groups: string[][] = [];
      for (let i = completed.length - 1; i >= 0; i--) {
        const group = (completed[i] as string[]).filter((n) => spec(shape, n).hasUndo);
        if (group.length === 0) continue;
        const ok = group.filter((n) => !spec(shape, n).failUndo);
        if (ok.length > 0) groups.push(ok);
        if (ok.length < group.length) return { status: 'compensation-failed', compensated: groups };
      }
      return { status: 'compensated', compensated: groups };
    }
    if (stage.some((s) => s.pivot)) pivotPassed = true;
  }
  return { status: 'completed', compensated: [] };
}

function spec(shape: Shape, name: string): StepSpec {
  return shape.flat().find((s) => s.name === name) as StepSpec;
}

/** Builds the saga; `undone` records successful compensations, `effects` counts effects by key. */
function build(shape: Shape, undone: string[], effects: Map<string, number>): Saga {
  const mk = (s: StepSpec): SagaStep => ({
    name: s.name,
    pivot: s.pivot,
    run: async (_input, ctx) => {
      await Promise.resolve();
      if (s.failRun) throw new Error(`${s.name} failed`);
      effects.set(ctx.key, 1); // a downstream that dedupes by key
      return s.name;
    },
    compensate: s.hasUndo
      ? async (_input, result) => {
          await Promise.resolve();
          if (s.failUndo) throw new Error(`undo ${s.name} failed`);
          if (result !== s.name) throw new Error('wrong result');
          undone.push(s.name);
        }
      : undefined,
  });
  return defineSaga({
    name: 'model',
    steps: shape.map((stage) => (stage.length > 1 ? parallel(stage.map(mk)) : mk(stage[0] as StepSpec))),
  });
}

/** Splits the flat compensation log into the model's groups (order within a group ignored). */
function grouped(undone: readonly string[], expected: Expected): string[][] {
  const out: string[][] = [];
  let i = 0;
  for (const g of expected.compensated) {
    out.push([...undone.slice(i, i + g.length)].sort());
    i += g.length;
  }
  if (i < undone.length) out.push([...undone.slice(i)]);
  return out;
}

const sorted = (e: Expected): string[][] => e.compensated.map((g) => [...g].sort());

describe('saga model', () => {
  it('final status and compensations match the model', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb, async (shape) => {
        const clock = virtualClock();
        const store = memoryEventStore({ clock });
        const orch = sagaOrchestrator({ store, clock, compensationRetries: 0 });
        const undone: string[] = [];
        const saga = build(shape, undone, new Map());
        const expected = model(shape);
        const outcome = await orch.run(saga, null, { id: 'm' }).then(
          () => 'completed',
          (e: { status: string }) => e.status,
        );
        expect(outcome).toBe(expected.status);
        expect((await orch.status('m'))?.status).toBe(expected.status);
        expect(grouped(undone, expected)).toEqual(sorted(expected));
      }),
    );
  });

  it('a crash after any prefix of the log, then resume, reaches the same end state', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb, fc.nat(), async (shape, cut) => {
        const clock = virtualClock();
        const store = memoryEventStore({ clock });
        const first = sagaOrchestrator({ store, clock, compensationRetries: 0 });
        const saga = build(shape, [], new Map());
        await first.run(saga, null, { id: 'm' }).catch(() => undefined);
        const log = [];
        for await (const e of store.read('saga-m')) log.push({ type: e.type, data: e.data });
        const prefix = log.slice(0, 1 + (cut % log.length));

        // A new process, later (the dead driver's lease has lapsed), with the crashed log.
        const later = virtualClock({ start: 10 * 60_000 });
        const store2 = memoryEventStore({ clock: later });
        await store2.append('saga-m', prefix);
        const undone: string[] = [];
        const effects = new Map<string, number>();
        const saga2 = build(shape, undone, effects);
        const second = sagaOrchestrator({ store: store2, clock: later, compensationRetries: 0, sagas: [saga2] });
        await second.resume();
        const expected = model(shape);
        expect((await second.status('m'))?.status).toBe(expected.status);
        // Compensations already recorded before the crash are not repeated.
        const before = prefix
          .filter((e) => e.type === 'saga.step-compensated')
          .map((e) => (e.data as { step: string }).step);
        const all = [...before, ...undone];
        expect(new Set(all).size).toBe(all.length);
        expect(grouped(all, expected)).toEqual(sorted(expected));
      }),
    );
  });
});
