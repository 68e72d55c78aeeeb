// Option validation shared by every factory. Messages name the option and show the bad value.

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return 'a function';
  return Array.isArray(value) ? 'an array' : typeof value;
}

/** Throws a `TypeError` unless `value` is a finite number ≥ `min` (and an integer if asked). */
export function checkNumber(
  name: string,
  value: unknown,
  min: number,
  opts?: { readonly integer?: boolean; readonly max?: number; readonly exclusiveMin?: boolean },
): number {
  const integer = opts?.integer === true;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Expected \`${name}\` to be a number, got ${show(value)}`);
  }
  if (
    integer
      ? !Number.isInteger(value) && value !== Number.POSITIVE_INFINITY
      : !Number.isFinite(value) && value !== Number.POSITIVE_INFINITY
  ) {
    throw new TypeError(`Expected \`${name}\` to be ${integer ? 'an integer' : 'a finite number'}, got ${show(value)}`);
  }
  const max = opts?.max;
  const below = opts?.exclusiveMin === true ? value <= min : value < min;
  if (below || (max !== undefined && value > max)) {
    const lo = opts?.exclusiveMin === true ? `> ${min}` : `≥ ${min}`;
    const range = max === undefined ? lo : `${lo} and ≤ ${max}`;
    throw new RangeError(
      `Expected \`${name}\` to be ${integer ? 'an integer' : 'a number'} ${range}, got ${show(value)}`,
    );
  }
  return value;
}

/** Throws a `TypeError` unless `value` is a function (or undefined when `optional`). */
export function checkFunction(name: string, value: unknown, optional = true): void {
  if (value === undefined && optional) return;
  if (typeof value !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a function, got ${show(value)}`);
  }
}

/** Throws a `TypeError` unless `value` is one of `allowed`. */
export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new TypeError(
      `Expected \`${name}\` to be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`,
    );
  }
  return value as T;
}

/** Throws a `TypeError` unless `value` is a plain object (or undefined). */
export function checkObject(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`${name}\` to be an object, got ${show(value)}`);
  }
}
