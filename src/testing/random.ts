import { checkNumber } from '../core/validate.js';

/**
 * A seeded pseudo-random source in [0, 1) (mulberry32: 32 bits of state, fast, well spread), for
 * the `random` option of `chaos()`, `retry()` jitter and the like: the same seed gives the same
 * sequence, so a failing run replays exactly. Not for cryptography.
 *
 * @throws TypeError / RangeError when `seed` is not a safe integer.
 * @example
 * ```ts
 * const policy = chaos({ fault: { rate: 0.1 }, random: seededRandom(42) });
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = checkNumber('seed', seed, Number.MIN_SAFE_INTEGER, { integer: true, max: Number.MAX_SAFE_INTEGER }) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
