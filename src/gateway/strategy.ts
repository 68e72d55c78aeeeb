// Routing strategies as plain functions of the candidates, their load figures and `random`: the
// gateway fills the candidate list (endpoints that pass every filter) and asks for one.

/**
 * How a target picks among its available endpoints:
 * - `'weighted'`: at random, in proportion to `weight` (LiteLLM's `simple-shuffle`);
 * - `'round-robin'`: in turn, in the order the endpoints are listed;
 * - `'least-busy'`: the one with the fewest calls in flight (ties at random);
 * - `'latency'`: the lowest moving average of latency (time to the first chunk for a stream);
 *   endpoints without a sample yet go first.
 *
 * @example
 * ```ts
 * import { gateway, type Strategy } from 'breakwater/gateway';
 *
 * const strategy: Strategy = process.env.ROUTING === 'latency' ? 'latency' : 'least-busy';
 * const gw = gateway({ targets: { chat: { endpoints, strategy } } });
 * ```
 */
export type Strategy = 'weighted' | 'round-robin' | 'least-busy' | 'latency';

/** What a strategy reads of an endpoint. @internal */
export interface Load {
  readonly weight: number;
  /** Calls in flight. */
  readonly inflight: number;
  /** Moving average of latency in ms; `NaN` before the first sample. */
  readonly latency: number;
}

/**
 * Picks one of the first `count` entries of `cand` (indices into `eps`); `rr` is the target's
 * round-robin position (the index after the last pick). Returns an index into `eps`.
 * @internal
 */
export function pick(
  strategy: Strategy,
  cand: readonly number[],
  count: number,
  eps: readonly Load[],
  rr: number,
  random: () => number,
): number {
  if (count === 1) return cand[0] as number;
  switch (strategy) {
    case 'round-robin': {
      // The first candidate at or after `rr`, wrapping around (candidates are in endpoint order).
      for (let k = 0; k < count; k++) if ((cand[k] as number) >= rr) return cand[k] as number;
      return cand[0] as number;
    }
    case 'least-busy': {
      const start = Math.floor(random() * count);
      let best = cand[start] as number;
      for (let k = 1; k < count; k++) {
        const i = cand[(start + k) % count] as number;
        if ((eps[i] as Load).inflight < (eps[best] as Load).inflight) best = i;
      }
      return best;
    }
    case 'latency': {
      let best = cand[0] as number;
      let bestMs = lat(eps[best] as Load);
      for (let k = 1; k < count; k++) {
        const i = cand[k] as number;
        const ms = lat(eps[i] as Load);
        if (ms < bestMs) {
          best = i;
          bestMs = ms;
        }
      }
      return best;
    }
    default: {
      let total = 0;
      for (let k = 0; k < count; k++) total += (eps[cand[k] as number] as Load).weight;
      let r = random() * total;
      for (let k = 0; k < count; k++) {
        const i = cand[k] as number;
        r -= (eps[i] as Load).weight;
        if (r < 0) return i;
      }
      return cand[count - 1] as number;
    }
  }
}

/** An endpoint without a latency sample sorts first (it gets explored). */
const lat = (l: Load): number => (Number.isNaN(l.latency) ? -1 : l.latency);

/** The moving average after one more sample. @internal */
export function ewma(avg: number, sample: number): number {
  return Number.isNaN(avg) ? sample : avg + 0.3 * (sample - avg);
}
