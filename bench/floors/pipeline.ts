import { floorConsecutiveBreaker } from './breaker.js';
import { floorBulkhead } from './bulkhead.js';
import { floorRetry } from './retry.js';
import { floorCooperativeTimeout } from './timeout.js';
import type { FloorPolicy } from './types.js';

/** Nests floors: the first is outermost; each passes the outer signal on to the next. */
export function floorWrap(...policies: FloorPolicy[]): FloorPolicy {
  return {
    execute(fn) {
      const run = (i: number, signal: AbortSignal | undefined): Promise<any> => {
        const p = policies[i];
        if (p === undefined) return Promise.resolve(fn(signal));
        return p.execute((s) => run(i + 1, s ?? signal));
      };
      return run(0, undefined);
    },
  };
}

/** The floor of the 4-layer pipeline: timeout → retry → consecutive breaker → bulkhead. */
export function floorPipeline(timeoutMs = 1000): FloorPolicy {
  return floorWrap(
    floorCooperativeTimeout(timeoutMs),
    floorRetry(3),
    floorConsecutiveBreaker(5, 30_000),
    floorBulkhead(10, 10),
  );
}
