import type { FloorPolicy } from './types.js';

class FloorTimeoutError extends Error {
  readonly code = 'ERR_TIMEOUT';
}

/**
 * The floor for a cooperative timeout, as most hand-written code does it: an AbortController and
 * one `setTimeout` per call, cleared when `fn` settles.
 */
export function floorCooperativeTimeout(ms: number): FloorPolicy {
  return {
    async execute(fn) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new FloorTimeoutError('timeout')), ms);
      try {
        return await fn(controller.signal);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The floor for an aggressive timeout: the same, plus a race against the timer. */
export function floorAggressiveTimeout(ms: number): FloorPolicy {
  return {
    async execute(fn) {
      const controller = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const e = new FloorTimeoutError('timeout');
          controller.abort(e);
          reject(e);
        }, ms);
      });
      try {
        return await Promise.race([fn(controller.signal), expired]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
