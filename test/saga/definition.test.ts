import { describe, expect, it } from 'vitest';
import { Policy } from '../../src/core/policy.js';
import { defineSaga, isSagaDefinitionError, parallel, type SagaStep } from '../../src/saga/index.js';

const step = (name: string, extra: Partial<SagaStep> = {}): SagaStep => ({ name, run: () => name, ...extra });

describe('defineSaga', () => {
  it('builds stages in order, parallel groups together', () => {
    const saga = defineSaga({ name: 's', steps: [step('a'), parallel([step('b'), step('c')]), step('d')] });
    expect(saga.stages.map((s) => [s.parallel, s.steps.map((x) => x.name)])).toEqual([
      [false, ['a']],
      [true, ['b', 'c']],
      [false, ['d']],
    ]);
    expect([...saga.steps.keys()]).toEqual(['a', 'b', 'c', 'd']);
    expect(saga.result(1, { a: 1 })).toEqual({ a: 1 });
    expect(Object.isFrozen(saga)).toBe(true);
  });

  it('uses a custom result builder', () => {
    const saga = defineSaga({ name: 's', steps: [step('a')], result: (input: number, r) => [input, r.a] });
    expect(saga.result(2, { a: 3 })).toEqual([2, 3]);
  });

  it('rejects an empty saga', () => {
    expect(() => defineSaga({ name: 'trip', steps: [] })).toThrow(/Saga "trip" has no steps/);
    try {
      defineSaga({ name: 'trip', steps: [] });
    } catch (e) {
      expect(isSagaDefinitionError(e)).toBe(true);
      expect((e as { code: string }).code).toBe('ERR_SAGA_DEFINITION');
    }
  });

  it('rejects duplicate step names, also across parallel groups', () => {
    expect(() => defineSaga({ name: 'trip', steps: [step('a'), step('a')] })).toThrow(
      /Saga "trip" has two steps named "a"/,
    );
    expect(() => defineSaga({ name: 'trip', steps: [step('a'), parallel([step('b'), step('a')])] })).toThrow(
      /two steps named "a"/,
    );
  });

  it('rejects a compensation on a pivot step', () => {
    expect(() => defineSaga({ name: 't', steps: [step('p', { pivot: true, compensate: () => {} })] })).toThrow(
      /Saga step "p" is a pivot and cannot have a `compensate`/,
    );
    expect(() => parallel([step('p', { pivot: true, compensate: () => {} })])).toThrow(/is a pivot/);
  });

  it('rejects a pivot inside a parallel group and an empty group', () => {
    expect(() => parallel([step('p', { pivot: true })])).toThrow(/Pivot step "p" cannot be part of a parallel group/);
    expect(() => parallel([])).toThrow(/at least one step/);
    expect(() => parallel('x' as never)).toThrow(TypeError);
  });

  it('rejects malformed steps and options with errors naming the field', () => {
    expect(() => defineSaga(undefined as never)).toThrow(TypeError);
    expect(() => defineSaga({ name: '', steps: [step('a')] })).toThrow(/saga `name`/);
    expect(() => defineSaga({ name: 's', steps: 'a' as never })).toThrow(/`steps` of saga "s"/);
    expect(() => defineSaga({ name: 's', steps: [null as never] })).toThrow(/step 0 to be a step object, got null/);
    expect(() => defineSaga({ name: 's', steps: [{ run: () => 1 } as never] })).toThrow(/`name` of step 0/);
    expect(() => defineSaga({ name: 's', steps: [{ name: 'a' } as never] })).toThrow(/step "a".run/);
    expect(() => defineSaga({ name: 's', steps: [step('a', { compensate: 1 as never })] })).toThrow(
      /step "a".compensate/,
    );
    expect(() => defineSaga({ name: 's', steps: [step('a', { timeout: 0 })] })).toThrow(/step "a".timeout/);
    expect(() => defineSaga({ name: 's', steps: [step('a', { policy: {} as never })] })).toThrow(
      /step "a".policy` to be a policy/,
    );
    expect(() => defineSaga({ name: 's', steps: [step('a', { pivot: 'yes' as never })] })).toThrow(/pivot/);
    expect(() => defineSaga({ name: 's', steps: [step('a')], timeout: -1 })).toThrow(RangeError);
    expect(() => defineSaga({ name: 's', steps: [step('a')], result: 3 as never })).toThrow(/`result`/);
    expect(defineSaga({ name: 's', steps: [step('a', { policy: Policy.noop })] }).steps.get('a')?.policy).toBe(
      Policy.noop,
    );
  });
});
