import { describe, expect, it } from 'vitest';
import { checkFunction, checkKeys, checkNumber, checkObject, checkOneOf } from '../../src/core/validate.js';

describe('checkNumber', () => {
  it('returns valid numbers, Infinity included', () => {
    expect(checkNumber('x', 0, 0)).toBe(0);
    expect(checkNumber('x', 2.5, 0)).toBe(2.5);
    expect(checkNumber('x', Number.POSITIVE_INFINITY, 0)).toBe(Number.POSITIVE_INFINITY);
    expect(checkNumber('x', Number.POSITIVE_INFINITY, 0, { integer: true })).toBe(Number.POSITIVE_INFINITY);
    expect(checkNumber('x', 5, 0, { max: 5 })).toBe(5);
  });

  it.each([
    ['a string', '3', TypeError, 'Expected `opt` to be a number, got "3"'],
    ['NaN', Number.NaN, TypeError, 'Expected `opt` to be a number, got NaN'],
    ['undefined', undefined, TypeError, 'Expected `opt` to be a number, got undefined'],
    ['null', null, TypeError, 'got null'],
    ['an object', {}, TypeError, 'got object'],
    ['an array', [], TypeError, 'got an array'],
    ['a function', () => 1, TypeError, 'got a function'],
    ['a boolean', true, TypeError, 'got true'],
    ['-Infinity', Number.NEGATIVE_INFINITY, TypeError, 'Expected `opt` to be a finite number, got -Infinity'],
    ['negative', -1, RangeError, 'Expected `opt` to be a number ≥ 0, got -1'],
  ])('rejects %s, naming the option', (_label, value, type, message) => {
    expect(() => checkNumber('opt', value, 0)).toThrow(type);
    expect(() => checkNumber('opt', value, 0)).toThrow(message);
  });

  it('integer, exclusiveMin and max variants', () => {
    expect(() => checkNumber('n', 1.5, 0, { integer: true })).toThrow(
      new TypeError('Expected `n` to be an integer, got 1.5'),
    );
    expect(() => checkNumber('n', -1, 0, { integer: true })).toThrow(
      new RangeError('Expected `n` to be an integer ≥ 0, got -1'),
    );
    expect(() => checkNumber('w', 0, 0, { exclusiveMin: true })).toThrow(
      new RangeError('Expected `w` to be a number > 0, got 0'),
    );
    expect(() => checkNumber('r', 2, 0, { max: 1 })).toThrow(
      new RangeError('Expected `r` to be a number ≥ 0 and ≤ 1, got 2'),
    );
  });
});

describe('checkFunction / checkOneOf / checkObject', () => {
  it('checkFunction accepts functions and (when optional) undefined', () => {
    expect(() => checkFunction('f', () => 1)).not.toThrow();
    expect(() => checkFunction('f', undefined)).not.toThrow();
    expect(() => checkFunction('f', undefined, false)).toThrow(
      new TypeError('Expected `f` to be a function, got undefined'),
    );
    expect(() => checkFunction('f', 'x')).toThrow(new TypeError('Expected `f` to be a function, got "x"'));
  });

  it('checkOneOf names the allowed values', () => {
    expect(checkOneOf('jitter', 'full', ['none', 'full'])).toBe('full');
    expect(() => checkOneOf('jitter', 'half', ['none', 'full'])).toThrow(
      new TypeError("Expected `jitter` to be one of 'none', 'full', got \"half\""),
    );
    expect(() => checkOneOf('jitter', 3, ['none'])).toThrow(TypeError);
  });

  it('checkObject accepts plain objects and undefined only', () => {
    expect(() => checkObject('o', {})).not.toThrow();
    expect(() => checkObject('o', undefined)).not.toThrow();
    expect(() => checkObject('o', null)).toThrow(new TypeError('Expected `o` to be an object, got null'));
    expect(() => checkObject('o', [])).toThrow(/got an array/);
    expect(() => checkObject('o', 5)).toThrow(/got 5/);
  });
});

describe('checkKeys', () => {
  const known = ['rpm', 'tpm', 'concurrency', 'contextWindow'];
  it('passes known keys and anything that is not an object', () => {
    expect(() => checkKeys('limits', { rpm: 1, tpm: 2 }, known)).not.toThrow();
    for (const v of [undefined, null, 5, 'x']) expect(() => checkKeys('limits', v, known)).not.toThrow();
  });

  it('names the path and the key meant: a case slip, a typo, a transposition', () => {
    expect(() => checkKeys('e', { contextwindow: 1 }, known)).toThrow(
      'Unknown option `e.contextwindow`; did you mean `contextWindow`?',
    );
    expect(() => checkKeys('limits', { rps: 1 }, known)).toThrow('did you mean `rpm`?');
    expect(() => checkKeys('limits', { concurrnecy: 1 }, known)).toThrow('did you mean `concurrency`?');
    expect(() => checkKeys('', { tmp: 1 }, known)).toThrow('Unknown option `tmp`; did you mean `tpm`?');
  });

  it('lists the known keys when none is close (short keys match only case-insensitively)', () => {
    expect(() => checkKeys('limits', { qq: 1 }, known)).toThrow(
      'Unknown option `limits.qq` (expected one of `rpm`, `tpm`, `concurrency`, `contextWindow`)',
    );
    expect(() => checkKeys('limits', { region: 'eu' }, known)).toThrow(TypeError);
  });
});
