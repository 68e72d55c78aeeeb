import type { FloorPolicy } from './types.js';

class FloorRejectedError extends Error {
  readonly code = 'ERR_REJECTED';
}

/** The floor for a bulkhead: an active counter and a FIFO array of waiters. */
export function floorBulkhead(limit: number, queue: number): FloorPolicy {
  let active = 0;
  const waiters: (() => void)[] = [];
  let head = 0;
  const release = (): void => {
    if (head < waiters.length) {
      const next = waiters[head] as () => void;
      waiters[head++] = undefined as never;
      if (head > 1024 && head * 2 > waiters.length) {
        waiters.splice(0, head);
        head = 0;
      }
      next();
    } else active--;
  };
  return {
    async execute(fn) {
      if (active < limit) active++;
      else if (waiters.length - head < queue) await new Promise<void>((resolve) => waiters.push(resolve));
      else throw new FloorRejectedError('full');
      try {
        return await fn(undefined);
      } finally {
        release();
      }
    },
  };
}
