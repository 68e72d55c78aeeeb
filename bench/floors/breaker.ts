import type { FloorPolicy } from './types.js';

class OpenError extends Error {
  readonly code = 'ERR_OPEN';
}

/** The floor for a consecutive-failures breaker: a counter and an open-until timestamp. */
export function floorConsecutiveBreaker(threshold: number, breakMs: number): FloorPolicy {
  let failures = 0;
  let openUntil = 0;
  return {
    async execute(fn) {
      if (openUntil !== 0) {
        if (Date.now() < openUntil) throw new OpenError('open');
        openUntil = 0;
      }
      try {
        const v = await fn(undefined);
        failures = 0;
        return v;
      } catch (error) {
        if (++failures >= threshold) openUntil = Date.now() + breakMs;
        throw error;
      }
    },
  };
}

/** The floor for a time-window failure-rate breaker: a ring of per-bucket counts keyed by time. */
export function floorWindowBreaker(
  threshold: number,
  minThroughput: number,
  windowMs: number,
  breakMs: number,
): FloorPolicy {
  const buckets = 10;
  const width = windowMs / buckets;
  const start = new Float64Array(buckets).fill(-1);
  const ok = new Uint32Array(buckets);
  const bad = new Uint32Array(buckets);
  let openUntil = 0;
  const record = (failed: boolean): void => {
    const now = Date.now();
    const slot = Math.floor(now / width);
    const i = slot % buckets;
    if (start[i] !== slot) {
      start[i] = slot;
      ok[i] = 0;
      bad[i] = 0;
    }
    if (!failed) {
      ok[i] = (ok[i] as number) + 1;
      return;
    }
    bad[i] = (bad[i] as number) + 1;
    let total = 0;
    let failures = 0;
    for (let j = 0; j < buckets; j++) {
      if ((start[j] as number) > slot - buckets) {
        total += (ok[j] as number) + (bad[j] as number);
        failures += bad[j] as number;
      }
    }
    if (total >= minThroughput && failures / total >= threshold) openUntil = now + breakMs;
  };
  return {
    async execute(fn) {
      if (openUntil !== 0) {
        if (Date.now() < openUntil) throw new OpenError('open');
        openUntil = 0;
      }
      try {
        const v = await fn(undefined);
        record(false);
        return v;
      } catch (error) {
        record(true);
        throw error;
      }
    },
  };
}
