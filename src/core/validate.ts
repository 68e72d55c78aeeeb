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

/** Edit distance with adjacent transpositions ("rmp" is one edit from "rpm"), for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) row.push(j);
      else {
        const up = d[i - 1] as number[];
        let v = Math.min(
          (up[j] as number) + 1,
          (row[j - 1] as number) + 1,
          (up[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
        );
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
          v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1);
        row.push(v);
      }
    }
    d.push(row);
  }
  return (d[a.length] as number[])[b.length] as number;
}

/**
 * The one of `known` that `word` most likely meant (a case slip, or a typo within a third of its
 * length in edits; short words only by case), for "did you mean". Undefined when none is close.
 * @internal
 */
export function closest(word: string, known: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = distance(lower, k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  const limit = word.length < 3 ? 0 : Math.max(1, Math.floor(word.length / 3));
  return bestD <= limit ? best : undefined;
}

/**
 * Throws a `TypeError` when the object `value` has an own key that is not one of `known`, naming
 * it with its path (`name.key`) and the known key it most likely meant ({@link closest}), else
 * listing the known keys. Anything but an object passes (its type is checked elsewhere).
 */
export function checkKeys(name: string, value: unknown, known: readonly string[]): void {
  if (value === null || typeof value !== 'object') return;
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const best = closest(key, known);
    throw new TypeError(
      `Unknown option \`${name === '' ? key : `${name}.${key}`}\`${
        best !== undefined
          ? `; did you mean \`${best}\`?`
          : ` (expected one of ${known.map((k) => `\`${k}\``).join(', ')})`
      }`,
    );
  }
}
