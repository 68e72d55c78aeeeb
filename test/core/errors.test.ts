import { describe, expect, it, vi } from 'vitest';
import { BreakwaterError, errorGuard, isBreakwaterError, isTimeoutError, TimeoutError } from '../../src/core/errors.js';

describe('BreakwaterError', () => {
  it('has a stable code, its class name, and a cause only when given', () => {
    const cause = new Error('root');
    const e = new BreakwaterError('ERR_X', 'something failed', { cause });
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('ERR_X');
    expect(e.message).toBe('something failed');
    expect(e.name).toBe('BreakwaterError');
    expect(e.cause).toBe(cause);
    const bare = new BreakwaterError('ERR_Y', 'no cause');
    expect('cause' in bare).toBe(false);
  });

  it('subclasses carry their own name; TimeoutError has ERR_TIMEOUT and timeoutMs', () => {
    const t = new TimeoutError(1_500);
    expect(t.name).toBe('TimeoutError');
    expect(t.code).toBe('ERR_TIMEOUT');
    expect(t.timeoutMs).toBe(1_500);
    expect(t.message).toContain('1500');
    expect(t).toBeInstanceOf(BreakwaterError);
    expect(new TimeoutError(5, { cause: 'c' }).cause).toBe('c');
  });

  it('the brand is not enumerable (does not pollute logs or JSON)', () => {
    const e = new BreakwaterError('ERR_X', 'm');
    const brand = Symbol.for('breakwater.error');
    // On the prototype: no per-instance property, and not enumerable.
    expect(Object.getOwnPropertySymbols(e)).not.toContain(brand);
    expect((e as unknown as Record<symbol, unknown>)[brand]).toBe(true);
    expect(Object.getOwnPropertyDescriptor(BreakwaterError.prototype, brand)?.enumerable).toBe(false);
    expect(JSON.parse(JSON.stringify(e))).toEqual({ code: 'ERR_X', name: 'BreakwaterError' });
  });
});

describe('brand guards', () => {
  it('accept breakwater errors and reject everything else', () => {
    expect(isBreakwaterError(new BreakwaterError('ERR_X', 'm'))).toBe(true);
    expect(isBreakwaterError(new TimeoutError(1))).toBe(true);
    for (const v of [new Error('x'), { code: 'ERR_TIMEOUT' }, null, undefined, 'ERR_TIMEOUT', 42]) {
      expect(isBreakwaterError(v)).toBe(false);
      expect(isTimeoutError(v)).toBe(false);
    }
    expect(isTimeoutError(new TimeoutError(1))).toBe(true);
    expect(isTimeoutError(new BreakwaterError('ERR_OTHER', 'm'))).toBe(false);
  });

  it('errorGuard builds a guard for one code', () => {
    const isFoo = errorGuard<BreakwaterError>('ERR_FOO');
    expect(isFoo(new BreakwaterError('ERR_FOO', 'm'))).toBe(true);
    expect(isFoo(new BreakwaterError('ERR_BAR', 'm'))).toBe(false);
    expect(isFoo({ code: 'ERR_FOO' })).toBe(false);
  });

  it('work on an object from another copy of the package (Symbol.for brand)', () => {
    const foreign = Object.defineProperty(
      Object.assign(new Error('t'), { code: 'ERR_TIMEOUT', timeoutMs: 3 }),
      Symbol.for('breakwater.error'),
      { value: true },
    );
    expect(foreign instanceof TimeoutError).toBe(false);
    expect(isBreakwaterError(foreign)).toBe(true);
    expect(isTimeoutError(foreign)).toBe(true);
  });

  it('work across a re-imported module copy (vi.resetModules)', async () => {
    vi.resetModules();
    const copy = await import('../../src/core/errors.js?copy=2' as string);
    const other = new copy.TimeoutError(10) as unknown;
    expect(copy.TimeoutError).not.toBe(TimeoutError);
    expect(other instanceof TimeoutError).toBe(false);
    expect(isTimeoutError(other)).toBe(true);
    expect(isBreakwaterError(other)).toBe(true);
    expect(copy.isTimeoutError(new TimeoutError(1))).toBe(true);
  });
});
