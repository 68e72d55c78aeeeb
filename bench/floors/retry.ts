import type { FloorPolicy } from './types.js';

/** The floor for retry: a bare loop, zero delay, every error retried. */
export function floorRetry(maxRetries: number): FloorPolicy {
  return {
    async execute(fn) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await fn(undefined);
        } catch (error) {
          if (attempt >= maxRetries) throw error;
        }
      }
    },
  };
}
