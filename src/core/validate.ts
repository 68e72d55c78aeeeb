// Option validation shared by every factory. Messages name the option and show the bad value;
// the helpers are written for size, since every module's bundle carries them.

const show = (v: unknown): string =>
  typeof v === 'string'
    ? JSON.stringify(v)
    : typeof v === 'function'
      ? 'a function'
      : Array.isArray(v)
        ? 'an array'
        : v !== null && typeof v === 'object'
          ? 'object'
          : String(v);

/** Throws `Expected \`name\` to be <want>, got <value>` as a `TypeError` (or `type`). */
export function fail(name: string, want: string, value: unknown, type: ErrorConstructor = TypeError): never {
  throw new type(`Expected \`${name}\` to be ${want}, got ${show(value)}`);
}

/** Throws a `TypeError` unless `value` is a finite number ≥ `min` (and an integer if asked). */
export function checkNumber(
  name: string,
  value: unknown,
  min: number,
  opts?: { readonly integer?: boolean; readonly max?: number; readonly exclusiveMin?: boolean },
): number {
  const int = opts?.integer;
  const ex = opts?.exclusiveMin;
  const max = opts?.max;
  const kind = int ? 'an integer' : 'a number';
  if (typeof value !== 'number' || Number.isNaN(value)) fail(name, 'a number', value);
  if (value !== Number.POSITIVE_INFINITY && !(int ? Number.isInteger(value) : Number.isFinite(value)))
    fail(name, int ? kind : 'a finite number', value);
  if ((ex ? value <= min : value < min) || value > (max ?? value))
    fail(name, `${kind} ${ex ? '>' : '≥'} ${min}${max === undefined ? '' : ` and ≤ ${max}`}`, value, RangeError);
  return value;
}

/** Throws a `TypeError` unless `value` is a function (or undefined when `optional`). */
export function checkFunction(name: string, value: unknown, optional = true): void {
  if (typeof value !== 'function' && !(optional && value === undefined)) fail(name, 'a function', value);
}

/** Throws a `TypeError` unless `value` is one of `allowed`. */
export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) fail(name, `one of '${allowed.join("', '")}'`, value);
  return value as T;
}

/** Throws a `TypeError` unless `value` is a plain object (or undefined). */
export function checkObject(name: string, value: unknown): void {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value)))
    fail(name, 'an object', value);
}
